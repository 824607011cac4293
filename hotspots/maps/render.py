"""Folium rendering of an analysis: ward choropleth, borough outlines, hotspots, heat, legend.

The statistical layers (Gi* significance, emerging hot spots) and the
statistical lines of the hotspot popup are built in :mod:`hotspots.maps.statistics`.

Geometry arrives in British National Grid (EPSG:27700); it is simplified there
(in metres) for display, then written as RFC 7946 GeoJSON (WGS84, 6 decimal
places) through :mod:`hotspots.geo.outputs.export`. The page links only Leaflet, served
by our own app from an installed package (:mod:`hotspots.maps.assets`): no
jQuery, Bootstrap or any other CDN asset that folium would add by default.

Every text that comes from data (ward, borough and boundary set names, crime
types, titles) is HTML-escaped here, in Python, before it reaches a tooltip,
popup, layer name or legend, because Leaflet and folium insert those strings
with ``innerHTML``. Everything embedded in the inline ``<script>`` goes through
JSON encoding that escapes ``<``, ``>``, ``&`` and ``'``, so data cannot close
the script element.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal
from urllib.parse import urlparse

import folium
import folium.map
import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import shapely
from branca.element import Figure, MacroElement
from folium.template import Template
from pyproj import Transformer
from scipy.ndimage import gaussian_filter

from hotspots.crs import BNG, WGS84
from hotspots.errors import InvalidInput
from hotspots.geo.analysis import AnalysisResult
from hotspots.geo.outputs.export import ATTRIBUTION, feature_collection
from hotspots.maps.assets import LEAFLET_CSS, LEAFLET_JS, asset_url, inline_assets
from hotspots.maps.fmt import area_text, count_text, disclosure_k
from hotspots.maps.fmt import escaped as _escaped
from hotspots.maps.fmt import fmt_number as _fmt_number
from hotspots.maps.fmt import num as _num
from hotspots.maps.fmt import pct as _pct
from hotspots.maps.fmt import seq as _seq
from hotspots.maps.panel import method_in_words as method_text
from hotspots.maps.statistics import (
    EMERGING_LAYER_NAME,
    GI_LAYER_NAME,
    STAT_PANE,
    StatLayer,
    add_emerging_layer,
    add_gi_layer,
    hot_share_text,
    time_profile_html,
    trend_text,
)

WEB_MERCATOR = 3857

WARD_CLASS = "hs-ward"
BOROUGH_CLASS = "hs-borough"
HOTSPOT_CLASS = "hs-hotspot"
HEAT_CLASS = "hs-heat"
LEGEND_CLASS = "hs-legend"

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_COPYRIGHT = "https://www.openstreetmap.org/copyright"
OGL_LICENCE = "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"
ATTRIBUTION_LINKS = frozenset({OSM_COPYRIGHT, OGL_LICENCE})
"""Every http(s) URL a page may contain besides the tile template: attribution link targets."""

DATA_ATTRIBUTION_HTML = (
    "Crime data: police.uk; contains OS data and National Statistics data "
    "&copy; Crown copyright and database right; "
    f'<a href="{OGL_LICENCE}" target="_blank" rel="noopener">OGL v3.0</a>'
)
OSM_ATTRIBUTION_HTML = (
    f'&copy; <a href="{OSM_COPYRIGHT}" target="_blank" rel="noopener">OpenStreetMap</a> contributors'
)
NO_TILES_BACKGROUND = "#eef0f2"

# ColorBrewer YlOrRd (sequential, colour-blind safe), by number of classes.
YLORRD: dict[int, list[str]] = {
    1: ["#fd8d3c"],
    2: ["#fecc5c", "#e31a1c"],
    3: ["#ffeda0", "#feb24c", "#f03b20"],
    4: ["#ffffb2", "#fecc5c", "#fd8d3c", "#e31a1c"],
    5: ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"],
    6: ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"],
    7: ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"],
}
# Heat ramp: ColorBrewer Purples (single hue), drawn over the ward colours with rising opacity.
HEAT_STOPS: list[tuple[float, tuple[int, int, int]]] = [
    (0.0, (188, 189, 220)),
    (0.5, (117, 107, 177)),
    (1.0, (63, 0, 125)),
]
HEAT_LEVELS = 32
HEAT_MAX_ALPHA = 190
HEAT_MIN_SHOWN = 0.03  # share of the colour scale below which the heat layer is transparent

HOTSPOT_STROKE = "#111111"
HOTSPOT_FILL = "#1f78b4"
BOROUGH_STROKE = "#3a3a3a"
WARD_STROKE = "#7a7a7a"
NO_POPULATION_CLASS = "hs-nopop"
NO_POPULATION_FILL = "#cccccc"  # under the hatch pattern, and where SVG patterns are not drawn
MEASURES = ("count", "rate")
BREAKS = ("quantile", "natural")
LABEL_CLASS = "hs-label"


@dataclass
class MapOptions:
    """How to draw the map page.

    Attributes
    ----------
    tiles:
        ``"openstreetmap"``, ``"none"`` (no base map: for offline use) or an XYZ
        URL template such as ``https://tiles.example.gov.uk/{z}/{x}/{y}.png``.
    tiles_attribution:
        Plain-text attribution for a custom tile URL (escaped, not HTML).
    static_prefix:
        URL prefix under which the app serves :data:`hotspots.maps.assets.ASSET_DIRS`.
    title:
        Page and map title (plain text; escaped).
    heat:
        Whether to add the kernel density (heat) layer.
    simplify_m:
        Display simplification tolerance in metres for ward and borough
        polygons, applied in EPSG:27700 before reprojection. Hotspot polygons
        use at most a fifth of their shape buffer. 0 turns it off.
    heat_bandwidth_m:
        Standard deviation of the Gaussian kernel of the heat layer, metres.
    classes:
        Number of quantile classes of the ward choropleth (1 to 7).
    breaks:
        How the ward classes are cut: ``"quantile"`` (about the same number of
        wards in each class; the default, easy to read as "top fifth") or
        ``"natural"`` (Fisher-Jenks natural breaks, which keep similar values
        together and show outliers; from ``mapclassify``).
    show_title:
        Draw the title box over the map (off when a page around the map
        already shows it).
    measure:
        What shades the wards: ``"count"`` (incidents) or ``"rate"``
        (incidents per 1,000 residents). A ward whose population is unknown
        has no rate: in rate mode it is drawn hatched grey and its tooltip
        says "population unknown" (never 0). The legend names the population
        source and year.
    significance:
        Whether to add the "Significance (Gi*)" layer: the hex cells of
        ``result.gi_grid`` that are significant hot or cold spots
        (``gi_bin != 0``), in ColorBrewer RdBu. It is off until ticked in the
        layer list, except when DBSCAN found no hotspot: then it is shown,
        so the map still says where incidents cluster significantly. The
        "Emerging hot spots" layer (when cells are passed to
        :func:`build_map`) is always off until ticked. The legend section of
        each follows its layer.
    show_heat:
        Whether the heat layer starts shown (it is in the layer list either way).
    show_significance:
        Whether the significance layer starts shown (also shown when no hotspot was found).
    top:
        Draw the ``top`` strongest hotspots so they stand out (filled, thick outline, their
        rank on the map) and the rest quieter. 0: every hotspot alike.
    legend_open:
        Whether the legend starts unfolded (the app page starts it folded, so it never
        hides a hotspot).
    data_credit:
        Plain text naming every source of the incidents shown (escaped), in place of
        "police.uk" in the map's attribution; ``None``: police.uk.
    """

    tiles: str = "openstreetmap"
    tiles_attribution: str | None = None
    static_prefix: str = "/static"
    title: str = "Crime and harm hotspots"
    heat: bool = True
    simplify_m: float = 5.0
    heat_bandwidth_m: float = 150.0
    classes: int = 5
    breaks: Literal["quantile", "natural"] = "quantile"
    show_title: bool = True
    measure: Literal["count", "rate"] = "count"
    significance: bool = True
    show_heat: bool = True
    show_significance: bool = False
    top: int = 0
    legend_open: bool = True
    data_credit: str | None = None

    def validate(self) -> None:
        """Check the options.

        Raises
        ------
        InvalidInput
            For an unknown tiles value, a bad tolerance, bandwidth or class count.
        """
        tile_source(self)
        if not (0 <= self.simplify_m <= 500) or not math.isfinite(self.simplify_m):
            raise InvalidInput("simplify_m must be between 0 and 500 metres")
        if not (10 <= self.heat_bandwidth_m <= 5000):
            raise InvalidInput("heat_bandwidth_m must be between 10 and 5000 metres")
        if not (1 <= self.classes <= max(YLORRD)):
            raise InvalidInput(f"classes must be between 1 and {max(YLORRD)}")
        if self.breaks not in BREAKS:
            raise InvalidInput(f"breaks must be one of {', '.join(BREAKS)}, got {self.breaks!r}")
        if self.measure not in MEASURES:
            raise InvalidInput(f"measure must be one of {', '.join(MEASURES)}, got {self.measure!r}")


@dataclass(frozen=True)
class HeatSurface:
    """A kernel density surface on a grid that is regular in Web Mercator (EPSG:3857).

    Attributes
    ----------
    rgba:
        ``(rows, cols, 4)`` uint8 image, row 0 at the north edge; transparent
        where the density is about zero.
    bounds:
        ``[[lat_min, lon_min], [lat_max, lon_max]]`` of the grid's outer edges (WGS84).
    cell_m:
        Ground size of one cell in metres (at the centre of the grid).
    peak_per_km2:
        Highest density on the grid, incidents per km2.
    full_colour_per_km2:
        Density drawn with the darkest colour (higher values are clipped).
    """

    rgba: np.ndarray
    bounds: list[list[float]]
    cell_m: float
    peak_per_km2: float
    full_colour_per_km2: float


@dataclass(frozen=True)
class ClassBreaks:
    """Choropleth classes: ``upper[i]`` is the inclusive upper bound of class ``i``."""

    upper: list[float]
    colours: list[str]
    labels: list[str]

    def colour(self, value: float) -> str:
        """Colour of the class that holds ``value`` (values above the top class get the top colour)."""
        i = int(np.searchsorted(np.asarray(self.upper), value, side="left"))
        return self.colours[min(i, len(self.colours) - 1)]


def class_breaks(
    values: Sequence[float] | np.ndarray, k: int = 5, method: Literal["quantile", "natural"] = "quantile"
) -> ClassBreaks:
    """Quantile or natural-breaks classes for non-negative values, merged where bounds coincide.

    Parameters
    ----------
    values:
        The counts or rates to classify (NaN ignored).
    k:
        Wanted number of classes (1 to 7); fewer when the data have fewer
        distinct values.
    method:
        ``"quantile"``: the upper bound of class ``i`` is the smallest value
        with at least ``(i + 1) / k`` of the data at or below it.
        ``"natural"``: Fisher-Jenks optimal breaks (``mapclassify.FisherJenks``),
        which minimise the spread of values within each class.

    Returns
    -------
    ClassBreaks
        Inclusive upper bounds, ColorBrewer YlOrRd colours and legend labels.
    """
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        arr = np.zeros(1)
    k = max(1, min(int(k), max(YLORRD)))
    ordered = np.sort(arr)
    distinct = np.unique(arr)
    if method == "natural" and distinct.size > k:
        with warnings.catch_warnings():  # "Numba not installed": the pure-Python path is fast enough here
            warnings.simplefilter("ignore", UserWarning)
            qs = np.asarray(mapclassify.FisherJenks(arr, k=k).bins, dtype=float)
    else:
        # Upper bound of class i: the smallest value with at least (i + 1) / k of the data at or below it.
        ranks = [max(math.ceil(ordered.size * (i + 1) / k - 1e-9), 1) - 1 for i in range(k)]
        qs = ordered[ranks]
    integer = bool(np.all(arr == np.round(arr)))
    upper = sorted({float(q) for q in qs})
    colours = YLORRD[len(upper)]
    labels = []
    low = float(arr.min())
    for up in upper:
        labels.append(_fmt_range(low, up, integer))
        low = up + 1 if integer else up
    return ClassBreaks(upper=upper, colours=colours, labels=labels)


def heat_surface(
    x: np.ndarray,
    y: np.ndarray,
    extent: tuple[float, float, float, float],
    bandwidth_m: float = 150.0,
    max_cells: int = 480,
) -> HeatSurface | None:
    """Gaussian kernel density of incidents on a grid regular in Web Mercator.

    Incidents are first reduced to distinct locations weighted by their counts
    (police.uk points are snapped, so there are few). Both British National Grid
    and Web Mercator are conformal, so a circular kernel of ``bandwidth_m``
    metres in EPSG:27700 is, over a district, a circular kernel of
    ``bandwidth_m * k`` in EPSG:3857, where ``k`` is the ratio of the two scales
    measured at the centre of the grid (about 1.6 in London). The weighted
    locations are binned into the grid and convolved with that kernel.

    Parameters
    ----------
    x, y:
        Incident coordinates in EPSG:27700 (metres); NaN is ignored.
    extent:
        ``(minx, miny, maxx, maxy)`` in EPSG:27700 to cover; padded by three
        bandwidths.
    bandwidth_m:
        Kernel standard deviation in metres.
    max_cells:
        Most cells along the longer side of the grid; the cell is
        ``bandwidth / 3`` or larger.

    Returns
    -------
    HeatSurface or None
        ``None`` when there is no located incident.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    if not ok.any():
        return None
    locations, weights = np.unique(xs[ok] + 1j * ys[ok], return_counts=True)
    to_merc = _transformer(BNG, WEB_MERCATOR)
    mx, my = to_merc.transform(locations.real, locations.imag)
    minx, miny, maxx, maxy = extent
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    (ax, bx), (ay, by) = to_merc.transform([cx, cx + 100.0], [cy, cy])
    k = math.hypot(bx - ax, by - ay) / 100.0  # Web Mercator units per ground metre here
    sigma = bandwidth_m * k
    left, bottom, right, top = to_merc.transform_bounds(minx, miny, maxx, maxy, densify_pts=11)
    left, bottom, right, top = left - 3 * sigma, bottom - 3 * sigma, right + 3 * sigma, top + 3 * sigma
    cell = max(sigma / 3.0, max(right - left, top - bottom) / max_cells)
    ncols = math.ceil((right - left) / cell)
    nrows = math.ceil((top - bottom) / cell)
    right, bottom = left + ncols * cell, top - nrows * cell
    col = np.floor((np.asarray(mx) - left) / cell).astype(np.int64)
    row = np.floor((top - np.asarray(my)) / cell).astype(np.int64)
    inside = (col >= 0) & (col < ncols) & (row >= 0) & (row < nrows)
    grid = np.bincount(
        row[inside] * ncols + col[inside], weights=weights[inside].astype(float), minlength=nrows * ncols
    ).reshape(nrows, ncols)
    smooth = gaussian_filter(grid, sigma=sigma / cell, mode="constant", truncate=3.0)
    cell_m = cell / k
    density = smooth / (cell_m * cell_m) * 1e6  # incidents per km2
    peak = float(density.max())
    shown = density[density > peak * 0.01]
    full = float(np.quantile(shown, 0.99)) if shown.size else peak
    full = full if full > 0 else 1.0
    rgba = _heat_rgba(density / full)
    to_wgs = _transformer(WEB_MERCATOR, WGS84)
    (lon0, lon1), (lat0, lat1) = to_wgs.transform([left, right], [bottom, top])
    bounds = [[round(lat0, 6), round(lon0, 6)], [round(lat1, 6), round(lon1, 6)]]
    return HeatSurface(rgba=rgba, bounds=bounds, cell_m=cell_m, peak_per_km2=peak, full_colour_per_km2=full)


