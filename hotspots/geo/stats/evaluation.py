"""How good are the hotspots? The measures crime analysts use, and simple baselines to beat.

Definitions (Chainey, Tompson and Uhlig 2008; Levine 2008):

* hit rate = share of incidents (of a period) inside the hotspots;
* area share = hotspot area inside the study area / study area;
* PAI (predictive accuracy index) = hit rate / area share;
* PEI (predictive efficiency index) = PAI / best possible PAI at the same area
  share, where the best possible is found on a square grid of the *test*
  period's incidents (:data:`DEFAULT_CELL_M` cells, highest counts first);
* RRI (recapture rate index) = PAI in the test period / PAI in the fit period.

Baselines at the same area share as the hotspots, fitted on the fit period
and scored on the test period: wards ranked by incident density, a kernel
density surface, and fine grid cells ranked by count. A method that does not
beat them is not worth its complexity.

Everything is in British National Grid (EPSG:27700): coordinates and distances
in metres, areas in square metres. Incidents outside the study area (and
without a location) are left out of every hit rate, so the hit rate and the
area share describe the same ground.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.ndimage import gaussian_filter

from hotspots.errors import InvalidInput
from hotspots.geo.cancel import checkpoint
from hotspots.geo.clusters.locations import Locations
from hotspots.geo.geos import prepared_copy, private_copy
from hotspots.geo.inputs.ingest import MONTH_RE

DEFAULT_CELL_M = 50.0
"""Grid cell side in metres for PEI's best possible PAI and the grid baselines.

