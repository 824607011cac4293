"""Static map images (PNG) for slides and printed briefings, drawn with matplotlib.

The interactive map needs a browser; a briefing handed to a patrol team or a
slide in a partnership meeting needs a picture. These images are drawn in
British National Grid (EPSG:27700, metres, so a scale bar is exact) with no
base map tiles: ward outlines, borough outlines and names, hotspot shapes,
a scale bar, a north arrow and the data attribution. Colours are the
ColorBrewer palettes of the interactive map.
"""

from __future__ import annotations

import io
from collections.abc import Collection
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

from hotspots.geo.analysis import AnalysisResult
from hotspots.geo.export import ATTRIBUTION
from hotspots.maps.fmt import disclosure_k
from hotspots.maps.render import (
    BOROUGH_STROKE,
    HOTSPOT_FILL,
    HOTSPOT_STROKE,
    NO_POPULATION_FILL,
    WARD_STROKE,
    class_breaks,
    latest_wards,
)

FOCUS_COLOUR = "#d95f02"  # ColorBrewer Dark2 orange: the hotspot a briefing is about
WITHHELD_HATCH = "////"  # wards whose small count disclosure control withheld
NICE_BARS_M = (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000)


def map_png(
    result: AnalysisResult,
    *,
    measure: Literal["count", "rate"] = "count",
    breaks: Literal["quantile", "natural"] = "quantile",
    classes: int = 5,
    title: str = "",
    size_in: tuple[float, float] = (13.33, 7.5),
    dpi: int = 120,
) -> bytes:
    """The whole analysis as a slide-sized PNG: ward choropleth, boroughs, hotspots, legend.

    Parameters
    ----------
    result:
        Output of :func:`hotspots.geo.analysis.analyse` (EPSG:27700).
    measure, breaks, classes:
        Ward shading as on the interactive map (see :class:`hotspots.maps.MapOptions`).
    title:
        Plain text drawn above the map.
    size_in, dpi:
        Figure size in inches (default 16:9) and resolution.
    """
    fig = map_figure(
        result, measure=measure, breaks=breaks, classes=classes, title=title, size_in=size_in, dpi=dpi
    )
    return _png(fig)


def map_figure(
    result: AnalysisResult,
    *,
    measure: Literal["count", "rate"] = "count",
    breaks: Literal["quantile", "natural"] = "quantile",
    classes: int = 5,
    title: str = "",
    size_in: tuple[float, float] = (13.33, 7.5),
    dpi: int = 120,
) -> Figure:
    """The matplotlib figure of :func:`map_png` (same parameters), with its legend on the one axes.

    Wards whose count disclosure control withheld (1 to k-1 incidents, shown as missing to
    viewers and councils) are drawn hatched grey and have their own legend entry, "fewer than
    k incidents"; so are wards whose rate was withheld for that reason.
    """
    fig, ax = _figure(size_in, dpi)
    wards = latest_wards(result)
    handles: list[Patch] = []
    if len(wards):
        column = "rate_per_1000" if measure == "rate" and "rate_per_1000" in wards.columns else "count"
        values = pd.to_numeric(wards[column], errors="coerce").to_numpy(dtype=float)
        counts = pd.to_numeric(wards["count"], errors="coerce").to_numpy(dtype=float)
        withheld = np.isnan(counts) & ~np.isfinite(values)  # suppressed: 1 to k-1 incidents
        cb = class_breaks(values, classes, breaks)
        fills = [cb.colour(v) if np.isfinite(v) else NO_POPULATION_FILL for v in values]
        shown = ~withheld
        if shown.any():
            wards[shown].plot(
                ax=ax,
                color=[f for f, s in zip(fills, shown, strict=True) if s],
                edgecolor=WARD_STROKE,
                linewidth=0.4,
                alpha=0.85,
            )
        if withheld.any():
            wards[withheld].plot(
                ax=ax,
                facecolor=NO_POPULATION_FILL,
                edgecolor=WARD_STROKE,
                linewidth=0.4,
                hatch=WITHHELD_HATCH,
            )
        what = "incidents per 1,000 residents" if column == "rate_per_1000" else "incidents"
        handles += [
            Patch(facecolor=c, edgecolor=WARD_STROKE, label=f"{label} {what}")
            for c, label in zip(cb.colours, cb.labels, strict=True)
        ]
        if column == "rate_per_1000" and (~np.isfinite(values) & ~withheld).any():
            handles.append(Patch(facecolor=NO_POPULATION_FILL, edgecolor=WARD_STROKE, label="no rate"))
        if withheld.any():
            handles.append(
                Patch(
                    facecolor=NO_POPULATION_FILL,
                    edgecolor=WARD_STROKE,
                    hatch=WITHHELD_HATCH,
                    label=withheld_label(disclosure_k(result.meta), int(withheld.sum())),
                )
            )
    _boroughs(ax, result, labels=True)
    hot = result.hotspots
    if len(hot):
        _hotspots(ax, hot)
        handles.append(
            Patch(
                facecolor=HOTSPOT_FILL,
                alpha=0.6,
                edgecolor=HOTSPOT_STROKE,
                label=f"hotspot ({len(hot)}; dashed: crosses a borough border)",
            )
        )
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    _frame(ax, _bounds(result.boroughs if len(result.boroughs) else wards), pad_m=300)
    _furniture(ax, fig, title)
    return fig


