"""Hotspot shapes and summaries from DBSCAN labels.

A hotspot is drawn tight to where its incidents are: circles of ``shape_buffer_m``
metres (default 15 m) around its member locations, joined by street links as wide
as that radius along the minimum spanning tree of its locations (edges of at most
``eps``), in EPSG:27700 (:func:`hotspots.geo.clusters.shapes.hotspot_outline`). One
contiguous street-scale shape per hotspot. A convex hull, or wide circles, would
cover far more empty ground and inflate the area, which makes a hotspot look
weaker than it is (lower PAI).
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspots.crs import BNG, WGS84, transform
from hotspots.geo.clusters.locations import Locations
from hotspots.geo.clusters.shapes import hotspot_outline
from hotspots.geo.geos import prepared_copy
from hotspots.geo.stats.coverage import missing_months_for
from hotspots.geo.stats.trend import mann_kendall_many, time_profile

DEFAULT_SHAPE_BUFFER_M = 15.0
DEFAULT_MIN_LOCATIONS = 3
"""A hotspot on fewer distinct locations than this is a *place* (a shopping centre, a station),
not an area."""
PLACE, AREA = "place", "area"
TOP_CATEGORIES = 3
SUMMARY_INPUTS = [
    *("x", "y", "month", "crime_type", "occurred_at", "outside_area"),
    *("ward_code", "ward_name", "borough_code", "borough_name"),
]
OPTIONAL_INPUTS = ["harm", "location"]
"""Columns :func:`build_hotspots` reads; ``harm`` (weight per incident) and ``location`` (police.uk's
location text, "On or near ...") are used when present."""

HOTSPOT_COLUMNS = [
    "hotspot_id",
    "kind",
    "rank",
    "count",
    "harm",
    "locations",
    "location_text",
    "area_m2",
    "density_per_km2",
    "share_of_incidents",
    "share_of_area",
    "pai",
    "trend",
    "trend_p",
    "slope_per_month",
    "wards",
    "ward_codes",
    "boroughs",
    "borough_codes",
    "cross_border",
    "extends_outside_area",
    "top_categories",
    "monthly_counts",
    "missing_months",
    "first_month",
    "last_month",
    "peak_month",
    "centroid_lon",
    "centroid_lat",
    "time_profile",
    "geometry",
]


def build_hotspots(
    incidents: pd.DataFrame,
    labels: np.ndarray,
    *,
    months: Sequence[str],
    study_area: shapely.Geometry,
    shape_buffer_m: float = DEFAULT_SHAPE_BUFFER_M,
    link_m: float = 100.0,
    min_locations: int = DEFAULT_MIN_LOCATIONS,
    missing: Mapping[str, Collection[str]] | None = None,
) -> gpd.GeoDataFrame:
    """One row per cluster, in label order (``hotspot_id`` 1 = label 0 = most incidents, or most harm).

    Parameters
    ----------
    incidents:
        Located incidents with ``x``, ``y`` (EPSG:27700), ``month``,
        ``crime_type`` and the ward join columns.
    labels:
        Canonical cluster label per incident (0 = largest), -1 for noise.
    months:
        Every month of the period, so monthly counts include zeros.
    missing:
        Month -> district (``borough_code``) codes the source did not cover that month
        (:func:`hotspots.geo.stats.coverage.missing_by_month`). A hotspot's month is missing
        (``None`` in ``monthly_counts``, listed in ``missing_months``, left out of the trend)
        when any district its incidents inside the area touch was not covered: a partial
        count would read as a fall.
    study_area:
        The area the data covers (EPSG:27700). ``share_of_incidents`` counts
        member incidents inside it over all located incidents inside it, and
        ``share_of_area`` the hotspot's area inside it over its area, so that
        ``pai`` (their ratio) compares like with like.
    shape_buffer_m:
        Radius (metres) of the circles around member locations, and width of the links.
    link_m:
        Longest link (metres) drawn between member locations: DBSCAN's ``eps``.
    min_locations:
        A hotspot on fewer distinct locations is ``kind`` "place" (one or two snapped map points:
        a shopping centre, a station), the others "area". ``rank`` counts within each kind
        (1 = most incidents or harm), so a place's tiny area and huge density are never ranked
        against street-scale areas; ``hotspot_id`` is the rank over all clusters, as before.
        ``location_text`` gives a place's police.uk location texts, most incidents first.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`HOTSPOT_COLUMNS`, geometry in EPSG:27700, areas in m2 and
        densities in incidents per km2. ``trend`` is the Mann-Kendall test of
        the monthly counts (``slope_per_month`` is Sen's slope);
        ``time_profile`` holds hour-of-day and weekday counts where the data
        has times, and says why not where it has not.
    """
    member = labels >= 0
    if not member.any():
        return gpd.GeoDataFrame({c: [] for c in HOTSPOT_COLUMNS if c != "geometry"}, geometry=[], crs=BNG)
    has_harm = "harm" in incidents.columns
    has_text = "location" in incidents.columns
    df = incidents[SUMMARY_INPUTS + [c for c in OPTIONAL_INPUTS if c in incidents.columns]]
    total_inside = int((~incidents["outside_area"].to_numpy(dtype=bool)).sum())
    study_area_m2 = float(study_area.area)
    study_area = prepared_copy(study_area)  # the boundary set's outline is shared: prepare a copy
    # Member rows label by label (input order within a label); columns are read through
    # ``g.rows`` without copying the text columns.
    g = _Groups(np.asarray(labels), member)
    outside = df["outside_area"].to_numpy(dtype=bool)[g.rows]
    n_inside = g.sum(~outside)

    # The shapes are unioned in worker threads (GEOS runs without the GIL) while this
    # thread works out everything else.
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending, n_locations = _start_shapes(pool, df, g, shape_buffer_m, link_m)
        rows = _summaries(df, g, months, outside, has_harm, missing or {})
        shapes = np.array([f.result() for f in pending], dtype=object)
    areas = shapely.area(shapes)
    inside_study = shapely.contains(study_area, shapes)
    area_inside = areas.copy()
    for i in np.flatnonzero(~inside_study):
        area_inside[i] = float(shapes[i].intersection(study_area).area)
    centroids = shapely.centroid(shapes)
    lons, lats = transform(shapely.get_x(centroids), shapely.get_y(centroids), BNG, WGS84)
    kinds = np.where(np.asarray(n_locations) < min_locations, PLACE, AREA)
    ranks = np.zeros(len(rows), dtype=np.int64)
    for kind in (PLACE, AREA):
        mine = kinds == kind
        ranks[mine] = np.arange(1, int(mine.sum()) + 1)  # rows are in hotspot_id order
    texts = _location_texts(df, g, kinds == PLACE) if has_text else [None] * len(rows)
    for k, row in enumerate(rows):
        count = row["count"]
        area = float(areas[k])
        share_inc = int(n_inside[k]) / total_inside if total_inside else 0.0
        share_area = float(area_inside[k]) / study_area_m2 if study_area_m2 > 0 else float("nan")
        row.update(
            kind=str(kinds[k]),
            rank=int(ranks[k]),
            location_text=texts[k],
            locations=int(n_locations[k]),
            area_m2=round(area, 1),
            density_per_km2=round(count / (area / 1e6), 1) if area > 0 else None,
            share_of_incidents=share_inc,
            share_of_area=share_area,
            pai=share_inc / share_area if share_area and share_area > 0 else None,
            centroid_lon=round(float(lons[k]), 6),
            centroid_lat=round(float(lats[k]), 6),
            geometry=shapes[k],
        )
    out = gpd.GeoDataFrame(rows, columns=HOTSPOT_COLUMNS, geometry="geometry", crs=BNG)
    out["location_text"] = pd.Series(texts, index=out.index, dtype=object)  # None, not NaN, where none
    return out


def _summaries(
    df: pd.DataFrame,
    g: _Groups,
    months: Sequence[str],
    outside: np.ndarray,
    has_harm: bool,
    missing: Mapping[str, Collection[str]],
) -> list[dict[str, Any]]:
    """Every column of each hotspot's row that does not depend on its shape."""
    text = ["month", "crime_type", "ward_code", "ward_name", "borough_code", "borough_name"]
    with ThreadPoolExecutor(max_workers=2) as pool:  # Arrow hashes text without the GIL
        factorized = dict(zip(text, pool.map(lambda c: _factorize(df, c), text), strict=True))
    month = _Codes(df["month"], g, factorized["month"])
    crime = _Codes(df["crime_type"], g, factorized["crime_type"])
    month_counts = month.counts_in_first_order()
    crime_counts = crime.counts_in_first_order()
    month_min, month_max = month.min_max()
    month_pos = {m: i for i, m in enumerate(month.labels)}
    wanted = [month_pos.get(m, -1) for m in months]
    wards = _pair_counts(factorized["ward_code"], factorized["ward_name"], g, ~outside)
    boroughs = _pair_counts(factorized["borough_code"], factorized["borough_name"], g, ~outside)
    harm = df["harm"].to_numpy(dtype=float)[g.rows] if has_harm else None
    profiles = _time_profiles(df["occurred_at"], g)
    n_inside = g.sum(~outside)
    rows = []
    series_rows: list[list[float]] = []
    for k, label in enumerate(g.labels):
        count = int(g.size[k])
        codes_k, counts_k = month_counts[k]
        per_month = dict(zip(codes_k.tolist(), counts_k.tolist(), strict=True))
        ward_list = wards[k]
        borough_list = boroughs[k]
        gaps = missing_months_for([code for code, _ in borough_list], missing) if missing else []
        monthly: dict[str, int | None] = {
            m: int(per_month.get(c, 0)) if c >= 0 else 0 for m, c in zip(months, wanted, strict=True)
        }
        for m in gaps:
            if m in monthly:
                monthly[m] = None
        series_rows.append([float("nan") if v is None else float(v) for v in monthly.values()])
        by_month = _descending(counts_k)
        cat_codes, cat_counts = crime_counts[k]
        top = _descending(cat_counts)[:TOP_CATEGORIES]
        is_outside = bool(int(n_inside[k]) < count)
        rows.append(
            {
                "hotspot_id": int(label) + 1,
                "kind": None,
                "rank": None,
                "count": count,
                "harm": round(float(_nansum(harm[g.slice(k)])), 1) if harm is not None else None,
                "locations": None,
                "location_text": None,
                "area_m2": None,
                "density_per_km2": None,
                "share_of_incidents": None,
                "share_of_area": None,
                "pai": None,
                "trend": None,
                "trend_p": None,
                "slope_per_month": None,
                "wards": [name for _, name in ward_list],
                "ward_codes": [code for code, _ in ward_list],
                "boroughs": [name for _, name in borough_list],
                "borough_codes": [code for code, _ in borough_list],
                "cross_border": bool(len(borough_list) > 1 or (is_outside and len(borough_list) > 0)),
                "extends_outside_area": is_outside,
                "top_categories": [
                    {"crime_type": crime.labels[int(cat_codes[i])], "count": int(cat_counts[i])} for i in top
                ],
                "monthly_counts": monthly,
                "missing_months": [m for m in gaps if m in monthly],
                "first_month": month_min[k],
                "last_month": month_max[k],
                "peak_month": month.labels[int(codes_k[by_month[0]])] if len(by_month) else None,
                "centroid_lon": None,
                "centroid_lat": None,
                "time_profile": profiles[k],
                "geometry": None,
            }
        )
    series = np.array(series_rows, dtype=float).reshape(len(rows), -1)
    for row, trend in zip(rows, mann_kendall_many(series), strict=True):
        row.update(trend=trend.trend, trend_p=trend.p, slope_per_month=trend.slope_per_month)
    return rows


NAMELESS = frozenset({"on or near", "no location"})
"""Location texts that name no place: police.uk writes "On or near " with an empty street name."""


def _location_texts(df: pd.DataFrame, g: _Groups, wanted: np.ndarray) -> list[str | None]:
    """Per group, its location texts joined by ``'; '``, most incidents first (``None`` unless
    ``wanted``, or where the data has no text that names a place, see :data:`NAMELESS`)."""
    out: list[str | None] = [None] * len(g)
    if not wanted.any():
        return out
    codes = _Codes(df["location"], g, _factorize(df, "location"))
    for k, (cs, ns) in enumerate(codes.counts_in_first_order()):
        if wanted[k] and len(cs):
            texts = [codes.labels[int(cs[i])].strip() for i in _descending(ns)]
            texts = [t for t in texts if t and t.casefold() not in NAMELESS]
            out[k] = "; ".join(texts) if texts else None
    return out


def _factorize(df: pd.DataFrame, column: str) -> tuple[Any, Any]:
    """``pd.factorize(df[column], sort=True)``, or the codes of a category column whose
    categories are already sorted (as :mod:`~hotspots.geo.inputs.ingest` and the ward join give)."""
    values = df[column]
    assert isinstance(values, pd.Series)
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = values.cat.categories
        if categories.is_unique and categories.is_monotonic_increasing and not values.cat.ordered:
            return values.cat.codes.to_numpy(), categories
    return pd.factorize(values, sort=True)


class _Groups:
    """Member rows grouped by label: ``rows`` lists their positions label by label, in input order
    within a label (as ``groupby`` sees them); ``group`` is the label number of each."""

    def __init__(self, labels: np.ndarray, member: np.ndarray) -> None:
        idx = np.flatnonzero(member)
        lab = labels[idx]
        if lab.dtype.kind in "iu" and len(lab) and int(lab.max()) < 4 * len(lab) + 1024:
            present = np.bincount(lab)
            self.labels = np.flatnonzero(present)
            number = np.cumsum(present > 0) - 1
            inverse = number[lab]
        else:
            self.labels, inverse = np.unique(lab, return_inverse=True)
            inverse = inverse.ravel()
        # a stable sort of small integers is a radix sort
        small = np.int16 if len(self.labels) < 1 << 15 else np.int64
        order = np.argsort(inverse.astype(small), kind="stable")
        self.rows = idx[order]
        self.group = inverse[order]
        self.size = np.bincount(inverse, minlength=len(self.labels))
        self.bounds = np.concatenate([[0], np.cumsum(self.size)])

    def __len__(self) -> int:
        return len(self.labels)

    def slice(self, k: int) -> slice:
        return slice(int(self.bounds[k]), int(self.bounds[k + 1]))

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per group, the sum of ``values`` (given in ``rows`` order)."""
        return np.bincount(self.group, weights=values, minlength=len(self)).astype(np.int64)


class _Codes:
    """A text column of the grouped rows as codes into its sorted distinct values (-1 missing)."""

    def __init__(self, values: pd.Series, groups: _Groups, factorized: tuple[Any, Any]) -> None:
        codes, uniq = factorized  # pd.factorize(values, sort=True)
        self.values = values
        self.codes = np.asarray(codes)[groups.rows].astype(np.int64)
        self.labels = [str(v) for v in uniq]
        self.groups = groups

    def counts_in_first_order(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per group: distinct codes in order of first appearance, and their counts."""
        g = self.groups
        valid = self.codes >= 0
        width = max(len(self.labels), 1)
        key = g.group[valid] * width + self.codes[valid]
        if len(g) * width <= max(4 * len(key), 1 << 16):  # small key space: count, no sort
            all_counts = np.bincount(key, minlength=len(g) * width)
            uniq = np.flatnonzero(all_counts)
            counts = all_counts[uniq]
            first_at = np.full(len(g) * width, len(key), dtype=np.int64)
            np.minimum.at(first_at, key, np.arange(len(key)))
            first = first_at[uniq]
        else:
            uniq, first, counts = np.unique(key, return_index=True, return_counts=True)
        grp = uniq // width
        order = np.lexsort((first, grp))
        grp, code, counts = grp[order], (uniq % width)[order], counts[order]
        cut = np.searchsorted(grp, np.arange(len(g) + 1))
        return [(code[cut[k] : cut[k + 1]], counts[cut[k] : cut[k + 1]]) for k in range(len(g))]

    def min_max(self) -> tuple[list[str], list[str]]:
        """Per group, the smallest and largest value as text (as ``Series.min``/``max``)."""
        g = self.groups
        big = np.iinfo(np.int64).max
        codes = self.codes
        lo = np.full(len(g), big, dtype=np.int64)
        hi = np.full(len(g), -1, dtype=np.int64)
        valid = codes >= 0
        np.minimum.at(lo, g.group[valid], codes[valid])
        np.maximum.at(hi, g.group[valid], codes[valid])
        lows, highs = [], []
        for k in range(len(g)):
            if hi[k] < 0:  # no value at all: whatever pandas says of an all-missing column
                rows = self.values.iloc[g.rows[g.slice(k)]]
                lows.append(str(rows.min()))
                highs.append(str(rows.max()))
            else:
                lows.append(self.labels[int(lo[k])])
                highs.append(self.labels[int(hi[k])])
        return lows, highs


def _descending(counts: np.ndarray) -> np.ndarray:
    """Positions of ``counts`` from largest to smallest, ties in the given (first-seen) order.

    That is ``Series.value_counts``: counts in order of first appearance, sorted stably.
    """
    return np.argsort(-np.asarray(counts, dtype=np.int64), kind="stable")


def _nansum(values: np.ndarray) -> float:
    """``Series.sum()``: NaN counts as 0, same summation order."""
    return float(np.where(np.isnan(values), 0.0, values).sum())


def _pair_counts(
    code_factors: tuple[Any, Any], name_factors: tuple[Any, Any], g: _Groups, use: np.ndarray
) -> list[list[tuple[str, str]]]:
    """Per group, the (code, name) pairs of its ``use`` rows, most rows first, ties by code then name.

    Takes ``pd.factorize(..., sort=True)`` of the code and the name columns.
    """
    codes, code_labels = code_factors
    names, name_labels = name_factors
    c = np.asarray(codes)[g.rows].astype(np.int64)
    n = np.asarray(names)[g.rows].astype(np.int64)
    keep = use & (c >= 0) & (n >= 0)
    width = max(len(name_labels), 1)
    pair = c[keep] * width + n[keep]  # sorts as (code, name) since both codes are in sorted order
    key_w = max(len(code_labels), 1) * width
    key = g.group[keep] * key_w + pair
    if len(g) * key_w <= max(4 * len(key), 1 << 16):  # small key space: count, no sort
        all_counts = np.bincount(key, minlength=len(g) * key_w)
        uniq = np.flatnonzero(all_counts)
        counts = all_counts[uniq]
    else:
        uniq, counts = np.unique(key, return_counts=True)
    grp, pair = uniq // key_w, uniq % key_w
    order = np.lexsort((pair, -counts, grp))
    grp, pair = grp[order], pair[order]
    cut = np.searchsorted(grp, np.arange(len(g) + 1))
    cl = [str(v) for v in code_labels]
    nl = [str(v) for v in name_labels]
    return [
        [(cl[int(p) // width], nl[int(p) % width]) for p in pair[cut[k] : cut[k + 1]]] for k in range(len(g))
    ]


def _start_shapes(
    pool: ThreadPoolExecutor, df: pd.DataFrame, g: _Groups, radius: float, link_m: float
) -> tuple[list[Future[shapely.Geometry]], np.ndarray]:
    """Start, per group, the outline of its distinct locations (:func:`hotspot_outline`).

    Returns the pending unions (in group order) and how many locations each group has.
    Circles are unioned in (x, y) order of their locations, as ``np.unique`` sorts them
    (:func:`~hotspots.geo.clusters.shapes.circle_union`).
    """
    x = df["x"].to_numpy(dtype=float)[g.rows]
    y = df["y"].to_numpy(dtype=float)[g.rows]
    locs = Locations.from_xy(x, y)  # distinct locations, numbered in (x, y) order
    key = np.unique(g.group * len(locs) + locs.inverse)  # (group, location), each once
    grp, loc = key // len(locs), key % len(locs)
    cut = np.searchsorted(grp, np.arange(len(g) + 1))
    sizes = np.diff(cut)
    pending: list[Future[shapely.Geometry] | None] = [None] * len(g)
    for k in np.argsort(-sizes, kind="stable"):  # largest first: the two threads end together
        mine = loc[cut[k] : cut[k + 1]]
        pending[k] = pool.submit(hotspot_outline, locs.x[mine], locs.y[mine], radius, link_m)
    return [f for f in pending if f is not None], sizes


def _time_profiles(occurred_at: pd.Series, g: _Groups) -> list[dict[str, Any]]:
    """:func:`time_profile` of each group; one template when no incident has a date (police.uk)."""
    grouped = occurred_at.iloc[g.rows].reset_index(drop=True)
    dated = pd.api.types.is_datetime64_any_dtype(grouped.dtype)
    if not (dated and grouped.isna().all()):
        return [time_profile(grouped.iloc[g.slice(k)]) for k in range(len(g))]
    template = time_profile(pd.Series([pd.NaT], dtype="datetime64[ns]"))
    out = []
    for k in range(len(g)):
        profile = copy.deepcopy(template)
        profile["incidents"] = int(g.size[k])
        out.append(profile)
    return out
