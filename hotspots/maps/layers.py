"""The Folium layers of the hotspot map: wards (choropleth), boroughs and their names, hotspot
shapes with their popups and rank labels, context clusters, heat. Data text is escaped here."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

import folium
import folium.map
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.template import Template

from hotspots.crs import BNG, WGS84
from hotspots.geo.analysis import AnalysisResult
from hotspots.geo.outputs.export import feature_collection
from hotspots.geo.stats.coverage import no_data_flags
from hotspots.maps.classes import ClassBreaks, class_breaks
from hotspots.maps.fmt import area_text, count_text, disclosure_k, distinct_names, district_words
from hotspots.maps.fmt import escaped as _escaped
from hotspots.maps.fmt import num as _num
from hotspots.maps.fmt import pct as _pct
from hotspots.maps.fmt import seq as _seq
from hotspots.maps.heat import HeatSurface, fmt_density, heat_surface, transformer_for
from hotspots.maps.statistics import (
    hot_share_text,
    time_profile_html,
    trend_text,
)
from hotspots.maps.style import (
    BOROUGH_CLASS,
    BOROUGH_STROKE,
    CONTEXT_CLASS,
    HEAT_CLASS,
    HOTSPOT_CLASS,
    HOTSPOT_FILL,
    HOTSPOT_STROKE,
    LABEL_CLASS,
    NO_DATA_CLASS,
    NO_POPULATION_CLASS,
    NO_POPULATION_FILL,
    QUIET_STROKE,
    RANK_CLASS,
    TOP_CLASS,
    TOP_FILL,
    WARD_CLASS,
    WARD_STROKE,
    MapOptions,
)


@dataclass(frozen=True)
class WardLegend:
    """What the legend says about one boundary set's choropleth."""

    name: str
    breaks: ClassBreaks
    measure: str
    unknown_population: int
    withheld: int
    k: int | None
    has_rates: bool
    population_source: str | None
    no_data: int = 0
    """Wards of districts no analysed source has data for (drawn hatched, "no data")."""


def ward_set_order(result: AnalysisResult) -> list[str]:
    """Names of the boundary sets among the result's wards, in the analysis's order: the map
    draws one ward layer per set and shows the last (the latest) first."""
    wards = result.wards
    if wards.empty:
        return []
    names = [str(n) for n in result.meta.get("boundary_sets") or []]
    present = [str(n) for n in pd.unique(wards["boundary_set"].astype(str))]
    return [n for n in names if n in present] + [n for n in present if n not in names]


def latest_wards(result: AnalysisResult) -> gpd.GeoDataFrame:
    """The wards of the boundary set the map shows first (see :func:`ward_set_order`)."""
    order = ward_set_order(result)
    if not order:
        return result.wards
    return result.wards[result.wards["boundary_set"].astype(str) == order[-1]]