def withheld_label(k: int | None, wards: int) -> str:
    """The legend entry of wards whose small count was withheld (disclosure control)."""
    fewer = f"fewer than {k} incidents" if k else "small count"
    return f"{fewer}: not shown ({wards:,} ward{'s' if wards != 1 else ''})"


def focus_png(
    result: AnalysisResult,
    focus: shapely.Geometry,
    *,
    highlight: int | None = None,
    title: str = "",
    size_in: tuple[float, float] = (7.0, 5.0),
    dpi: int = 130,
    pad_m: float = 250.0,
) -> bytes:
    """A close-up PNG around ``focus`` (a hotspot or borough shape, EPSG:27700).

    Draws ward outlines with names, borough outlines, every hotspot in view
    (the one ranked ``highlight`` in orange and labelled) and, for exact views only, the
    located incidents as dots sized by how many share a location (a disclosure-protected
    result gets none).
    """
    fig, ax = _figure(size_in, dpi)
    minx, miny, maxx, maxy = shapely.bounds(focus)
    box = (minx - pad_m, miny - pad_m, maxx + pad_m, maxy + pad_m)
    wards = latest_wards(result)
    if len(wards):
        wards.plot(ax=ax, facecolor="#f7f7f7", edgecolor=WARD_STROKE, linewidth=0.6)
        view = shapely.box(*box)
        for name, geom in zip(wards["ward_name"].astype(str), wards.geometry, strict=True):
            if geom is not None and geom.intersects(view):
                p = geom.intersection(view).point_on_surface()
                ax.annotate(name, (p.x, p.y), fontsize=7, color="#555555", ha="center", va="center")
    if disclosure_k(result.meta) is None:  # dots sized by count: exact views only
        _incident_dots(ax, result, box)
    _boroughs(ax, result, labels=False)
    hot = result.hotspots
    if len(hot):
        _hotspots(ax, hot, highlight)
    _frame(ax, box, pad_m=0)
    _furniture(ax, fig, title)
    return _png(fig)


