"""What the app page says beside the map: the ranked hotspot table and the method in plain words.

Everything here is plain text for a template that escapes it, except values
typed :class:`markupsafe.Markup`, which hold only numbers and fixed words
(never text from data). No web framework code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
from markupsafe import Markup

from hotspots.geo.analysis import AnalysisResult
from hotspots.maps.fmt import (
    area_text,
    count_text,
    disclosure_k,
    distinct_names,
    district_words,
    fmt_number,
    num,
    pct_text,
    seq,
)
from hotspots.maps.statistics import hot_share_text, trend_text


@dataclass(frozen=True)
class HotspotRow:
    """One row of the ranked hotspot table (rank 1 = most incidents, or most harm when weighted)."""

    rank: int
    wards: str
    boroughs: str
    incidents: str
    share: str
    area: str
    pai: str
    top_categories: str
    peak_month: str
    trend: Markup
    gi: Markup
    cross_border: bool
    harm: str
    lat: float | None
    lon: float | None
    months_hot: str = "n/a"
    """e.g. "7 of 12": months of the last 12 a monthly fit found this hotspot ("n/a" without
    stability figures: ``service.stability`` / ``/hotspots?stability=true``)."""
    missing_months: str = ""
    """Months with no data for this hotspot's districts (missing, not zero), e.g. "2016-04"."""


def hotspot_rows(hotspots: gpd.GeoDataFrame | pd.DataFrame, meta: dict[str, Any]) -> list[HotspotRow]:
    """The table rows of ``hotspots`` (output of ``analyse``), in rank order.

    ``meta`` is the analysis metadata; its disclosure threshold (when counts
    were suppressed for the viewer) turns small counts into "fewer than k".
    """
    k = disclosure_k(meta)
    districts = district_words(meta)[1]
    rows = []
    ordered = hotspots.sort_values("hotspot_id") if len(hotspots) else hotspots
    for record in ordered.drop(columns="geometry", errors="ignore").to_dict("records"):
        area = num(record.get("area_m2"))
        cats = [
            f"{c.get('crime_type')} ({count_text(c.get('count'), k)})"
            for c in seq(record.get("top_categories"))[:3]
            if isinstance(c, dict)
        ]
        rows.append(
            HotspotRow(
                rank=int(record["hotspot_id"]),
                wards=", ".join(distinct_names(record.get("wards"))) or "outside the wards",
                boroughs=", ".join(str(b) for b in seq(record.get("boroughs"))) or f"outside the {districts}",
                incidents=count_text(record.get("count"), k),
                share=pct_text(record.get("share_of_incidents")),
                area=area_text(area),
                pai=fmt_number(num(record.get("pai")), 1) if num(record.get("pai")) is not None else "n/a",
                top_categories="; ".join(cats) or "n/a",
                peak_month=str(record.get("peak_month") or "n/a"),
                trend=_trend_cell(
                    trend_text(record.get("trend"), record.get("trend_p"), record.get("slope_per_month"))
                ),
                gi=Markup(hot_share_text(record.get("hot_share"))),
                cross_border=bool(record.get("cross_border")),
                harm=harm_text(record.get("harm"), k),
                lat=num(record.get("centroid_lat")),
                lon=num(record.get("centroid_lon")),
                months_hot=months_hot_text(record.get("months_hot"), record.get("months_checked")),
                missing_months=", ".join(str(m) for m in seq(record.get("missing_months"))),
            )
        )
    return rows


def _trend_cell(text: str) -> Markup:
    """The trend in words with its test ("(Mann-Kendall p = 0.04)") in a part a phone leaves out."""
    head, sep, test = text.rpartition(" (")
    if not sep or not text.endswith(")"):
        return Markup(text)
    return Markup(f'{head}<span class="hs-wide"> ({test}</span>')


def months_hot_text(hot: Any, checked: Any) -> str:
    """A hotspot's months hot of the months checked, e.g. "9 of 12" ("n/a" without figures)."""
    h, c = num(hot), num(checked)
    if h is None or c is None:
        return "n/a"
    return f"{int(h)} of {int(c)}"


def harm_text(value: Any, k: int | None = None) -> str:
    """A hotspot's harm (Crime Severity Score, days of custody) for the table; "n/a" when not computed.

    Under disclosure control (``k``) harm moves with the count, so it is shown rounded to the
    nearest 100 days, as the protected count does not reveal small numbers either way.
    """
    harm = num(value)
    if harm is None:
        return "n/a"
    if k:
        return f"about {round(harm, -2):,.0f}" if harm >= 100 else "under 100"
    return f"{harm:,.0f}"