def build_map(
    result: AnalysisResult,
    options: MapOptions | None = None,
    emerging: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """The interactive hotspot map of one analysis.

    Layers: ward choropleth of incident counts or rates per 1,000 residents
    (one per boundary set, the latest shown), borough outlines, a kernel
    density heat image, significant Gi* hex cells (path class
    :data:`GI_CLASS`), emerging hot spot cells (path class
    :data:`EMERGING_CLASS`) and hotspot polygons with a popup summary; a layer
    control, a scale bar, a legend and the data attribution.

    Parameters
    ----------
    result:
        Output of :func:`hotspots.geo.analysis.analyse` (geometries in EPSG:27700).
    options:
        Tiles, asset prefix, title and display settings; defaults when ``None``.
    emerging:
        Output of :func:`hotspots.geo.stats.assessment.emerging_layer` (hex cells
        with ``category``, ``trend_z``, ``trend_p``, ``n_months_hot``; any
        CRS): adds the "Emerging hot spots" layer of the cells with a
        pattern. ``None``: no such layer.

    Returns
    -------
    folium.Map
        A map whose page links only Leaflet under ``options.static_prefix``.

    Raises
    ------
    InvalidInput
        For invalid options.
    """
    return _build(result, options, emerging)[0]


@dataclass(frozen=True)
class MapParts:
    """A map split for embedding in a larger page (all strings are trusted HTML/JS).

    Attributes
    ----------
    head:
        ``<link>``/``<style>``/``<meta>`` elements for the page ``<head>``.
    body:
        The map ``<div>`` and its extras, for wherever the map goes.
    script:
        JavaScript (without ``<script>`` tags) that builds the map; run it after ``body``.
    map_var:
        Global JavaScript variable of the Leaflet map.
    hotspot_var:
        Global JavaScript variable of the hotspot GeoJSON layer (``None`` when no hotspot):
        each feature's ``id`` is the hotspot's rank.
    """

    head: str
    body: str
    script: str
    map_var: str
    hotspot_var: str | None


def render_parts(
    result: AnalysisResult,
    options: MapOptions | None = None,
    emerging: gpd.GeoDataFrame | None = None,
) -> MapParts:
    """The map as parts to embed in an app page (assets linked under ``options.static_prefix``)."""
    fmap, hotspot_layer = _build(result, options, emerging)
    return split_map(fmap, hotspot_layer.get_name() if hotspot_layer is not None else None)


def split_map(fmap: folium.Map, hotspot_var: str | None = None) -> MapParts:
    """Render a folium map once and split it into :class:`MapParts`."""
    root = fmap.get_root()
    assert isinstance(root, Figure)
    root.render()
    return MapParts(
        head=root.header.render(),
        body=root.html.render(),
        script=root.script.render(),
        map_var=fmap.get_name(),
        hotspot_var=hotspot_var,
    )


def _build(
    result: AnalysisResult, options: MapOptions | None, emerging: gpd.GeoDataFrame | None
) -> tuple[folium.Map, folium.GeoJson | None]:
    options = options or MapOptions()
    options.validate()
    tile_url, tile_attr = tile_source(options)
    fmap = folium.Map(
        location=_centre(result),
        zoom_start=12,
        tiles=None,
        control_scale=True,
        prefer_canvas=False,
    )
    # Folium's defaults link jQuery, Bootstrap, Font Awesome... from CDNs; we use none of them.
    fmap.default_js = [("leaflet", asset_url(options.static_prefix, LEAFLET_JS))]
    fmap.default_css = [("leaflet_css", asset_url(options.static_prefix, LEAFLET_CSS))]
    root = fmap.get_root()
    if isinstance(root, Figure):
        root.title = html.escape(options.title)
    if tile_url is not None:
        folium.TileLayer(tiles=tile_url, attr=tile_attr, name="Base map", max_zoom=19, control=False).add_to(
            fmap
        )
    folium.map.CustomPane("hs-heat-pane", z_index=410, pointer_events=False).add_to(fmap)
    folium.map.CustomPane(STAT_PANE, z_index=415, pointer_events=True).add_to(fmap)
    folium.map.CustomPane("hs-top-pane", z_index=420, pointer_events=True).add_to(fmap)

    ward_legends = _add_ward_layers(fmap, result, options)
    _add_borough_layer(fmap, result, options)
    heat = _add_heat_layer(fmap, result, options) if options.heat else None
    stats: list[tuple[str, StatLayer]] = []
    if options.significance:
        gi = add_gi_layer(fmap, result, show=options.show_significance or len(result.hotspots) == 0)
        if gi is not None:
            stats.append(("gi", gi))
    if emerging is not None:
        stats.append(("emerging", add_emerging_layer(fmap, emerging, show=False)))
    _add_context_layer(fmap, result)
    hotspot_layer = _add_hotspot_layer(fmap, result, options)
    _add_borough_labels(fmap, result)
    if options.top and hotspot_layer is not None:
        _add_rank_labels(fmap, result, options.top)
    folium.LayerControl(position="topright", collapsed=False).add_to(fmap)
    _PageExtras(
        title_html=html.escape(options.title) if options.show_title else "",
        legend_html=_legend_html(result, ward_legends, heat, options, stats),
        attribution_html=DATA_ATTRIBUTION_HTML
        if options.data_credit is None
        else DATA_ATTRIBUTION_HTML.replace(
            "Crime data: police.uk", f"Data: {html.escape(options.data_credit)}", 1
        ),
        background=NO_TILES_BACKGROUND if tile_url is None else None,
        toggles=[(key, stat.layer.get_name()) for key, stat in stats],
    ).add_to(fmap)
    # The area's extent, or the chosen districts' when the result is focused on some.
    focused = bool(result.meta.get("borough_focus")) and len(result.wards)
    bounds = latlon_bounds(result.wards if focused or not len(result.boroughs) else result.boroughs)
    if bounds is not None:
        fmap.fit_bounds(bounds)
    return fmap, hotspot_layer


def render_page(
    result: AnalysisResult,
    options: MapOptions | None = None,
    emerging: gpd.GeoDataFrame | None = None,
) -> str:
    """The map as a full HTML page linking Leaflet under ``options.static_prefix``.

    Parameters
    ----------
    result:
        Output of :func:`hotspots.geo.analysis.analyse`.
    options:
        Display options; defaults when ``None``.
    emerging:
        Emerging hot spot cells (:func:`hotspots.geo.stats.assessment.emerging_layer`)
        to draw as a layer; ``None`` for none.

    Returns
    -------
    str
        HTML for pages served by the app, which mounts
        :data:`hotspots.maps.assets.ASSET_DIRS` under the prefix.
    """
    page: str = build_map(result, options, emerging).get_root().render()
    return page


def render_standalone(
    result: AnalysisResult,
    options: MapOptions | None = None,
    emerging: gpd.GeoDataFrame | None = None,
) -> str:
    """The map as one self-contained HTML file: Leaflet's JS and CSS inlined.

    Parameters
    ----------
    result:
        Output of :func:`hotspots.geo.analysis.analyse`.
    options:
        Display options; defaults when ``None``.
    emerging:
        Emerging hot spot cells to draw as a layer; ``None`` for none.

    Returns
    -------
    str
        HTML with no ``<script src>`` or ``<link href>``: it opens from disk with
        no server and no network (except base map tiles unless ``tiles="none"``).
    """
    options = options or MapOptions()
    return inline_assets(render_page(result, options, emerging), options.static_prefix)


# --- layers -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _WardLegend:
    """What the legend says about one boundary set's choropleth."""

    name: str
    breaks: ClassBreaks
    measure: str
    unknown_population: int
    withheld: int
    k: int | None
    has_rates: bool
    population_source: str | None


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


def _add_ward_layers(fmap: folium.Map, result: AnalysisResult, options: MapOptions) -> list[_WardLegend]:
    wards = result.wards
    order = ward_set_order(result)
    if not order:
        return []
    sources = result.meta.get("population_sources") or {}
    by_rate = options.measure == "rate"
    k = disclosure_k(result.meta)
    legends = []
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
        known = np.isfinite(rates)
        rate_withheld = ~known & withheld & (np.nan_to_num(population) > 0)
        shaded = rates if by_rate else counts
        breaks = class_breaks(shaded, options.classes, options.breaks)
        # A withheld count takes the lowest non-zero class (no break can lie between 1 and k-1);
        # a missing rate is hatched grey.
        low = breaks.colour(1.0)
        fills = [
            breaks.colour(v) if math.isfinite(v) else NO_POPULATION_FILL if by_rate else low
            for v in shaded.tolist()
        ]
        gi_labels = part["gi_label"] if "gi_label" in part.columns else pd.Series([None] * len(part))
        frame = gpd.GeoDataFrame(
            {
                "fid": np.arange(len(part)),
                "ward": _escaped(part["ward_name"]),
                "borough": _escaped(part["borough_name"]),
                "incidents": [count_text(c, k) for c in counts],
                "rate": [
                    _fmt_rate(r, p, bool(w), k) for r, p, w in zip(rates, population, withheld, strict=True)
                ],
                "gi": [g or "not computed" for g in _escaped(gi_labels)],
                "fill": fills,
                "nopop": [bool(by_rate and not has_rate) for has_rate in known],
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
                aliases=["Ward", "Borough", "Incidents", "Per 1,000 residents", "Gi* (wards)"],
                localize=False,
                sticky=True,
            ),
        ).add_to(fmap)
        source = sources.get(name) if isinstance(sources, dict) else None
        legends.append(
            _WardLegend(
                name=name,
                breaks=breaks,
                measure=options.measure,
                unknown_population=int((~known & ~rate_withheld).sum()),
                withheld=int(rate_withheld.sum()),
                k=k,
                has_rates=bool(known.any()),
                population_source=str(source) if source else None,
            )
        )
    return legends


def _ward_style(feature: dict[str, Any]) -> dict[str, Any]:
    props = feature["properties"]
    return {
        "className": f"{WARD_CLASS} {NO_POPULATION_CLASS}" if props.get("nopop") else WARD_CLASS,
        "fillColor": props["fill"],
        "fillOpacity": 0.55,
        "color": WARD_STROKE,
        "weight": 0.8,
    }


def _add_borough_layer(fmap: folium.Map, result: AnalysisResult, options: MapOptions) -> None:
    boroughs = result.boroughs.reset_index(drop=True)
    if boroughs.empty:
        return
    frame = gpd.GeoDataFrame(
        {
            "fid": np.arange(len(boroughs)),
            "borough": _escaped(boroughs["borough_name"]),
            "incidents": [count_text(c, disclosure_k(result.meta)) for c in boroughs["count"]],
        },
        geometry=simplify_coverage(boroughs.geometry, options.simplify_m),
        crs=BNG,
    )
    data = feature_collection(frame, ["fid", "borough", "incidents"], id_column="fid")
    folium.GeoJson(
        data,
        name="Borough boundaries",
        style_function=lambda f: {
            "className": BOROUGH_CLASS,
            "color": BOROUGH_STROKE,
            "weight": 4,
            "opacity": 0.9,
            "fill": False,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["borough", "incidents"], aliases=["Borough", "Incidents"], localize=False, sticky=True
        ),
        pane="hs-top-pane",
    ).add_to(fmap)


CONTEXT_CLASS = "hs-context"
"""Path class of clusters wholly outside the area (drawn faintly, not ranked)."""


def _add_context_layer(fmap: folium.Map, result: AnalysisResult) -> None:
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


def _add_borough_labels(fmap: folium.Map, result: AnalysisResult) -> None:
    """Borough names at a point inside each borough: the map still reads with the base map off."""
    boroughs = result.boroughs
    if boroughs.empty:
        return
    group = folium.FeatureGroup(name="Borough names")
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


RANK_CLASS = "hs-rank"


def _add_rank_labels(fmap: folium.Map, result: AnalysisResult, top: int) -> None:
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
        ).add_to(group)
    group.add_to(fmap)


