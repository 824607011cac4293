"""Emerging Hot Spot Analysis: how hot and cold spots change month by month.

Follows ArcGIS Pro's *Emerging Hot Spot Analysis*, vectorised with numpy and
scipy sparse matrices so 35 months of a 25,000-cell grid take well under a
second once the cube is built.

1. **Space-time cube**: incidents counted per hex cell (EPSG:27700, see
   :mod:`hotspots.geo.stats.grid`) per calendar month, every month from the first to
   the last (empty months included, as zeros).
2. **Space-time Gi\\***: each bin (cell ``i``, month ``t``) is compared with its
   space-time neighbourhood: the cells within ``rings`` hex steps of ``i`` and
   ``i`` itself, in month ``t`` and in the ``time_steps`` previous months (ArcGIS
   *Neighborhood Time Step*, default 1; months before the first are missing,
   so the first months have smaller neighbourhoods). Binary weights; the mean
   and variance are those of the whole cube (all cells, all months), as in the
   space-time Getis-Ord statistic. The z-score equals
   ``esda.getisord.G_Local(star=True, transform="B")`` run on the flattened
   cube with these space-time weights (checked in the tests).
3. **Significance of bins**: two-sided normal p-values, Benjamini-Hochberg
   false discovery rate over all bins of the cube (``fdr=True``), and a bin is
   a significant hot (cold) spot when its adjusted p-value is at most
   ``alpha`` (default 0.10, i.e. 90% confidence, the same rule as
   ``gi_bin >= 1`` in :mod:`hotspots.geo.stats.significance`) and z > 0 (< 0).
4. **Trend**: Mann-Kendall test of each cell's Gi* z-score series against time
   (Kendall's tau between month index and z, normal approximation with the tie
   correction, no continuity correction; identical to
   ``scipy.stats.kendalltau(t, z, method="asymptotic")``). A trend is
   significant when its two-sided p-value is at most ``trend_alpha`` (0.05).
5. **Categories** (ArcGIS definitions; "90%" means at least 90% of the months):

   - *new hot spot*: hot in the final month and never hot before;
   - *consecutive hot spot*: a single uninterrupted run of at least two hot
     months ending in the final month, never hot before the run, and less than
     90% of months hot;
   - *intensifying hot spot*: hot in >= 90% of months including the final one,
     with a significant upward trend;
   - *persistent hot spot*: hot in >= 90% of months, including the final one,
     with no significant trend;
   - *diminishing hot spot*: hot in >= 90% of months including the final one,
     with a significant downward trend;
   - *sporadic hot spot*: hot in the final month, hot on and off before (less
     than 90% of months) and never a significant cold spot;
   - *oscillating hot spot*: hot in the final month, less than 90% of months
     hot, and a significant cold spot in some earlier month;
   - *historical hot spot*: not hot in the final month but hot in >= 90% of
     months;
   - the same eight for cold spots (a downward trend intensifies a cold spot);
   - *no pattern detected*: anything else.

   Where ArcGIS's wording overlaps, these precedences apply (documented, so
   every cell gets exactly one category): the final month decides first (hot
   final month -> a hot category, cold final month -> a cold one); >= 90%
   categories come before the others; a location that has been a significant
   cold spot and is hot in the final month is *oscillating* rather than *new*
   or *consecutive*; *persistent* requires the final month hot (with 90% of
   months hot but not the final one the location is *historical*).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse, stats
from shapely.geometry.base import BaseGeometry

from hotspots.errors import InvalidInput
from hotspots.geo.inputs.ingest import MONTH_RE
from hotspots.geo.stats.grid import HexGrid, Include, check_cell_size, default_cell_size
from hotspots.geo.stats.significance import bh_adjust, check_area, check_points

DEFAULT_TIME_STEPS = 1
"""Previous months in each bin's neighbourhood (ArcGIS's default Neighborhood Time Step)."""
DEFAULT_ALPHA = 0.10
"""A bin is a significant hot/cold spot at FDR-adjusted p <= 0.10 (90% confidence)."""
DEFAULT_TREND_ALPHA = 0.05
"""A Mann-Kendall trend is significant at p <= 0.05."""
MOSTLY = 0.9
"""'Hot for ninety percent of the time-step intervals'."""

NO_PATTERN = "no pattern detected"
PATTERNS = (
    "new",
    "consecutive",
    "intensifying",
    "persistent",
    "diminishing",
    "sporadic",
    "oscillating",
    "historical",
)
HOT_CATEGORIES = tuple(f"{p} hot spot" for p in PATTERNS)
COLD_CATEGORIES = tuple(f"{p} cold spot" for p in PATTERNS)
CATEGORIES = (*HOT_CATEGORIES, *COLD_CATEGORIES, NO_PATTERN)
"""All 17 categories, in ArcGIS's order."""