def add_ward_layers(fmap: folium.Map, result: AnalysisResult, options: MapOptions) -> list[WardLegend]:
    wards = result.wards
    order = ward_set_order(result)
    if not order:
        return []
    sources = result.meta.get("population_sources") or {}
    by_rate = options.measure == "rate"
    k = disclosure_k(result.meta)
    legends = []
    word = district_words(result.meta)[0]
    for i, name in enumerate(order):
        part = wards[wards["boundary_set"].astype(str) == name].reset_index(drop=True)
        counts = pd.to_numeric(part["count"], errors="coerce").to_numpy(dtype=float)
        withheld = np.isnan(counts)  # suppressed by disclosure control: 1 to k-1 incidents
        rates = (
            pd.to_numeric(part["rate_per_1000"], errors="coerce").to_numpy(dtype=float)
            if "rate_per_1000" in part.columns
            else np.full(len(part), np.nan)
        )
        population = (
            pd.to_numeric(part["population"], errors="coerce").to_numpy(dtype=float)
            if "population" in part.columns
            else np.full(len(part), np.nan)
        )
        nodata = no_data_flags(part)
        known = np.isfinite(rates) & ~nodata
        rate_withheld = ~known & withheld & (np.nan_to_num(population) > 0) & ~nodata
        shaded = np.where(nodata, np.nan, rates if by_rate else counts)  # no data is not 0
        breaks = class_breaks(shaded, options.classes, options.breaks)
        # A withheld count takes the lowest non-zero class (no break can lie between 1 and k-1);
        # a missing rate is hatched grey.
        low = breaks.colour(1.0)
        fills = [
            NO_POPULATION_FILL
            if nd
            else breaks.colour(v)
            if math.isfinite(v)
            else NO_POPULATION_FILL
            if by_rate
            else low
            for v, nd in zip(shaded.tolist(), nodata, strict=True)
        ]
        gi_labels = part["gi_label"] if "gi_label" in part.columns else pd.Series([None] * len(part))
        frame = gpd.GeoDataFrame(
            {
                "fid": np.arange(len(part)),
                "ward": _escaped(part["ward_name"]),
                "borough": _escaped(part["borough_name"]),
                "incidents": [
                    NO_DATA if nd else count_text(c, k) for c, nd in zip(counts, nodata, strict=True)
                ],
                "rate": [
                    NO_DATA if nd else _fmt_rate(r, p, bool(w), k)
                    for r, p, w, nd in zip(rates, population, withheld, nodata, strict=True)
                ],
                "gi": [g or "not computed" for g in _escaped(gi_labels)],
                "fill": fills,
                "nopop": [bool(by_rate and not has_rate) for has_rate in known],
                "nodata": nodata.tolist(),
            },
            geometry=simplify_coverage(part.geometry, options.simplify_m),
            crs=BNG,
        )
        data = feature_collection(frame, [c for c in frame.columns if c != "geometry"], id_column="fid")
        what = "incidents per 1,000 residents" if by_rate else "incidents"
        label = f"Wards: {what} ({html.escape(name)})" if len(order) > 1 else f"Wards: {what}"
        folium.GeoJson(
            data,
            name=label,
            show=i == len(order) - 1,
            style_function=_ward_style,
            highlight_function=lambda f: {"weight": 2.5, "color": "#222222", "fillOpacity": 0.7},
            tooltip=folium.GeoJsonTooltip(
                fields=["ward", "borough", "incidents", "rate", "gi"],
                aliases=["Ward", word.capitalize(), "Incidents", "Per 1,000 residents", "Gi* (wards)"],
                localize=False,
                sticky=True,
            ),
        ).add_to(fmap)
        source = sources.get(name) if isinstance(sources, dict) else None
        legends.append(
            WardLegend(
                name=name,
                breaks=breaks,
                measure=options.measure,
                unknown_population=int((~known & ~rate_withheld & ~nodata).sum()),
                withheld=int(rate_withheld.sum()),
                k=k,
                has_rates=bool(known.any()),
                population_source=str(source) if source else None,
                no_data=int(nodata.sum()),
            )
        )
    return legends


NO_DATA = "no data"
"""What a ward or district no analysed source covers shows instead of a count (never 0)."""


def _ward_style(feature: dict[str, Any]) -> dict[str, Any]:
    props = feature["properties"]
    if props.get("nodata"):
        return {
            "className": f"{WARD_CLASS} {NO_POPULATION_CLASS} {NO_DATA_CLASS}",  # hatched grey
            "fillColor": NO_POPULATION_FILL,
            "fillOpacity": 0.55,
            "color": WARD_STROKE,
            "weight": 0.8,
        }
    return {
        "className": f"{WARD_CLASS} {NO_POPULATION_CLASS}" if props.get("nopop") else WARD_CLASS,
        "fillColor": props["fill"],
        "fillOpacity": 0.55,
        "color": WARD_STROKE,
        "weight": 0.8,
    }


