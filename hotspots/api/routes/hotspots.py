"""Hotspots as JSON (ranked table with summaries) and as GeoJSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hotspots.api.auth import Viewer
from hotspots.api.bodies import Body, body_response
from hotspots.api.deps import AnalysisQuery, Service
from hotspots.geo.export import HOTSPOT_PROPERTIES, dumps, export_metadata, hotspots_geojson, jsonable

router = APIRouter(tags=["hotspots"])
GEOJSON = "application/geo+json"


@router.get("/hotspots", operation_id="get_hotspots")
def get_hotspots(service: Service, query: AnalysisQuery, who: Viewer) -> dict[str, Any]:
    """Ranked hotspots (1 = most incidents) with their summaries, and the run's metadata."""
    ref, params = query
    version, result = service.analyse(ref, params, exact=who.sees_exact_counts)
    rows = result.hotspots[HOTSPOT_PROPERTIES].to_dict("records")
    body: dict[str, Any] = jsonable(
        {
            "dataset": version.ref,
            "meta": result.meta,
            "metadata": export_metadata(result, "hotspots"),
            "hotspots": rows,
        }
    )
    return body


@router.get(
    "/hotspots.geojson",
    operation_id="get_hotspots_geojson",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}}},
)
def get_hotspots_geojson(request: Request, service: Service, query: AnalysisQuery, who: Viewer) -> Response:
    """Hotspot polygons as an RFC 7946 FeatureCollection (WGS84, 6 decimals)."""
    ref, params = query
    exact = who.sees_exact_counts
    version, result = service.analyse(ref, params, exact=exact)
    body = service.rendered(
        "hotspots-geojson", version, params, (exact,), lambda: Body.of(dumps(hotspots_geojson(result)))
    )
    return body_response(request, body, GEOJSON)