def method_in_words(meta: dict[str, Any]) -> str:
    """The clustering rule as a planner would say it, naming the method, its parameters and the
    weight actually used, e.g. "DBSCAN (fixed radius): radius 100 m, at least 24 incidents within
    it (chosen from the data); ranked by number of incidents"."""
    method = meta.get("method", "dbscan")
    harm = meta.get("weight") == "harm"
    units = "harm (Crime Severity Score, days)" if harm else "incidents"
    ranked = "ranked by harm (Crime Severity Score)" if harm else "ranked by number of incidents"
    chosen = " (chosen from the data)" if meta.get("min_samples_rule") else ""
    if method == "hdbscan":
        size = fmt_number(num(meta.get("min_cluster_size")), 0)
        least = fmt_number(num(meta.get("min_samples")), 0)
        text = f"HDBSCAN (varying density): each hotspot at least {size} incidents"
        if harm:
            text += f", core points at least {least} {units}"
        return f"{text}{chosen}; {ranked}"
    radius = fmt_number(num(meta.get("eps_m")), 0)
    least = fmt_number(num(meta.get("min_samples")), 0)
    return f"DBSCAN (fixed radius): radius {radius} m, at least {least} {units} within it{chosen}; {ranked}"


def result_in_words(result: AnalysisResult) -> str:
    """One sentence on what the analysis found, for the screen-reader status line and the page.

    With a district focus (:func:`borough_focus`) the figures are the districts' own: their
    incidents, the hotspots touching them and the share of their incidents those hold.
    """
    meta = result.meta
    focus = meta.get("borough_focus")
    if focus:
        return _focus_in_words(result, [str(f) for f in focus])
    n = len(result.hotspots)
    k = disclosure_k(meta)
    found = f"{n:,} hotspot{'s' if n != 1 else ''}"
    period = f"{meta.get('month_from')} to {meta.get('month_to')}"
    text = f"{found} from {count_text(meta.get('incidents'), k)} incidents, {period}"
    hit_rate, area_share = num(meta.get("hit_rate")), num(meta.get("hotspot_area_share"))
    if n and hit_rate is not None and area_share:
        text += (
            f"; they hold {pct_text(hit_rate)} of located incidents in {pct_text(area_share)} of the area"
            f" (PAI {hit_rate / area_share:.1f})"
        )
    return text + "."


def _focus_in_words(result: AnalysisResult, focus: list[str]) -> str:
    meta = result.meta
    k = disclosure_k(meta)
    period = f"{meta.get('month_from')} to {meta.get('month_to')}"
    names = ", ".join(focus)
    boroughs = result.boroughs
    chosen = boroughs[boroughs["borough_name"].astype(str).isin(focus)] if len(boroughs) else boroughs
    counts = pd.to_numeric(chosen["count"], errors="coerce") if len(chosen) else pd.Series(dtype=float)
    total = float(counts.sum()) if len(counts) and counts.notna().all() else None
    n = len(result.hotspots)
    text = f"{names}: {n:,} hotspot{'s' if n != 1 else ''} touch {'it' if len(focus) == 1 else 'them'}"
    text += f", {period}; {count_text(total, k)} incidents in {names}"
    inc = result.incidents
    if total and n and {"hotspot_id", "borough_name"} <= set(inc.columns):
        here = inc["borough_name"].astype(str).isin(focus)
        held = int((here & inc["hotspot_id"].isin(result.hotspots["hotspot_id"].astype(int))).sum())
        if not k:
            text += f", of which {pct_text(held / total)} lie in these hotspots"
    return text + "."


def borough_focus(result: AnalysisResult, boroughs: Sequence[str]) -> AnalysisResult:
    """The result as seen from some boroughs: their wards, and every hotspot that touches them.

    Hotspots were found across the whole area at once, so a hotspot that
    crosses into a chosen borough is kept whole (with its global rank).
    An empty ``boroughs`` returns ``result`` unchanged.
    """
    wanted = {str(b) for b in boroughs}
    if not wanted:
        return result
    hot = result.hotspots
    keep = [bool(wanted & {str(b) for b in seq(v)}) for v in hot["boroughs"]] if len(hot) else []
    wards = result.wards[result.wards["borough_name"].astype(str).isin(wanted)]
    incidents = result.incidents
    if "borough_name" in incidents.columns:  # the heat layer shows the chosen districts only
        incidents = incidents[incidents["borough_name"].astype(str).isin(wanted)]
    meta = dict(result.meta)
    meta["borough_focus"] = sorted(wanted)
    return AnalysisResult(
        params=result.params,
        incidents=incidents,
        hotspots=hot[keep] if len(hot) else hot,
        wards=wards,
        boroughs=result.boroughs,
        boundary_sets=result.boundary_sets,
        months=result.months,
        study_area=result.study_area,
        gi_grid=result.gi_grid,
        meta=meta,
    )


def choices(values: Iterable[Any]) -> list[str]:
    """Sorted distinct non-empty strings, for a filter's options."""
    return sorted({str(v) for v in values if v is not None and str(v).strip() and str(v) != "nan"})
