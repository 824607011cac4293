"""Change over time: monthly trends, time-of-day profiles, and what changed between two periods.

* :func:`mann_kendall` tests a series of monthly counts for a monotonic trend
  and gives Sen's slope in incidents per month.
* :func:`time_profile` counts incidents by hour of day and day of week, and
  says plainly when the data cannot support it (police.uk publishes the month
  only).
* :func:`compare_periods` matches the hotspots of two periods by overlap
  (``new``, ``persistent``, ``vanished``); :func:`ward_change` tests each
  ward's count change.

Geometry is in British National Grid (EPSG:27700): areas in square metres.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import stats

from hotspots.crs import BNG
from hotspots.errors import InvalidInput
from hotspots.geo.geos import private_copy

MIN_TREND_POINTS = 4
"""Fewest points :func:`mann_kendall` will test.

With 4 points there are 6 pairs; fewer cannot show anything. Note that even
a perfectly monotonic series of 4 has an exact two-sided p-value of 2/24 =
0.083, so at alpha 0.05 it takes at least 5 points for a trend to be declared.
"""

TrendLabel = Literal["increasing", "decreasing", "no trend", "too short"]

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTH_ONLY_REASON = "the data has no dates or times: police.uk publishes the month only, not the date or time"
DATE_ONLY_REASON = "the data has dates but no times of day (every timestamp is exactly midnight)"
FIRST_OF_MONTH_REASON = (
    "every date is the 1st of a month at midnight, so the dates look like months stored as dates "
    "(police.uk publishes the month only, not the date or time)"
)
MIDNIGHT_NOTE_SHARE = 0.10
"""Above this share of timestamps at exactly 00:00:00, warn that some records may lack a time."""


# ---- Mann-Kendall ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendResult:
    """Outcome of :func:`mann_kendall`.

    Attributes
    ----------
    n:
        Number of points (months) tested.
    tau:
        Kendall's tau-b of counts against time (-1..1); ``None`` when too short.
    s:
        Mann-Kendall S: concordant minus discordant pairs, ``sum_{i<j} sign(x_j - x_i)``.
    z:
        Normal score ``S / sqrt(Var(S))`` with the tie-corrected variance, no
        continuity correction (the statistic scipy's asymptotic test uses).
    p:
        Two-sided p-value from :func:`scipy.stats.kendalltau` (by default exact
        when there are no ties and at most 33 points, otherwise the
        tie-corrected normal approximation).
    trend:
        ``"increasing"``/``"decreasing"`` when ``p < alpha``, else ``"no trend"``;
        ``"too short"`` below :data:`MIN_TREND_POINTS` points.
    slope_per_month:
        Sen's slope: median of all pairwise slopes, in incidents per month
        (per time step of the series).
    alpha:
        Significance level used.
    """

    n: int
    tau: float | None
    s: float | None
    z: float | None
    p: float | None
    trend: TrendLabel
    slope_per_month: float | None
    alpha: float = 0.05

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mann_kendall(
    counts: Sequence[float],
    alpha: float = 0.05,
    method: Literal["auto", "asymptotic", "exact"] = "auto",
    *,
    times: Sequence[float] | None = None,
) -> TrendResult:
    """Mann-Kendall test for a monotonic trend in equally spaced counts (e.g. monthly).

    Parameters
    ----------
    counts:
        One value per consecutive month (include the zero months), oldest first.
    alpha:
        Two-sided significance level, strictly between 0 and 1.
    method:
        p-value method of :func:`scipy.stats.kendalltau`: ``"auto"`` (exact
        when there are no ties and at most 33 points, else the tie-corrected
        normal approximation), or ``"asymptotic"`` always (then
        ``p = 2 * (1 - Phi(|z|))``, as in :mod:`hotspots.geo.stats.emerging`).
    times:
        Month positions of ``counts`` (increasing), when months are missing from the series
        (not covered by the source: missing, not zero). Mann-Kendall's S, tau and p depend only
        on the order, so they are those of the months present; Sen's slope divides by the true
        time steps, so it stays in incidents per month. Default ``0, 1, ..., n-1``.

    Returns
    -------
    TrendResult
        ``"too short"`` with ``None`` statistics for fewer than
        :data:`MIN_TREND_POINTS` points. A constant series is ``"no trend"``
        with tau 0, z 0, p 1 and slope 0.

    Raises
    ------
    InvalidInput
        For a missing or non-finite value, or ``alpha`` outside (0, 1).
    """
    if not (0.0 < alpha < 1.0):
        raise InvalidInput(f"alpha must be between 0 and 1, got {alpha}")
    x = np.asarray(list(counts), dtype=float)
    if x.ndim != 1:
        raise InvalidInput("counts must be a one-dimensional sequence")
    if not np.isfinite(x).all():
        raise InvalidInput("counts must all be finite numbers (use 0 for months without incidents)")
    n = int(len(x))
    t = np.arange(n, dtype=float) if times is None else np.asarray(list(times), dtype=float)
    if t.shape != x.shape or (n > 1 and not (np.diff(t) > 0).all()):
        raise InvalidInput("times must be increasing, one per count")
    if n < MIN_TREND_POINTS:
        return TrendResult(n, None, None, None, None, "too short", None, alpha)
    s = _mk_s(x)
    var_s = _mk_var(x)
    slope = float(stats.theilslopes(x, t).slope)
    if var_s <= 0:  # constant series: nothing can trend
        return TrendResult(n, 0.0, 0.0, 0.0, 1.0, "no trend", 0.0, alpha)
    z = s / math.sqrt(var_s)
    res = stats.kendalltau(np.arange(n, dtype=float), x, method=method)
    tau = float(res.statistic)
    p = float(res.pvalue)
    if p < alpha:
        label: TrendLabel = "increasing" if s > 0 else "decreasing"
    else:
        label = "no trend"
    return TrendResult(n, tau, float(s), float(z), p, label, slope, alpha)


EXACT_MAX_POINTS = 33
"""Up to this many points without ties, scipy's ``kendalltau`` gives an exact p-value."""
SLOPE_CHUNK_VALUES = 4_000_000
"""Pairwise slopes held at once by :func:`mann_kendall_many` (rows are taken in chunks)."""


def mann_kendall_many(series: np.ndarray, alpha: float = 0.05) -> list[TrendResult]:
    """:func:`mann_kendall` on each row of ``series`` (rows: places, columns: consecutive months).

    Gives the same results as calling :func:`mann_kendall` row by row (``method="auto"``),
    computed for all rows at once: S, the tie-corrected variance, tau-b, the normal-score
    p-value and Sen's slope are array operations over the month pairs. The few rows that
    scipy would test exactly (no ties, at most :data:`EXACT_MAX_POINTS` months) are passed to
    :func:`mann_kendall`.

    NaN marks a missing month (not covered by the source; see :mod:`hotspots.geo.stats.coverage`):
    a row with NaN is tested on its months present only (``n`` is their number), with Sen's
    slope over the true month positions (:func:`mann_kendall` with ``times``). Rows without
    NaN give exactly the results they gave before NaN was allowed.
    """
    if not (0.0 < alpha < 1.0):
        raise InvalidInput(f"alpha must be between 0 and 1, got {alpha}")
    x = np.asarray(series, dtype=float)
    if x.ndim != 2:
        raise InvalidInput("series must be two-dimensional: one row per place, one column per month")
    if np.isinf(x).any():
        raise InvalidInput("counts must be finite numbers (NaN for a missing month, 0 for no incidents)")
    gaps = np.isnan(x).any(axis=1) if x.size else np.zeros(len(x), dtype=bool)
    if gaps.any():
        out_rows: list[TrendResult | None] = [None] * len(x)
        full = np.flatnonzero(~gaps)
        for at, res in zip(full, mann_kendall_many(x[full], alpha) if len(full) else [], strict=True):
            out_rows[int(at)] = res
        for at in np.flatnonzero(gaps):
            keep = ~np.isnan(x[at])
            times = np.flatnonzero(keep).astype(float).tolist()
            out_rows[int(at)] = mann_kendall(x[at][keep].tolist(), alpha, times=times)
        return [res for res in out_rows if res is not None]
    rows, n = x.shape
    if n < MIN_TREND_POINTS:
        return [TrendResult(n, None, None, None, None, "too short", None, alpha)] * rows
    i, j = np.triu_indices(n, k=1)
    out: list[TrendResult] = []
    step = max(1, SLOPE_CHUNK_VALUES // max(len(i), n * n))
    n0 = n * (n - 1) / 2.0
    for lo in range(0, rows, step):
        block = x[lo : lo + step]
        diff = block[:, j] - block[:, i]
        s = np.sign(diff).sum(axis=1)
        slopes = np.median(diff / (j - i), axis=1)
        # size of each value's group of ties, per element: sums over elements give sums over groups
        g = (block[:, :, None] == block[:, None, :]).sum(axis=2).astype(float)
        var_s = (n * (n - 1) * (2 * n + 5) - ((g - 1) * (2 * g + 5)).sum(axis=1)) / 18.0
        n1 = ((g - 1) / 2.0).sum(axis=1)
        no_ties = (g == 1).all(axis=1)
        for r in range(len(block)):
            if var_s[r] <= 0:
                out.append(TrendResult(n, 0.0, 0.0, 0.0, 1.0, "no trend", 0.0, alpha))
                continue
            if n <= EXACT_MAX_POINTS and no_ties[r]:
                out.append(mann_kendall(block[r], alpha))
                continue
            s_r = float(s[r])
            sd = math.sqrt(float(var_s[r]))
            tau = s_r / math.sqrt((n0 - float(n1[r])) * n0)
            p = float(math.erfc(abs(s_r) / sd / math.sqrt(2.0)))
            label: TrendLabel = ("increasing" if s_r > 0 else "decreasing") if p < alpha else "no trend"
            out.append(TrendResult(n, tau, s_r, s_r / sd, p, label, float(slopes[r]), alpha))
    return out


def _mk_s(x: np.ndarray) -> float:
    diff = x[None, :] - x[:, None]  # diff[i, j] = x_j - x_i
    return float(np.sign(diff[np.triu_indices(len(x), k=1)]).sum())


def _mk_var(x: np.ndarray) -> float:
    """Var(S) = [n(n-1)(2n+5) - sum_t t(t-1)(2t+5)] / 18 over groups of t tied values."""
    n = len(x)
    _, t = np.unique(x, return_counts=True)
    return float((n * (n - 1) * (2 * n + 5) - np.sum(t * (t - 1) * (2 * t + 5))) / 18.0)


def hotspot_trends(hotspots: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """:func:`mann_kendall` on each hotspot's ``monthly_counts`` (``{"YYYY-MM": count}``;
    ``None`` for a month not covered, left out of the test).

    Returns
    -------
    pandas.DataFrame
        ``hotspot_id``, ``n``, ``tau``, ``s``, ``z``, ``p``, ``trend``,
        ``slope_per_month`` (incidents per month).
    """
    rows = []
    for hid, monthly in zip(hotspots["hotspot_id"], hotspots["monthly_counts"], strict=True):
        series = [monthly[m] for m in sorted(monthly)] if isinstance(monthly, Mapping) else list(monthly)
        # None: a month not covered by the source (missing, not zero): tested without it
        present = [i for i, v in enumerate(series) if v is not None]
        res = mann_kendall([series[i] for i in present], alpha, times=present)
        rows.append({"hotspot_id": hid, **{k: v for k, v in res.as_dict().items() if k != "alpha"}})
    cols = ["hotspot_id", "n", "tau", "s", "z", "p", "trend", "slope_per_month"]
    return pd.DataFrame(rows, columns=cols)


# ---- time of day / day of week ---------------------------------------------------------------


def time_profile(occurred_at: pd.Series) -> dict[str, Any]:
    """Counts by hour of day (0-23) and day of week (Monday first), where the data allows.

    Parameters
    ----------
    occurred_at:
        When each incident happened (datetimes, or strings pandas can parse;
        missing values allowed). Hours are read as given (local time if the
        series is naive).

    Returns
    -------
    dict
        ``available`` (bool: at least the weekday profile can be shown) and
        ``reason`` (``None`` when available), ``incidents`` and
        ``incidents_with_date``; ``hours`` and ``weekdays`` each hold
        ``available``, ``reason``, ``labels`` and ``counts`` (``None`` when
        unavailable). Rules:

        * no dates at all (police.uk data: month only) -> nothing available;
        * every date the 1st of a month at midnight -> treated as months stored
          as dates: nothing available;
        * every timestamp exactly midnight -> weekdays only, hours unavailable;
        * otherwise both; ``hours["note"]`` warns when more than
          :data:`MIDNIGHT_NOTE_SHARE` of timestamps are exactly midnight (some
          records may carry a date without a time).
    """
    ts = pd.to_datetime(pd.Series(occurred_at), errors="coerce")
    dated = ts.dropna()
    n_total = int(len(ts))
    n_dated = int(len(dated))
    hour_labels = [f"{h:02d}" for h in range(24)]
    out: dict[str, Any] = {
        "available": False,
        "reason": None,
        "incidents": n_total,
        "incidents_with_date": n_dated,
        "hours": {"available": False, "reason": None, "labels": hour_labels, "counts": None, "note": None},
        "weekdays": {"available": False, "reason": None, "labels": list(WEEKDAYS), "counts": None},
    }
    if n_dated == 0:
        return _unavailable(out, MONTH_ONLY_REASON)
    midnight = (
        (dated.dt.hour == 0) & (dated.dt.minute == 0) & (dated.dt.second == 0) & (dated.dt.microsecond == 0)
    ).to_numpy(dtype=bool)
    if midnight.all() and (dated.dt.day == 1).all() and n_dated >= 20:
        return _unavailable(out, FIRST_OF_MONTH_REASON)
    weekday = np.bincount(dated.dt.day_of_week.to_numpy(dtype=np.int64), minlength=7)
    out["available"] = True
    out["weekdays"].update(available=True, counts=[int(v) for v in weekday])
    if midnight.all():
        out["hours"]["reason"] = DATE_ONLY_REASON
    else:
        hours = np.bincount(dated.dt.hour.to_numpy(dtype=np.int64), minlength=24)
        out["hours"].update(available=True, counts=[int(v) for v in hours])
        share = float(midnight.mean())
        if share > MIDNIGHT_NOTE_SHARE:
            out["hours"]["note"] = (
                f"{share:.0%} of timestamps are exactly midnight: some records may have a date "
                "but no time, which inflates hour 00"
            )
    if n_dated < n_total:
        out["reason"] = f"{n_total - n_dated} of {n_total} incidents have no date and are not counted"
    return out


def _unavailable(out: dict[str, Any], reason: str) -> dict[str, Any]:
    out["reason"] = reason
    out["hours"]["reason"] = reason
    out["weekdays"]["reason"] = reason
    return out


# ---- comparing two periods -------------------------------------------------------------------

COMPARE_COLUMNS = [
    "period",
    "hotspot_id",
    "status",
    "matched_ids",
    "area_m2",
    "overlap_m2",
    "overlap_share",
    "geometry",
]


def compare_periods(
    hotspots_a: gpd.GeoDataFrame,
    hotspots_b: gpd.GeoDataFrame,
    min_overlap_share: float = 0.0,
) -> gpd.GeoDataFrame:
    """Which hotspots of a later period B are new or persistent, and which of period A vanished.

    Parameters
    ----------
    hotspots_a, hotspots_b:
        Hotspots of the earlier and later period: ``geometry`` and, if present,
        ``hotspot_id`` (else the row index is the id). Reprojected to
        EPSG:27700 if in another CRS; a missing CRS is taken as EPSG:27700.
    min_overlap_share:
        A hotspot overlaps the other period when more than this share of its
        area (0..1) lies inside the other period's hotspots. The default 0
        means any overlap of positive area (touching edges do not count).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per hotspot of B (``period`` ``"b"``, ``status`` ``"new"`` or
        ``"persistent"``) then one per hotspot of A with no overlap in B
        (``period`` ``"a"``, ``status`` ``"vanished"``). ``matched_ids`` lists
        the ids in the other period that overlap it (sorted), ``area_m2`` its
        area, ``overlap_m2`` the area inside the other period's hotspots
        (their union, so overlaps are not counted twice) and ``overlap_share``
        = overlap_m2 / area_m2. Geometry in EPSG:27700.
    """
    if not (0.0 <= min_overlap_share < 1.0):
        raise InvalidInput(
            f"min_overlap_share must be from 0 up to (not including) 1, got {min_overlap_share}"
        )
    ids_a, geoms_a = _ids_and_geoms(hotspots_a, "hotspots_a")
    ids_b, geoms_b = _ids_and_geoms(hotspots_b, "hotspots_b")
    b_rows = _overlaps(ids_b, geoms_b, ids_a, geoms_a, min_overlap_share)
    a_rows = _overlaps(ids_a, geoms_a, ids_b, geoms_b, min_overlap_share)
    rows = [{"period": "b", **r, "status": "persistent" if r["hit"] else "new"} for r in b_rows]
    rows += [{"period": "a", **r, "status": "vanished"} for r in a_rows if not r["hit"]]
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in COMPARE_COLUMNS if c != "geometry"}, geometry=[], crs=BNG)
    return gpd.GeoDataFrame(rows, columns=COMPARE_COLUMNS, geometry="geometry", crs=BNG)


def _ids_and_geoms(frame: gpd.GeoDataFrame, label: str) -> tuple[list[Any], np.ndarray]:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InvalidInput(f"{label} must be a GeoDataFrame of hotspot polygons")
    if frame.crs is not None and frame.crs.to_epsg() != BNG:
        frame = frame.to_crs(BNG)
    ids = frame["hotspot_id"].tolist() if "hotspot_id" in frame.columns else frame.index.tolist()
    ids = [i.item() if isinstance(i, np.generic) else i for i in ids]
    geoms = np.asarray(frame.geometry.values, dtype=object)
    return ids, geoms


def _overlaps(
    ids: list[Any], geoms: np.ndarray, other_ids: list[Any], other: np.ndarray, min_share: float
) -> list[dict[str, Any]]:
    """For each geometry, the overlapping geometries of ``other`` and the overlapped area."""
    rows = []
    tree = shapely.STRtree(other) if len(other) else None
    for hid, geom in zip(ids, geoms, strict=True):
        area = float(geom.area) if geom is not None else 0.0
        matched: list[int] = []
        overlap = 0.0
        if tree is not None and geom is not None and not geom.is_empty:
            candidates = tree.query(private_copy(geom), predicate="intersects")  # it prepares its input
            pieces = [(int(j), float(shapely.intersection(geom, other[j]).area)) for j in candidates]
            matched = sorted(j for j, a in pieces if a > 0)
            if matched:
                overlap = float(shapely.intersection(geom, shapely.union_all(other[matched])).area)
        share = overlap / area if area > 0 else 0.0
        rows.append(
            {
                "hotspot_id": hid,
                "matched_ids": sorted(other_ids[j] for j in matched),
                "area_m2": round(area, 1),
                "overlap_m2": round(overlap, 1),
                "overlap_share": share,
                "geometry": geom,
                "hit": bool(matched) and share > min_share,
            }
        )
    return rows


# ---- ward counts between two periods ---------------------------------------------------------

WARD_CHANGE_COLUMNS = [
    "ward_code",
    "count_a",
    "count_b",
    "expected_b",
    "change",
    "change_pct",
    "direction",
    "p_value",
    "q_value",
    "significant",
]


def ward_change(
    wards_a: pd.DataFrame,
    wards_b: pd.DataFrame,
    months_a: float = 1.0,
    months_b: float = 1.0,
    alpha: float = 0.05,
    fdr: bool = True,
) -> pd.DataFrame:
    """Change in each ward's count from period A to period B, with a significance test.

    Parameters
    ----------
    wards_a, wards_b:
        ``ward_code`` and ``count`` (incidents); duplicate codes are summed and
        a ward missing from one side counts 0 there.
    months_a, months_b:
        Length of each period (months, the exposure). Equal by default.
    alpha:
        Significance level.
    fdr:
        Control the false discovery rate across wards (Benjamini-Hochberg):
        ``significant`` means ``q_value < alpha``. With ``False`` it means
        ``p_value < alpha`` for each ward on its own.

    Returns
    -------
    pandas.DataFrame
        :data:`WARD_CHANGE_COLUMNS`, sorted by ``ward_code``. ``expected_b`` =
        ``count_a * months_b / months_a`` (what B would hold at A's monthly
        rate); ``change`` = ``count_b - expected_b`` and ``change_pct`` = 100 x
        change / expected_b (NaN when A had none). With equal periods
        these are the plain ``count_b - count_a`` and percent change.
        ``p_value``: exact two-sided binomial test of ``count_b`` out of
        ``count_a + count_b`` against ``months_b / (months_a + months_b)``
        (the conditional test of two Poisson rates); 1 when both are 0.
    """
    for label, months in (("months_a", months_a), ("months_b", months_b)):
        if not (math.isfinite(months) and months > 0):
            raise InvalidInput(f"{label} must be a positive number of months, got {months}")
    if not (0.0 < alpha < 1.0):
        raise InvalidInput(f"alpha must be between 0 and 1, got {alpha}")
    a = _ward_counts(wards_a, "wards_a")
    b = _ward_counts(wards_b, "wards_b")
    df = pd.concat([a.rename("count_a"), b.rename("count_b")], axis=1).fillna(0).astype("int64")
    df = df.sort_index()
    df.index.name = "ward_code"
    df = df.reset_index()
    ratio = months_b / months_a
    p_b = months_b / (months_a + months_b)
    df["expected_b"] = df["count_a"] * ratio
    df["change"] = df["count_b"] - df["expected_b"]
    df["change_pct"] = [
        round(100.0 * c / e, 1) if e > 0 else float("nan")
        for c, e in zip(df["change"], df["expected_b"], strict=True)
    ]
    df["direction"] = np.select([df["change"] > 0, df["change"] < 0], ["increase", "decrease"], "no change")
    p_values = [
        float(stats.binomtest(int(kb), int(ka + kb), p_b).pvalue) if ka + kb > 0 else 1.0
        for ka, kb in zip(df["count_a"], df["count_b"], strict=True)
    ]
    df["p_value"] = p_values
    df["q_value"] = stats.false_discovery_control(p_values, method="bh") if len(df) else []
    df["significant"] = (df["q_value"] if fdr else df["p_value"]) < alpha
    return df[WARD_CHANGE_COLUMNS]


def _ward_counts(frame: pd.DataFrame, label: str) -> pd.Series:
    missing = {"ward_code", "count"} - set(frame.columns)
    if missing:
        raise InvalidInput(
            f"{label} needs columns ward_code and count (missing: {', '.join(sorted(missing))})"
        )
    counts = pd.to_numeric(frame["count"], errors="coerce")
    if counts.isna().any() or (counts < 0).any():
        raise InvalidInput(f"{label}: count must be a number of incidents, 0 or more")
    return counts.groupby(frame["ward_code"].astype(str)).sum()
