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
from dataclasses import dataclass

import folium
import folium.map
import geopandas as gpd
import shapely
from branca.element import Figure

from hotspots.geo.analysis import AnalysisResult
from hotspots.maps.assets import LEAFLET_CSS, LEAFLET_JS, asset_url, inline_assets
from hotspots.maps.intervention_layer import add_intervention_layer
from hotspots.maps.layers import (
    add_borough_labels,
    add_borough_layer,
    add_context_layer,
    add_heat_layer,
    add_hotspot_layer,
    add_rank_labels,
    add_ward_layers,
    latlon_bounds,
    map_centre,
)
from hotspots.maps.legend import PageExtras, legend_html
from hotspots.maps.statistics import (
    STAT_PANE,
    StatLayer,
    add_emerging_layer,
    add_gi_layer,
)
from hotspots.maps.style import DATA_ATTRIBUTION_HTML, NO_TILES_BACKGROUND, MapOptions, tile_source


def build_map(
    result: AnalysisResult,
    options: MapOptions | None = None,
    emerging: gpd.GeoDataFrame | None = None,
    interventions: gpd.GeoDataFrame | None = None,
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
    interventions:
        Recorded interventions (EPSG:27700; see
        :func:`hotspots.maps.intervention_layer.add_intervention_layer`): adds the
        "Interventions" layer of outlines, shown on opening when one lies in the view.

    Returns
    -------
    folium.Map
        A map whose page links only Leaflet under ``options.static_prefix``.

    Raises
    ------
    InvalidInput
        For invalid options.
    """
    return _build(result, options, emerging, interventions)[0]


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
    interventions: gpd.GeoDataFrame | None = None,
) -> MapParts:
    """The map as parts to embed in an app page (assets linked under ``options.static_prefix``)."""
    fmap, hotspot_layer = _build(result, options, emerging, interventions)
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
    result: AnalysisResult,
    options: MapOptions | None,
    emerging: gpd.GeoDataFrame | None,
    interventions: gpd.GeoDataFrame | None = None,
) -> tuple[folium.Map, folium.GeoJson | None]:
    options = options or MapOptions()
    options.validate()
    tile_url, tile_attr = tile_source(options)
    fmap = folium.Map(
        location=map_centre(result),
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

    ward_legends = add_ward_layers(fmap, result, options)
    add_borough_layer(fmap, result, options)
    heat = add_heat_layer(fmap, result, options) if options.heat else None
    stats: list[tuple[str, StatLayer]] = []
    if options.significance:
        gi = add_gi_layer(fmap, result, show=options.show_significance or len(result.hotspots) == 0)
        if gi is not None:
            stats.append(("gi", gi))
    if emerging is not None:
        stats.append(("emerging", add_emerging_layer(fmap, emerging, show=False)))
    add_context_layer(fmap, result)
    hotspot_layer = add_hotspot_layer(fmap, result, options)
    # The area's extent, or the chosen districts' when the result is focused on some.
    focused = bool(result.meta.get("borough_focus")) and len(result.wards)
    extent = result.wards if focused or not len(result.boroughs) else result.boroughs
    if interventions is not None:
        view = shapely.box(*extent.total_bounds) if len(extent) else None
        add_intervention_layer(fmap, interventions, view, show=options.show_interventions)
    add_borough_labels(fmap, result)
    if options.top and hotspot_layer is not None:
        add_rank_labels(fmap, result, options.top)
    folium.LayerControl(position="topright", collapsed=False).add_to(fmap)
    PageExtras(
        title_html=html.escape(options.title) if options.show_title else "",
        legend_html=legend_html(
            result,
            ward_legends,
            heat,
            options,
            stats,
            interventions=0 if interventions is None else len(interventions),
        ),
        attribution_html=DATA_ATTRIBUTION_HTML
        if options.data_credit is None
        else DATA_ATTRIBUTION_HTML.replace(
            "Crime data: police.uk", f"Data: {html.escape(options.data_credit)}", 1
        ),
        background=NO_TILES_BACKGROUND if tile_url is None else None,
        toggles=[(key, stat.layer.get_name()) for key, stat in stats],
    ).add_to(fmap)
    bounds = latlon_bounds(extent)
    if bounds is not None:
        fmap.fit_bounds(bounds)
    return fmap, hotspot_layer


def render_page(
    result: AnalysisResult,
    options: MapOptions | None = None,
    emerging: gpd.GeoDataFrame | None = None,
    interventions: gpd.GeoDataFrame | None = None,
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
    interventions:
        Recorded interventions (EPSG:27700) to draw as outlines; ``None`` for none.

    Returns
    -------
    str
        HTML for pages served by the app, which mounts
        :data:`hotspots.maps.assets.ASSET_DIRS` under the prefix.
    """
    page: str = build_map(result, options, emerging, interventions).get_root().render()
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