def _add_hotspot_layer(
    fmap: folium.Map, result: AnalysisResult, options: MapOptions
) -> folium.GeoJson | None:
    hotspots = result.hotspots.reset_index(drop=True)
    n = len(hotspots)
    name = f"Hotspots ({n})" if n else "Hotspots (none found)"
    if n == 0:
        folium.FeatureGroup(name=name).add_to(fmap)
        return None
    buffer_m = float(result.meta.get("shape_buffer_m") or 30.0)
    tolerance = min(options.simplify_m, buffer_m / 5.0)
    k = disclosure_k(result.meta)
    rows = [_hotspot_summary(row, n, k) for row in hotspots.drop(columns="geometry").to_dict("records")]
    for row in rows:
        row["top"] = bool(options.top) and row["fid"] <= options.top
    frame = gpd.GeoDataFrame(
        pd.DataFrame(rows), geometry=_simplify_each(hotspots.geometry, tolerance), crs=BNG
    )
    props = [c for c in frame.columns if c != "geometry"]
    data = feature_collection(frame, props, id_column="fid")
    fields = [c for c in props if c not in ("fid", "cross", "top")]
    aliases = [HOTSPOT_LABELS[c] for c in fields]
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


def _hotspot_summary(row: dict[str, Any], n_hotspots: int, k: int | None = None) -> dict[str, Any]:
    """Escaped display strings for one hotspot's popup (keys of :data:`HOTSPOT_LABELS`).

    ``k``: disclosure threshold of a suppressed result (counts withheld show as "fewer than k").
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
        boroughs += " (and outside the mapped boroughs)"
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
        "density": _fmt_density(_num(row.get("density_per_km2"))),
        "pai": _fmt_pai(_num(row.get("pai"))) if not beyond else "n/a (outside the study area)",
        "hot_share": hot_share_text(row.get("hot_share"))
        if not beyond
        else "not tested (outside the study area)",
        "trend": trend_text(row.get("trend"), row.get("trend_p"), row.get("slope_per_month")),
        "wards": ", ".join(html.escape(str(w)) for w in _seq(row.get("wards"))) or "none",
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


TOP_CLASS = "hs-top"
"""Path class of the strongest hotspots (``MapOptions.top``), drawn to stand out."""
TOP_FILL = "#08306b"
QUIET_STROKE = "#4a5a6a"


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


def _add_heat_layer(fmap: folium.Map, result: AnalysisResult, options: MapOptions) -> HeatSurface | None:
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


# --- legend and page extras -------------------------------------------------------------------------


class _PageExtras(MacroElement):
    """Title, legend control, data attribution and page CSS (all HTML pre-escaped by the caller)."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .hs-title { position: absolute; z-index: 1000; top: 10px; left: 50%; transform: translateX(-50%);
          max-width: 60%; padding: 4px 12px; background: rgba(255,255,255,0.92); border-radius: 4px;
          box-shadow: 0 1px 4px rgba(0,0,0,0.35); font: 600 15px/1.3 system-ui, sans-serif;
          text-align: center; pointer-events: none; }
        .hs-legend { background: rgba(255,255,255,0.95); padding: 6px 10px; border-radius: 4px;
          box-shadow: 0 1px 4px rgba(0,0,0,0.35); font: 12px/1.35 system-ui, sans-serif;
          max-width: 300px; max-height: 62vh; overflow-y: auto; }
        .hs-legend summary { font-weight: 700; font-size: 13px; cursor: pointer; }
        .hs-legend h4 { margin: 8px 0 3px; font-size: 12px; }
        .hs-legend .hs-row { display: flex; align-items: center; gap: 6px; margin: 1px 0; }
        .hs-legend .hs-sw { flex: none; display: inline-block; width: 18px; height: 12px;
          border: 1px solid #7a7a7a; }
        .hs-legend .hs-line { flex: none; display: inline-block; width: 18px; height: 0;
          border-top: 4px solid {{ this.borough_stroke }}; }
        .hs-legend .hs-ramp { flex: none; display: inline-block; width: 60px; height: 12px;
          background: linear-gradient(to right, {{ this.heat_gradient }}); }
        .hs-legend .hs-note { color: #444; font-size: 11px; margin-top: 2px; }
        .hs-legend .hs-sub { font-weight: 600; font-size: 11px; margin: 4px 0 1px; }
        .hs-legend .hs-row > span:last-child { min-width: 0; }
        .hs-legend .hs-attr { color: #666; font-size: 10px; margin-top: 6px; }
        .hs-legend .hs-hatch, .hs-legend .hs-sw.hs-hatch {
          background: repeating-linear-gradient(45deg, #cccccc 0 3px, #8c8c8c 3px 4px); }
        .leaflet-container path.hs-nopop { fill: url(#hs-hatch); }
        .leaflet-popup, .leaflet-fade-anim .leaflet-popup { opacity: 1 !important; transition: none; }
        .leaflet-popup-content-wrapper, .leaflet-popup-tip { background: #ffffff; opacity: 1;
          color: #1a1a1a; box-shadow: 0 2px 10px rgba(0,0,0,0.45); }
        .leaflet-popup-content { max-height: 60vh; overflow-y: auto; font: 13px/1.4 system-ui, sans-serif; }
        .leaflet-popup-content table { border-collapse: collapse; }
        .hs-rank-icon { overflow: visible; }
        .hs-rank { display: inline-block; transform: translate(-50%, -50%); min-width: 22px; height: 22px;
          padding: 0 3px; box-sizing: border-box; border-radius: 11px; background: #ffffff;
          border: 2px solid #000000; color: #000000; font: 700 12px/18px system-ui, sans-serif;
          text-align: center; pointer-events: none; box-shadow: 0 1px 3px rgba(0,0,0,0.5); }
        path.hs-chosen { stroke: #ff8c00; }
        @media (max-width: 760px) {
          .leaflet-popup-content { width: auto !important; max-width: calc(100vw - 110px);
            max-height: 42vh; margin: 10px 12px; font-size: 12px; }
          .leaflet-popup-content th { padding-right: 4px; }
          .leaflet-control-attribution { max-width: calc(100% - 120px); font-size: 9px; line-height: 1.25; }
          .hs-legend { max-height: 45vh; max-width: calc(100vw - 80px); }
        }
        .leaflet-popup-content th { text-align: left; vertical-align: top; padding-right: 6px; }
        .hs-tp { width: 230px; }
        .hs-tp-h { font-size: 11px; color: #444; margin-top: 3px; }
        .hs-tp-n { font-size: 11px; color: #444; }
        .hs-bars { display: grid; grid-auto-flow: column; grid-auto-columns: 1fr; align-items: end;
          column-gap: 1px; height: 34px; border-bottom: 1px solid #888; }
        .hs-bars i { display: block; background: {{ this.bar_colour }}; }
        .hs-bars i.hs-sup { background: repeating-linear-gradient(45deg, #cccccc 0 2px, #8c8c8c 2px 3px); }
        .hs-axis { display: grid; grid-auto-flow: column; grid-auto-columns: 1fr; font-size: 9px;
          color: #555; text-align: center; }
        .hs-axis-h { text-align: left; }
        .hs-label-icon { overflow: visible; }
        .hs-label { display: inline-block; transform: translate(-50%, -50%); white-space: nowrap;
          font: 700 13px/1.2 system-ui, sans-serif; color: #222; letter-spacing: 0.02em;
          text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 3px #fff; pointer-events: none; }
        {% if this.background %}.leaflet-container { background: {{ this.background }}; }{% endif %}
        </style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        {% if this.title_html %}<div class="hs-title">{{ this.title_html }}</div>{% endif %}
        <svg width="0" height="0" style="position:absolute" aria-hidden="true" focusable="false"><defs>
        <pattern id="hs-hatch" width="6" height="6" patternUnits="userSpaceOnUse"
          patternTransform="rotate(45)"><rect width="6" height="6" fill="{{ this.no_population_fill }}"/>
        <line x1="0" y1="0" x2="0" y2="6" stroke="#8c8c8c" stroke-width="2"/></pattern></defs></svg>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function (map) {
            map.attributionControl.addAttribution({{ this.attribution_html|tojson }});
            var legend = L.control({position: "bottomleft"});
            legend.onAdd = function () {
                var div = L.DomUtil.create("div", "hs-legend-control");
                div.innerHTML = {{ this.legend_html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            legend.addTo(map);
            // A legend section of an optional layer is shown while its layer is on the map.
            function follow(key, layer) {
                var section = legend.getContainer().querySelector('[data-hs-layer="' + key + '"]');
                if (!section) { return; }
                var sync = function () { section.hidden = !map.hasLayer(layer); };
                map.on("overlayadd overlayremove", sync);
                sync();
            }
            {%- for key, layer in this.toggles %}
            follow({{ key|tojson }}, {{ layer }});
            {%- endfor %}
        })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(
        self,
        *,
        title_html: str,
        legend_html: str,
        attribution_html: str,
        background: str | None,
        toggles: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__()
        self._name = "HotspotPageExtras"
        self.toggles = list(toggles)  # (legend section key, JS variable of its layer)
        self.bar_colour = HOTSPOT_FILL
        self.no_population_fill = NO_POPULATION_FILL
        self.title_html = title_html
        self.legend_html = legend_html
        self.attribution_html = attribution_html
        self.background = background
        self.borough_stroke = BOROUGH_STROKE
        self.heat_gradient = ", ".join(
            f"rgba({r},{g},{b},{0.15 + 0.6 * t:.2f}) {t * 100:.0f}%" for t, (r, g, b) in HEAT_STOPS
        )


def _legend_html(
    result: AnalysisResult,
    ward_legends: list[_WardLegend],
    heat: HeatSurface | None,
    options: MapOptions,
    stats: Sequence[tuple[str, StatLayer]] = (),
) -> str:
    meta = result.meta
    esc = html.escape
    opened = " open" if options.legend_open else ""
    parts = [f'<details class="{LEGEND_CLASS}"{opened}><summary>Legend</summary>']
    period = f"{esc(str(meta.get('month_from')))} to {esc(str(meta.get('month_to')))}"
    crime_types = meta.get("crime_types")
    types = (
        "all crime types"
        if crime_types in (None, "all") or not crime_types
        else ", ".join(esc(str(c)) for c in _seq(crime_types))
    )
    parts.append(f'<div class="hs-note">{period}; {types}</div>')
    for ward in ward_legends:
        by_rate = ward.measure == "rate"
        what = "incidents per 1,000 residents" if by_rate else "incidents"
        heading = f"Wards: {what}" + (f" ({esc(ward.name)})" if len(ward_legends) > 1 else "")
        parts.append(f"<h4>{heading}</h4>")
        if not by_rate or ward.has_rates:
            for colour, label in zip(ward.breaks.colours, ward.breaks.labels, strict=True):
                swatch = f'<span class="hs-sw" style="background:{colour}"></span>'
                parts.append(f'<div class="hs-row">{swatch}{label}</div>')
        if by_rate and ward.unknown_population:
            n = ward.unknown_population
            parts.append(
                '<div class="hs-row"><span class="hs-sw hs-hatch"></span>'
                f"population unknown ({n:,} ward{'s' if n != 1 else ''}): no rate</div>"
            )
        if by_rate and ward.withheld:
            n = ward.withheld
            fewer = f"fewer than {ward.k} incidents" if ward.k else "small count"
            parts.append(
                '<div class="hs-row"><span class="hs-sw hs-hatch"></span>'
                f"rate withheld: {fewer} ({n:,} ward{'s' if n != 1 else ''})</div>"
            )
        if ward.population_source and (by_rate or ward.has_rates):
            parts.append(f'<div class="hs-note">Population: {esc(ward.population_source)}</div>')
        elif by_rate or ward.unknown_population:
            parts.append('<div class="hs-note">Population: no figures for these boundaries.</div>')
    if ward_legends:
        measure = "rates per 1,000 residents" if options.measure == "rate" else "counts"
        how = "Natural-breaks (Fisher-Jenks)" if options.breaks == "natural" else "Quantile"
        parts.append(
            f'<div class="hs-note">{how} classes of the ward {measure}. Hover a ward for its count, '
            "rate and Gi* result.</div>"
        )
    parts.append(
        '<h4>Boroughs</h4><div class="hs-row"><span class="hs-line"></span>borough boundary'
        " (hover for its count)</div>"
    )
    n_hot = len(result.hotspots)
    method = "HDBSCAN" if meta.get("method") == "hdbscan" else "DBSCAN"
    # How many of the hotspots drawn are among the strongest (fewer when focused on a district).
    top = int((result.hotspots["hotspot_id"].astype(int) <= options.top).sum()) if n_hot else 0
    if options.top and top:
        which = "the" if top == options.top else f"{top} of the"
        parts.append(
            "<h4>Hotspots</h4>"
            f'<div class="hs-row"><span class="hs-sw" style="background:{TOP_FILL}bf;'
            f'border:3px solid #000"></span>{which} top {options.top}, numbered by rank ({method}); '
            "click for a summary</div>"
            f'<div class="hs-row"><span class="hs-sw" style="background:{HOTSPOT_FILL}2e;'
            f'border:1px solid {QUIET_STROKE}"></span>the other {n_hot - top:,}</div>'
            f'<div class="hs-row"><span class="hs-sw" style="background:{TOP_FILL}bf;'
            f'border:2px dashed #000"></span>dashed: crosses a borough border</div>'
        )
    else:
        parts.append(
            "<h4>Hotspots</h4>"
            f'<div class="hs-row"><span class="hs-sw" style="background:{HOTSPOT_FILL}59;'
            f'border:2px solid {HOTSPOT_STROKE}"></span>{method} cluster; click for its summary</div>'
            f'<div class="hs-row"><span class="hs-sw" style="background:{HOTSPOT_FILL}59;'
            f'border:2px dashed {HOTSPOT_STROKE}"></span>dashed: crosses a borough border</div>'
        )
    if len(result.context_hotspots):
        parts.append(
            '<div class="hs-row"><span class="hs-sw" style="background:#9e9e9e26;'
            'border:1px dashed #6b6b6b"></span>grey: a cluster wholly outside the area '
            "(context, not ranked)</div>"
        )
    buffer_m = meta.get("shape_buffer_m")
    note = (
        f"{n_hot:,} hotspot{'s' if n_hot != 1 else ''}: {esc(method_text(meta))}; drawn "
        f"{_fmt_number(_num(buffer_m), 0)} m around their locations."
    )
    hit_rate, area_share = _num(meta.get("hit_rate")), _num(meta.get("hotspot_area_share"))
    if n_hot and hit_rate is not None and area_share:
        note += f" They hold {_pct(hit_rate)} of located incidents in {_pct(area_share)} of the area"
        note += f" (PAI {hit_rate / area_share:.1f})."
    parts.append(f'<div class="hs-note">{note}</div>')
    if heat is not None and disclosure_k(meta) is not None:
        parts.append(  # densities move with the count (about 7 per km2 per incident): no figures
            "<h4>Heat (kernel density)</h4>"
            '<div class="hs-row"><span class="hs-ramp"></span>low to high (relative)</div>'
            f'<div class="hs-note">Gaussian kernel, {_fmt_number(options.heat_bandwidth_m, 0)} m;'
            " densities withheld under disclosure control.</div>"
        )
    elif heat is not None:
        parts.append(
            "<h4>Heat (kernel density)</h4>"
            '<div class="hs-row"><span class="hs-ramp"></span>'
            f"low to {_fmt_number(heat.full_colour_per_km2, 0)}+ incidents per km&sup2;</div>"
            f'<div class="hs-note">Gaussian kernel, {_fmt_number(options.heat_bandwidth_m, 0)} m;'
            f" peak {_fmt_number(heat.peak_per_km2, 0)} per km&sup2;.</div>"
        )
    for key, stat in stats:
        parts.append(f'<div class="hs-sec" data-hs-layer="{key}">{stat.legend_html}</div>')
    if stats:
        names = " and ".join(
            f"&ldquo;{GI_LAYER_NAME if key == 'gi' else EMERGING_LAYER_NAME}&rdquo;" for key, _ in stats
        )
        parts.append(f'<div class="hs-note">Tick {names} in the layer list for the statistical tests.</div>')
    k = disclosure_k(meta)
    counts = [f"{count_text(meta.get('incidents'), k)} incidents"]
    for key, text in (
        ("incidents_without_location", "without a location (not mapped)"),
        ("incidents_outside_area", "outside the boundaries"),
    ):
        value = meta.get(key)
        if value or (value is None and k and key in meta):
            counts.append(f"{count_text(value, k)} {text}")
    parts.append(f'<div class="hs-note">{"; ".join(counts)}.</div>')
    disclosure = meta.get("disclosure")
    if k and isinstance(disclosure, dict) and disclosure.get("rule"):
        parts.append(f'<div class="hs-note">Disclosure control: {esc(str(disclosure["rule"]))}</div>')
    for note_text in _seq(meta.get("boundary_notes")):
        parts.append(f'<div class="hs-note">{esc(str(note_text))}</div>')
    parts.append(f'<div class="hs-attr">{esc(ATTRIBUTION)}</div></details>')
    return "".join(parts)


# --- helpers -----------------------------------------------------------------------------------------


@cache
def _transformer(src: int, dst: int) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def tile_source(options: MapOptions) -> tuple[str | None, str | None]:
    """(tile URL template, attribution HTML) or (None, None) for no base map."""
    tiles = options.tiles.strip()
    if tiles.lower() == "openstreetmap":
        return OSM_TILES, OSM_ATTRIBUTION_HTML
    if tiles.lower() == "none":
        return None, None
    parsed = urlparse(tiles)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInput(
            f"tiles must be 'openstreetmap', 'none' or an http(s) XYZ URL template, got {tiles!r}"
        )
    if not all(part in tiles for part in ("{z}", "{x}", "{y}")):
        raise InvalidInput("a tile URL template must contain {z}, {x} and {y}")
    attribution = options.tiles_attribution or f"Base map: {parsed.netloc}"
    return tiles, html.escape(attribution)


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
    lon0, lat0, lon1, lat1 = _transformer(BNG, WGS84).transform_bounds(minx, miny, maxx, maxy)
    return [[round(lat0, 6), round(lon0, 6)], [round(lat1, 6), round(lon1, 6)]]


def _centre(result: AnalysisResult) -> list[float]:
    frame = result.boroughs if len(result.boroughs) else result.wards
    bounds = latlon_bounds(frame)
    if bounds is None:
        return [54.0, -2.0]  # Great Britain
    return [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]


def _heat_rgba(scaled: np.ndarray) -> np.ndarray:
    """Colour a density scaled to 0..1 (1 = full colour) as quantised RGBA."""
    v = np.clip(scaled, 0.0, 1.0)
    v = np.round(v * (HEAT_LEVELS - 1)) / (HEAT_LEVELS - 1)
    stops = np.array([t for t, _ in HEAT_STOPS])
    rgb = np.stack([np.interp(v, stops, [c[i] for _, c in HEAT_STOPS]) for i in range(3)], axis=-1)
    alpha = np.where(v < HEAT_MIN_SHOWN, 0.0, 40.0 + (HEAT_MAX_ALPHA - 40.0) * v)
    rgba = np.concatenate([rgb, alpha[..., None]], axis=-1)
    out: np.ndarray = np.round(rgba).astype(np.uint8)
    out[out[..., 3] == 0] = 0  # fully transparent pixels all alike: smaller PNG
    return out


def _fmt_density(per_km2: float | None) -> str:
    return "n/a" if per_km2 is None else f"{per_km2:,.0f} incidents per km&sup2;"


def _fmt_rate(rate: Any, population: Any, withheld: bool = False, k: int | None = None) -> str:
    r, p = _num(rate), _num(population)
    if r is None:
        if withheld and p:
            return f"withheld (fewer than {k} incidents)" if k else "withheld"
        return "no resident population" if p == 0 else "population unknown"
    return f"{r:,.2f}" + (f" (population {p:,.0f})" if p is not None else "")


def _fmt_range(low: float, high: float, integer: bool) -> str:
    fmt: Callable[[float], str] = (lambda v: f"{v:,.0f}") if integer else (lambda v: f"{v:,.2f}")
    if low >= high:
        return fmt(high)
    return f"{fmt(low)} to {fmt(high)}"
