"""Statistical layers of the map page: Getis-Ord Gi* significance and emerging hot spots.

Also the statistical lines of the hotspot popup: Gi* share, Mann-Kendall trend
in words, and the hour-of-day and weekday profile drawn as plain HTML/CSS bars.

Only cells with a result are drawn (significant Gi* cells; emerging cells with
a pattern), with coordinates rounded to :data:`GRID_DECIMALS` decimal places
(about a metre), which keeps a page of a year's cells well under 2 MB.

Every text that comes from data (labels, categories, method notes) is
HTML-escaped here, because Leaflet inserts tooltips, popups and the legend
with ``innerHTML``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element

from hotspots.crs import WGS84
from hotspots.geo.analysis import AnalysisResult
from hotspots.geo.outputs.export import feature_collection
from hotspots.geo.stats.emerging import CATEGORIES, NO_PATTERN
from hotspots.maps.fmt import count_text, disclosure_k, escaped, fmt_number, fmt_p, num, pct, seq

GI_CLASS = "hs-gi"
EMERGING_CLASS = "hs-emerging"
GI_LAYER_NAME = "Significance (Gi*)"
EMERGING_LAYER_NAME = "Emerging hot spots"
STAT_PANE = "hs-stat-pane"
GRID_DECIMALS = 5
"""Decimal places of drawn cell coordinates (1e-5 degrees: about 1.1 m north-south, 0.7 m east-west)."""

# ColorBrewer RdBu, 7 classes (diverging, colour-blind safe), without its neutral middle class.
GI_COLOURS: dict[int, str] = {
    3: "#b2182b",
    2: "#ef8a62",
    1: "#fddbc7",
    -1: "#d1e5f0",
    -2: "#67a9cf",
    -3: "#2166ac",
}
GI_WORDS: dict[int, str] = {
    3: "Hot spot, 99% confidence",
    2: "Hot spot, 95% confidence",
    1: "Hot spot, 90% confidence",
    -1: "Cold spot, 90% confidence",
    -2: "Cold spot, 95% confidence",
    -3: "Cold spot, 99% confidence",
}


@dataclass(frozen=True)
class EmergingStyle:
    """How one emerging hot spot category is drawn and explained."""

    colour: str
    meaning: str
    hot: bool


# Hot categories: Okabe-Ito (qualitative, colour-blind safe). Cold categories: Paul Tol's "muted"
# (qualitative, colour-blind safe), drawn lighter and with dashed outlines.
EMERGING_STYLES: dict[str, EmergingStyle] = {
    "new hot spot": EmergingStyle(
        "#CC79A7", "New: significant hot spot for the first time in the final month", True
    ),
    "consecutive hot spot": EmergingStyle(
        "#F0E442",
        "Consecutive: hot in an unbroken run of recent months up to the final month, never before",
        True,
    ),
    "intensifying hot spot": EmergingStyle(
        "#D55E00", "Intensifying: hot in at least 90% of months, the final one too, and getting hotter", True
    ),
    "persistent hot spot": EmergingStyle(
        "#E69F00", "Persistent: hot in at least 90% of months, the final one too, with no clear trend", True
    ),
    "diminishing hot spot": EmergingStyle(
        "#56B4E9", "Diminishing: hot in at least 90% of months, the final one too, but cooling", True
    ),
    "sporadic hot spot": EmergingStyle(
        "#009E73", "Sporadic: hot in the final month and on and off before, never a cold spot", True
    ),
    "oscillating hot spot": EmergingStyle(
        "#0072B2", "Oscillating: hot in the final month, but a cold spot in some earlier month", True
    ),
    "historical hot spot": EmergingStyle(
        "#000000", "Historical: hot in at least 90% of months, but not in the final month", True
    ),
    "new cold spot": EmergingStyle(
        "#88CCEE", "New: significant cold spot for the first time in the final month", False
    ),
    "consecutive cold spot": EmergingStyle(
        "#44AA99",
        "Consecutive: cold in an unbroken run of recent months up to the final month, never before",
        False,
    ),
    "intensifying cold spot": EmergingStyle(
        "#332288",
        "Intensifying: cold in at least 90% of months, the final one too, and getting colder",
        False,
    ),
    "persistent cold spot": EmergingStyle(
        "#117733", "Persistent: cold in at least 90% of months, the final one too, with no clear trend", False
    ),
    "diminishing cold spot": EmergingStyle(
        "#DDCC77", "Diminishing: cold in at least 90% of months, the final one too, but warming", False
    ),
    "sporadic cold spot": EmergingStyle(
        "#999933", "Sporadic: cold in the final month and on and off before, never a hot spot", False
    ),
    "oscillating cold spot": EmergingStyle(
        "#AA4499", "Oscillating: cold in the final month, but a hot spot in some earlier month", False
    ),
    "historical cold spot": EmergingStyle(
        "#882255", "Historical: cold in at least 90% of months, but not in the final month", False
    ),
}
UNKNOWN_CATEGORY_COLOUR = "#999999"
CELL_STROKE = "#555555"


@dataclass(frozen=True)
class StatLayer:
    """A statistics layer added to the map: its Leaflet object and its legend section."""

    layer: Element
    legend_html: str


# --- Gi* --------------------------------------------------------------------------------------------


def add_gi_layer(fmap: folium.Map, result: AnalysisResult, show: bool) -> StatLayer | None:
    """Significant Gi* hex cells (``gi_bin != 0``) of ``result.gi_grid``, shaded with RdBu.

    Returns ``None`` when the analysis has no Gi* grid (computed without
    statistics); with a grid but no significant cell, an empty layer whose
    legend says so.
    """
    grid = result.gi_grid
    needed = {"gi_bin", "count", "z", "p_fdr"}
    if grid is None or grid.empty or not needed <= set(grid.columns):
        return None
    bins = pd.to_numeric(grid["gi_bin"], errors="coerce").fillna(0).astype(int)
    cells = grid[bins.to_numpy() != 0].reset_index(drop=True)
    bins = bins[bins != 0].reset_index(drop=True)
    method = result.meta.get("gi_star") or {}
    cell_m = num(method.get("cell_size_m") or grid.attrs.get("cell_size_m"))
    if cells.empty:
        layer: Element = folium.FeatureGroup(name=f"{GI_LAYER_NAME}: no significant cells", show=show)
        layer.add_to(fmap)
        return StatLayer(layer, _gi_legend(bins, cell_m, method))
    labels = cells["label"] if "label" in cells.columns else pd.Series([GI_WORDS[b] for b in bins])
    frame = gpd.GeoDataFrame(
        {
            "fid": np.arange(len(cells)),
            "bin": bins.to_numpy(dtype=int),
            "label": escaped(labels),
            "n": [count_text(c, disclosure_k(result.meta)) for c in cells["count"]],
            "z": [fmt_number(num(z), 2) for z in cells["z"]],
            "p": [fmt_p(p) for p in cells["p_fdr"]],
        },
        geometry=_cells_wgs84(cells),
        crs=WGS84,
    )
    data = feature_collection(frame, [c for c in frame.columns if c != "geometry"], id_column="fid")
    layer = folium.GeoJson(
        data,
        name=GI_LAYER_NAME,
        show=show,
        style_function=_gi_style,
        highlight_function=lambda f: {"weight": 2, "color": "#222222"},
        tooltip=folium.GeoJsonTooltip(
            fields=["label", "n", "z", "p"],
            aliases=["Gi*", "Incidents in cell", "z-score", "p (FDR-adjusted)"],
            localize=False,
            sticky=True,
        ),
        pane=STAT_PANE,
    )
    layer.add_to(fmap)
    return StatLayer(layer, _gi_legend(bins, cell_m, method))


def _gi_style(feature: dict[str, Any]) -> dict[str, Any]:
    return {
        "className": GI_CLASS,
        "fillColor": GI_COLOURS.get(int(feature["properties"]["bin"]), UNKNOWN_CATEGORY_COLOUR),
        "fillOpacity": 0.7,
        "color": CELL_STROKE,
        "weight": 0.5,
        "opacity": 0.6,
    }


def _gi_legend(bins: pd.Series, cell_m: float | None, method: Mapping[str, Any]) -> str:
    counts = bins.value_counts()
    parts = [f"<h4>{GI_LAYER_NAME}</h4>"]
    if counts.empty:
        parts.append(
            '<div class="hs-note">No cell is a significant hot or cold spot (90%+ confidence).</div>'
        )
    for b in (3, 2, 1, -1, -2, -3):
        if b in counts.index:
            n = int(counts[b])
            parts.append(
                f'<div class="hs-row"><span class="hs-sw" style="background:{GI_COLOURS[b]}"></span>'
                f"{GI_WORDS[b]} ({n:,} cell{'s' if n != 1 else ''})</div>"
            )
    size = f"{fmt_number(cell_m, 0)} m hex cells" if cell_m is not None else "hex cells"
    testing = method.get("multiple_testing") or "Benjamini-Hochberg false discovery rate"
    neighbours = method.get("neighbours") or "the 6 cells around each cell, and the cell itself"
    parts.append(
        f'<div class="hs-note">Getis-Ord Gi* of incident counts on {size}; neighbours: '
        f"{html.escape(str(neighbours))}; p-values adjusted for multiple testing "
        f"({html.escape(str(testing))}). Only significant cells are drawn.</div>"
    )
    return "".join(parts)


# --- emerging hot spots -----------------------------------------------------------------------------


def add_emerging_layer(fmap: folium.Map, cells: gpd.GeoDataFrame, show: bool = False) -> StatLayer:
    """Emerging hot spot cells with a pattern (``category`` other than "no pattern detected")."""
    if "category" not in cells.columns:
        cells = cells.assign(category=NO_PATTERN)
    category = cells["category"].astype("string").fillna(NO_PATTERN).str.strip()
    patterned = cells[(category != NO_PATTERN).to_numpy(dtype=bool)].reset_index(drop=True)
    cats = category[category != NO_PATTERN].reset_index(drop=True).astype(str)
    months = seq(cells.attrs.get("months"))
    n_months = len(months) or None
    legend = _emerging_legend(cats, cells.attrs, months)
    if patterned.empty:
        layer: Element = folium.FeatureGroup(name=f"{EMERGING_LAYER_NAME}: no pattern detected", show=show)
        layer.add_to(fmap)
        return StatLayer(layer, legend)
    known = [c.lower() for c in cats]
    frame = gpd.GeoDataFrame(
        {
            "fid": np.arange(len(patterned)),
            "cat": known,
            "category": [html.escape(c[:1].upper() + c[1:]) for c in cats],
            "hot": [_months_hot(row, n_months) for row in patterned.to_dict("records")],
            "trend": [
                _cell_trend(z, p)
                for z, p in zip(_column(patterned, "trend_z"), _column(patterned, "trend_p"), strict=True)
            ],
        },
        geometry=_cells_wgs84(patterned),
        crs=WGS84,
    )
    data = feature_collection(frame, [c for c in frame.columns if c != "geometry"], id_column="fid")
    layer = folium.GeoJson(
        data,
        name=EMERGING_LAYER_NAME,
        show=show,
        style_function=_emerging_style,
        highlight_function=lambda f: {"weight": 2.5, "color": "#222222"},
        tooltip=folium.GeoJsonTooltip(
            fields=["category", "hot", "trend"],
            aliases=["Emerging", "Months", "Trend of Gi* z"],
            localize=False,
            sticky=True,
        ),
        pane=STAT_PANE,
    )
    layer.add_to(fmap)
    return StatLayer(layer, legend)


def _column(frame: pd.DataFrame, name: str) -> list[Any]:
    return frame[name].tolist() if name in frame.columns else [None] * len(frame)


def _months_hot(row: Mapping[str, Any], n_months: int | None) -> str:
    hot, cold = num(row.get("n_months_hot")), num(row.get("n_months_cold"))
    of = f" of {n_months}" if n_months else ""
    parts = []
    if hot is not None:
        parts.append(f"hot in {int(hot)}{of}")
    if cold:
        parts.append(f"cold in {int(cold)}{of}")
    return "; ".join(parts) or "n/a"


def _cell_trend(z: Any, p: Any) -> str:
    zv = num(z)
    if zv is None:
        return "not tested"
    return f"z = {zv:.2f}, p = {fmt_p(p)} (Mann-Kendall)"


def _emerging_style(feature: dict[str, Any]) -> dict[str, Any]:
    style = EMERGING_STYLES.get(str(feature["properties"]["cat"]))
    colour = style.colour if style else UNKNOWN_CATEGORY_COLOUR
    out: dict[str, Any] = {
        "className": EMERGING_CLASS,
        "fillColor": colour,
        "color": colour,
        "weight": 1.2,
        "opacity": 0.9,
        "fillOpacity": 0.6,
    }
    if style is not None and not style.hot:
        out.update(fillOpacity=0.35, dashArray="3 3")
    return out


def _emerging_legend(cats: pd.Series, attrs: Mapping[str, Any], months: Sequence[Any]) -> str:
    counts = cats.str.lower().value_counts()
    parts = [f"<h4>{EMERGING_LAYER_NAME}</h4>"]
    if counts.empty:
        parts.append('<div class="hs-note">No cell shows a pattern over these months.</div>')
    order = [c for c in CATEGORIES if c in counts.index]
    order += sorted(c for c in counts.index if c not in EMERGING_STYLES)
    for group, title in ((True, "Hot"), (False, "Cold"), (None, "Other")):
        rows = [c for c in order if (EMERGING_STYLES[c].hot if c in EMERGING_STYLES else None) is group]
        if not rows:
            continue
        parts.append(f'<div class="hs-sub">{title}</div>')
        for c in rows:
            n = int(counts[c])
            style = EMERGING_STYLES.get(c)
            colour = style.colour if style else UNKNOWN_CATEGORY_COLOUR
            border = "" if style is None or style.hot else ";border-style:dashed;opacity:0.7"
            if style is not None:
                head, _, rest = style.meaning.partition(":")
                text = f"<b>{head}</b>:{rest}"
            else:
                text = f"<b>{html.escape(c[:1].upper() + c[1:])}</b>: category without a description"
            parts.append(
                f'<div class="hs-row"><span class="hs-sw" style="background:{colour}{border}"></span>'
                f"<span>{text} ({n:,} cell{'s' if n != 1 else ''})</span></div>"
            )
    cell_m = num(attrs.get("cell_size_m"))
    size = f"{fmt_number(cell_m, 0)} m hex cells" if cell_m is not None else "hex cells"
    span = ""
    if months:
        span = f" over {len(months)} month{'s' if len(months) != 1 else ''}"
        span += f" ({html.escape(str(months[0]))} to {html.escape(str(months[-1]))})"
    parts.append(
        f'<div class="hs-note">Space-time Gi* on {size}{span}: a cell is hot (cold) in a month at 90% '
        "confidence after FDR adjustment; trends by Mann-Kendall (p &le; 0.05). Cells with no pattern "
        "are not drawn.</div>"
    )
    return "".join(parts)


# --- geometry ---------------------------------------------------------------------------------------


def _cells_wgs84(cells: gpd.GeoDataFrame) -> np.ndarray:
    """Cell polygons in WGS84, coordinates rounded to :data:`GRID_DECIMALS` places."""
    wgs = cells.geometry.to_crs(WGS84) if cells.crs is not None else cells.geometry
    values = np.asarray(wgs.values, dtype=object)
    return np.asarray(
        shapely.transform(values, lambda c: np.round(c, GRID_DECIMALS)),
        dtype=object,
    )


# --- hotspot popup lines ----------------------------------------------------------------------------


def hot_share_text(share: Any) -> str:
    """``"85% of its area in significant hot cells (Gi*, 90%+)"``, or ``"not computed"``."""
    value = num(share)
    if value is None:
        return "not computed"
    return f"{pct(value)} of its area in significant hot cells (Gi*, 90%+)"


def trend_text(trend: Any, p: Any, slope: Any) -> str:
    """The Mann-Kendall result of a hotspot's monthly counts in words."""
    label = str(trend) if trend is not None and not _is_na(trend) else ""
    p_value = num(p)
    pv = ""
    if p_value is not None:
        relation = "= " if p_value >= 0.001 else ""  # fmt_p writes "&lt; 0.001" for tiny values
        pv = f"Mann-Kendall p {relation}{fmt_p(p_value)}"
    if label in ("increasing", "decreasing"):
        direction = "rising" if label == "increasing" else "falling"
        s = num(slope)
        if s is None or abs(s) < 0.05:
            return f"{direction}, by less than 0.1 incidents a month ({pv})"
        size = fmt_number(abs(s), 1 if abs(s) < 10 else 0)
        noun = "incident" if size == "1.0" else "incidents"
        return f"{direction} by about {size} {noun} a month ({pv})"
    if label == "no trend":
        return f"no clear trend ({pv})" if pv else "no clear trend"
    if label == "too short":
        return "too few months to test"
    return "n/a"


