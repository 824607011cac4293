"""Map styling shared by the layers, legend and pages: path classes, colours, attribution and
the map options (tiles, what to draw)."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlparse

from hotspots.errors import InvalidInput
from hotspots.maps.classes import YLORRD

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


HOTSPOT_STROKE = "#111111"


HOTSPOT_FILL = "#1f78b4"


BOROUGH_STROKE = "#3a3a3a"


WARD_STROKE = "#7a7a7a"


NO_POPULATION_CLASS = "hs-nopop"


NO_POPULATION_FILL = "#cccccc"  # under the hatch pattern, and where SVG patterns are not drawn


NO_DATA_CLASS = "hs-nodata"
"""A ward of a district the analysed sources hold no data for: hatched grey, "no data", never 0."""


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
    show_interventions:
        Whether the interventions layer is ticked on opening; ``None`` (default): when one of
        them lies in the map's view.
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
    show_interventions: bool | None = None
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


CONTEXT_CLASS = "hs-context"


"""Path class of clusters wholly outside the area (drawn faintly, not ranked)."""


RANK_CLASS = "hs-rank"


TOP_CLASS = "hs-top"


"""Path class of the strongest hotspots (``MapOptions.top``), drawn to stand out."""


TOP_FILL = "#08306b"


QUIET_STROKE = "#4a5a6a"


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
