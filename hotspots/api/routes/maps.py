"""The interactive map page."""

from __future__ import annotations

from typing import Annotated, Literal

import geopandas as gpd
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hotspots.api.auth import Viewer
from hotspots.api.bodies import Body, body_response
from hotspots.api.deps import AnalysisQuery, Service
from hotspots.errors import InvalidInput
from hotspots.geo.analysis import AnalysisParams
from hotspots.maps import MapOptions, render_page
from hotspots.service import HotspotService, Selection

router = APIRouter(tags=["maps"])
MAP_LAYERS = ("heat", "significance", "emerging")


@router.get("/", include_in_schema=False)
def index() -> RedirectResponse:
    return RedirectResponse("/app")


@router.get("/maps/hotspots", operation_id="map_hotspots", response_class=HTMLResponse)
def map_hotspots(
    request: Request,
    service: Service,
    query: AnalysisQuery,
    who: Viewer,
    measure: Annotated[
        Literal["count", "rate"],
        Query(description="Shade wards by incident count or by incidents per 1,000 residents"),
    ] = "count",
    layers: Annotated[
        str, Query(description="Comma-separated optional layers: heat, significance, emerging")
    ] = "heat,significance",
) -> Response:
    """Folium map: wards shaded by count or rate, borough outlines, hotspots with popups, heat,
    Gi* significance and emerging hot spot layers, legend."""
    ref, params = query
    wanted = {p.strip() for p in layers.split(",") if p.strip()}
    unknown = wanted - set(MAP_LAYERS)
    if unknown:
        raise InvalidInput(
            f"unknown layer(s): {', '.join(sorted(unknown))}; choose from {', '.join(MAP_LAYERS)}"
        )
    emerging = None
    if "emerging" in wanted:
        version, result, emerging = service.emerging(ref, params, view=who.disclosure)
    else:
        version, result = service.analyse(ref, params, view=who.disclosure)
    settings = service.settings
    options = MapOptions(
        tiles=settings.tiles,
        tiles_attribution=settings.tiles_attribution,
        static_prefix=str(request.app.state.static_prefix),
        title=f"Hotspots: {version.ref}, {result.meta['month_from']} to {result.meta['month_to']}",
        measure=measure,
        heat="heat" in wanted,
        significance="significance" in wanted,
    )
    variant = (
        service.interventions.token(),
        who.disclosure.identity,
        measure,
        tuple(sorted(wanted)),
        options.static_prefix,
    )
    body = service.rendered(
        "map-page",
        version,
        params,
        variant,
        lambda: Body.of(render_page(result, options, emerging, _interventions(service, version, params))),
    )
    return body_response(request, body, "text/html; charset=utf-8")


def _interventions(service: HotspotService, version: Selection, params: AnalysisParams) -> gpd.GeoDataFrame:
    """The recorded interventions overlapping the analysis's area (EPSG:27700), for the map."""
    return service.interventions.frame(within=service.area_of(version, params.area).outline)
