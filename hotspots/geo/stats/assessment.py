"""Assessing hotspots: prediction tests, period comparisons and emerging hot spots.

Each function works from the same inputs as :func:`hotspots.geo.analysis.analyse`
(incidents, boundary sets, :class:`AnalysisParams`), so the API and the CLI
answer the same questions the same way. Geometry is EPSG:27700.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspots.boundaries.model import BoundarySet
from hotspots.errors import InvalidInput
from hotspots.geo.analysis import AnalysisParams, AnalysisResult, analyse
from hotspots.geo.cancel import checkpoint
from hotspots.geo.clusters.dbscan import MIN_MIN_SAMPLES
from hotspots.geo.geos import prepared_copy
from hotspots.geo.params import SPECS, check_evaluation
from hotspots.geo.stats.coverage import missing_by_month, no_data_flags
from hotspots.geo.stats.emerging import NO_PATTERN, emerging_hot_spots
from hotspots.geo.stats.evaluation import CURVE_SHARES, rolling_evaluation
from hotspots.geo.stats.trend import compare_periods, ward_change


def emerging_layer(result: AnalysisResult, cell_size_m: float | None = None) -> gpd.GeoDataFrame:
    """Emerging Hot Spot Analysis over the months of an analysis, on its study area.

    Returns every hex cell (EPSG:27700) with ``category`` (ArcGIS Pro's
    categories, or "no pattern detected"); see
    :func:`hotspots.geo.stats.emerging.emerging_hot_spots`.
    """
    inc = result.incidents
    keep = inc["has_location"].to_numpy(dtype=bool) & ~inc["outside_area"].to_numpy(dtype=bool)
    weights = inc["harm"].to_numpy()[keep] if "harm" in inc.columns else None
    return emerging_hot_spots(
        inc["x"].to_numpy()[keep],
        inc["y"].to_numpy()[keep],
        inc["month"].to_numpy(dtype=object)[keep],
        result.study_area,
        cell_size_m if cell_size_m is not None else result.gi_grid.attrs.get("cell_size_m"),
        weights,
        month_range=result.months,
        covered=_covered_bins(result),
    )


def _covered_bins(
    result: AnalysisResult,
) -> Callable[[np.ndarray, np.ndarray, Sequence[str]], np.ndarray] | None:
    """Whether each month was covered at each cell centre (by the district holding it), from
    ``result.meta["coverage"]``; ``None`` when nothing is missing."""
    missing = missing_by_month(result.meta.get("coverage"))
    if not missing or not result.boundary_sets:
        return None
    boroughs = result.boundary_sets[-1].boroughs

    def covered(cx: np.ndarray, cy: np.ndarray, months: Sequence[str]) -> np.ndarray:
        district = np.full(len(cx), None, dtype=object)
        for code, geom in zip(boroughs["borough_code"], boroughs.geometry, strict=True):
            inside = shapely.contains_xy(prepared_copy(geom), cx, cy) & (district == None)  # noqa: E711
            district[inside] = str(code)
        out = np.ones((len(months), len(cx)), dtype=bool)
        for t, month in enumerate(months):
            gone = missing.get(str(month))
            if gone:
                out[t] = ~np.isin(district.astype(str), list(gone))
        return out

    return covered


def k_distance_inputs(
    result: AnalysisResult, k: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, float]:
    """Located incidents (EPSG:27700), their harm weights in harm mode, and k (default: min_samples)."""
    SPECS["k"].check(k)
    inc = result.incidents
    keep = inc["has_location"].to_numpy(dtype=bool)
    weights = inc["harm"].to_numpy()[keep] if result.params.weight == "harm" else None
    k_used = float(k if k is not None else (result.params.min_samples or 5))
    return inc["x"].to_numpy()[keep], inc["y"].to_numpy()[keep], weights, k_used


def emerging_summary(cells: gpd.GeoDataFrame) -> dict[str, Any]:
    """Counts of cells per category (patterns only), and the rules used."""
    patterned = cells[cells["category"] != NO_PATTERN]
    counts = patterned["category"].value_counts()
    return {
        "cells": int(len(cells)),
        "cells_with_pattern": int(len(patterned)),
        "categories": {str(k): int(v) for k, v in counts.items()},
        "cell_size_m": cells.attrs.get("cell_size_m"),
        "months": cells.attrs.get("months"),
        "method": cells.attrs.get("method"),
    }


def evaluate_hotspots(
    incidents: pd.DataFrame,
    boundary_sets: Mapping[str, BoundarySet],
    params: AnalysisParams,
    *,
    test_month: str | None = None,
    n_tests: int = 1,
    window_months: int | None = None,
) -> dict[str, Any]:
    """Fit hotspots on months 1..n and score them on month n+1 (rolling over ``n_tests`` months).

    The hotspots are drawn with ``params`` exactly as :func:`analyse` draws
    them (defaults chosen from each fit period). Measures: hit rate, area
    share, PAI, PEI (against the best 50 m cells), RRI (test PAI over fit
    PAI), and ward-ranking, kernel-density and 50 m grid baselines at the
    same area share. Returns a JSON-ready dict.
    """
    params.validate()
    SPECS["rolling"].check(n_tests)
    selected = incidents
    if params.crime_types:
        selected = analyse_filter(incidents, params)
    if params.month_from:
        selected = selected[selected["month"] >= params.month_from]
    check_evaluation(n_tests, int(len(selected)))
    months = sorted(selected["month"].dropna().unique())
    last = params.month_to or (months[-1] if months else None)
    if test_month is not None:
        test_months = [str(p) for p in pd.period_range(end=test_month, periods=n_tests, freq="M")]
    elif last is not None:
        test_months = [str(p) for p in pd.period_range(end=last, periods=n_tests, freq="M")]
    else:
        raise InvalidInput("no incidents to evaluate")
    fit_params = replace(params, month_from=None, month_to=None, crime_types=())
    reference = analyse(
        selected[selected["month"] <= test_months[-1]], boundary_sets, fit_params, statistics=False
    )
    wards = reference.wards[reference.wards["boundary_set"] == reference.boundary_sets[-1].name]
    used: dict[str, Any] = {}

    def hotspot_fn(fit: pd.DataFrame) -> gpd.GeoDataFrame:
        checkpoint()
        fitted = analyse(fit, boundary_sets, fit_params, statistics=False)
        used[str(fitted.months[-1])] = {
            "eps_m": fitted.meta["eps_m"],
            "min_samples": fitted.meta["min_samples"],
            "hotspots": fitted.meta["hotspots"],
        }
        return fitted.hotspots[["count", "density_per_km2", "geometry"]]

    rolled = rolling_evaluation(
        selected,
        hotspot_fn,
        reference.study_area,
        test_months=test_months,
        window_months=window_months,
        wards=wards,
        curve_shares=CURVE_SHARES,
    )
    gaps = missing_by_month(reference.meta.get("coverage"))
    names = {d["code"]: d["name"] for d in reference.meta.get("coverage", {}).get("districts", [])}
    affected = {m: sorted(names.get(c, c) for c in gaps[m]) for m in test_months if m in gaps}
    return {
        "test_months": test_months,
        "coverage": {
            "missing": reference.meta.get("coverage", {}).get("missing", []),
            "test_months_missing": affected,
            "note": (
                "months the source did not cover: "
                + "; ".join(f"{m} in {', '.join(d)}" for m, d in affected.items())
                + ". Those districts' test-month incidents are missing, not zero, so that month's hit "
                "rate and PAI understate the hotspots there; read it with care"
            )
            if affected
            else None,
        },
        "window": rolled.window_rule,
        "parameters_by_fit_period_end": used,
        "results": [{k: v for k, v in r.as_dict().items() if k != "curve"} for r in rolled.results],
        "rows": _records(rolled.rows),
        "mean": rolled.mean,
        "curve": rolled.results[-1].curve if rolled.results else None,
        "explanation": {
            "hit_rate": "share of the test month's incidents (inside the study area) in the hotspots",
            "area_share": "share of the study area the hotspots cover",
            "pai": "Predictive Accuracy Index = hit rate / area share (1 = no better than chance)",
            "pei": "Predictive Efficiency Index = PAI / best possible PAI with 50 m cells of the same area",
            "rri": "Recapture Rate Index = PAI in the test month / PAI in the fit period (about 1 = stable)",
            "baselines": "ward ranking (by density), kernel density (150 m) and 50 m grid ranking, "
            "each at the same area share, fitted on the same months",
            "curve": "the last test month's PAI against area share (0.5-5%): hotspots taken in order of "
            "density, and each baseline at each share",
        },
    }


def analyse_filter(incidents: pd.DataFrame, params: AnalysisParams) -> pd.DataFrame:
    """Rows of the chosen crime types (case-insensitive)."""
    wanted = {c.casefold() for c in params.crime_types}
    mask = incidents["crime_type"].astype("string").str.casefold().isin(wanted).fillna(False)
    out = incidents.loc[mask.to_numpy(dtype=bool)]
    if out.empty:
        raise InvalidInput("no incidents of the chosen crime types")
    return out


def _months_covered(months: pd.Series, first: str | None, last: str | None) -> int:
    """Calendar months from ``first`` to ``last`` (``YYYY-MM``), clipped to the months in the data."""
    present = months.dropna().astype(str)
    if present.empty:
        return 0
    lo = max(first or present.min(), present.min())
    hi = min(last or present.max(), present.max())
    if lo > hi:
        return 0
    (y0, m0), (y1, m1) = (int(lo[:4]), int(lo[5:7])), (int(hi[:4]), int(hi[5:7]))
    return (y1 - y0) * 12 + (m1 - m0) + 1


def compare(
    incidents: pd.DataFrame,
    boundary_sets: Mapping[str, BoundarySet],
    params_a: AnalysisParams,
    params_b: AnalysisParams,
) -> dict[str, Any]:
    """Compare two periods: new, persistent and vanished hotspots, and change per ward.

    Both periods use the same DBSCAN radius and the same density threshold,
    so a difference reflects the data, not the settings. The threshold is
    period A's: ``min_samples`` as given, or when chosen from A's data, the
    same number of incidents *per month*, so that ``min_samples`` of B is A's
    scaled by B's months over A's (at least :data:`MIN_MIN_SAMPLES`): a
    longer period B does not turn every busy corner into a hotspot. Ward
    change is tested with an exact binomial test adjusted for the number of
    months in each period, with Benjamini-Hochberg FDR.
    """
    a = analyse(incidents, boundary_sets, params_a, statistics=False)
    min_samples_b = a.params.min_samples
    if params_a.min_samples is None and a.params.min_samples is not None and a.months:
        months_b = _months_covered(incidents["month"], params_b.month_from, params_b.month_to)
        if months_b and months_b != len(a.months):
            scaled = math.ceil(a.params.min_samples * months_b / len(a.months))
            min_samples_b = max(MIN_MIN_SAMPLES, scaled)
    fixed = replace(params_b, eps_m=a.params.eps_m, min_samples=min_samples_b)
    checkpoint()
    b = analyse(incidents, boundary_sets, fixed, statistics=False)
    matched = compare_periods(a.hotspots, b.hotspots)
    set_a = a.boundary_sets[-1].name
    set_b = b.boundary_sets[-1].name
    if set_a != set_b:
        raise InvalidInput(
            f"the periods use different ward sets ({set_a} and {set_b}); choose one with 'boundaries'"
        )
    wards_a = a.wards[a.wards["boundary_set"] == set_a]
    wards_b = b.wards[b.wards["boundary_set"] == set_b]
    change = _ward_change_covered(a, b, wards_a, wards_b)
    unmeasured = sorted(
        set(wards_a.loc[no_data_flags(wards_a), "borough_name"].astype(str))
        | set(wards_b.loc[no_data_flags(wards_b), "borough_name"].astype(str))
    )
    names = wards_b.set_index("ward_code")[["ward_name", "borough_name"]]
    change = change.join(names, on="ward_code")
    statuses = matched["status"].value_counts()
    return {
        "period_a": {"from": a.months[0], "to": a.months[-1], "incidents": a.meta["incidents"]},
        "period_b": {"from": b.months[0], "to": b.months[-1], "incidents": b.meta["incidents"]},
        "dbscan": {
            "eps_m": a.params.eps_m,
            "min_samples": a.params.min_samples,
            "min_samples_b": b.params.min_samples,
            "rule": "period B keeps period A's incidents per month"
            if params_a.min_samples is None
            else "as given, for both periods",
        },
        "hotspots": {str(k): int(v) for k, v in statuses.items()},
        "coverage": {
            "missing_a": a.meta.get("coverage", {}).get("missing", []),
            "missing_b": b.meta.get("coverage", {}).get("missing", []),
            "rule": "months a source did not cover in a district are left out of that district's "
            "exposure (its wards' months) in the ward change test, and are gaps in the hotspots' "
            "monthly series; hotspot matching uses each period's hotspots as fitted",
        },
        "no_data": {
            "districts": unmeasured,
            "wards": int(len(wards_b) - change["ward_code"].isin(wards_b["ward_code"]).sum()),
            "rule": "wards of a district that no selected source covers in either period are not "
            "compared (no data is not 0): they have no row in the ward change and are drawn as no data",
        },
        "matches": matched,
        "wards": change,
        "results": (a, b),
    }


def _ward_change_covered(
    a: AnalysisResult, b: AnalysisResult, wards_a: pd.DataFrame, wards_b: pd.DataFrame
) -> pd.DataFrame:
    """:func:`ward_change` with each district's months covered as its exposure (missing months
    are not months of zero crime), and the false discovery rate over all wards. Wards that no
    source covers in either period (``no_data``) are left out: they were not measured."""
    unmeasured = set(wards_a.loc[no_data_flags(wards_a), "ward_code"]) | set(
        wards_b.loc[no_data_flags(wards_b), "ward_code"]
    )
    wards_a = wards_a[~wards_a["ward_code"].isin(unmeasured)]
    wards_b = wards_b[~wards_b["ward_code"].isin(unmeasured)]
    gaps_a = missing_by_month(a.meta.get("coverage"))
    gaps_b = missing_by_month(b.meta.get("coverage"))
    cols = ["ward_code", "count"]
    if not gaps_a and not gaps_b:
        return ward_change(wards_a[cols], wards_b[cols], len(a.months), len(b.months))
    district = {
        **dict(zip(wards_a["ward_code"], wards_a["borough_code"], strict=True)),
        **dict(zip(wards_b["ward_code"], wards_b["borough_code"], strict=True)),
    }
    parts = []
    for code in sorted({str(c) for c in district.values()}):
        months_a = len(a.months) - sum(1 for m in a.months if code in gaps_a.get(m, ()))
        months_b = len(b.months) - sum(1 for m in b.months if code in gaps_b.get(m, ()))
        mine_a = wards_a[wards_a["borough_code"].astype(str) == code][cols]
        mine_b = wards_b[wards_b["borough_code"].astype(str) == code][cols]
        if months_a <= 0 or months_b <= 0 or (mine_a.empty and mine_b.empty):
            continue
        parts.append(ward_change(mine_a, mine_b, months_a, months_b, fdr=False))
    if not parts:
        return ward_change(wards_a[cols].iloc[:0], wards_b[cols].iloc[:0])
    out = pd.concat(parts, ignore_index=True).sort_values("ward_code").reset_index(drop=True)
    from scipy import stats as _stats

    out["q_value"] = _stats.false_discovery_control(out["p_value"].to_numpy(), method="bh")
    out["significant"] = out["q_value"] < 0.05
    return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    clean = frame.replace({np.nan: None})
    return [{str(k): v for k, v in row.items()} for row in clean.to_dict("records")]
