"""The whole analysis for one dataset and one set of parameters: filter, join, cluster, summarise.

Everything metric is in British National Grid (EPSG:27700): eps in metres,
areas in square metres, densities per square kilometre.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspots.boundaries.area import district_word, sets_in_force
from hotspots.boundaries.model import WARD_COLUMNS, BoundarySet
from hotspots.crs import BNG
from hotspots.errors import InvalidInput, NotFound
from hotspots.geo import params as params_module
from hotspots.geo.cancel import checkpoint
from hotspots.geo.clusters.dbscan import (
    DEFAULT_EPS_M,
    MIN_SAMPLES_RULE,
    default_min_samples,
    occupied_area_m2,
    weighted_dbscan,
)
from hotspots.geo.clusters.hdbscan import hdbscan_labels
from hotspots.geo.clusters.hotspots import DEFAULT_MIN_LOCATIONS, DEFAULT_SHAPE_BUFFER_M, build_hotspots
from hotspots.geo.inputs.ingest import MONTH_RE
from hotspots.geo.inputs.join import join_wards
from hotspots.geo.params import AUTO, SPECS, Method, Weight, check_grid, hotspots_note, smallest_cell_size
from hotspots.geo.stats.concentration import concentration
from hotspots.geo.stats.coverage import compute_coverage, districts_without_data, missing_by_month
from hotspots.geo.stats.grid import default_cell_size
from hotspots.geo.stats.harm import DEFAULT_HARM, HarmWeights, assign_harm, default_min_harm
from hotspots.geo.stats.significance import gi_star_grid, gi_star_polygons, hot_share
from hotspots.geo.stats.trend import time_profile


@dataclass(frozen=True)
class AnalysisParams:
    """What to analyse and how. ``None`` means "choose from the data".

    ``month_from``/``month_to`` are inclusive ``YYYY-MM`` bounds; ``crime_types``
    empty means all; ``eps_m`` is the DBSCAN radius in metres and
    ``min_samples`` the incidents a neighbourhood needs to be a hotspot core;
    ``boundaries`` names a boundary set or ``"auto"`` for the set in force for
    each incident's month; ``area`` names the area to analyse in (``None``: the
    one the dataset was stored for; resolved by the service); ``shape_buffer_m``
    is the radius in metres of the circles drawn around member locations (and the
    width of the street links joining them); a hotspot on fewer than
    ``min_locations`` distinct locations is a ``place``, ranked apart from the areas.
    """

    month_from: str | None = None
    month_to: str | None = None
    crime_types: tuple[str, ...] = ()
    eps_m: float | None = None
    min_samples: int | None = None
    boundaries: str = AUTO
    shape_buffer_m: float = DEFAULT_SHAPE_BUFFER_M
    cell_size_m: float | None = None
    weight: Weight = "count"
    method: Method = "dbscan"
    min_cluster_size: int | None = None
    harm_table: tuple[tuple[str, float], ...] | None = None
    sources: tuple[str, ...] = ()
    area: str | None = None
    min_locations: int = DEFAULT_MIN_LOCATIONS

    def harm(self) -> HarmWeights:
        """The harm weights in use: a custom table, else the documented default."""
        return DEFAULT_HARM if self.harm_table is None else HarmWeights.from_items(self.harm_table)

    def validate(self) -> None:
        """Refuse values outside the parameter contract (:mod:`hotspots.geo.params`), one message each."""
        for label, value in (("from", self.month_from), ("to", self.month_to)):
            if value is not None and not MONTH_RE.match(value):
                raise InvalidInput(f"'{label}' must be a month in the form YYYY-MM, got {value!r}")
        if self.month_from and self.month_to and self.month_from > self.month_to:
            raise InvalidInput(f"'from' ({self.month_from}) is after 'to' ({self.month_to})")
        for name in (
            "eps_m",
            "min_samples",
            "shape_buffer_m",
            "cell_size_m",
            "weight",
            "method",
            "min_locations",
        ):
            SPECS[name].check(getattr(self, name))
        SPECS["min_cluster_size"].check(self.min_cluster_size)

    def cache_key(self) -> tuple[Any, ...]:
        return tuple(asdict(self).values())


@dataclass
class AnalysisResult:
    """Outputs of :func:`analyse`. Geometries are in EPSG:27700.

    ``incidents``: filtered incidents with ward/borough columns and
    ``hotspot_id`` (1-based rank, -1 where none; incidents without a location
    are kept with -1). ``wards``/``boroughs``: every polygon of the boundary
    sets used, with ``count`` (``rate_per_1000`` where population is known)
    and Getis-Ord Gi* of the counts (``gi_z``, ``gi_p``, ``gi_bin``,
    ``gi_label``). ``study_area``: the wards of the boroughs that hold
    incidents. ``gi_grid``: Gi* on a hex grid over the study area (every
    cell). ``meta``: parameters actually used, counts and notes for display
    and export metadata.
    """

    params: AnalysisParams
    incidents: pd.DataFrame
    hotspots: gpd.GeoDataFrame
    wards: gpd.GeoDataFrame
    boroughs: gpd.GeoDataFrame
    boundary_sets: list[BoundarySet]
    months: list[str]
    study_area: shapely.Geometry
    gi_grid: gpd.GeoDataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    context_hotspots: gpd.GeoDataFrame = field(
        default_factory=lambda: gpd.GeoDataFrame({"label": []}, geometry=[], crs=BNG)
    )


def analyse(
    incidents: pd.DataFrame,
    boundary_sets: Mapping[str, BoundarySet],
    params: AnalysisParams,
    *,
    statistics: bool = True,
    neighbours: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> AnalysisResult:
    """Filter by period and crime type, join to wards, run DBSCAN and summarise.

    ``boundary_sets`` are the area's sets (``boundaries="auto"`` joins each month
    to the set in force then). DBSCAN runs over every located incident, inside the
    area or not, so a hotspot on the boundary keeps its outside part; a hotspot is
    listed and ranked only if any of its incidents lie inside the area (the others
    are kept as ``context_hotspots``, shapes only). ``neighbours`` names the
    district at BNG points outside the area, for each hotspot's
    ``outside_districts``. ``statistics=False`` skips Getis-Ord Gi* (hex grid and
    wards) and the concentration figures (``meta["concentration"]`` is ``None``) when only the
    hotspots are needed, e.g. inside a rolling evaluation.

    Raises
    ------
    InvalidInput
        For bad parameters or a filter that leaves no incidents.
    NotFound
        For an unknown boundary set name.
    """
    params.validate()
    selected = _filter(incidents, params)
    months = _month_range(selected["month"], params, incidents["month"])
    sets = _choose_sets(boundary_sets, params.boundaries, months)
    own = {str(n) for s in sets for n in s.boroughs["borough_name"]}
    elsewhere = None if neighbours is None else _in_other_district(neighbours, own)
    frame = selected.reset_index(drop=True)
    joined = pd.concat([frame, join_wards(frame, sets, elsewhere=elsewhere)], axis=1)
    located = joined["has_location"].to_numpy(dtype=bool)
    coverage = _coverage(joined, sets[-1])
    study_area = float(coverage.area)
    n_located_inside = int((located & ~joined["outside_area"].to_numpy(dtype=bool)).sum())
    inside = located & ~joined["outside_area"].to_numpy(dtype=bool)
    assignment = assign_harm(joined["crime_type"], params.harm())
    joined["harm"] = assignment.weights
    weights = assignment.weights[located] if params.weight == "harm" else None
    eps = params.eps_m if params.eps_m is not None else DEFAULT_EPS_M
    occupied = occupied_area_m2(joined["x"].to_numpy()[inside], joined["y"].to_numpy()[inside], study_area)
    min_cluster_size = params.min_cluster_size or default_min_samples(n_located_inside, occupied, eps)
    if params.min_samples is not None:
        min_samples = params.min_samples
        rule = None
    elif params.method == "hdbscan":
        mean_w = float(weights.mean()) if weights is not None and len(weights) else 1.0
        min_samples = max(1, math.ceil(min_cluster_size * mean_w))
        rule = "HDBSCAN: min_cluster_size (x mean harm weight in harm mode)"
    elif params.weight == "harm":
        harm_inside = float(joined["harm"].to_numpy()[inside].sum())
        min_samples = default_min_harm(harm_inside, occupied, eps, n_incidents=n_located_inside)
        rule = (
            "6 x harm expected in an eps-radius disc if spread evenly over the part of the area where "
            "incidents happen (500 m squares holding any), at least 5 average incidents' harm"
        )
    else:
        min_samples = default_min_samples(n_located_inside, occupied, eps)
        rule = MIN_SAMPLES_RULE
    resolved = replace(
        params,
        eps_m=eps,
        min_samples=min_samples,
        min_cluster_size=min_cluster_size if params.method == "hdbscan" else None,
    )
    checkpoint()
    labels = np.full(len(joined), -1, dtype=np.int64)
    if located.any():
        xs, ys = joined["x"].to_numpy()[located], joined["y"].to_numpy()[located]
        if params.method == "hdbscan":
            labels[located] = hdbscan_labels(xs, ys, min_cluster_size, min_samples, weights)
        else:
            labels[located] = weighted_dbscan(xs, ys, eps, min_samples, weights=weights)
    labels, outside_only = _owned_clusters(labels, inside)
    # Labels are canonical (0 = most incidents or harm): draw the MAX_HOTSPOTS largest only.
    n_clusters = int(labels.max()) + 1 if len(labels) else 0
    labels[labels >= params_module.MAX_HOTSPOTS] = -1
    checkpoint()
    month_coverage = compute_coverage(joined, months, _district_names(sets))
    hotspots = build_hotspots(
        joined.loc[located].reset_index(drop=True),
        labels[located],
        months=months,
        study_area=coverage,
        shape_buffer_m=params.shape_buffer_m,
        link_m=eps,
        min_locations=params.min_locations,
        missing=missing_by_month(month_coverage),
    )
    _name_outside_districts(hotspots, joined, labels, located & ~inside, neighbours, own)
    context = _context_shapes(joined, outside_only, params.shape_buffer_m)
    joined["hotspot_id"] = np.where(labels >= 0, labels + 1, -1)
    inside_area = inside
    checkpoint()
    if statistics:
        xs, ys = joined["x"].to_numpy()[inside_area], joined["y"].to_numpy()[inside_area]
        gi_grid = gi_star_grid(xs, ys, coverage, grid_cell_size(params.cell_size_m, len(xs), study_area))
        shares = hot_share(hotspots.geometry, gi_grid) if len(hotspots) else np.empty(0)
    else:
        gi_grid = gpd.GeoDataFrame({"gi_bin": []}, geometry=[], crs=BNG)
        shares = np.full(len(hotspots), np.nan)
    hotspots.insert(hotspots.columns.get_loc("pai") + 1, "hot_share", shares)
    reach, reach_weights = _reach(incidents, params, sets, elsewhere, joined)
    no_data = districts_without_data(reach, _district_names(sets), weights=reach_weights)
    wards = _ward_counts(joined, sets, statistics, no_data["no_data"])
    boroughs = _borough_counts(joined, sets, no_data["no_data"])
    n_in_hotspots = int((labels >= 0).sum())
    n_inside_in_hotspots = int((inside_area & (labels >= 0)).sum())
    hotspot_union = shapely.union_all(hotspots.geometry.to_numpy()) if len(hotspots) else None
    union_share = (
        float(hotspot_union.intersection(coverage).area) / study_area if hotspot_union is not None else 0.0
    )
    hit_rate = n_inside_in_hotspots / int(inside_area.sum()) if inside_area.any() else None
    meta: dict[str, Any] = {
        "months": months,
        "month_from": months[0] if months else None,
        "month_to": months[-1] if months else None,
        "crime_types": list(params.crime_types) or "all",
        "eps_m": eps,
        "min_samples": min_samples,
        "min_samples_rule": rule,
        "min_samples_units": "harm (CSS days of custody)" if params.weight == "harm" else "incidents",
        "weight": params.weight,
        "method": params.method,
        "min_cluster_size": min_cluster_size if params.method == "hdbscan" else None,
        "harm": assignment.meta(),
        "harm_total": float(joined["harm"].to_numpy()[inside].sum()),
        "shape_buffer_m": params.shape_buffer_m,
        "shape_rule": "circles of shape_buffer_m metres around member locations, joined by links as wide "
        "as that radius along the minimum spanning tree of the locations (links of at most eps_m)",
        "min_locations": params.min_locations,
        "hotspot_kinds": {
            "area": int((hotspots["kind"] == "area").sum()) if len(hotspots) else 0,
            "place": int((hotspots["kind"] == "place").sum()) if len(hotspots) else 0,
            "rule": f"a place is a hotspot on fewer than {params.min_locations} distinct locations; "
            "places and areas are ranked separately (rank), hotspot_id ranks all",
        },
        "boundary_sets": [s.name for s in sets],
        "district_word": district_word(str(c) for s in sets for c in s.boroughs["borough_code"]),
        "boundary_notes": [n for s in sets for n in s.notes],
        "incidents": int(len(joined)),
        "incidents_located": int(located.sum()),
        "incidents_without_location": int((~located).sum()),
        "incidents_outside_area": int((located & joined["outside_area"].to_numpy(dtype=bool)).sum()),
        "incidents_in_hotspots": n_in_hotspots,
        "hotspots": int(len(hotspots)),
        "hotspots_outside_area": int(len(context)),
        "hotspot_rule": "a hotspot is listed if any of its incidents lie inside the area; clusters "
        "wholly outside it are drawn only as context",
        "clusters_found": n_clusters,
        "hotspots_note": hotspots_note(n_clusters),
        "hit_rate": hit_rate,
        "hotspot_area_share": union_share,
        "pai": hit_rate / union_share if hit_rate is not None and union_share > 0 else None,
        "hit_rate_rule": "incidents inside the study area that fall in hotspots, over all located "
        "incidents inside the study area; area share is the hotspots' area inside the study area",
        "time_profile": time_profile(joined["occurred_at"]),
        "coverage": month_coverage,
        "no_data": no_data,
        "concentration": concentration(
            joined["x"].to_numpy()[inside], joined["y"].to_numpy()[inside], joined["harm"].to_numpy()[inside]
        )
        if statistics
        else None,
        "gi_star": {"cell_size_m": gi_grid.attrs.get("cell_size_m"), **gi_grid.attrs.get("gi_method", {})},
        "population_sources": {s.name: s.population_source for s in sets if s.population_source},
        "study_area_km2": round(study_area / 1e6, 3),
        "occupied_area_km2": round(occupied / 1e6, 3),
        "study_area_rule": "area of the boroughs that hold incidents",
        "crs_note": "distances and areas computed in British National Grid (EPSG:27700)",
    }
    return AnalysisResult(
        resolved, joined, hotspots, wards, boroughs, sets, months, coverage, gi_grid, meta, context
    )


def _in_other_district(
    neighbours: Callable[[np.ndarray, np.ndarray], np.ndarray], own: Collection[str]
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Whether BNG points lie in a district of England and Wales other than the area's own."""

    def elsewhere(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        names = pd.Series(neighbours(x, y), dtype="object")
        return (names.notna() & ~names.isin(list(own))).to_numpy(dtype=bool)

    return elsewhere


def _reach(
    incidents: pd.DataFrame,
    params: AnalysisParams,
    sets: list[BoundarySet],
    elsewhere: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
    joined: pd.DataFrame,
) -> tuple[pd.DataFrame, str | None]:
    """What each source covers is judged on all its crime types over the period (see
    :func:`~hotspots.geo.stats.coverage.districts_without_data`): ``joined`` itself without a
    crime-type filter, else the period's and sources' distinct located (x, y, source; and month
    when several boundary sets are in force) joined to the districts, counts in column ``n``."""
    if not params.crime_types:
        return joined, None
    wide = _filter(incidents, replace(params, crime_types=()))
    by_month = len(sets) > 1  # months choose the boundary set; with one set they do not matter
    keys = ["x", "y", *(["month"] if by_month else []), *(["dataset"] if "dataset" in wide.columns else [])]
    located = wide[
        np.isfinite(wide["x"].to_numpy(dtype=float)) & np.isfinite(wide["y"].to_numpy(dtype=float))
    ]
    distinct = located.groupby(keys, observed=True, sort=False).size().rename("n").reset_index()
    distinct["month"] = distinct["month"].astype(str) if by_month else str(wide["month"].iloc[0])
    return pd.concat([distinct, join_wards(distinct, sets, elsewhere=elsewhere)], axis=1), "n"


def _district_names(sets: Sequence[BoundarySet]) -> dict[str, str]:
    """District (borough) code -> name over ``sets`` (the latest set's name wins)."""
    names: dict[str, str] = {}
    for bset in sets:
        for code, name in zip(bset.boroughs["borough_code"], bset.boroughs["borough_name"], strict=True):
            names[str(code)] = str(name)
    return names


def _owned_clusters(labels: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels with clusters that have no incident inside the area removed (-1) and the rest renumbered.

    Returns the new labels (canonical order kept: 0 = largest remaining) and, per incident,
    the old label of a removed cluster (-1 elsewhere), for drawing them as context.
    """
    n = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    outside_only = np.full(len(labels), -1, dtype=np.int64)
    if n == 0:
        return labels, outside_only
    member = labels >= 0
    owned = np.bincount(labels[member & inside], minlength=n) > 0
    if owned.all():
        return labels, outside_only
    new_of_old = np.where(owned, np.cumsum(owned) - 1, -1)
    out = np.full(len(labels), -1, dtype=np.int64)
    out[member] = new_of_old[labels[member]]
    gone = member & ~owned[np.where(member, labels, 0)]
    outside_only[gone] = labels[gone]
    return out, outside_only


def _name_outside_districts(
    hotspots: gpd.GeoDataFrame,
    joined: pd.DataFrame,
    labels: np.ndarray,
    outside: np.ndarray,
    neighbours: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
    own: Collection[str] = (),
) -> None:
    """Add ``outside_districts``: districts outside the area that each hotspot's incidents reach.

    ``own`` are the area's district names: a generalised national outline may place a point
    just over the area's edge in one of them, which says nothing about where it is.
    """
    names: list[list[str]] = [[] for _ in range(len(hotspots))]
    reach = outside & (labels >= 0)
    if neighbours is not None and reach.any():
        xs, ys = joined["x"].to_numpy()[reach], joined["y"].to_numpy()[reach]
        found = pd.DataFrame({"label": labels[reach], "name": neighbours(xs, ys)}).dropna()
        found = found[~found["name"].isin(own)]
        for label, group in found.groupby("label"):
            names[int(str(label))] = group["name"].value_counts().index.astype(str).tolist()
    at = hotspots.columns.get_loc("extends_outside_area") + 1
    hotspots.insert(at, "outside_districts", pd.Series(names, index=hotspots.index, dtype=object))


def _context_shapes(joined: pd.DataFrame, outside_only: np.ndarray, buffer_m: float) -> gpd.GeoDataFrame:
    """Shapes of the clusters wholly outside the area (EPSG:27700), drawn faintly as context."""
    from hotspots.geo.clusters.shapes import circle_union

    shapes = []
    for label in np.unique(outside_only[outside_only >= 0]):
        rows = outside_only == label
        points = np.unique(
            np.column_stack([joined["x"].to_numpy()[rows], joined["y"].to_numpy()[rows]]), axis=0
        )
        shapes.append(circle_union(points[:, 0], points[:, 1], buffer_m))
    return gpd.GeoDataFrame({"label": ["outside the area"] * len(shapes)}, geometry=shapes, crs=BNG)


def grid_cell_size(cell_size_m: float | None, n_incidents: int, area_m2: float) -> float | None:
    """Hex cell size in metres: as given (refused if the grid over ``area_m2`` would be too large,
    see :func:`hotspots.geo.params.check_grid`); ``None`` (the data's default, chosen by
    :func:`~hotspots.geo.stats.significance.gi_star_grid`) unless that default would give more than
    :data:`hotspots.geo.params.MAX_GRID_CELLS` cells, then the smallest size that does not."""
    if cell_size_m is not None:
        check_grid(cell_size_m, area_m2)
        return cell_size_m
    floor = smallest_cell_size(area_m2)
    return floor if default_cell_size(n_incidents, area_m2) < floor else None


def _filter(incidents: pd.DataFrame, params: AnalysisParams) -> pd.DataFrame:
    mask = np.ones(len(incidents), dtype=bool)
    month = incidents["month"].astype("string")
    if params.month_from:
        mask &= (month >= params.month_from).fillna(False).to_numpy(dtype=bool)
    if params.month_to:
        mask &= (month <= params.month_to).fillna(False).to_numpy(dtype=bool)
    if params.sources:
        if "source_type" not in incidents.columns:
            raise InvalidInput("these incidents carry no source type to filter on")
        mask &= incidents["source_type"].astype("string").isin(params.sources).fillna(False).to_numpy(bool)
    if params.crime_types:
        wanted = {c.casefold() for c in params.crime_types}
        known = {str(c).casefold() for c in incidents["crime_type"].dropna().unique()}
        unknown = sorted(wanted - known)
        if unknown:
            raise InvalidInput(
                f"unknown crime type(s): {', '.join(unknown)}; the dataset has: "
                + ", ".join(sorted(str(c) for c in incidents["crime_type"].dropna().unique()))
            )
        mask &= (
            incidents["crime_type"].astype("string").str.casefold().isin(wanted).fillna(False).to_numpy(bool)
        )
    out = incidents.loc[mask]
    if out.empty:
        raise InvalidInput("no incidents match the chosen period and crime types")
    return out


def _month_range(months: pd.Series, params: AnalysisParams, coverage: pd.Series) -> list[str]:
    """Every month of the period, clipped to the months the dataset covers (outside them a zero
    count would mean "no data", and a long requested span would make monthly series huge)."""
    present = months.dropna()
    covered = coverage.dropna()
    first = max(params.month_from or str(present.min()), str(covered.min()))
    last = min(params.month_to or str(present.max()), str(covered.max()))
    span = pd.period_range(first, last, freq="M")
    return [str(p) for p in span]


def _choose_sets(
    boundary_sets: Mapping[str, BoundarySet], name: str, months: Sequence[str]
) -> list[BoundarySet]:
    if name != AUTO:
        if name not in boundary_sets:
            raise NotFound(f"no boundary set named {name!r}; known: {', '.join(boundary_sets)}")
        return [boundary_sets[name]]
    return sets_in_force(list(boundary_sets.values()), months)


def _coverage(joined: pd.DataFrame, bset: BoundarySet) -> shapely.Geometry:
    """The wards of the boroughs that hold incidents (EPSG:27700): the area the data covers.

    A file for one borough is judged against that borough, not the whole set.
    """
    inside = joined.loc[~joined["outside_area"].astype(bool), "borough_code"].dropna().unique()
    wards = bset.wards[bset.wards["borough_code"].isin(inside)]
    if wards.empty or len(inside) == bset.wards["borough_code"].nunique():
        return bset.outline
    return wards.geometry.union_all()


def _ward_counts(
    joined: pd.DataFrame, sets: list[BoundarySet], statistics: bool, no_data: Collection[str]
) -> gpd.GeoDataFrame:
    inside = joined[~joined["outside_area"].astype(bool)]
    counts = inside.groupby(["boundary_set", "ward_code"], observed=True).size()
    return ward_layer(counts, sets, statistics, no_data)


def _borough_counts(
    joined: pd.DataFrame, sets: list[BoundarySet], no_data: Collection[str]
) -> gpd.GeoDataFrame:
    inside = joined[~joined["outside_area"].astype(bool)]
    return borough_layer(inside.groupby("borough_code", observed=True).size(), sets, no_data)


def ward_layer(
    counts: pd.Series, sets: list[BoundarySet], statistics: bool, no_data: Collection[str] = ()
) -> gpd.GeoDataFrame:
    """Every ward of ``sets`` with its count, rate per 1,000 residents and (optionally) Gi*.

    ``counts``: incidents inside the study area indexed by (``boundary_set``, ``ward_code``);
    a ward missing from it counts 0. ``no_data``: codes of the districts no selected source
    covers: their wards get ``no_data`` true, ``count`` 0 (not a measurement: exports write
    it as null, see :func:`hotspots.geo.outputs.export.published_areas`), no rate, and are
    left out of Gi* (not tested, and not neighbours of any ward). Geometry in EPSG:27700.
    """
    frames = []
    lacking = {str(c) for c in no_data}
    for bset in sets:
        mine = counts[counts.index.get_level_values(0) == bset.name].droplevel(0)
        wards = bset.wards.copy()
        wards["boundary_set"] = bset.name
        wards["count"] = wards["ward_code"].map(mine).fillna(0).astype(int)
        wards["no_data"] = wards["borough_code"].astype(str).isin(lacking).to_numpy()
        if "population" not in wards.columns:
            wards["population"] = np.nan
        pop = pd.to_numeric(wards["population"], errors="coerce")
        rate = (wards["count"] / pop * 1000).where(pop > 0).round(2)
        wards["rate_per_1000"] = rate.where(~wards["no_data"])
        if statistics:
            measured = wards["count"].astype(float).where(~wards["no_data"])  # NaN: not tested
            gi = gi_star_polygons(gpd.GeoDataFrame({"count": measured}, geometry=wards.geometry), "count")
            wards["gi_z"] = gi["z"].round(3)
            wards["gi_p"] = gi["p_fdr"]
            wards["gi_bin"] = gi["gi_bin"]
            wards["gi_label"] = gi["label"]
        else:
            wards[["gi_z", "gi_p", "gi_bin", "gi_label"]] = None
        frames.append(wards)
    out = pd.concat(frames, ignore_index=True)
    cols = [*WARD_COLUMNS, "boundary_set", "count", "population", "rate_per_1000"]
    cols += ["gi_z", "gi_p", "gi_bin", "gi_label", "no_data"]
    return gpd.GeoDataFrame(out[cols], geometry=out.geometry, crs=BNG)


def borough_layer(
    counts: pd.Series, sets: list[BoundarySet], no_data: Collection[str] = ()
) -> gpd.GeoDataFrame:
    """The boroughs of the latest set with ``count``: incidents inside the area by ``borough_code``,
    and ``no_data`` true for the ``no_data`` district codes (their ``count`` 0 is not a measurement)."""
    boroughs = sets[-1].boroughs.copy()
    boroughs["count"] = boroughs["borough_code"].map(counts).fillna(0).astype(int)
    boroughs["no_data"] = boroughs["borough_code"].astype(str).isin({str(c) for c in no_data}).to_numpy()
    return gpd.GeoDataFrame(
        boroughs[["borough_code", "borough_name", "count", "no_data"]], geometry=boroughs.geometry, crs=BNG
    )