def monthly_png(
    monthly: dict[str, float | None],
    *,
    size_in: tuple[float, float] = (6.0, 1.8),
    missing: Collection[str] = (),
) -> bytes:
    """A small bar chart of monthly counts (``None`` bars, withheld counts, drawn hatched).

    Months in ``missing`` (not covered by the source: missing, not zero) are gaps: no bar,
    a small "no data" mark at the axis.
    """
    fig = Figure(figsize=size_in, dpi=110)
    ax = fig.add_subplot()
    months = sorted(monthly)
    gaps = set(missing)
    values = [monthly[m] for m in months]
    heights = [v if v is not None else 0.0 for v in values]
    bars = ax.bar(range(len(months)), heights, color=HOTSPOT_FILL, width=0.85)
    for i, (bar, v) in enumerate(zip(bars, values, strict=True)):
        if months[i] in gaps:
            bar.set_visible(False)
            ax.annotate(
                "no data",
                (i, 0),
                xytext=(0, 2),
                textcoords="offset points",
                rotation=90,
                ha="center",
                va="bottom",
                fontsize=5,
                color="#666666",
            )
        elif v is None:
            bar.set_hatch("///")
            bar.set_facecolor("#cccccc")
    step = max(1, len(months) // 8)
    ax.set_xticks(range(0, len(months), step), [months[i] for i in range(0, len(months), step)], fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel("incidents", fontsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return _png(fig)


# --- drawing helpers ----------------------------------------------------------------------------------


def _figure(size_in: tuple[float, float], dpi: int) -> tuple[Figure, Axes]:
    fig = Figure(figsize=size_in, dpi=dpi)
    ax = fig.add_subplot()
    ax.set_aspect("equal")
    ax.set_axis_off()
    return fig, ax


def _boroughs(ax: Axes, result: AnalysisResult, labels: bool) -> None:
    boroughs = result.boroughs
    if boroughs.empty:
        return
    boroughs.boundary.plot(ax=ax, color=BOROUGH_STROKE, linewidth=2.2)
    if labels:
        for name, geom in zip(boroughs["borough_name"].astype(str), boroughs.geometry, strict=True):
            p = geom.point_on_surface()
            ax.annotate(
                name,
                (p.x, p.y),
                fontsize=12,
                fontweight="bold",
                ha="center",
                va="center",
                color="#222222",
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.7, "lw": 0},
            )


def _hotspots(ax: Axes, hot: gpd.GeoDataFrame, highlight: int | None = None) -> None:
    cross = (
        hot["cross_border"].astype(bool).to_numpy() if "cross_border" in hot.columns else np.zeros(len(hot))
    )
    for dashed in (False, True):
        part = hot[cross == dashed]
        if len(part):
            part.plot(
                ax=ax,
                facecolor=HOTSPOT_FILL,
                alpha=0.45,
                edgecolor=HOTSPOT_STROKE,
                linewidth=1.2,
                linestyle="--" if dashed else "-",
            )
    if highlight is not None:
        mine = hot[hot["hotspot_id"].astype(int) == int(highlight)]
        if len(mine):
            mine.plot(ax=ax, facecolor=FOCUS_COLOUR, alpha=0.55, edgecolor="#7f2704", linewidth=2.0)
            p = mine.geometry.iloc[0].point_on_surface()
            ax.annotate(
                f"#{highlight}",
                (p.x, p.y),
                fontsize=11,
                fontweight="bold",
                ha="center",
                va="center",
                color="white",
            )


def _incident_dots(ax: Axes, result: AnalysisResult, box: tuple[float, float, float, float]) -> None:
    inc = result.incidents
    if inc.empty or "x" not in inc.columns:
        return
    x = inc["x"].to_numpy(dtype=float)
    y = inc["y"].to_numpy(dtype=float)
    inside = np.isfinite(x) & np.isfinite(y) & (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
    if not inside.any():
        return
    locations, counts = np.unique(x[inside] + 1j * y[inside], return_counts=True)
    ax.scatter(
        locations.real,
        locations.imag,
        s=4 + 6 * np.sqrt(counts),
        c="#252525",
        alpha=0.55,
        linewidths=0,
        zorder=3,
    )


def _bounds(frame: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    if frame is None or frame.empty:
        return (0.0, 0.0, 1000.0, 1000.0)
    minx, miny, maxx, maxy = (float(v) for v in frame.total_bounds)
    return (minx, miny, maxx, maxy)


def _frame(ax: Axes, box: tuple[float, float, float, float], pad_m: float) -> None:
    minx, miny, maxx, maxy = box
    ax.set_xlim(minx - pad_m, maxx + pad_m)
    ax.set_ylim(miny - pad_m, maxy + pad_m)


def _furniture(ax: Axes, fig: Figure, title: str) -> None:
    """Scale bar, north arrow, attribution and title."""
    width_m = ax.get_xlim()[1] - ax.get_xlim()[0]
    bar = max([b for b in NICE_BARS_M if b <= width_m / 5] or [NICE_BARS_M[0]])
    label = f"{bar / 1000:g} km" if bar >= 1000 else f"{bar} m"
    ax.add_artist(
        AnchoredSizeBar(
            ax.transData,
            bar,
            label,
            loc="lower right",
            pad=0.5,
            frameon=True,
            size_vertical=width_m / 400,
            fontproperties={"size": 8},
        )
    )
    ax.annotate(
        "N",
        xy=(0.97, 0.95),
        xytext=(0.97, 0.86),
        xycoords="axes fraction",
        ha="center",
        fontsize=10,
        fontweight="bold",
        arrowprops={"arrowstyle": "-|>", "color": "#222222"},
    )
    fig.text(0.01, 0.01, ATTRIBUTION, fontsize=6.5, color="#555555", ha="left", va="bottom", wrap=True)
    if title:
        ax.set_title(title, fontsize=12, loc="left")


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", facecolor="white")
    return buffer.getvalue()