def add_borough_layer(fmap: folium.Map, result: AnalysisResult, options: MapOptions) -> None:
    boroughs = result.boroughs.reset_index(drop=True)
    if boroughs.empty:
        return
    frame = gpd.GeoDataFrame(
        {
            "fid": np.arange(len(boroughs)),
            "borough": _escaped(boroughs["borough_name"]),
            "incidents": [
                NO_DATA if nd else count_text(c, disclosure_k(result.meta))
                for c, nd in zip(boroughs["count"], no_data_flags(boroughs), strict=True)
            ],
        },
        geometry=simplify_coverage(boroughs.geometry, options.simplify_m),
        crs=BNG,
    )
    data = feature_collection(frame, ["fid", "borough", "incidents"], id_column="fid")
    word = district_words(result.meta)[0]
    folium.GeoJson(
        data,
        name=f"{word.capitalize()} boundaries",
        style_function=lambda f: {
            "className": BOROUGH_CLASS,
            "color": BOROUGH_STROKE,
            "weight": 4,
            "opacity": 0.9,
            "fill": False,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["borough", "incidents"],
            aliases=[word.capitalize(), "Incidents"],
            localize=False,
            sticky=True,
        ),
        pane="hs-top-pane",
    ).add_to(fmap)


def add_context_layer(fmap: folium.Map, result: AnalysisResult) -> None:
    """Clusters wholly outside the area, grey and dashed, as context: no counts, no ranks."""
    context = result.context_hotspots
    if context.empty:
        return
    frame = gpd.GeoDataFrame(
        {"fid": np.arange(len(context)), "label": "Cluster outside the area (not ranked or counted)"},
        geometry=context.geometry.simplify(2.0).to_numpy(),
        crs=BNG,
    )
    folium.GeoJson(
        feature_collection(frame, ["fid", "label"], id_column="fid"),
        name="Clusters outside the area",
        style_function=lambda f: {
            "className": CONTEXT_CLASS,
            "color": "#6b6b6b",
            "weight": 1,
            "dashArray": "3 3",
            "fillColor": "#9e9e9e",
            "fillOpacity": 0.15,
        },
        tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False, localize=False, sticky=True),
    ).add_to(fmap)


def add_borough_labels(fmap: folium.Map, result: AnalysisResult) -> None:
    """District names at a point inside each district: the map still reads with the base map off."""
    boroughs = result.boroughs
    if boroughs.empty:
        return
    group = folium.FeatureGroup(name=f"{district_words(result.meta)[0].capitalize()} names")
    points = gpd.GeoSeries(boroughs.geometry.values, crs=BNG).representative_point().to_crs(WGS84)
    for name, point in zip(boroughs["borough_name"].astype(str), points, strict=True):
        if point is None or point.is_empty:
            continue
        folium.Marker(
            [round(point.y, 6), round(point.x, 6)],
            icon=folium.DivIcon(
                html=f'<span class="{LABEL_CLASS}">{html.escape(name)}</span>',
                class_name="hs-label-icon",
                icon_size=(0, 0),
            ),
            interactive=False,
            keyboard=False,
        ).add_to(group)
    group.add_to(fmap)


def add_rank_labels(fmap: folium.Map, result: AnalysisResult, top: int) -> None:
    """The rank of each of the ``top`` strongest hotspots, in a disc beside the shape."""
    hot = result.hotspots
    hot = hot[hot["hotspot_id"].astype(int) <= top]
    if hot.empty:
        return
    group = folium.FeatureGroup(name=f"Numbers of the top {top}")
    points = gpd.GeoSeries(hot.geometry.values, crs=BNG).representative_point().to_crs(WGS84)
    for rank, point in zip(hot["hotspot_id"].astype(int), points, strict=True):
        folium.Marker(
            [round(point.y, 6), round(point.x, 6)],
            icon=folium.DivIcon(
                html=f'<span class="{RANK_CLASS}" data-rank="{rank}">{rank}</span>',
                class_name="hs-rank-icon",
                icon_size=(0, 0),
            ),
            interactive=False,
            keyboard=False,
            z_index_offset=1000 - rank,  # above the district names, the strongest on top
        ).add_to(group)
    group.add_to(fmap)
    _RankDeclutter().add_to(fmap)


