"""The recorded interventions as a map layer: outlined polygons with a popup.

The service hands the interventions over as a GeoDataFrame in EPSG:27700 (columns
``id``, ``name``, ``type``, ``partner``, ``start``, ``end``, geometry; see
:meth:`hotspots.service_interventions.InterventionOps.frame`); they are written as
RFC 7946 GeoJSON (WGS84, 6 decimals). Every text from a record is HTML-escaped here,
because Leaflet inserts popup and tooltip strings with ``innerHTML``. The layer starts
shown only when an intervention lies in the map's view; it is in the layer list either way.
"""

from __future__ import annotations

import html

import folium
import geopandas as gpd
import shapely
from shapely.geometry.base import BaseGeometry

from hotspots.crs import BNG
from hotspots.geo.outputs.export import feature_collection

INTERVENTION_CLASS = "hs-intervention"
"""SVG path class of an intervention's outline."""
INTERVENTION_LAYER_NAME = "Interventions"
INTERVENTION_STROKE = "#6a3d9a"
EVALUATION_PAGE = "/app/interventions"
SIMPLIFY_M = 2.0
"""Display simplification of the outlines, metres (EPSG:27700)."""
FIELDS = ("intervention", "kind", "partner", "months", "evaluation")
ALIASES = ("Intervention", "Type", "Partner", "Months", "Did it work?")


def months_text(start: str, end: str | None) -> str:
    """``2019-06 to 2019-11``, or ``from 2019-06`` when no end month was recorded."""
    return f"{start} to {end}" if end else f"from {start}"


def in_view(interventions: gpd.GeoDataFrame, view: BaseGeometry | None) -> bool:
    """Whether any intervention (EPSG:27700) touches ``view`` (EPSG:27700; ``None``: anywhere)."""
    if interventions.empty:
        return False
    if view is None:
        return True
    return bool(shapely.intersects(interventions.geometry.to_numpy(), view).any())


def add_intervention_layer(
    fmap: folium.Map,
    interventions: gpd.GeoDataFrame,
    view: BaseGeometry | None = None,
    *,
    show: bool | None = None,
) -> folium.GeoJson | None:
    """Add the interventions (EPSG:27700) as the "Interventions (n)" layer, ticked on opening when
    ``show`` says so, or (``show=None``) when one of them touches ``view`` (EPSG:27700, the extent
    the map opens on). ``None`` when there is none."""
    if interventions is None or interventions.empty:
        return None
    rows = interventions.reset_index(drop=True)
    frame = gpd.GeoDataFrame(
        {
            "fid": [str(i) for i in rows["id"]],
            "intervention": [html.escape(str(n)) for n in rows["name"]],
            "kind": [html.escape(str(t).replace("_", " ")) for t in rows["type"]],
            "partner": [html.escape(str(p)) if p else "-" for p in rows["partner"]],
            "months": [
                html.escape(months_text(str(s), None if e is None or e != e else str(e)))
                for s, e in zip(rows["start"], rows["end"], strict=True)
            ],
            "evaluation": [
                f'<a href="{EVALUATION_PAGE}?open={html.escape(str(i))}">its evaluation</a>'
                for i in rows["id"]
            ],
        },
        geometry=rows.geometry.simplify(SIMPLIFY_M).to_numpy(),
        crs=BNG,
    )
    data = feature_collection(frame, ["fid", *FIELDS], id_column="fid")
    layer = folium.GeoJson(
        data,
        name=f"{INTERVENTION_LAYER_NAME} ({len(frame)})",
        show=in_view(interventions, view) if show is None else show,
        style_function=lambda f: {
            "className": INTERVENTION_CLASS,
            "color": INTERVENTION_STROKE,
            "weight": 3,
            "opacity": 0.95,
            "dashArray": "6 4",
            "fill": False,
        },
        highlight_function=lambda f: {"weight": 5},
        tooltip=folium.GeoJsonTooltip(fields=["intervention"], labels=False, localize=False, sticky=True),
        popup=folium.GeoJsonPopup(fields=list(FIELDS), aliases=list(ALIASES), localize=False, max_width=320),
        pane="hs-top-pane",
    )
    layer.add_to(fmap)
    return layer
