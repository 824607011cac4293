"""Folium rendering of analysis results: hotspot map pages, with assets from installed packages only.

No web framework code lives here: :func:`render_page` returns HTML for the app
to serve (linking assets under :attr:`MapOptions.static_prefix`, where the app
mounts :data:`ASSET_DIRS`), and :func:`render_standalone` returns a file that
opens from disk with no network. Both take the optional emerging hot spot
cells of :func:`hotspots.geo.stats.assessment.emerging_layer`.
"""

from hotspots.maps.assets import ASSET_DIRS, AssetNotFound, inline_assets
from hotspots.maps.classes import ClassBreaks, class_breaks
from hotspots.maps.heat import HeatSurface, heat_surface
from hotspots.maps.render import MapParts, build_map, render_page, render_parts, render_standalone
from hotspots.maps.statistics import (
    EMERGING_CLASS,
    EMERGING_LAYER_NAME,
    EMERGING_STYLES,
    GI_CLASS,
    GI_COLOURS,
    GI_LAYER_NAME,
    GI_WORDS,
)
from hotspots.maps.style import (
    ATTRIBUTION_LINKS,
    BOROUGH_CLASS,
    BREAKS,
    HEAT_CLASS,
    HOTSPOT_CLASS,
    LABEL_CLASS,
    LEGEND_CLASS,
    MEASURES,
    NO_POPULATION_CLASS,
    WARD_CLASS,
    MapOptions,
)

__all__ = [
    "ASSET_DIRS",
    "ATTRIBUTION_LINKS",
    "BOROUGH_CLASS",
    "EMERGING_CLASS",
    "EMERGING_LAYER_NAME",
    "EMERGING_STYLES",
    "GI_CLASS",
    "GI_COLOURS",
    "GI_LAYER_NAME",
    "GI_WORDS",
    "HEAT_CLASS",
    "HOTSPOT_CLASS",
    "LEGEND_CLASS",
    "BREAKS",
    "LABEL_CLASS",
    "MEASURES",
    "NO_POPULATION_CLASS",
    "WARD_CLASS",
    "AssetNotFound",
    "ClassBreaks",
    "HeatSurface",
    "MapOptions",
    "MapParts",
    "build_map",
    "class_breaks",
    "heat_surface",
    "inline_assets",
    "render_page",
    "render_parts",
    "render_standalone",
]