class _RankDeclutter(MacroElement):
    """Hides a rank disc that would overlap a stronger hotspot's (a lower number) at the current
    zoom, so "1" is never covered by "7" on a phone; zooming in brings the hidden ones back."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        (function (map) {
            function declutter() {
                var discs = Array.prototype.slice.call(
                    map.getContainer().querySelectorAll(".hs-rank[data-rank]"));
                discs.sort(function (a, b) { return a.dataset.rank - b.dataset.rank; });
                var placed = [];
                discs.forEach(function (disc) {
                    disc.style.visibility = "";
                    var r = disc.getBoundingClientRect();
                    if (!r.width) { return; }
                    var hit = placed.some(function (p) {
                        return r.left < p.right + 2 && r.right > p.left - 2 &&
                            r.top < p.bottom + 2 && r.bottom > p.top - 2;
                    });
                    if (hit) { disc.style.visibility = "hidden"; } else { placed.push(r); }
                });
            }
            map.on("zoomend overlayadd", declutter);
            map.whenReady(function () { setTimeout(declutter, 0); });
        })({{ this._parent.get_name() }});
        {% endmacro %}"""
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "RankDeclutter"


def add_hotspot_layer(fmap: folium.Map, result: AnalysisResult, options: MapOptions) -> folium.GeoJson | None:
    hotspots = result.hotspots.reset_index(drop=True)
    n = len(hotspots)
    name = f"Hotspots ({n})" if n else "Hotspots (none found)"
    if n == 0:
        folium.FeatureGroup(name=name).add_to(fmap)
        return None
    buffer_m = float(result.meta.get("shape_buffer_m") or 30.0)
    tolerance = min(options.simplify_m, buffer_m / 5.0)
    k = disclosure_k(result.meta)
    words = district_words(result.meta)
    records = hotspots.drop(columns="geometry").to_dict("records")
    rows = [_hotspot_summary(row, n, k, words[1]) for row in records]
    for row in rows:
        row["top"] = bool(options.top) and row["fid"] <= options.top
    frame = gpd.GeoDataFrame(
        pd.DataFrame(rows), geometry=_simplify_each(hotspots.geometry, tolerance), crs=BNG
    )
    props = [c for c in frame.columns if c != "geometry"]
    data = feature_collection(frame, props, id_column="fid")
    fields = [c for c in props if c not in ("fid", "cross", "top")]
    labels = {**HOTSPOT_LABELS, "boroughs": words[1].capitalize()}
    aliases = [labels[c] for c in fields]
    layer = folium.GeoJson(
        data,
        name=name,
        style_function=_hotspot_style if options.top else _hotspot_style_plain,
        highlight_function=lambda f: {"weight": 4, "fillOpacity": 0.55},
        tooltip=folium.GeoJsonTooltip(fields=["hotspot"], labels=False, localize=False, sticky=True),
        popup=folium.GeoJsonPopup(
            fields=fields,
            aliases=aliases,
            localize=False,
            max_width=360,
            autoPanPaddingTopLeft=[56, 12],
            autoPanPaddingBottomRight=[12, 40],
        ),
        pane="hs-top-pane",
    )
    layer.add_to(fmap)
    return layer


HOTSPOT_LABELS = {
    "hotspot": "Hotspot",
    "incidents": "Incidents",
    "area": "Area",
    "density": "Density",
    "pai": "PAI",
    "hot_share": "Gi*",
    "trend": "Trend",
    "wards": "Wards",
    "boroughs": "Boroughs",
    "cross_border": "Cross-border",
    "categories": "Top categories",
    "months": "First / last month",
    "peak": "Peak month",
    "profile": "When",
}


