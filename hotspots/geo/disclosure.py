"""Disclosure control: small counts in small areas can point at people.

Rule (stated in every suppressed output's metadata): any count from 1 to k-1
(k = 5 by default) in an aggregate is replaced by ``None`` (shown as "fewer
than k"), and any rate or share computed from such a count is withheld too.
Zero stays zero (it discloses nothing about a person) and counts of k or more
are exact. Incident-level rows are not aggregates: they are never shown to the
roles that get suppressed output.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

from hotspots.geo.analysis import AnalysisResult

LOCATION_ONLY = ("x", "y", "has_location", "outside_area")
"""What stays of the incidents: coordinates only, for the smoothed heat surface (no attributes)."""

META_COUNTS = (
    "incidents",
    "incidents_located",
    "incidents_without_location",
    "incidents_outside_area",
    "incidents_in_hotspots",
)


def disclosure_rule(k: int) -> str:
    return (
        f"Counts from 1 to {k - 1} are suppressed (shown as null, 'fewer than {k}'), with any rate or share "
        "derived from them; zero and counts of {k} or more are exact."
    ).replace("{k}", str(k))


def is_small(value: Any, k: int) -> bool:
    """A count that must not be shown: 1 <= value < k."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return False
    return bool(np.isfinite(v) and 0 < v < k)


def _column(frame: pd.DataFrame, column: str, k: int, derived: tuple[str, ...] = ()) -> pd.DataFrame:
    if column not in frame.columns:
        return frame
    values = pd.to_numeric(frame[column], errors="coerce")
    small = ((values > 0) & (values < k)).to_numpy(dtype=bool)
    if not small.any():
        return frame
    frame[column] = frame[column].astype(object)
    frame.loc[small, column] = None
    for other in derived:
        if other in frame.columns:
            frame[other] = frame[other].astype(object)
            frame.loc[small, other] = None
    return frame


def _dict_counts(value: Any, k: int) -> Any:
    if isinstance(value, dict):
        return {key: (None if is_small(v, k) else v) for key, v in value.items()}
    return value


def _categories(value: Any, k: int) -> Any:
    if isinstance(value, list):
        return [
            {**c, "count": None if is_small(c.get("count"), k) else c.get("count")}
            if isinstance(c, dict)
            else c
            for c in value
        ]
    return value


def _profile(value: Any, k: int) -> Any:
    if not isinstance(value, dict):
        return value
    out = copy.deepcopy(value)
    for part in ("hours", "weekdays"):
        counts = out.get(part, {}).get("counts")
        if counts:
            out[part]["counts"] = [None if is_small(c, k) else c for c in counts]
    for key in ("incidents", "incidents_with_date"):
        if is_small(out.get(key), k):
            out[key] = None
    return out


def suppress(result: AnalysisResult, k: int) -> AnalysisResult:
    """A copy of ``result`` whose aggregates show no count from 1 to k-1.

    Wards and boroughs: ``count`` (and ``rate_per_1000``); hotspots: ``count``,
    ``harm`` and the shares/PAI derived from it, monthly counts, category
    counts and time profiles; Gi* cells: ``count``; metadata counts. The
    incidents table keeps only coordinates (:data:`LOCATION_ONLY`), for the
    smoothed heat surface: incident-level rows are not for these roles.
    """
    if k <= 1:
        return result
    out = copy.copy(result)
    out.wards = _column(result.wards.copy(), "count", k, ("rate_per_1000",))
    out.boroughs = _column(result.boroughs.copy(), "count", k)
    hotspots = _column(
        result.hotspots.copy(), "count", k, ("harm", "share_of_incidents", "pai", "density_per_km2")
    )
    if len(hotspots):
        hotspots["monthly_counts"] = hotspots["monthly_counts"].map(lambda v: _dict_counts(v, k))
        hotspots["top_categories"] = hotspots["top_categories"].map(lambda v: _categories(v, k))
        hotspots["time_profile"] = hotspots["time_profile"].map(lambda v: _profile(v, k))
    out.hotspots = hotspots
    out.gi_grid = _column(result.gi_grid.copy(), "count", k)
    out.gi_grid.attrs = dict(result.gi_grid.attrs)
    out.incidents = result.incidents[list(LOCATION_ONLY)].copy()
    meta = dict(result.meta)
    for key in META_COUNTS:
        if is_small(meta.get(key), k):
            meta[key] = None
    meta["time_profile"] = _profile(meta.get("time_profile"), k)
    meta["disclosure"] = {"k": k, "rule": disclosure_rule(k), "suppressed": True}
    out.meta = meta
    return out


def suppress_cells(cells: pd.DataFrame, k: int) -> pd.DataFrame:
    """Emerging hot spot cells with small total counts suppressed."""
    attrs = dict(cells.attrs)
    out = _column(cells.copy(), "count", k)
    out.attrs = attrs
    return out


def suppress_ward_change(change: pd.DataFrame, k: int) -> pd.DataFrame:
    """Ward change rows with small counts (either period) suppressed, with what derives from them."""
    derived = ("change", "change_pct", "expected_b", "p_value", "q_value", "significant", "direction")
    out = _column(change.copy(), "count_a", k, derived)
    return _column(out, "count_b", k, derived)