50 m is street-segment scale: about the size of one snapped police.uk location's
catchment, and comparable to the default 30 m circles that draw hotspots
(one circle is about 1.1 cells)."""

DEFAULT_BANDWIDTH_M = 150.0
"""Gaussian kernel standard deviation in metres for the kernel density baseline."""

KDE_TRUNCATE = 4.0
"""The Gaussian kernel is cut at this many bandwidths."""

BASELINE_RULES = {
    "wards": (
        "wards ranked by fit-period incidents per km2 (density, since all methods are compared at the "
        "same area), added until their area reaches the hotspots' area; the last ward counts pro rata "
        "(its test incidents times the share of its area used, as if spread evenly within it)"
    ),
    "kde": (
        "Gaussian kernel density of fit-period incidents on the grid (bandwidth in metres), highest "
        "cells first until the hotspots' area"
    ),
    "grid": "grid cells ranked by fit-period incident count, highest first, until the hotspots' area",
    "best": "grid cells ranked by test-period incident count: the best any set of cells could do",
}
TIE_RULE = (
    "units tied on the ranking value are taken together; where the area runs out inside a tied group, "
    "that group's test incidents count pro rata to the area used (the expected result of a random pick)"
)

Shapes = Any
"""A shapely geometry, a GeoSeries/GeoDataFrame or a sequence of geometries (unioned); None = empty."""


# ---- geometry helpers ------------------------------------------------------------------------


def as_union(shapes: Shapes) -> shapely.Geometry:
    """One prepared shapely geometry from any accepted form of ``shapes`` (empty for None)."""
    if shapes is None:
        geom: shapely.Geometry = shapely.GeometryCollection()
    elif isinstance(shapes, shapely.Geometry):
        geom = private_copy(shapes)  # may be shared (a study area, a cached union): never prepare it
    elif isinstance(shapes, gpd.GeoDataFrame | gpd.GeoSeries):
        geom = shapes.geometry.union_all() if len(shapes) else shapely.GeometryCollection()
    else:
        items = [g for g in shapes if g is not None]
        geom = shapely.union_all(items) if items else shapely.GeometryCollection()
    if geom is None:
        geom = shapely.GeometryCollection()
    shapely.prepare(geom)
    return geom


def inside(x: np.ndarray, y: np.ndarray, shapes: Shapes) -> np.ndarray:
    """Boolean mask of points (EPSG:27700 metres) strictly inside ``shapes``.

    Vectorised ``shapely.contains_xy`` on the prepared union; points exactly on
    an edge are outside. Non-finite coordinates are outside.
    """
    geom = as_union(shapes)
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if geom.is_empty or len(xa) == 0:
        return np.zeros(len(xa), dtype=bool)
    ok = np.isfinite(xa) & np.isfinite(ya)
    out = np.zeros(len(xa), dtype=bool)
    out[ok] = shapely.contains_xy(geom, xa[ok], ya[ok])
    return out


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or not math.isfinite(num) or not math.isfinite(den) or den <= 0:
        return None
    return float(num / den)


def _weights(x: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    if weights is None:
        return np.ones(len(x), dtype=float)
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(x),):
        raise InvalidInput("weights must have one value per incident")
    if not np.isfinite(w).all() or (w < 0).any():
        raise InvalidInput("weights must be finite and not negative")
    return w


# ---- the measures ----------------------------------------------------------------------------


def hit_rate(x: np.ndarray, y: np.ndarray, shapes: Shapes, weights: np.ndarray | None = None) -> float | None:
    """Share (0..1) of incidents, or of their total weight, inside ``shapes``.

    ``x``/``y`` in EPSG:27700 metres; pass the incidents of the study area
    (those outside it cannot be hit and would lower the rate). ``None`` when
    there are no incidents (or the weights sum to 0); 0 for empty ``shapes``.
    """
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    w = _weights(xa, weights)
    ok = np.isfinite(xa) & np.isfinite(ya)
    total = float(w[ok].sum())
    if total <= 0:
        return None
    return float(w[inside(xa, ya, shapes)].sum() / total)


def area_share(shapes: Shapes, study_area: Shapes) -> float:
    """Area of ``shapes`` inside ``study_area`` over the study area's area (EPSG:27700, 0..1).

    Raises
    ------
    InvalidInput
        If the study area has no area.
    """
    area = as_union(study_area)
    total = float(area.area)
    if total <= 0:
        raise InvalidInput("the study area has no area")
    geom = as_union(shapes)
    if geom.is_empty:
        return 0.0
    return float(shapely.intersection(geom, area).area / total)


def pai(
    x: np.ndarray, y: np.ndarray, shapes: Shapes, study_area: Shapes, weights: np.ndarray | None = None
) -> float | None:
    """Predictive accuracy index: :func:`hit_rate` / :func:`area_share`.

    ``None`` (undefined) when the hotspots have no area or there are no incidents.
    """
    return _ratio(hit_rate(x, y, shapes, weights), area_share(shapes, study_area))


def best_hit_rate(
    x: np.ndarray,
    y: np.ndarray,
    area_m2: float,
    study_area: Shapes,
    cell_size_m: float = DEFAULT_CELL_M,
    weights: np.ndarray | None = None,
) -> float | None:
    """Highest share of the incidents that grid cells of total area ``area_m2`` (m2) can hold.

    Cells of ``cell_size_m`` metres, aligned to multiples of the cell size in
    EPSG:27700, are taken in order of their own incident count. Incidents
    outside ``study_area`` are left out. ``None`` without incidents.
    """
    geom = as_union(study_area)
    xa, ya, w = _in_area(np.asarray(x, float), np.asarray(y, float), _weights(np.asarray(x), weights), geom)
    total = float(w.sum())
    if total <= 0:
        return None
    grid = Grid.covering(geom, cell_size_m)
    counts = grid.counts(xa, ya, w).ravel()
    eligible = grid.eligible(geom) | (counts > 0)
    pick = _top_area(
        counts[eligible], np.full(int(eligible.sum()), grid.cell_area), counts[eligible], area_m2
    )
    return pick.value / total


def pei(
    x: np.ndarray,
    y: np.ndarray,
    shapes: Shapes,
    study_area: Shapes,
    cell_size_m: float = DEFAULT_CELL_M,
    weights: np.ndarray | None = None,
) -> float | None:
    """Predictive efficiency index: PAI / best possible PAI at the same area, in [0, 1].

    ``x``/``y`` are the test period's incidents (EPSG:27700). The best possible
    comes from :func:`best_hit_rate` at the hotspots' area inside the study
    area; since both PAIs share that area, PEI = hit rate / best hit rate.
    Hotspot shapes that are not grid cells can occasionally beat the grid's
    best; PEI is then capped at 1. ``None`` when undefined (no area, no incidents).
    """
    geom = as_union(study_area)
    xa, ya, w = _in_area(np.asarray(x, float), np.asarray(y, float), _weights(np.asarray(x), weights), geom)
    share = area_share(shapes, geom)
    if share <= 0:
        return None
    hit = hit_rate(xa, ya, shapes, w)
    best = best_hit_rate(xa, ya, share * geom.area, geom, cell_size_m, w)
    value = _ratio(hit, best)
    return None if value is None else min(1.0, value)


def rri(
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    shapes: Shapes,
    study_area: Shapes,
    weights_fit: np.ndarray | None = None,
    weights_test: np.ndarray | None = None,
) -> float | None:
    """Recapture rate index: PAI on the test period / PAI on the fit period (EPSG:27700).

    Near 1: the hotspots hold as much of the later period's crime as of the
    period they were drawn from. ``None`` when either PAI is undefined or 0.
    """
    return _ratio(
        pai(x_test, y_test, shapes, study_area, weights_test),
        pai(x_fit, y_fit, shapes, study_area, weights_fit),
    )


def _in_area(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, area: shapely.Geometry
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keep = inside(x, y, area)
    return x[keep], y[keep], w[keep]


# ---- grids and ranked selections -------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """Square cells of ``cell`` metres over a bounding box, aligned to multiples of ``cell`` (EPSG:27700).

    Cells are numbered row by row from the south-west: flat index ``iy * nx + ix``.
    """

    x0: float
    y0: float
    cell: float
    nx: int
    ny: int

    @classmethod
    def covering(cls, geom: shapely.Geometry, cell: float) -> Grid:
        if not (math.isfinite(cell) and cell > 0):
            raise InvalidInput(f"cell size must be a positive number of metres, got {cell}")
        minx, miny, maxx, maxy = geom.bounds
        x0 = math.floor(minx / cell) * cell
        y0 = math.floor(miny / cell) * cell
        nx = max(1, math.floor((maxx - x0) / cell) + 1)
        ny = max(1, math.floor((maxy - y0) / cell) + 1)
        if nx * ny > 50_000_000:
            raise InvalidInput(
                f"a {cell} m grid over this study area would have {nx * ny} cells: use larger cells"
            )
        return cls(x0, y0, cell, nx, ny)

    @property
    def cell_area(self) -> float:
        return self.cell * self.cell

    def index(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Flat cell index of each point (points beyond the box go to the edge cells)."""
        ix = np.clip(np.floor((x - self.x0) / self.cell).astype(np.int64), 0, self.nx - 1)
        iy = np.clip(np.floor((y - self.y0) / self.cell).astype(np.int64), 0, self.ny - 1)
        return iy * self.nx + ix

    def counts(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Sum of weights per cell, shape ``(ny, nx)``."""
        flat = np.bincount(self.index(x, y), weights=w, minlength=self.nx * self.ny)
        return flat.reshape(self.ny, self.nx)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        xs = self.x0 + (np.arange(self.nx) + 0.5) * self.cell
        ys = self.y0 + (np.arange(self.ny) + 0.5) * self.cell
        gx, gy = np.meshgrid(xs, ys)
        return gx.ravel(), gy.ravel()

    def eligible(self, area: shapely.Geometry) -> np.ndarray:
        """Flat mask of cells whose centre lies inside ``area``."""
        cx, cy = self.centres()
        return inside(cx, cy, area)


@dataclass(frozen=True)
class _Pick:
    value: float
    area: float
    units: float


def _top_area(score: np.ndarray, unit_area: np.ndarray, value: np.ndarray, target_area: float) -> _Pick:
    """Total ``value`` of the highest-``score`` units until their area reaches ``target_area``.

    Units tied on score form one group; the group where the area runs out
    contributes pro rata to the area taken from it (see :data:`TIE_RULE`).
    """
    keep = unit_area > 0
    score, unit_area, value = score[keep], unit_area[keep], value[keep]
    if target_area <= 0 or len(score) == 0:
        return _Pick(0.0, 0.0, 0.0)
    order = np.argsort(-score, kind="stable")
    s, a, v = score[order], unit_area[order], value[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    g_area = np.add.reduceat(a, starts)
    g_val = np.add.reduceat(v, starts)
    g_n = np.diff(np.r_[starts, len(s)]).astype(float)
    cum = np.cumsum(g_area)
    k = int(np.searchsorted(cum, target_area * (1 + 1e-12), side="right"))
    captured = float(g_val[:k].sum())
    used = float(cum[k - 1]) if k else 0.0
    units = float(g_n[:k].sum())
    if k < len(g_area) and target_area > used:
        frac = (target_area - used) / float(g_area[k])
        captured += frac * float(g_val[k])
        units += frac * float(g_n[k])
        used = target_area
    return _Pick(captured, used, units)


# ---- evaluation of a hotspot method ----------------------------------------------------------


@dataclass(frozen=True)
class BaselineResult:
    """A baseline scored on the test period at the hotspots' area share.

    ``hit_rate`` and ``area_share`` are 0..1, ``pai`` their ratio (``None`` when
    undefined); ``units`` is how many wards or cells it took (fractional where
    one was taken pro rata); ``rule`` says how it was built.
    """

    name: str
    hit_rate: float | None
    area_share: float
    pai: float | None
    units: float
    rule: str


@dataclass
class EvaluationResult:
    """Outcome of :func:`evaluate`. Areas in m2 (EPSG:27700), shares 0..1.

    ``incidents_fit``/``incidents_test`` are the located incidents inside the
    study area (total weight when weighted); ``incidents_excluded`` those of
    both periods without a location or outside the study area.
    ``hit_rate``/``pai`` are on the test month, ``hit_rate_fit``/``pai_fit``
    on the fit months. ``best_pai`` is the best grid PAI at the same area
    share and ``pei`` = min(1, pai / best_pai). ``baselines`` maps ``"wards"``
    (when wards were given), ``"kde"``, ``"grid"`` and ``"best"`` to a
    :class:`BaselineResult`.
    """

    fit_months: list[str]
    test_month: str
    study_area_m2: float
    cell_size_m: float
    bandwidth_m: float
    incidents_fit: float
    incidents_test: float
    incidents_excluded: int
    hotspot_parts: int
    hotspot_area_m2: float
    area_share: float
    hit_rate: float | None
    hit_rate_fit: float | None
    pai: float | None
    pai_fit: float | None
    best_pai: float | None
    pei: float | None
    rri: float | None
    baselines: dict[str, BaselineResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    curve: dict[str, Any] | None = None
    """The PAI curve (:func:`pai_curve_data`) when asked for: PAI against area share."""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tie_rule"] = TIE_RULE
        return out

    def summary(self) -> dict[str, Any]:
        """One flat row: the hotspots' measures and each baseline's hit rate and PAI."""
        row: dict[str, Any] = {
            "test_month": self.test_month,
            "fit_from": self.fit_months[0] if self.fit_months else None,
            "fit_to": self.fit_months[-1] if self.fit_months else None,
            "fit_months": len(self.fit_months),
            "incidents_test": self.incidents_test,
            "hit_rate": self.hit_rate,
            "area_share": self.area_share,
            "pai": self.pai,
            "pei": self.pei,
            "rri": self.rri,
        }
        for name in ("wards", "kde", "grid", "best"):
            base = self.baselines.get(name)
            row[f"{name}_hit_rate"] = base.hit_rate if base else None
            row[f"{name}_pai"] = base.pai if base else None
        return row


def evaluate(
    incidents: pd.DataFrame,
    fit_months: Sequence[str],
    test_month: str,
    hotspot_fn: Callable[[pd.DataFrame], Shapes],
    study_area: Shapes,
    *,
    wards: gpd.GeoDataFrame | None = None,
    cell_size_m: float = DEFAULT_CELL_M,
    bandwidth_m: float = DEFAULT_BANDWIDTH_M,
    weight_column: str | None = None,
    curve_shares: Sequence[float] | None = None,
) -> EvaluationResult:
    """Draw hotspots on the fit months, score them on the test month, and compare with baselines.

    Parameters
    ----------
    incidents:
        ``x``, ``y`` (EPSG:27700 metres, NaN where unknown) and ``month``
        (``YYYY-MM``); ``has_location`` is honoured if present.
    fit_months:
        Months the hotspots (and baselines) are drawn from.
    test_month:
        The later month they are scored on (not one of ``fit_months``).
    hotspot_fn:
        Given the fit months' rows of ``incidents`` (all columns, as they are),
        returns the hotspots as a shapely geometry in EPSG:27700 (or a
        GeoSeries/GeoDataFrame/list of geometries, which are unioned).
    study_area:
        The area the data covers (EPSG:27700); area shares are relative to it
        and incidents outside it are excluded.
    wards:
        Ward polygons (EPSG:27700) for the ward baseline; skipped when ``None``.
    cell_size_m:
        Grid cell side in metres for PEI and the grid and KDE baselines.
    bandwidth_m:
        Kernel standard deviation in metres for the KDE baseline.
    weight_column:
        Optional column of harm weights; default counts each incident once.
    curve_shares:
        Area shares (0..1) at which to score the baselines for the PAI curve
        (``result.curve``, see :func:`pai_curve_data`); ``None``: no curve. The hotspots'
        curve needs ``hotspot_fn`` to return a GeoDataFrame (one row per hotspot).

    Raises
    ------
    InvalidInput
        Missing columns, malformed months, a test month among the fit months,
        no fit-period incidents, or bad cell/bandwidth sizes.
    """
    fit, test = _check_months(fit_months, test_month)
    _check_columns(incidents, weight_column)
    if not (math.isfinite(bandwidth_m) and bandwidth_m > 0):
        raise InvalidInput(f"bandwidth_m must be a positive number of metres, got {bandwidth_m}")
    area = as_union(study_area)
    area_m2 = float(area.area)
    if area_m2 <= 0:
        raise InvalidInput("the study area has no area")
    month = incidents["month"].astype("string")
    in_fit = month.isin(fit).fillna(False).to_numpy(dtype=bool)
    in_test = (month == test).fillna(False).to_numpy(dtype=bool)
    if not in_fit.any():
        raise InvalidInput(f"no incidents in the fit months {fit[0]}..{fit[-1]}")

    x = incidents["x"].to_numpy(dtype=float)
    y = incidents["y"].to_numpy(dtype=float)
    located = np.isfinite(x) & np.isfinite(y)
    if "has_location" in incidents.columns:
        located &= incidents["has_location"].fillna(False).to_numpy(dtype=bool)
    use = located & (in_fit | in_test)
    w = np.ones(len(x), dtype=float)
    if weight_column is not None:  # only the rows used must have valid weights
        w[use] = _weights(
            x[use], pd.to_numeric(incidents[weight_column], errors="coerce").to_numpy(float)[use]
        )
    locs = Locations.from_xy(x[use], y[use])
    loc_in_area = inside(locs.x, locs.y, area)
    w_fit = locs.sum_by_location(np.where(in_fit[use], w[use], 0.0)) * loc_in_area
    w_test = locs.sum_by_location(np.where(in_test[use], w[use], 0.0)) * loc_in_area
    in_area_point = loc_in_area[locs.inverse]
    excluded = int((in_fit | in_test).sum() - (in_area_point).sum())
    total_fit = float(w_fit.sum())
    total_test = float(w_test.sum())

    fitted = hotspot_fn(incidents.loc[in_fit])
    hotspots = as_union(fitted)
    clipped = shapely.intersection(hotspots, area) if not hotspots.is_empty else hotspots
    h_area = float(clipped.area)
    share = h_area / area_m2
    hit_mask = inside(locs.x, locs.y, hotspots) & loc_in_area
    hit_test = _ratio(float(w_test[hit_mask].sum()), total_test)
    hit_fit = _ratio(float(w_fit[hit_mask].sum()), total_fit)
    pai_test = _ratio(hit_test, share)
    pai_fit = _ratio(hit_fit, share)

    grid = Grid.covering(area, cell_size_m)
    cell_of = grid.index(locs.x, locs.y)
    n_cells = grid.nx * grid.ny
    fit_cells = np.bincount(cell_of, weights=w_fit, minlength=n_cells)
    test_cells = np.bincount(cell_of, weights=w_test, minlength=n_cells)
    eligible = grid.eligible(area) | (fit_cells > 0) | (test_cells > 0)
    cell_areas = np.full(int(eligible.sum()), grid.cell_area)

    def scored(name: str, pick: _Pick) -> BaselineResult:
        hit = _ratio(pick.value, total_test)
        b_share = pick.area / area_m2
        return BaselineResult(
            name, hit, b_share, _ratio(hit, b_share), round(pick.units, 3), BASELINE_RULES[name]
        )

    baselines: dict[str, BaselineResult] = {}
    if wards is not None:
        baselines["wards"] = scored("wards", _ward_pick(wards, area, locs, w_fit, w_test, h_area))
    kde = gaussian_filter(
        fit_cells.reshape(grid.ny, grid.nx),
        sigma=bandwidth_m / cell_size_m,
        mode="constant",
        truncate=KDE_TRUNCATE,
    ).ravel()
    baselines["kde"] = scored("kde", _top_area(kde[eligible], cell_areas, test_cells[eligible], h_area))
    baselines["grid"] = scored(
        "grid", _top_area(fit_cells[eligible], cell_areas, test_cells[eligible], h_area)
    )
    best = scored("best", _top_area(test_cells[eligible], cell_areas, test_cells[eligible], h_area))
    baselines["best"] = best

    curve = None
    if curve_shares is not None:
        curve = pai_curve_data(
            fitted if isinstance(fitted, gpd.GeoDataFrame) else None,
            area,
            locs,
            w_test * 1.0,
            loc_in_area,
            curve_shares,
            {
                "grid": lambda a: _top_area(fit_cells[eligible], cell_areas, test_cells[eligible], a),
                "kde": lambda a: _top_area(kde[eligible], cell_areas, test_cells[eligible], a),
                **(
                    {"wards": lambda a: _ward_pick(wards, area, locs, w_fit, w_test, a)}
                    if wards is not None
                    else {}
                ),
                "best": lambda a: _top_area(test_cells[eligible], cell_areas, test_cells[eligible], a),
            },
        )
    pei_raw = _ratio(hit_test, best.hit_rate)
    notes: list[str] = []
    if pei_raw is not None and pei_raw > 1:
        notes.append(
            f"the hotspots beat the best {cell_size_m:g} m grid cells at the same area; PEI capped at 1"
        )
    if total_test <= 0:
        notes.append(f"no located incidents in the study area in the test month {test}: measures undefined")
    if h_area <= 0:
        notes.append("no hotspots (no area): PAI, PEI and RRI undefined")
    return EvaluationResult(
        fit_months=fit,
        test_month=test,
        study_area_m2=area_m2,
        cell_size_m=cell_size_m,
        bandwidth_m=bandwidth_m,
        incidents_fit=total_fit,
        incidents_test=total_test,
        incidents_excluded=excluded,
        hotspot_parts=_parts(clipped),
        hotspot_area_m2=h_area,
        area_share=share,
        hit_rate=hit_test,
        hit_rate_fit=hit_fit,
        pai=pai_test,
        pai_fit=pai_fit,
        best_pai=best.pai,
        pei=None if pei_raw is None else min(1.0, pei_raw),
        rri=_ratio(pai_test, pai_fit),
        baselines=baselines,
        notes=notes,
        curve=curve,
    )


CURVE_SHARES = (0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004) + tuple(
    round(0.005 + 0.0025 * i, 4) for i in range(19)
)
"""Area shares of the PAI curve: 0.5% to 5% of the study area in steps of 0.25%, and below
0.5% (from 0.05%), where the default street-scale hotspots lie (about 0.2% of a London area)."""

CURVE_RULE = (
    "PAI (test-month hit rate / area share) against area share. Hotspots: taken one by one in "
    "order of fit-period density (incidents per km2), cumulative area and hits (an incident in "
    "two hotspots counts once). Baselines: at each area share, the units ranked as in "
    "the evaluation (50 m grid by past counts, kernel density, wards by density; best = the "
    "test month's own top cells)"
)


def pai_curve_data(
    hotspots: gpd.GeoDataFrame | None,
    area: shapely.Geometry,
    locs: Locations,
    w_test: np.ndarray,
    loc_in_area: np.ndarray,
    shares: Sequence[float],
    baselines: dict[str, Callable[[float], _Pick]],
) -> dict[str, Any]:
    """The PAI curve of one test month: PAI against area share for hotspots and baselines.

    ``hotspots``: one row per hotspot (EPSG:27700), ranked by ``density_per_km2`` (else
    ``count`` over area); each step adds the next hotspot's area inside the study area and
    the test weight ``w_test`` (per location of ``locs``) of locations it newly holds.
    ``baselines``: for each name, the pick at a target area (m2). Shares are 0..1.
    """
    area_m2 = float(area.area)
    total = float(w_test[loc_in_area].sum())
    out: dict[str, Any] = {"shares": [float(s) for s in shares], "rule": CURVE_RULE}
    for name, pick in baselines.items():
        values = []
        for share in shares:
            p = pick(float(share) * area_m2)
            values.append(_ratio(_ratio(p.value, total), p.area / area_m2))
        out[name] = values
    h_share: list[float] = []
    h_pai: list[float | None] = []
    if hotspots is not None and len(hotspots) and total > 0:
        geoms = hotspots.geometry.to_numpy()
        clipped = shapely.area(shapely.intersection(geoms, area))
        if "density_per_km2" in hotspots.columns:
            density = pd.to_numeric(hotspots["density_per_km2"], errors="coerce").to_numpy(float)
        else:
            counts = pd.to_numeric(hotspots.get("count", pd.Series(1.0, index=hotspots.index)))
            density = counts.to_numpy(float) / np.maximum(shapely.area(geoms), 1e-9)
        order = np.argsort(-np.nan_to_num(density, nan=-1.0), kind="stable")
        free = loc_in_area & (w_test > 0)
        cum_area = cum_hit = 0.0
        for k in order:
            geom = geoms[k]
            if geom is None or geom.is_empty:
                continue
            minx, miny, maxx, maxy = geom.bounds
            cand = np.flatnonzero(
                free & (locs.x >= minx) & (locs.x <= maxx) & (locs.y >= miny) & (locs.y <= maxy)
            )
            if len(cand):
                hit = cand[shapely.contains_xy(prepared_copy(geom), locs.x[cand], locs.y[cand])]
                cum_hit += float(w_test[hit].sum())
                free[hit] = False
            cum_area += float(clipped[k])
            share = cum_area / area_m2
            h_share.append(share)
            h_pai.append(_ratio(cum_hit / total, share))
    out["hotspots"] = {"area_share": h_share, "pai": h_pai, "rank_by": "fit-period density"}
    return out


def pai_curve_png(curve: dict[str, Any], title: str = "", max_share: float = 0.05) -> bytes:
    """The PAI curve as a PNG: PAI against area share (%) for hotspots, grid, KDE and wards."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=110)
    ax = fig.subplots()
    shares = np.asarray(curve.get("shares", []), dtype=float) * 100
    styles = {
        "grid": ("50 m grid (past counts)", "#1b9e77", "-"),
        "kde": ("kernel density", "#7570b3", "-"),
        "wards": ("wards (density)", "#e7298a", "-"),
        "best": ("best possible 50 m cells", "#999999", ":"),
    }
    for name, (label, colour, style) in styles.items():
        values = curve.get(name)
        if values:
            y = np.array([np.nan if v is None else v for v in values], dtype=float)
            ax.plot(shares, y, style, color=colour, label=label, linewidth=1.6)
    hs = curve.get("hotspots") or {}
    hx = np.asarray(hs.get("area_share", []), dtype=float) * 100
    hy = np.array([np.nan if v is None else v for v in hs.get("pai", [])], dtype=float)
    if len(hx):
        keep = (hx <= max_share * 100) & (hx >= 0.01)
        ax.plot(hx[keep], hy[keep], "-", color="#d95f02", linewidth=2.4, label="hotspots (by density)")
        ax.plot(hx[-1:], hy[-1:], "o", color="#d95f02")
    ax.set_xscale("log")
    ax.set_xlim(0.01, max_share * 100)
    plotted = np.concatenate(
        [np.empty(0), *(np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines())]
    )
    log_y = bool((np.isfinite(plotted) & (plotted > 0)).any())  # a test month without incidents: all 0
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("share of the study area (%, log scale)")
    ax.set_ylabel("PAI (hit rate / area share, log scale)" if log_y else "PAI (hit rate / area share)")
    ax.set_title(title or "PAI curve: fitted on past months, tested on the next", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _ward_pick(
    wards: gpd.GeoDataFrame,
    area: shapely.Geometry,
    locs: Locations,
    w_fit: np.ndarray,
    w_test: np.ndarray,
    target_area: float,
) -> _Pick:
    """Wards by fit-period density (incidents per m2 of ward inside the study area)."""
    if wards.crs is not None and wards.crs.to_epsg() != 27700:
        wards = wards.to_crs(27700)
    geoms = np.asarray(wards.geometry.values, dtype=object)
    clipped_area = np.array(
        [float(shapely.intersection(g, area).area) if g is not None else 0.0 for g in geoms]
    )
    # each location to the first ward that holds it (edges included), so none is counted twice
    ward_of = np.full(len(locs), -1, dtype=np.int64)
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        g = prepared_copy(g)  # the wards are the boundary set's own, shared by every thread
        free = ward_of < 0
        hit = np.zeros(len(locs), dtype=bool)
        hit[free] = shapely.intersects_xy(g, locs.x[free], locs.y[free])
        ward_of[hit] = i
    assigned = ward_of >= 0
    fit_w = np.bincount(ward_of[assigned], weights=w_fit[assigned], minlength=len(geoms))
    test_w = np.bincount(ward_of[assigned], weights=w_test[assigned], minlength=len(geoms))
    density = np.divide(fit_w, clipped_area, out=np.zeros(len(geoms)), where=clipped_area > 0)
    return _top_area(density, clipped_area, test_w, target_area)


def _parts(geom: shapely.Geometry) -> int:
    if geom.is_empty:
        return 0
    return int(shapely.get_num_geometries(geom))


def _check_months(fit_months: Sequence[str], test_month: str) -> tuple[list[str], str]:
    fit = sorted({str(m) for m in fit_months})
    if not fit:
        raise InvalidInput("fit_months must name at least one month")
    for m in [*fit, str(test_month)]:
        if not MONTH_RE.match(m):
            raise InvalidInput(f"months must be in the form YYYY-MM, got {m!r}")
    if test_month in fit:
        raise InvalidInput(f"the test month {test_month} is one of the fit months")
    return fit, str(test_month)


def _check_columns(incidents: pd.DataFrame, weight_column: str | None) -> None:
    needed = {"x", "y", "month"} | ({weight_column} if weight_column else set())
    missing = needed - set(incidents.columns)
    if missing:
        raise InvalidInput(f"incidents need columns {', '.join(sorted(missing))}")


# ---- rolling evaluation ----------------------------------------------------------------------


@dataclass
class RollingEvaluation:
    """Outcome of :func:`rolling_evaluation`.

    ``rows``: one row per test month (:meth:`EvaluationResult.summary`);
    ``mean``: the mean of each numeric column over the test months where it
    is defined (``None`` where it never is); ``results``: the full results.
    """

    rows: pd.DataFrame
    mean: dict[str, float | None]
    results: list[EvaluationResult]
    window_rule: str


def rolling_evaluation(
    incidents: pd.DataFrame,
    hotspot_fn: Callable[[pd.DataFrame], Shapes],
    study_area: Shapes,
    *,
    test_months: Sequence[str] | None = None,
    n_tests: int = 3,
    window_months: int | None = None,
    wards: gpd.GeoDataFrame | None = None,
    cell_size_m: float = DEFAULT_CELL_M,
    bandwidth_m: float = DEFAULT_BANDWIDTH_M,
    weight_column: str | None = None,
    curve_shares: Sequence[float] | None = None,
) -> RollingEvaluation:
    """:func:`evaluate` over several test months, each fitted on the months before it.

    Parameters
    ----------
    test_months:
        Months to test on; default the last ``n_tests`` months of the data.
    n_tests:
        How many final months to test on when ``test_months`` is not given.
    window_months:
        ``None`` (default): an expanding window, every month from the first
        month of the data up to the one before the test month. A number: only
        that many months just before the test month (a fixed-length window).

    Other parameters are as in :func:`evaluate`. Months are calendar months
    from the earliest to the latest in the data, so a month without incidents
    still counts towards a window.
    """
    if window_months is not None and window_months < 1:
        raise InvalidInput(f"window_months must be at least 1, got {window_months}")
    _check_columns(incidents, weight_column)
    present = incidents["month"].dropna().astype(str)
    if present.empty:
        raise InvalidInput("no incidents with a month")
    calendar = [str(p) for p in pd.period_range(present.min(), present.max(), freq="M")]
    if test_months is None:
        if n_tests < 1:
            raise InvalidInput(f"n_tests must be at least 1, got {n_tests}")
        tests = calendar[-n_tests:]
    else:
        tests = [str(m) for m in test_months]
    results = []
    for test in tests:
        checkpoint()  # one refit per test month: stop here if every waiting client left
        if not MONTH_RE.match(test):
            raise InvalidInput(f"months must be in the form YYYY-MM, got {test!r}")
        before = [m for m in calendar if m < test]
        fit = before if window_months is None else before[-window_months:]
        if not fit:
            raise InvalidInput(f"no months before the test month {test} to fit on")
        results.append(
            evaluate(
                incidents,
                fit,
                test,
                hotspot_fn,
                study_area,
                wards=wards,
                cell_size_m=cell_size_m,
                bandwidth_m=bandwidth_m,
                weight_column=weight_column,
                curve_shares=curve_shares,
            )
        )
    rows = pd.DataFrame([r.summary() for r in results])
    mean: dict[str, float | None] = {}
    for col in rows.columns:
        if col in ("test_month", "fit_from", "fit_to"):
            continue
        values = pd.to_numeric(rows[col], errors="coerce").dropna()
        mean[col] = float(values.mean()) if len(values) else None
    rule = (
        "expanding window: fit on every month before the test month"
        if window_months is None
        else f"fixed window: fit on the {window_months} months before the test month"
    )
    return RollingEvaluation(rows, mean, results, rule)


# ---- per hotspot -----------------------------------------------------------------------------

QUALITY_COLUMNS = ["hotspot_id", "incidents", "share_of_incidents", "area_m2", "share_of_area", "pai"]


def per_hotspot_quality(
    hotspots: gpd.GeoDataFrame,
    x: np.ndarray,
    y: np.ndarray,
    study_area_m2: float,
    weights: np.ndarray | None = None,
) -> pd.DataFrame:
    """What share of the incidents (harm) each hotspot holds, for its share of the area.

    Parameters
    ----------
    hotspots:
        ``geometry`` in EPSG:27700 and ``hotspot_id`` (else the row index).
    x, y:
        Incidents to score, EPSG:27700 metres: the same period the hotspots
        were drawn from, or a later one to see which hotspots held up. The
        share denominators are all located incidents given.
    study_area_m2:
        Study area in square metres.
    weights:
        Optional harm weight per incident.

    Returns
    -------
    pandas.DataFrame
        :data:`QUALITY_COLUMNS`: incidents (weighted) inside each hotspot,
        ``share_of_incidents`` (0..1), ``area_m2``, ``share_of_area`` (0..1)
        and ``pai`` (NaN where undefined: no area, or no incidents). An incident inside two
        overlapping hotspots counts in each, as their areas do.
    """
    if not (math.isfinite(study_area_m2) and study_area_m2 > 0):
        raise InvalidInput("study_area_m2 must be a positive area in square metres")
    if hotspots.crs is not None and hotspots.crs.to_epsg() != 27700:
        hotspots = hotspots.to_crs(27700)
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    w = _weights(xa, weights)
    ok = np.isfinite(xa) & np.isfinite(ya)
    total = float(w[ok].sum())
    locs = Locations.from_xy(xa[ok], ya[ok])
    loc_w = locs.sum_by_location(w[ok])
    ids = hotspots["hotspot_id"].tolist() if "hotspot_id" in hotspots.columns else hotspots.index.tolist()
    rows = []
    for hid, geom in zip(ids, hotspots.geometry, strict=True):
        held = float(loc_w[inside(locs.x, locs.y, geom)].sum()) if geom is not None else 0.0
        area = float(geom.area) if geom is not None else 0.0
        share_inc = _ratio(held, total)
        share_area = area / study_area_m2
        rows.append(
            {
                "hotspot_id": hid,
                "incidents": held,
                "share_of_incidents": share_inc,
                "area_m2": round(area, 1),
                "share_of_area": share_area,
                "pai": _ratio(share_inc, share_area),
            }
        )
    return pd.DataFrame(rows, columns=QUALITY_COLUMNS)