def _hotspot_summary(
    row: dict[str, Any], n_hotspots: int, k: int | None = None, districts: str = "districts"
) -> dict[str, Any]:
    """Escaped display strings for one hotspot's popup (keys of :data:`HOTSPOT_LABELS`).

    ``k``: disclosure threshold of a suppressed result (counts withheld show as "fewer than k");
    ``districts``: the area's plural word for its districts ("boroughs", "districts").
    """
    rank = int(row["hotspot_id"])
    area = _num(row.get("area_m2"))
    locations = _num(row.get("locations"))
    cats = [
        f"{html.escape(str(c.get('crime_type')))} ({count_text(c.get('count'), k)})"
        for c in _seq(row.get("top_categories"))
        if isinstance(c, dict)
    ]
    monthly = row.get("monthly_counts")
    peak = row.get("peak_month")
    if not isinstance(monthly, dict):
        monthly = {}
    peak_n = monthly.get(peak)
    cross = bool(row.get("cross_border"))
    outside = bool(row.get("extends_outside_area"))
    boroughs = ", ".join(html.escape(str(b)) for b in _seq(row.get("boroughs"))) or "none"
    if outside:
        boroughs += f" (and outside the mapped {districts})"
    where = f", {int(locations):,} distinct locations" if locations is not None else ""
    # Shares, PAI and Gi* are computed within the study area; a hotspot wholly outside it has none.
    beyond = outside and not _num(row.get("share_of_area"))
    shares = (
        f"{_pct(row.get('share_of_incidents'))} of located incidents in the study area"
        if not beyond
        else "outside the study area"
    )
    return {
        "fid": rank,
        "cross": cross,
        "hotspot": f"#{rank} of {n_hotspots}",
        "incidents": f"{count_text(row.get('count'), k)} ({shares}{where})",
        "area": (
            f"{area_text(area)} ("
            + (f"{_pct(row.get('share_of_area'))} of the study area" if not beyond else "outside it")
            + ")"
            if area is not None
            else "n/a"
        ),
        "density": fmt_density(_num(row.get("density_per_km2"))),
        "pai": _fmt_pai(_num(row.get("pai"))) if not beyond else "n/a (outside the study area)",
        "hot_share": hot_share_text(row.get("hot_share"))
        if not beyond
        else "not tested (outside the study area)",
        "trend": trend_text(row.get("trend"), row.get("trend_p"), row.get("slope_per_month")),
        "wards": ", ".join(html.escape(w) for w in distinct_names(row.get("wards"))) or "none",
        "boroughs": boroughs,
        "cross_border": "yes" if cross else "no",
        "categories": "; ".join(cats) or "n/a",
        "months": f"{html.escape(str(row.get('first_month')))} / {html.escape(str(row.get('last_month')))}",
        "peak": (
            html.escape(str(peak)) + (f" ({count_text(peak_n, k)} incidents)" if peak in monthly else "")
            if peak is not None
            else "n/a"
        ),
        "profile": time_profile_html(row.get("time_profile"), k),
    }


def _fmt_pai(pai: float | None) -> str:
    if pai is None:
        return "n/a"
    return f"{pai:,.{1 if pai < 100 else 0}f} (share of incidents / share of area)"


def _hotspot_style(feature: dict[str, Any]) -> dict[str, Any]:
    """The strongest hotspots dark blue, filled, thick outline; the rest thin and pale."""
    props = feature["properties"]
    top = bool(props.get("top"))
    style: dict[str, Any] = {
        "className": f"{HOTSPOT_CLASS} {TOP_CLASS}" if top else HOTSPOT_CLASS,
        "color": "#000000" if top else QUIET_STROKE,
        "weight": 3 if top else 1,
        "opacity": 1.0 if top else 0.8,
        "fillColor": TOP_FILL if top else HOTSPOT_FILL,
        "fillOpacity": 0.75 if top else 0.18,
    }
    if props.get("cross"):
        style["dashArray"] = "6 4" if top else "3 3"
    return style


