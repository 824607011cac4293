"""The :class:`BoundarySet` type: wards nested in boroughs, with the months they were in force."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import geopandas as gpd

from hotspots.geo.crs import BNG

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


def boroughs_from_wards(wards: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Dissolve wards into boroughs (``borough_code``, ``borough_name``, ``geometry``)."""
    out = wards.dissolve(by=["borough_code", "borough_name"], as_index=False)
    return out[["borough_code", "borough_name", "geometry"]]
