"""Hotspots as JSON (ranked table with summaries) and as GeoJSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from hotspots.api.auth import Viewer
from hotspots.api.bodies import Body, body_response
from hotspots.api.deps import AnalysisQuery, Service
from hotspots.geo.outputs.export import HOTSPOT_PROPERTIES, dumps, export_metadata, hotspots_geojson, jsonable

router = APIRouter(tags=["hotspots"])
GEOJSON = "application/geo+json"
JSON = "application/json"


@router.get(
    "/hotspots",
    operation_id="get_hotspots",
    response_class=Response,
    responses={200: {"content": {JSON: {"schema": {"type": "object", "additionalProperties": True}}}}},
)
def get_hotspots(
    request: Request,
    service: Service,
    query: AnalysisQuery,
    who: Viewer,
    stability: Annotated[
        bool,
        Query(description="Add months_hot per hotspot and meta.stability (12 extra monthly fits, cached)"),
    ] = False,
) -> Response:
    """Ranked hotspots (1 = most incidents) with their summaries, and the run's metadata."""
    ref, params = query
    if stability:
        version, result = service.stability(ref, params, view=who.disclosure)
    else:
        version, result = service.analyse(ref, params, view=who.disclosure)
    columns = [*HOTSPOT_PROPERTIES, *(["months_hot", "months_checked"] if stability else [])]

    def render() -> Body:
        rows = result.hotspots[columns].to_dict("records")
        body: dict[str, Any] = {
            "dataset": version.ref,
            "meta": result.meta,
            "metadata": export_metadata(result, "hotspots"),
            "hotspots": rows,
        }
        return Body.of(dumps(jsonable(body)))

    return body_response(
        request,
        service.rendered(
            "hotspots-json-stability" if stability else "hotspots-json",
            version,
            params,
            (who.disclosure.identity,),
            render,
        ),
        JSON,
    )


@router.get(
    "/hotspots.geojson",
    operation_id="get_hotspots_geojson",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}}},
)
def get_hotspots_geojson(request: Request, service: Service, query: AnalysisQuery, who: Viewer) -> Response:
    """Hotspot polygons as an RFC 7946 FeatureCollection (WGS84, 6 decimals)."""
    ref, params = query
    version, result = service.analyse(ref, params, view=who.disclosure)
    body = service.rendered(
        "hotspots-geojson",
        version,
        params,
        (who.disclosure.identity,),
        lambda: Body.of(dumps(hotspots_geojson(result))),
    )
    return body_response(request, body, GEOJSON)
