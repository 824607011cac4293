"""Areas: a partnership, a police force or a region, as wards nested in districts.

An :class:`Area` is what a dataset belongs to. It holds one or more boundary
sets, each in force for a span of months (``valid_from``/``valid_to``), so
incidents are joined to the wards of their own month. Every step of the
analysis follows the dataset's area: ingest validation, the ward join, the
study area, defaults, grids, baselines, maps and exports.

Areas are made three ways: the shipped demo (see :mod:`hotspots.demo`),
districts or a police force area picked from the national catalogue, or an
uploaded boundary file. Geometry is in British National Grid (EPSG:27700).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd
import shapely

from hotspots.boundaries.model import BoundarySet

AreaKind = Literal["demo", "catalogue", "file"]


@dataclass(eq=False)
class Area:
    """A named set of wards nested in districts, with boundary sets by period.

    Attributes
    ----------
    name:
        Identifier used in the API (``area=``) and the CLI (``--area``).
    title:
        Human-readable name for maps, legends and briefings.
    sets:
        The boundary sets, oldest first; each names the months it was in force.
    kind:
        ``"demo"`` (shipped), ``"catalogue"`` (districts or a force from the
        national catalogue) or ``"file"`` (an uploaded boundary file).
    spec:
        How it was made, JSON-ready (district codes, a force, a boundary set
        name), so a stored area can be rebuilt.
    token:
        Changes whenever an area of this name is made again, so cached results
        of a deleted area are never served for its successor.
    """

    name: str
    title: str
    sets: tuple[BoundarySet, ...]
    kind: AreaKind
    spec: dict[str, Any] = field(default_factory=dict)
    token: str = ""

    def __post_init__(self) -> None:
        if not self.sets:
            raise ValueError("an area needs at least one boundary set")

    @property
    def boundary_sets(self) -> Mapping[str, BoundarySet]:
        """The area's boundary sets by name (what the analysis joins to)."""
        return {s.name: s for s in self.sets}

    @property
    def key(self) -> tuple[str, str]:
        """Cache-key part: the name and the token of this making of it."""
        return (self.name, self.token)

    @cached_property
    def outline(self) -> shapely.Geometry:
        """Union of every set's wards (EPSG:27700): the area incidents are validated against."""
        if len(self.sets) == 1:
            return self.sets[0].outline
        return shapely.union_all([s.outline for s in self.sets])

    @cached_property
    def districts(self) -> pd.DataFrame:
        """``borough_code`` and ``borough_name`` of every district in any of the sets, by name."""
        frames = [s.boroughs[["borough_code", "borough_name"]] for s in self.sets]
        out = pd.concat(frames, ignore_index=True).astype(str).drop_duplicates("borough_code")
        return out.sort_values("borough_name").reset_index(drop=True)

    @property
    def district_word(self) -> str:
        """The word for its districts ("borough", "council area" or "district"): :func:`district_word`."""
        return district_word(self.districts["borough_code"])

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary for listings and the validation report."""
        latest = self.sets[-1]
        return {
            "name": self.name,
            "title": self.title,
            "kind": self.kind,
            "districts": [
                {"code": c, "name": n}
                for c, n in zip(self.districts["borough_code"], self.districts["borough_name"], strict=True)
            ],
            "wards": int(len(latest.wards)),
            "boundary_sets": [s.describe() for s in self.sets],
            "has_population": bool(
                "population" in latest.wards.columns
                and pd.to_numeric(latest.wards["population"], errors="coerce").notna().any()
            ),
            "area_km2": round(float(self.outline.area) / 1e6, 3),
            "spec": self.spec,
        }


def district_word(codes: Iterable[str]) -> str:
    """What users call the districts with these ONS codes, for legends, popups, tables, briefings.

    Every code a London borough (``E09``): "borough"; every code a unitary authority (``E06``,
    Wales ``W06``): "council area"; otherwise (shire districts ``E07``, metropolitan ``E08``, a
    mixture, or codes of an uploaded file that are not ONS codes): "district".
    """
    prefixes = {str(c)[:3].upper() for c in codes}
    if prefixes and prefixes <= {"E09"}:
        return "borough"
    if prefixes and prefixes <= {"E06", "W06"}:
        return "council area"
    return "district"


def sets_in_force(sets: Sequence[BoundarySet], months: Sequence[str]) -> list[BoundarySet]:
    """The sets in force in any of ``months`` (oldest first), else the newest set."""
    used = [s for s in sets if any(s.in_force(m) for m in months)]
    return used or [sets[-1]]


@dataclass(frozen=True)
class CataloguePick:
    """Districts picked from the national catalogue: their codes, the force (if one was named), a title."""

    codes: list[str]
    force: str | None
    title: str


def pick_from_catalogue(districts: Sequence[str], police_force: str | None) -> CataloguePick:
    """Resolve district names or codes, or a police force area, against the national catalogue.

    Raises :class:`~hotspots.errors.InvalidInput` naming close matches for an unknown name.
    """
    from hotspots.boundaries import catalogue

    if police_force is not None:
        force = catalogue.resolve_force(police_force)
        codes = [d.code for d in force.districts]
        return CataloguePick(codes, force.code, f"{force.name} police force area")
    picked = catalogue.resolve_districts(districts)
    names = [d.name for d in picked]
    title = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return CataloguePick([d.code for d in picked], None, title)


def catalogue_set(codes: Sequence[str], name: str, title: str) -> BoundarySet:
    """The catalogue's 2022 wards of districts ``codes`` as one boundary set (EPSG:27700)."""
    from hotspots.boundaries import catalogue

    return catalogue.boundary_set(list(codes), name=name, title=title)


class _DistrictIndex:
    """Current districts of England and Wales in an STR tree, built once (read-only afterwards)."""

    def __init__(self) -> None:
        from hotspots.boundaries import catalogue

        outlines = catalogue.national_catalogue().district_outlines()
        current = outlines[outlines["in_2024"].astype(bool)] if "in_2024" in outlines else outlines
        self.names = current["name"].astype(str).to_numpy()
        self.tree = shapely.STRtree(current.geometry.to_numpy())


_INDEX: _DistrictIndex | None = None
_INDEX_LOCK = threading.Lock()


def district_names_at(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Name of the current England and Wales district holding each BNG point (EPSG:27700 metres).

    ``None`` for a point in no district (at sea, in Scotland). The districts are the national
    catalogue's generalised polygons, so a point within a few tens of metres of a boundary may
    be named for its neighbour.
    """
    global _INDEX
    if _INDEX is None:
        with _INDEX_LOCK:
            if _INDEX is None:
                _INDEX = _DistrictIndex()
    index = _INDEX
    out = np.full(len(x), None, dtype=object)
    if not len(x):
        return out
    points = shapely.points(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    point_i, poly_i = index.tree.query(points, predicate="within")
    first = np.unique(point_i, return_index=True)[1]
    out[point_i[first]] = index.names[poly_i[first]]
    return out
