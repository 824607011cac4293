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
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

from hotspots.geo.analysis import AnalysisResult
from hotspots.geo.outputs.export import ATTRIBUTION
from hotspots.geo.stats.coverage import no_data_flags
from hotspots.maps.classes import class_breaks
from hotspots.maps.fmt import disclosure_k, district_words
from hotspots.maps.layers import latest_wards
from hotspots.maps.style import BOROUGH_STROKE, HOTSPOT_FILL, HOTSPOT_STROKE, NO_POPULATION_FILL, WARD_STROKE

FOCUS_COLOUR = "#d95f02"  # ColorBrewer Dark2 orange: the hotspot a briefing is about
FOCUS_EDGE = "#a63603"  # its outline
WITHHELD_HATCH = "////"  # wards whose small count disclosure control withheld
NO_DATA_HATCH = "xx"  # wards of districts no analysed source covers ("no data", not 0)
NICE_BARS_M = (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000)


def map_png(
    result: AnalysisResult,
    *,
    measure: Literal["count", "rate"] = "count",
    breaks: Literal["quantile", "natural"] = "quantile",
    classes: int = 5,
    title: str = "",
    size_in: tuple[float, float] = (16.0, 9.0),
    dpi: int = 100,
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
        Figure size in inches and resolution (default 16:9, 1600 x 900 pixels); the PNG is
        exactly this size.
    """
    fig = map_figure(
        result, measure=measure, breaks=breaks, classes=classes, title=title, size_in=size_in, dpi=dpi
    )
    return _png(fig, tight=False)  # the canvas is the slide: exactly ``size_in`` (16:9), not cropped


def map_figure(
    result: AnalysisResult,
    *,
    measure: Literal["count", "rate"] = "count",
    breaks: Literal["quantile", "natural"] = "quantile",
    classes: int = 5,
    title: str = "",
    size_in: tuple[float, float] = (16.0, 9.0),
    dpi: int = 100,
) -> Figure:
    """The matplotlib figure of :func:`map_png` (same parameters), with its legend on the one axes.

    Wards whose count disclosure control withheld (1 to k-1 incidents, shown as missing to
    viewers and councils) are drawn hatched grey and have their own legend entry, "fewer than
    k incidents"; so are wards whose rate was withheld for that reason.

    The figure is laid out on its whole canvas (title band on top, map on the left, legend on
    the right, attribution at the foot), so the PNG keeps the canvas's 16:9 shape.
    """
    fig = Figure(figsize=size_in, dpi=dpi)
    top = 0.90 if title else 0.97
    ax = fig.add_axes((0.01, 0.05, 0.64, top - 0.05))
    ax.set_aspect("equal")
    ax.set_axis_off()
    wards = latest_wards(result)
    handles: list[Patch] = []
    if len(wards):
        column = "rate_per_1000" if measure == "rate" and "rate_per_1000" in wards.columns else "count"
        nodata = no_data_flags(wards)  # no analysed source covers the ward's district: "no data", never 0
        values = np.where(nodata, np.nan, pd.to_numeric(wards[column], errors="coerce").to_numpy(dtype=float))
        counts = pd.to_numeric(wards["count"], errors="coerce").to_numpy(dtype=float)
        withheld = np.isnan(counts) & ~np.isfinite(values) & ~nodata  # suppressed: 1 to k-1 incidents
        cb = class_breaks(values, classes, breaks)
        fills = [cb.colour(v) if np.isfinite(v) else NO_POPULATION_FILL for v in values]
        shown = ~withheld & ~nodata
        if nodata.any():
            wards[nodata].plot(
                ax=ax, facecolor=NO_POPULATION_FILL, edgecolor=WARD_STROKE, linewidth=0.4, hatch=NO_DATA_HATCH
            )
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
        if nodata.any():
            n = int(nodata.sum())
            handles.append(
                Patch(
                    facecolor=NO_POPULATION_FILL,
                    edgecolor=WARD_STROKE,
                    hatch=NO_DATA_HATCH,
                    label=f"no data ({n} ward{'s' if n != 1 else ''}; not 0)",
                )
            )
        if column == "rate_per_1000" and (~np.isfinite(values) & ~withheld & ~nodata).any():
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
                label=f"hotspot ({len(hot)}; dashed: crosses a {district_words(result.meta)[0]} border)",
            )
        )
    if handles:
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(0.665, top),
            bbox_transform=fig.transFigure,
            fontsize=12,
            frameon=False,
        )
    _frame(ax, _bounds(result.boroughs if len(result.boroughs) else wards), pad_m=300)
    _furniture(ax, fig, "")
    if title:
        fig.text(0.01, 0.955, title, fontsize=15, fontweight="bold", ha="left", va="center", wrap=True)
        fig.texts[-1].set_gid("slide-title")
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
    size_in: tuple[float, float] = (7.0, 4.2),
    dpi: int = 130,
    pad_m: float = 150.0,
    min_width_m: float = 900.0,
    dots: bool = True,
    numbered: Collection[int] | None = None,
    interventions: gpd.GeoSeries | None = None,
) -> bytes:
    """A close-up PNG around ``focus`` (a hotspot or borough shape, EPSG:27700).

    See :func:`focus_figure` for the parameters.
    """
    fig = focus_figure(
        result,
        focus,
        highlight=highlight,
        title=title,
        size_in=size_in,
        dpi=dpi,
        pad_m=pad_m,
        min_width_m=min_width_m,
        dots=dots,
        numbered=numbered,
        interventions=interventions,
    )
    return _png(fig, tight=False)


def focus_figure(
    result: AnalysisResult,
    focus: shapely.Geometry,
    *,
    highlight: int | None = None,
    title: str = "",
    size_in: tuple[float, float] = (7.0, 4.2),
    dpi: int = 130,
    pad_m: float = 150.0,
    min_width_m: float = 900.0,
    dots: bool = True,
    numbered: Collection[int] | None = None,
    interventions: gpd.GeoSeries | None = None,
) -> Figure:
    """The figure of :func:`focus_png`: a map of ``focus`` filling the whole picture.

    The view is ``focus``'s bounds plus ``pad_m`` on every side, at least ``min_width_m``
    wide (street scale for one hotspot), widened to the picture's shape so nothing is cut.
    Drawn: ward outlines with names (wards of a district no analysed source covers hatched grey,
    "no data") (a name that would overlap another, or run off the
    picture, is left out), borough outlines, every hotspot in view outlined and numbered, the
    one ranked ``highlight`` outlined heavily in orange (its artist has gid
    ``"hotspot-outline"``), and, when ``dots`` and for exact views only, the located incidents
    as faint dots sized by how many share a location (a disclosure-protected result never
    gets them). ``numbered`` (when given) limits the numbers to those hotspots (a borough's own).
    ``interventions`` (shapes in EPSG:27700) are outlined in dashed purple over everything (their
    artist has gid ``"intervention-outline"``).
    """
    fig = Figure(figsize=size_in, dpi=dpi)
    foot = 0.1  # band for the attribution under the map
    ax = fig.add_axes((0.0, foot, 1.0, 1.0 - foot))
    ax.set_aspect("equal")
    ax.set_axis_off()
    aspect = (size_in[0]) / (size_in[1] * (1.0 - foot))
    box = _fit_box(shapely.bounds(focus), pad_m, min_width_m, aspect)
    view = shapely.box(*box)
    wards = latest_wards(result)
    if len(wards):
        wards.plot(ax=ax, facecolor="#f7f7f7", edgecolor=WARD_STROKE, linewidth=0.6, zorder=1)
        if no_data_flags(wards).any():
            wards[no_data_flags(wards)].plot(
                ax=ax,
                facecolor=NO_POPULATION_FILL,
                edgecolor=WARD_STROKE,
                linewidth=0.6,
                hatch=NO_DATA_HATCH,
                zorder=1,
            )  # no analysed source covers these wards' district: no data, not 0
    if dots and disclosure_k(result.meta) is None:  # dots sized by count: exact views only
        _incident_dots(ax, result, box)
    _boroughs(ax, result, labels=False)
    hot = result.hotspots
    labels: list[Text] = []
    if len(hot):
        in_view = hot[hot.geometry.intersects(view)]
        if len(in_view):
            labels += _hotspot_outlines(ax, in_view, highlight, numbered)
    if interventions is not None:
        _intervention_outlines(ax, interventions, view)
    _frame(ax, box, pad_m=0)
    if len(wards):
        labels += _ward_labels(ax, wards, view)
    _furniture(ax, fig, title)
    drop_overlapping(fig, labels)
    return fig


def monthly_png(
    monthly: dict[str, float | None],
    *,
    size_in: tuple[float, float] = (6.0, 1.7),
    missing: Collection[str] = (),
) -> bytes:
    """A small bar chart of monthly counts (``None`` bars, withheld counts, drawn hatched).

    Months in ``missing`` (not covered by the source: missing, not zero) are gaps: no bar,
    a small "no data" mark at the axis.
    """
    return _png(monthly_figure(monthly, size_in=size_in, missing=missing))


MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def month_label(month: str, first: bool) -> str:
    """``"2020-01"`` as ``"Jan\n2020"`` (the year under January and under the first bar), else ``"Feb"``."""
    year, _, mm = month.partition("-")
    name = MONTH_NAMES[int(mm) - 1] if mm.isdigit() and 1 <= int(mm) <= 12 else month
    return f"{name}\n{year}" if first or name == "Jan" else name


def monthly_figure(
    monthly: dict[str, float | None],
    *,
    size_in: tuple[float, float] = (6.0, 1.7),
    missing: Collection[str] = (),
) -> Figure:
    """The figure of :func:`monthly_png`: its month labels are thinned until none touch another."""
    fig = Figure(figsize=size_in, dpi=110)
    FigureCanvasAgg(fig)
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
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel("incidents", fontsize=7)
    ax.set_xlim(-0.6, len(months) - 0.4)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for step in (1, 2, 3, 4, 6, 12, 24, 36, 60, 120):
        ticks = list(range(0, len(months), step))
        ax.set_xticks(ticks, [month_label(months[i], i == 0) for i in ticks], fontsize=7)
        fig.tight_layout()
        if not overlaps([t.get_window_extent() for t in ax.get_xticklabels()]):
            break
    return fig


def drop_overlapping(fig: Figure, texts: list[Text], pad_px: float = 2.0) -> list[Text]:
    """Remove every text of ``texts`` that overlaps one kept before it or leaves its axes; the kept.

    ``texts`` are in priority order (the first is always kept when inside its axes).
    """
    if not texts:
        return []
    renderer = FigureCanvasAgg(fig).get_renderer()
    kept: list[Text] = []
    boxes: list[Bbox] = []
    for text in texts:
        box = text.get_window_extent(renderer).expanded(1.0, 1.0).padded(pad_px)
        axes = text.axes
        inside = axes is None or axes.bbox.contains(box.x0, box.y0) and axes.bbox.contains(box.x1, box.y1)
        if inside and not any(box.overlaps(b) for b in boxes):
            kept.append(text)
            boxes.append(box)
        else:
            text.remove()
    return kept


def overlaps(boxes: list[Bbox]) -> bool:
    """Whether any two of ``boxes`` (display units) overlap."""
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


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


def _hotspots(ax: Axes, hot: gpd.GeoDataFrame) -> None:
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
        s=2 + 2 * np.sqrt(counts),
        c="#252525",
        alpha=0.3,
        linewidths=0,
        zorder=2,
    )


def _fit_box(
    bounds: np.ndarray | tuple[float, float, float, float], pad_m: float, min_width_m: float, aspect: float
) -> tuple[float, float, float, float]:
    """``bounds`` padded by ``pad_m``, at least ``min_width_m`` wide, widened to ``aspect`` (w/h)."""
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    width = max(maxx - minx + 2 * pad_m, min_width_m)
    height = maxy - miny + 2 * pad_m
    if width / height < aspect:
        width = height * aspect
    else:
        height = width / aspect
    return (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)


HALO: list[patheffects.AbstractPathEffect] = [patheffects.withStroke(linewidth=2.5, foreground="white")]


def _ward_labels(ax: Axes, wards: gpd.GeoDataFrame, view: shapely.Geometry) -> list[Text]:
    """Ward names inside the view, the wards with most area in view first (gid ``"ward-label"``)."""
    placed = []
    for name, geom in zip(wards["ward_name"].astype(str), wards.geometry, strict=True):
        if geom is None or not geom.intersects(view):
            continue
        part = geom.intersection(view)
        if part.is_empty:
            continue
        placed.append((part.area, name, part.point_on_surface()))
    placed.sort(key=lambda item: -item[0])
    texts = []
    for _, name, p in placed:
        text = ax.text(
            p.x, p.y, name, fontsize=8, color="#333333", ha="center", va="center", zorder=6, clip_on=True
        )
        text.set_path_effects(HALO)
        text.set_gid("ward-label")
        texts.append(text)
    return texts


INTERVENTION_EDGE = "#6a3d9a"  # ColorBrewer Paired purple, as on the interactive map


def _intervention_outlines(ax: Axes, shapes: gpd.GeoSeries, view: shapely.Geometry) -> None:
    """Recorded interventions in view (EPSG:27700): dashed purple outlines, no fill."""
    seen = shapes[shapes.intersects(view)]
    if len(seen):
        seen.boundary.plot(ax=ax, color=INTERVENTION_EDGE, linewidth=2.0, linestyle=(0, (4, 2)), zorder=6)
        ax.collections[-1].set_gid("intervention-outline")


def _hotspot_outlines(
    ax: Axes, hot: gpd.GeoDataFrame, highlight: int | None, numbered: Collection[int] | None = None
) -> list[Text]:
    """Hotspots in view: a light fill and a clear outline, numbered; ``highlight`` heavy orange.

    Returns the number labels, ``highlight``'s first (gid ``"hotspot-label"``).
    """
    labels: list[Text] = []
    ids = hot["hotspot_id"].astype(int).to_numpy()
    others = hot[ids != (highlight if highlight is not None else -(10**9))]
    if len(others):
        cross = (
            others["cross_border"].astype(bool).to_numpy()
            if "cross_border" in others.columns
            else np.zeros(len(others), dtype=bool)
        )
        for dashed in (False, True):
            part = others[cross == dashed]
            if len(part):
                part.plot(ax=ax, facecolor=HOTSPOT_FILL, alpha=0.18, edgecolor="none", zorder=4)
                part.boundary.plot(
                    ax=ax, color=HOTSPOT_FILL, linewidth=1.6, linestyle="--" if dashed else "-", zorder=4
                )
        for rank, geom in zip(others["hotspot_id"].astype(int), others.geometry, strict=True):
            if numbered is not None and rank not in numbered:
                continue
            p = geom.point_on_surface()
            text = ax.text(
                p.x, p.y, f"#{rank}", fontsize=7, color="#08306b", ha="center", va="center", zorder=7
            )
            text.set_path_effects(HALO)
            text.set_gid("hotspot-label")
            labels.append(text)
    if highlight is not None:
        mine = hot[ids == int(highlight)]
        if len(mine):
            mine.plot(ax=ax, facecolor=FOCUS_COLOUR, alpha=0.22, edgecolor="none", zorder=5)
            mine.boundary.plot(ax=ax, color=FOCUS_EDGE, linewidth=3.0, zorder=5)
            ax.collections[-1].set_gid("hotspot-outline")
            p = mine.geometry.iloc[0].point_on_surface()
            text = ax.text(
                p.x,
                p.y,
                f"#{highlight}",
                fontsize=12,
                fontweight="bold",
                ha="center",
                va="center",
                color=FOCUS_EDGE,
                zorder=8,
            )
            text.set_path_effects(HALO)
            text.set_gid("hotspot-label")
            labels.insert(0, text)
    return labels


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


def _png(fig: Figure, tight: bool = True) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight" if tight else None, facecolor="white")
    return buffer.getvalue()
