"""The interactive map page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from hotspots.api.deps import AnalysisQuery, Service
from hotspots.maps import MapOptions, render_page

router = APIRouter(tags=["maps"])


@router.get("/", include_in_schema=False)
def index() -> RedirectResponse:
    return RedirectResponse("/maps/hotspots")


@router.get("/maps/hotspots", operation_id="map_hotspots", response_class=HTMLResponse)
def map_hotspots(request: Request, service: Service, query: AnalysisQuery) -> HTMLResponse:
    """Folium map: wards shaded by count, borough outlines, hotspots with popups, heat layer, legend."""
    ref, params = query
    version, result = service.analyse(ref, params)
    settings = service.settings
    options = MapOptions(
        tiles=settings.tiles,
        tiles_attribution=settings.tiles_attribution,
        static_prefix=str(request.app.state.static_prefix),
        title=f"Hotspots: {version.ref}, {result.meta['month_from']} to {result.meta['month_to']}",
    )
    return HTMLResponse(render_page(result, options))