def time_profile_html(profile: Any, k: int | None = None) -> str:
    """Hour-of-day and weekday bars as plain HTML/CSS, or the reason they are missing, in italics.

    ``k``: disclosure threshold when small counts were withheld (``None`` in the profile): such a
    bar is drawn hatched at the height of k-1, an upper bound, and titled "fewer than k".
    """
    if not isinstance(profile, Mapping):
        return "<i>not available</i>"
    if not profile.get("available"):
        reason = profile.get("reason") or "no dates or times in the data"
        return f"<i>{html.escape(str(reason))}</i>"
    parts = ['<div class="hs-tp">']
    hours, days = profile.get("hours") or {}, profile.get("weekdays") or {}
    if hours.get("available") and hours.get("counts"):
        parts.append('<div class="hs-tp-h">Hour of day</div>')
        parts.append(_bars(hours.get("labels"), hours["counts"], "h", k))
        parts.append(
            '<div class="hs-axis hs-axis-h">'
            + "".join(f"<span>{h:02d}</span>" for h in range(0, 24, 6))
            + "</div>"
        )
        if hours.get("note"):
            parts.append(f'<div class="hs-tp-n"><i>{html.escape(str(hours["note"]))}</i></div>')
    else:
        reason = hours.get("reason") or "not available"
        parts.append(f'<div class="hs-tp-n">Hour of day: <i>{html.escape(str(reason))}</i></div>')
    if days.get("available") and days.get("counts"):
        labels = [str(v) for v in seq(days.get("labels"))] or [
            "Mon",
            "Tue",
            "Wed",
            "Thu",
            "Fri",
            "Sat",
            "Sun",
        ]
        parts.append('<div class="hs-tp-h">Day of week</div>')
        parts.append(_bars(labels, days["counts"], "d", k))
        parts.append(
            '<div class="hs-axis">' + "".join(f"<span>{html.escape(d[:3])}</span>" for d in labels) + "</div>"
        )
    else:
        reason = days.get("reason") or "not available"
        parts.append(f'<div class="hs-tp-n">Day of week: <i>{html.escape(str(reason))}</i></div>')
    if profile.get("reason"):
        parts.append(f'<div class="hs-tp-n"><i>{html.escape(str(profile["reason"]))}</i></div>')
    parts.append("</div>")
    return "".join(parts)


def _bars(labels: Any, counts: Sequence[Any], kind: str, k: int | None = None) -> str:
    values = [num(c) for c in counts]
    names = [str(v) for v in seq(labels)]
    names += [str(i) for i in range(len(names), len(values))]
    bound = float(k - 1) if k else 0.0  # a withheld count is at most k-1
    top = max([v for v in values if v is not None] + [bound if None in values else 0.0])
    bars = []
    for name, v in zip(names, values, strict=False):
        title = html.escape(name, quote=True)
        if v is None:
            height = round(100 * bound / top) if top else 0
            bars.append(
                f'<i class="hs-sup" style="height:{height}%" title="{title}: {count_text(None, k)}"></i>'
            )
            continue
        height = max(1, round(100 * v / top)) if v > 0 and top else 0
        bars.append(f'<i style="height:{height}%" title="{title}: {count_text(v)}"></i>')
    return f'<div class="hs-bars hs-bars-{kind}">{"".join(bars)}</div>'


def _is_na(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