def _hotspot_style_plain(feature: dict[str, Any]) -> dict[str, Any]:
    style: dict[str, Any] = {
        "className": HOTSPOT_CLASS,
        "color": HOTSPOT_STROKE,
        "weight": 2.5,
        "opacity": 1.0,
        "fillColor": HOTSPOT_FILL,
        "fillOpacity": 0.35,
    }
    if feature["properties"].get("cross"):
        style["dashArray"] = "6 4"
    return style


def add_heat_layer(fmap: folium.Map, result: AnalysisResult, options: MapOptions) -> HeatSurface | None:
    inc = result.incidents
    if inc.empty or "x" not in inc.columns:
        return None
    located = inc["has_location"].to_numpy(dtype=bool) if "has_location" in inc.columns else slice(None)
    extent = _extent(result)
    if extent is None:
        return None
    surface = heat_surface(
        inc["x"].to_numpy(dtype=float)[located],
        inc["y"].to_numpy(dtype=float)[located],
        extent,
        bandwidth_m=options.heat_bandwidth_m,
    )
    if surface is None:
        return None
    folium.raster_layers.ImageOverlay(
        surface.rgba,
        bounds=surface.bounds,
        origin="upper",
        mercator_project=False,
        pixelated=False,
        name="Heat (kernel density)",
        show=options.show_heat,
        class_name=HEAT_CLASS,
        pane="hs-heat-pane",
        interactive=False,
    ).add_to(fmap)
    return surface


def simplify_coverage(geoms: gpd.GeoSeries, tolerance: float) -> np.ndarray:
    """Simplify polygons that tile an area, keeping shared edges shared (no gaps or slivers)."""
    values = np.asarray(geoms.values, dtype=object)
    if tolerance <= 0 or len(values) == 0:
        return values
    try:
        return np.asarray(shapely.coverage_simplify(values, tolerance, simplify_boundary=True), dtype=object)
    except shapely.errors.GEOSException:  # not a valid coverage (e.g. overlapping uploads)
        return _simplify_each(geoms, tolerance)


def _simplify_each(geoms: gpd.GeoSeries, tolerance: float) -> np.ndarray:
    values = np.asarray(geoms.values, dtype=object)
    if tolerance <= 0:
        return values
    return np.asarray(shapely.simplify(values, tolerance, preserve_topology=True), dtype=object)


def _extent(result: AnalysisResult) -> tuple[float, float, float, float] | None:
    frames = [f for f in (result.boroughs, result.wards) if len(f)]
    if not frames:
        return None
    boxes = np.array([f.total_bounds for f in frames])
    if not np.isfinite(boxes).all():
        return None
    return (
        float(boxes[:, 0].min()),
        float(boxes[:, 1].min()),
        float(boxes[:, 2].max()),
        float(boxes[:, 3].max()),
    )


def latlon_bounds(frame: gpd.GeoDataFrame) -> list[list[float]] | None:
    """``[[lat_min, lon_min], [lat_max, lon_max]]`` (WGS84, 6 decimals) of an EPSG:27700 frame."""
    if frame.empty:
        return None
    minx, miny, maxx, maxy = frame.total_bounds
    if not np.isfinite([minx, miny, maxx, maxy]).all():
        return None
    lon0, lat0, lon1, lat1 = transformer_for(BNG, WGS84).transform_bounds(minx, miny, maxx, maxy)
    return [[round(lat0, 6), round(lon0, 6)], [round(lat1, 6), round(lon1, 6)]]


def map_centre(result: AnalysisResult) -> list[float]:
    frame = result.boroughs if len(result.boroughs) else result.wards
    bounds = latlon_bounds(frame)
    if bounds is None:
        return [54.0, -2.0]  # Great Britain
    return [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]


def _fmt_rate(rate: Any, population: Any, withheld: bool = False, k: int | None = None) -> str:
    r, p = _num(rate), _num(population)
    if r is None:
        if withheld and p:
            return f"withheld (fewer than {k} incidents)" if k else "withheld"
        return "no resident population" if p == 0 else "population unknown"
    return f"{r:,.2f}" + (f" (population {p:,.0f})" if p is not None else "")