def month_index(
    months: Sequence[str] | np.ndarray | pd.Series, month_range: Sequence[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Map ``YYYY-MM`` strings to positions in a continuous list of months.

    Parameters
    ----------
    months:
        One month per incident; missing or malformed values give -1.
    month_range:
        The months of the cube, in order; default every month from the
        earliest to the latest valid one.

    Returns
    -------
    tuple
        Position per incident (int64, -1 if not in the range) and the month labels.
    """
    raw = pd.Series(np.asarray(months, dtype=object)).astype("string")
    valid = raw.str.fullmatch(MONTH_RE.pattern).fillna(False).to_numpy(dtype=bool)
    uniq, inverse = np.unique(raw.where(valid, "").to_numpy(dtype=object).astype(str), return_inverse=True)
    if month_range is None:
        present = [u for u in uniq if u]
        if not present:
            return np.full(len(raw), -1, dtype=np.int64), []
        labels = [str(p) for p in pd.period_range(present[0], present[-1], freq="M")]
    else:
        labels = [str(m) for m in month_range]
        bad = [m for m in labels if not MONTH_RE.match(m)]
        if bad:
            raise InvalidInput(f"months must be YYYY-MM, got {bad[0]!r}")
    where = {m: i for i, m in enumerate(labels)}
    pos_of_uniq = np.array([where.get(u, -1) for u in uniq], dtype=np.int64)
    return pos_of_uniq[inverse.ravel()], labels


def space_time_cube(
    grid: HexGrid,
    x: np.ndarray,
    y: np.ndarray,
    month_pos: np.ndarray,
    n_months: int,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Counts per month and cell: a float64 array of shape ``(n_months, len(grid))``.

    ``x``/``y`` in metres (EPSG:27700); ``month_pos`` from :func:`month_index`.
    Incidents outside the grid or the month range are not counted.
    """
    cell = grid.locate(x, y)
    ok = (cell >= 0) & (month_pos >= 0) & (month_pos < n_months)
    flat = month_pos[ok] * len(grid) + cell[ok]
    w = None if weights is None else np.asarray(weights, dtype=np.float64)[ok]
    counts = np.bincount(flat, weights=w, minlength=n_months * len(grid)).astype(np.float64)
    return counts.reshape(n_months, len(grid))


def space_time_gi_star(
    cube: np.ndarray,
    adjacency: sparse.spmatrix | sparse.sparray,
    time_steps: int = DEFAULT_TIME_STEPS,
    covered: np.ndarray | None = None,
) -> np.ndarray:
    """Space-time Getis-Ord Gi* z-score of every bin of a cube.

    Parameters
    ----------
    cube:
        Values, shape ``(T, n)`` (months x cells).
    adjacency:
        Binary spatial neighbours, ``n x n`` sparse, without self-neighbours.
    time_steps:
        How many previous months join each bin's neighbourhood (0 = Gi* of each
        month on its own neighbours, but still with the cube's mean and
        variance).

    covered:
        Optional boolean ``(T, n)``: False for a bin whose month the source did not cover in
        the cell's district (missing, not zero; :mod:`hotspots.geo.stats.coverage`). Such bins are
        left out everywhere: of the cube's mean and variance, of every neighbourhood (its
        weights are 0) and get z = NaN. ``None`` (or all True) gives exactly the unmasked result.

    Returns
    -------
    numpy.ndarray
        z-scores, shape ``(T, n)``. All-equal cubes give zeros; cells with no
        spatial neighbours give NaN.
    """
    if covered is not None and not np.asarray(covered, dtype=bool).all():
        return _masked_gi_star(np.asarray(cube, dtype=np.float64), adjacency, time_steps, covered)
    c = np.asarray(cube, dtype=np.float64)
    if c.ndim != 2:
        raise InvalidInput("the space-time cube must be 2-D (months x cells)")
    n_t, n = c.shape
    if time_steps < 0:
        raise InvalidInput(f"time_steps must be 0 or more, got {time_steps}")
    adj = sparse.csr_matrix(adjacency, dtype=np.float64)
    adj.setdiag(0.0)
    adj.eliminate_zeros()
    adj.data[:] = 1.0
    if c.size == 0:
        return np.zeros((n_t, n))
    island = np.asarray(adj.sum(axis=1)).ravel() == 0
    s_star = (adj + sparse.identity(n, format="csr")).tocsr()
    spatial = np.asarray(s_star @ c.T).T  # (T, n): sum over spatial neighbours incl. self
    csum = np.cumsum(spatial, axis=0)
    lag = csum.copy()
    if time_steps + 1 < n_t:
        lag[time_steps + 1 :] -= csum[: n_t - time_steps - 1]
    degree = np.asarray(s_star.sum(axis=1)).ravel()
    steps = np.minimum(np.arange(n_t), time_steps) + 1
    wsum = steps[:, None] * degree[None, :]
    n_all = c.size
    mean = c.mean()
    sd = np.sqrt(max((c**2).mean() - mean**2, 0.0))
    if sd == 0.0 or n_all < 2:
        z = np.zeros((n_t, n))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            denom = sd * np.sqrt((n_all * wsum - wsum**2) / (n_all - 1))
            z = (lag - mean * wsum) / denom
        z[~np.isfinite(z)] = np.nan
    z[:, island] = np.nan
    return z


def _masked_gi_star(
    c: np.ndarray, adjacency: sparse.spmatrix | sparse.sparray, time_steps: int, covered: np.ndarray
) -> np.ndarray:
    """:func:`space_time_gi_star` with the bins where ``covered`` is False left out."""
    if c.ndim != 2:
        raise InvalidInput("the space-time cube must be 2-D (months x cells)")
    m = np.asarray(covered, dtype=bool)
    if m.shape != c.shape:
        raise InvalidInput(f"covered has shape {m.shape}, the cube {c.shape}")
    n_t, n = c.shape
    adj = sparse.csr_matrix(adjacency, dtype=np.float64)
    adj.setdiag(0.0)
    adj.eliminate_zeros()
    adj.data[:] = 1.0
    island = np.asarray(adj.sum(axis=1)).ravel() == 0
    s_star = (adj + sparse.identity(n, format="csr")).tocsr()
    values = np.where(m, c, 0.0)
    valid = m.astype(np.float64)

    def lagged(a: np.ndarray) -> np.ndarray:
        spatial = np.asarray(s_star @ a.T).T
        csum = np.cumsum(spatial, axis=0)
        out = csum.copy()
        if time_steps + 1 < n_t:
            out[time_steps + 1 :] -= csum[: n_t - time_steps - 1]
        return out

    lag = lagged(values)
    wsum = lagged(valid)
    n_all = int(m.sum())
    if n_all < 2:
        return np.full((n_t, n), np.nan)
    mean = float(c[m].mean())
    sd = float(np.sqrt(max(float((c[m] ** 2).mean()) - mean**2, 0.0)))
    if sd == 0.0:
        z = np.zeros((n_t, n))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            denom = sd * np.sqrt((n_all * wsum - wsum**2) / (n_all - 1))
            z = (lag - mean * wsum) / denom
        z[~np.isfinite(z)] = np.nan
    z[~m] = np.nan
    z[:, island] = np.nan
    return z


def mann_kendall(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mann-Kendall trend test of each row of ``series`` (shape ``(n, T)``) against time.

    Returns the z-score (positive = increasing) and two-sided p-value per row,
    using the tie-corrected variance and no continuity correction, as
    ``scipy.stats.kendalltau(np.arange(T), row, method="asymptotic")``.
    Values are rounded to 10 decimals first so float noise does not break ties.
    Rows with fewer than 2 finite values or no variation give z = 0, p = 1; a row with some
    NaN (months not covered) is tested on its finite values.
    """
    z_in = np.round(np.asarray(series, dtype=np.float64), 10)
    n, t = z_in.shape
    finite = np.isfinite(z_in).all(axis=1)
    filled = np.where(np.isfinite(z_in), z_in, 0.0)
    s = np.zeros(n, dtype=np.float64)
    for i in range(t - 1):
        s += np.sign(filled[:, i + 1 :] - filled[:, i : i + 1]).sum(axis=1)
    var = np.full(n, t * (t - 1) * (2 * t + 5) / 18.0)
    if n and t > 1:
        srt = np.sort(filled, axis=1)
        new_group = np.ones((n, t), dtype=bool)
        new_group[:, 1:] = srt[:, 1:] != srt[:, :-1]
        group = np.cumsum(new_group, axis=1) - 1
        sizes = np.zeros((n, t), dtype=np.float64)
        np.add.at(sizes, (np.repeat(np.arange(n), t), group.ravel()), 1.0)
        var -= (sizes * (sizes - 1) * (2 * sizes + 5)).sum(axis=1) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        zt = np.where(var > 0, s / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)
    zt[~finite] = 0.0
    gapped = ~finite & (np.isfinite(z_in).sum(axis=1) >= 2)
    for r in np.flatnonzero(gapped):  # months missing (not covered): tested on the months present
        row = z_in[r][np.isfinite(z_in[r])]
        got, _ = mann_kendall(row[None, :])
        zt[r] = got[0]
    p = 2.0 * stats.norm.sf(np.abs(zt))
    return zt, p


def classify(
    hot: np.ndarray,
    cold: np.ndarray,
    trend_z: np.ndarray,
    trend_p: np.ndarray,
    trend_alpha: float = DEFAULT_TREND_ALPHA,
    months_covered: np.ndarray | None = None,
) -> np.ndarray:
    """ArcGIS emerging hot/cold spot category of each location.

    Parameters
    ----------
    hot, cold:
        Boolean arrays ``(n, T)``: bin is a significant hot / cold spot.
    trend_z, trend_p:
        Mann-Kendall z and p of each location's Gi* z-score series.
    trend_alpha:
        Largest p-value of a significant trend.

    Returns
    -------
    numpy.ndarray
        One of :data:`CATEGORIES` per location (object array of str). Rules
        and precedences are in this module's docstring.
    """
    hot = np.asarray(hot, dtype=bool)
    cold = np.asarray(cold, dtype=bool)
    n, t = hot.shape
    out = np.full(n, NO_PATTERN, dtype=object)
    if t == 0:
        return out
    sig = np.asarray(trend_p) <= trend_alpha
    up = sig & (np.asarray(trend_z) > 0)
    down = sig & (np.asarray(trend_z) < 0)
    # Cold categories are the hot rules applied to (cold, hot) with the trend reversed.
    for mine, other, rising, falling, names in (
        (cold, hot, down, up, COLD_CATEGORIES),
        (hot, cold, up, down, HOT_CATEGORIES),
    ):
        cat = _categories(mine, other, rising, falling, months_covered)
        for code, name in enumerate(names):
            out[cat == code] = name
    return out


def _categories(
    mine: np.ndarray,
    other: np.ndarray,
    rising: np.ndarray,
    falling: np.ndarray,
    months_covered: np.ndarray | None = None,
) -> np.ndarray:
    """Index into :data:`PATTERNS` per location (-1 = none) for one polarity; "90% of months" is
    of the months covered at each location when ``months_covered`` is given."""
    n, t = mine.shape
    n_mine = mine.sum(axis=1)
    mostly = n_mine >= MOSTLY * (t if months_covered is None else np.asarray(months_covered))
    last = mine[:, -1]
    run = np.cumprod(mine[:, ::-1], axis=1).sum(axis=1)
    other_before = other[:, :-1].any(axis=1)
    code = np.full(n, -1, dtype=np.int64)
    final = last & ~mostly
    code[final & ~other_before] = 5  # sporadic, unless new/consecutive below
    code[final & ~other_before & (n_mine == 1)] = 0  # new
    code[final & ~other_before & (run >= 2) & (n_mine == run)] = 1  # consecutive
    code[final & other_before] = 6  # oscillating
    code[last & mostly] = 3  # persistent
    code[last & mostly & rising] = 2  # intensifying
    code[last & mostly & falling] = 4  # diminishing
    code[~last & mostly] = 7  # historical
    return code


def emerging_hot_spots(
    x: np.ndarray,
    y: np.ndarray,
    months: Sequence[str] | np.ndarray | pd.Series,
    area: BaseGeometry,
    cell_size_m: float | None = None,
    weights: np.ndarray | None = None,
    *,
    time_steps: int = DEFAULT_TIME_STEPS,
    rings: int = 1,
    fdr: bool = True,
    alpha: float = DEFAULT_ALPHA,
    trend_alpha: float = DEFAULT_TREND_ALPHA,
    month_range: Sequence[str] | None = None,
    include: Include = "intersects",
    covered: Callable[[np.ndarray, np.ndarray, Sequence[str]], np.ndarray] | None = None,
) -> gpd.GeoDataFrame:
    """Emerging Hot Spot Analysis of incidents on a hex grid over ``area``, by month.

    Parameters
    ----------
    x, y:
        Incident coordinates in metres, British National Grid (EPSG:27700).
    months:
        ``YYYY-MM`` per incident; incidents with a missing month are left out
        (and counted in ``attrs``).
    area:
        Study area, a shapely (multi)polygon in EPSG:27700.
    cell_size_m:
        Hexagon size in metres, flat side to flat side; ``None`` uses
        :func:`hotspots.geo.stats.grid.default_cell_size` on all incidents.
    weights:
        Optional weight per incident (counts become sums).
    time_steps:
        Previous months in each bin's neighbourhood (ArcGIS default 1).
    rings:
        Spatial neighbourhood in hex steps (1 = six adjacent cells).
    fdr, alpha:
        Benjamini-Hochberg over all bins, and the adjusted p-value at or under
        which a bin is a significant hot/cold spot (0.10 = 90% confidence).
    trend_alpha:
        Significance level of the Mann-Kendall trend.
    month_range:
        The cube's months in order (default: first to last month in the data).
    include:
        Grid cells kept: ``"intersects"`` or ``"centre"`` (see
        :func:`hotspots.geo.stats.grid.hex_grid`).
    covered:
        Optional ``covered(cx, cy, months) -> bool array (T, n)``: whether the source covered
        each month at each cell centre (EPSG:27700). Bins not covered are missing, not zero:
        left out of the Gi* (see :func:`space_time_gi_star`), of the trend and of the "90% of
        months" rules; ``n_months_covered`` says how many months each cell had.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cell (EPSG:27700): ``cell_id``, ``q``, ``r``, ``count``
        (incidents over all months), ``category`` (one of
        :data:`CATEGORIES`), ``trend_z``, ``trend_p``, ``n_months_hot``,
        ``n_months_cold``, ``last_month_hot`` (bool), ``geometry``.
        ``attrs`` holds ``months``, ``cell_size_m`` and ``method`` (rules, for
        metadata).
    """
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    month_arr = np.asarray(months, dtype=object).ravel()
    if month_arr.shape != xa.shape:
        raise InvalidInput(f"months has {len(month_arr)} values for {len(xa)} points")
    ok = np.isfinite(xa) & np.isfinite(ya)
    xa, ya, w = check_points(xa, ya, weights)  # drops rows without coordinates
    month_arr = month_arr[ok]
    area = check_area(area)
    for name, value in (("alpha", alpha), ("trend_alpha", trend_alpha)):
        if not (0.0 < value < 1.0):
            raise InvalidInput(f"{name} must be between 0 and 1, got {value}")
    month_pos, labels = month_index(month_arr, month_range)
    if cell_size_m is None:
        cell_size_m = default_cell_size(int((month_pos >= 0).sum()), float(area.area))
    check_cell_size(cell_size_m)
    grid = HexGrid.covering(area, float(cell_size_m), include)
    n_t = len(labels)
    cube = space_time_cube(grid, xa, ya, month_pos, n_t, w)
    mask = None
    if covered is not None and n_t:
        cx, cy = grid.centres()
        mask = np.asarray(covered(cx, cy, labels), dtype=bool)
    z = space_time_gi_star(cube, grid.neighbours(rings), time_steps, mask)
    p = 2.0 * stats.norm.sf(np.abs(z))
    p_adj = bh_adjust(p.ravel()).reshape(p.shape) if fdr else p
    with np.errstate(invalid="ignore"):
        significant = np.isfinite(p_adj) & (p_adj <= alpha)
        hot = (significant & (z > 0)).T
        cold = (significant & (z < 0)).T
    trend_z, trend_p = mann_kendall(z.T) if n_t else (np.zeros(len(grid)), np.ones(len(grid)))
    n_covered = (
        mask.sum(axis=0).astype(np.int64) if mask is not None else np.full(len(grid), n_t, dtype=np.int64)
    )
    categories = classify(hot, cold, trend_z, trend_p, trend_alpha, None if mask is None else n_covered)
    out = grid.to_geodataframe()
    out["count"] = cube.sum(axis=0)
    out["category"] = categories
    out["trend_z"] = trend_z
    out["trend_p"] = trend_p
    out["n_months_hot"] = hot.sum(axis=1).astype(np.int64)
    out["n_months_cold"] = cold.sum(axis=1).astype(np.int64)
    out["last_month_hot"] = hot[:, -1] if n_t else np.zeros(len(grid), dtype=bool)
    out["n_months_covered"] = n_covered
    out = out[
        [
            "cell_id",
            "q",
            "r",
            "count",
            "category",
            "trend_z",
            "trend_p",
            "n_months_hot",
            "n_months_cold",
            "last_month_hot",
            "n_months_covered",
            "geometry",
        ]
    ]
    counted = int(cube.sum()) if w is None else int(((grid.locate(xa, ya) >= 0) & (month_pos >= 0)).sum())
    out.attrs["months"] = labels
    out.attrs["cell_size_m"] = float(cell_size_m)
    out.attrs["method"] = {
        "statistic": "space-time Getis-Ord Gi* (binary weights, cube-wide mean and variance)",
        "neighbours": f"cells within {rings} hex step(s) and the cell itself, in the same month and the "
        f"{time_steps} previous month(s)",
        "bin_significance": f"two-sided normal p, {'Benjamini-Hochberg FDR over all bins, ' if fdr else ''}"
        f"p <= {alpha}",
        "trend": f"Mann-Kendall on each cell's Gi* z-scores, p <= {trend_alpha}",
        "categories": "ArcGIS Emerging Hot Spot Analysis (final month first; "
        "see hotspots.geo.stats.emerging)",
        "cell_size_m": float(cell_size_m),
        "crs": "EPSG:27700",
        "points": len(xa) + int((~ok).sum()),
        "points_without_location": int((~ok).sum()),
        "points_without_month": int((month_pos < 0).sum()),
        "points_counted": counted,
        "missing_bins": int((~mask).sum()) if mask is not None else 0,
        "coverage": "bins of months the source did not cover in a cell's district (by its centre) are "
        "missing, not zero: left out of the Gi*, the trend and the 90% rules",
    }
    return out
