"""The :class:`BoundarySet` type: wards nested in boroughs, with the months they were in force."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import geopandas as gpd

from hotspots.crs import BNG

WARD_COLUMNS = ["ward_code", "ward_name", "borough_code", "borough_name"]


@dataclass(eq=False)
class BoundarySet:
    """Wards that nest in boroughs, in British National Grid (EPSG:27700).

    Attributes
    ----------
    name:
        Short identifier used in the API and CLI, e.g. ``"wards-2018"``.
    title:
        Human-readable description for maps and metadata.
    wards:
        One row per ward: ``ward_code``, ``ward_name``, ``borough_code``,
        ``borough_name`` and a polygon ``geometry`` in EPSG:27700. Optional
        ``population`` (residents) is used for rates.
    boroughs:
        One row per borough: ``borough_code``, ``borough_name``, ``geometry``
        in EPSG:27700 (for outlines and borough counts).
    valid_from, valid_to:
        First and last month (``YYYY-MM``, inclusive) the wards were in force;
        ``None`` means open-ended.
    approximate:
        True where the polygons are a best-fit approximation of the legal wards.
    shore_m:
        How far (metres) the polygons' coastline may lie inland of the real one: a located
        incident outside every ward but within this distance of one, and in no other district,
        is joined to the nearest ward (generalised outlines cut off piers, beaches and harbours).
        0 for full-resolution boundaries.
    """

    name: str
    title: str
    wards: gpd.GeoDataFrame
    boroughs: gpd.GeoDataFrame
    valid_from: str | None = None
    valid_to: str | None = None
    approximate: bool = False
    source: str = ""
    shipped: bool = False
    notes: list[str] = field(default_factory=list)
    population_source: str | None = None
    shore_m: float = 0.0

    def __post_init__(self) -> None:
        if self.wards.crs is None or self.wards.crs.to_epsg() != BNG:
            raise ValueError("BoundarySet wards must be in EPSG:27700")
        if self.boroughs.crs is None or self.boroughs.crs.to_epsg() != BNG:
            raise ValueError("BoundarySet boroughs must be in EPSG:27700")

    def in_force(self, month: str) -> bool:
        """Whether the wards were in force in ``month`` (``YYYY-MM``)."""
        return (self.valid_from is None or month >= self.valid_from) and (
            self.valid_to is None or month <= self.valid_to
        )

    @cached_property
    def area_m2(self) -> float:
        """Total land area of the wards in square metres."""
        return float(self.wards.geometry.union_all().area)

    @cached_property
    def outline(self):  # type: ignore[no-untyped-def]
        """The union of all wards (a shapely geometry in EPSG:27700)."""
        return self.wards.geometry.union_all()

    def describe(self) -> dict[str, object]:
        """A JSON-ready summary for listings."""
        return self._describe()

    def _describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "title": self.title,
            "wards": int(len(self.wards)),
            "boroughs": sorted(self.boroughs["borough_name"].astype(str).tolist()),
            "valid_from": self.valid_from,
            "valid_to": self.valid_to,
            "approximate": self.approximate,
            "has_population": "population" in self.wards.columns,
            "source": self.source,
            "shipped": self.shipped,
            "area_km2": round(self.area_m2 / 1e6, 3),
        }


class StoredBoundarySet(BoundarySet):
    """An uploaded set whose wards are read from the store on first use, once, under a lock.

    Listing (:meth:`describe`), choosing by months (:meth:`in_force`) and the flags need only
    the metadata; ``wards``, ``boroughs``, ``outline`` and ``area_m2`` load the file.
    """

    def __init__(
        self,
        *,
        name: str,
        title: str,
        load: Callable[[], gpd.GeoDataFrame],
        summary: dict[str, Any] | None = None,
        valid_from: str | None = None,
        valid_to: str | None = None,
        source: str = "",
        notes: list[str] | None = None,
        population_source: str | None = None,
        stamp: object = None,
    ) -> None:
        self.name = name
        self.title = title
        self.valid_from = valid_from
        self.valid_to = valid_to
        self.approximate = False
        self.source = source
        self.shipped = False
        self.notes = list(notes or [])
        self.population_source = population_source
        self.shore_m = 0.0
        self.stamp = stamp
        """Identifies the stored version (a re-upload under the same name differs)."""
        self._load = load
        self._summary = summary
        self._lock = threading.Lock()
        self._frames: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame] | None = None

    def __repr__(self) -> str:
        return f"StoredBoundarySet(name={self.name!r}, loaded={self.loaded})"

    @property
    def loaded(self) -> bool:
        return self._frames is not None

    def _get(self) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
        frames = self._frames
        if frames is None:
            with self._lock:
                if self._frames is None:
                    wards = self._load()
                    self._frames = (wards, boroughs_from_wards(wards))
                    BoundarySet.__post_init__(self)
                frames = self._frames
        return frames

    @property
    def wards(self) -> gpd.GeoDataFrame:
        return self._get()[0]

    @wards.setter
    def wards(self, value: gpd.GeoDataFrame) -> None:
        self._frames = (value, boroughs_from_wards(value))

    @property
    def boroughs(self) -> gpd.GeoDataFrame:
        return self._get()[1]

    @boroughs.setter
    def boroughs(self, value: gpd.GeoDataFrame) -> None:
        self._frames = (self._get()[0], value)

    def describe(self) -> dict[str, object]:
        if self._summary is not None and self._frames is None:
            return {
                "name": self.name,
                "title": self.title,
                "wards": int(self._summary["wards"]),
                "boroughs": list(self._summary["boroughs"]),
                "valid_from": self.valid_from,
                "valid_to": self.valid_to,
                "approximate": self.approximate,
                "has_population": bool(self._summary["has_population"]),
                "source": self.source,
                "shipped": self.shipped,
                "area_km2": float(self._summary["area_km2"]),
            }
        return self._describe()


def summary_of(bset: BoundarySet) -> dict[str, Any]:
    """What a listing needs without reading the wards (stored with an uploaded set)."""
    d = bset.describe()
    return {
        "wards": d["wards"],
        "boroughs": d["boroughs"],
        "has_population": d["has_population"],
        "area_km2": d["area_km2"],
        "notes": list(bset.notes),
        "population_source": bset.population_source,
    }


def boroughs_from_wards(wards: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Dissolve wards into boroughs (``borough_code``, ``borough_name``, ``geometry``)."""
    out = wards.dissolve(by=["borough_code", "borough_name"], as_index=False)
    return out[["borough_code", "borough_name", "geometry"]]
