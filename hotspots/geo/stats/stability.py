"""Stability: is a hotspot a hotspot month after month, and do last period's hotspots persist?

* ``months_hot`` per hotspot: DBSCAN is fitted on each of the last (up to) :data:`MONTHS_BACK`
  single months ending at the analysis's last month, with the analysis's eps and its density
  threshold scaled to one month (``min_samples`` x 1 / the analysis's months, at least
  :data:`~hotspots.geo.clusters.dbscan.MIN_MIN_SAMPLES`, the rule
  :func:`~hotspots.geo.stats.assessment.compare`
  uses for periods of different lengths). A month counts when a hotspot fitted on it overlaps
  the hotspot (positive area: the overlap matching of
  :func:`~hotspots.geo.stats.trend.compare_periods`). Months its districts were not covered
  (missing, not zero: see :mod:`hotspots.geo.stats.coverage`) are not checked; ``months_checked``
  says how many were.
* ``persistence_share`` for the set: the share of the previous period's hotspots (the window
  of the same length just before the analysis's, same eps and threshold, scaled if the data
  holds fewer months there) that overlap a hotspot of the current period.

Cost: :data:`MONTHS_BACK` + 1 extra DBSCAN runs, without Gi* (``statistics=False``); the service
caches the result per analysis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from hotspots.boundaries.model import BoundarySet
from hotspots.errors import InvalidInput
from hotspots.geo.analysis import AnalysisParams, AnalysisResult, analyse
from hotspots.geo.cancel import checkpoint
from hotspots.geo.clusters.dbscan import MIN_MIN_SAMPLES
from hotspots.geo.stats.coverage import MIN_MEDIAN
from hotspots.geo.stats.trend import compare_periods

MONTHS_BACK = 12
STABILITY_RULE = (
    f"months_hot: of the last (up to) {MONTHS_BACK} months ending at the period's last month, those in "
    "which a hotspot fitted on that month alone (same eps, the density threshold scaled to one month) "
    "overlaps this hotspot; months its districts were not covered are not checked. persistence_share: "
    "the share of the previous period's hotspots (same length, just before) overlapping a current hotspot"
)


def _scaled(params: AnalysisParams, months_fit: int, months_ref: int) -> AnalysisParams:
    """``params`` with the density threshold scaled from ``months_ref`` months to ``months_fit``."""
    if months_ref <= 0 or months_fit == months_ref:
        return params
    ms = params.min_samples
    mcs = params.min_cluster_size
    return replace(
        params,
        min_samples=None if ms is None else max(MIN_MIN_SAMPLES, math.ceil(ms * months_fit / months_ref)),
        min_cluster_size=None
        if mcs is None
        else max(MIN_MIN_SAMPLES, math.ceil(mcs * months_fit / months_ref)),
    )


def _fit(
    incidents: pd.DataFrame, boundary_sets: Mapping[str, BoundarySet], params: AnalysisParams
) -> AnalysisResult | None:
    checkpoint()
    try:
        return analyse(incidents, boundary_sets, params, statistics=False)
    except InvalidInput:  # no incidents in that month or window
        return None


def hotspot_stability(
    incidents: pd.DataFrame,
    boundary_sets: Mapping[str, BoundarySet],
    result: AnalysisResult,
    *,
    months_back: int = MONTHS_BACK,
) -> dict[str, Any]:
    """``months_hot`` per hotspot of ``result`` and the set's ``persistence_share`` (see the module).

    Parameters
    ----------
    incidents:
        The whole dataset (the analysis's period filter is replaced by each month's).
    boundary_sets:
        The area's boundary sets, as given to :func:`~hotspots.geo.analysis.analyse`.
    result:
        The analysis whose hotspots are scored; its resolved parameters (eps, threshold) are used.

    Returns
    -------
    dict
        JSON-ready: ``months`` (the months fitted), ``monthly_min_samples``, ``hotspots`` (one
        ``{"hotspot_id", "months_hot", "months_checked"}`` per hotspot, in ``result``'s order),
        ``persistence_share`` (``None`` without a previous period), ``previous_period``
        (``from``, ``to``, ``hotspots``, ``persisting``) and ``rule``.
    """
    params = replace(result.params, month_from=None, month_to=None)
    months = list(result.months)
    n = len(months)
    last = months[-1] if months else None
    present = set(incidents["month"].dropna().astype(str).unique())
    window = [str(p) for p in pd.period_range(end=last, periods=months_back, freq="M")] if last else []
    window = [m for m in window if m in present]
    monthly = _scaled(params, 1, n)
    hot = result.hotspots
    ids = [int(i) for i in hot["hotspot_id"]] if len(hot) else []
    hits = np.zeros(len(ids), dtype=int)
    checked = np.zeros(len(ids), dtype=int)
    fits: dict[str, AnalysisResult | None] = {
        m: _fit(incidents, boundary_sets, replace(monthly, month_from=m, month_to=m)) for m in window
    }
    missing = _missing_district_months(fits)
    borough_codes = list(hot["borough_codes"]) if len(hot) else []
    for m, fitted in fits.items():
        covered = np.array(
            [not (set(codes or []) & missing.get(m, set())) for codes in borough_codes], dtype=bool
        )
        checked += covered
        if fitted is None or not len(fitted.hotspots) or not len(hot):
            continue
        matched = compare_periods(fitted.hotspots, hot)
        status = matched[matched["period"] == "b"].set_index("hotspot_id")["status"]
        persistent = np.array([status.get(i) == "persistent" for i in ids], dtype=bool)
        hits += persistent & covered
    out: dict[str, Any] = {
        "months": window,
        "monthly_min_samples": monthly.min_samples,
        "hotspots": [
            {"hotspot_id": i, "months_hot": int(h), "months_checked": int(c)}
            for i, h, c in zip(ids, hits, checked, strict=True)
        ],
        "rule": STABILITY_RULE,
    }
    out.update(_persistence(incidents, boundary_sets, result, params, present))
    return out


def _missing_district_months(fits: Mapping[str, AnalysisResult | None]) -> dict[str, set[str]]:
    """Month -> district codes with no incidents in a month while their median month over ``fits``
    holds at least :data:`~hotspots.geo.stats.coverage.MIN_MEDIAN` (the coverage rule, on the fitted
    months)."""
    counts: dict[str, dict[str, int]] = {}
    for m, fitted in fits.items():
        if fitted is None:
            continue
        b = fitted.boroughs
        counts[m] = {str(c): int(v) for c, v in zip(b["borough_code"], b["count"], strict=True)}
    if not counts:
        return {}
    table = pd.DataFrame(counts).fillna(0)  # districts x months
    out: dict[str, set[str]] = {}
    for code, row in table.iterrows():
        if float(np.median(row.to_numpy(dtype=float))) < MIN_MEDIAN:
            continue
        for month, v in row.items():
            if v == 0:
                out.setdefault(str(month), set()).add(str(code))
    return out


def _persistence(
    incidents: pd.DataFrame,
    boundary_sets: Mapping[str, BoundarySet],
    result: AnalysisResult,
    params: AnalysisParams,
    present: set[str],
) -> dict[str, Any]:
    months = list(result.months)
    none: dict[str, Any] = {"persistence_share": None, "previous_period": None}
    if not months:
        return none
    n = len(months)
    first = pd.Period(months[0], freq="M")
    previous = [str(first - k) for k in range(n, 0, -1)]
    held = [m for m in previous if m in present]
    if not held:
        return {**none, "persistence_note": "no data before the period"}
    prev_params = replace(_scaled(params, len(held), n), month_from=previous[0], month_to=previous[-1])
    prev = _fit(incidents, boundary_sets, prev_params)
    if prev is None or not len(prev.hotspots):
        return {**none, "persistence_note": "no hotspots in the previous period"}
    matched = compare_periods(prev.hotspots, result.hotspots)
    vanished = int(((matched["period"] == "a") & (matched["status"] == "vanished")).sum())
    total = int(len(prev.hotspots))
    return {
        "persistence_share": (total - vanished) / total,
        "previous_period": {
            "from": previous[0],
            "to": previous[-1],
            "months_with_data": len(held),
            "min_samples": prev_params.min_samples,
            "hotspots": total,
            "persisting": total - vanished,
        },
    }


def with_stability(result: AnalysisResult, stability: Mapping[str, Any]) -> AnalysisResult:
    """A copy of ``result`` with ``months_hot``/``months_checked`` on its hotspots and
    ``meta["stability"]`` (the set-level figures, without the per-hotspot list)."""
    import copy

    out = copy.copy(result)
    hot = result.hotspots.copy()
    per = {int(r["hotspot_id"]): r for r in stability.get("hotspots") or []}
    ids = [int(i) for i in hot["hotspot_id"]]
    hot["months_hot"] = pd.Series(
        [per.get(i, {}).get("months_hot") for i in ids], index=hot.index, dtype=object
    )
    hot["months_checked"] = pd.Series(
        [per.get(i, {}).get("months_checked") for i in ids], index=hot.index, dtype=object
    )
    out.hotspots = hot
    out.meta = {**result.meta, "stability": {k: v for k, v in stability.items() if k != "hotspots"}}
    return out


def stability_note(meta: Mapping[str, Any] | None) -> str | None:
    """One sentence on the set's persistence from ``meta["stability"]`` (``None`` without it)."""
    s = meta.get("stability") if isinstance(meta, Mapping) else None
    if not isinstance(s, Mapping):
        return None
    prev = s.get("previous_period")
    share = s.get("persistence_share")
    if not isinstance(prev, Mapping) or share is None:
        return f"Stability: months hot counted over {len(s.get('months') or [])} months; no previous period."
    return (
        f"{share:.0%} of the previous period's hotspots ({prev['from']} to {prev['to']}) persist "
        "into this one; "
        f"months_hot counts the last {len(s.get('months') or [])} months each hotspot was hot."
    )
