"""Interventions: record (police, council), list and show (every role), evaluate, delete.

Handlers are thin: parse, call ``service.interventions``, audit, return. Evaluations pass
the caller's disclosure to the service unchanged (viewers and councils get protected
counts and figures computed from them).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hotspots.api.auth import Principal, Viewer, require
from hotspots.api.deps import Service
from hotspots.api.routes.uploads import read_form, read_upload
from hotspots.errors import InvalidInput, PayloadTooLarge
from hotspots.geo.analysis import AnalysisParams
from hotspots.geo.outputs.export import dumps
from hotspots.geo.stats import interventions as iv
from hotspots.service import HotspotService
from hotspots.service_interventions import EvaluationParams

router = APIRouter(tags=["interventions"])
Recorder = Annotated[Principal, Depends(require("police", "council"))]
MAX_BODY = 2 * iv.MAX_GEOJSON_BYTES + 64 * 1024
Ident = Annotated[str, Path(max_length=32, pattern="^[0-9a-f]{1,32}$", description="Intervention id")]

RECORD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["name", "type", "start"],
                    "properties": {
                        "name": {"type": "string"},
                        "type": {"type": "string", "enum": list(iv.INTERVENTION_TYPES)},
                        "partner": {"type": "string", "description": "Partner organisation"},
                        "start": {"type": "string", "description": "First month, YYYY-MM"},
                        "end": {"type": "string", "description": "Last month, YYYY-MM (optional)"},
                        "notes": {"type": "string"},
                        "area": {"type": "string", "description": "Area (default: the shipped demo)"},
                        "polygon": {"type": "object", "description": "Where: GeoJSON polygon (WGS84)"},
                        "hotspot_ids": {
                            "type": "array",
                            "items": {"type": "integer"},
                            "description": "Where: hotspot ids of the analysis given by dataset/analysis",
                        },
                        "dataset": {"type": "string"},
                        "analysis": {
                            "type": "object",
                            "description": "Analysis parameters the hotspot ids come from: eps_m, "
                            "min_samples, from, to, category (list), weight",
                        },
                        "wards": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "Where: ward codes",
                        },
                        "control": {"type": "object", "description": "Optional control polygon (GeoJSON)"},
                    },
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "type": {"type": "string"},
                        "partner": {"type": "string"},
                        "start": {"type": "string"},
                        "end": {"type": "string"},
                        "wards": {"type": "string", "description": "Comma-separated ward codes"},
                        "hotspot_ids": {"type": "string", "description": "Comma-separated hotspot ids"},
                        "dataset": {"type": "string"},
                        "polygon": {"type": "string", "format": "binary", "description": "GeoJSON file"},
                        "control": {"type": "string", "format": "binary", "description": "GeoJSON file"},
                    },
                }
            },
        },
    }
}


async def _read_json(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > MAX_BODY:
        raise PayloadTooLarge(f"the body may be at most {MAX_BODY // 1024} KiB")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge(f"the body may be at most {MAX_BODY // 1024} KiB")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str | int):
        raise InvalidInput(f"{name} must be text")
    return str(value).strip()[:2000]


def _list(value: Any, name: str) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        return value
    raise InvalidInput(f"{name} must be a list")


def _analysis(body: Any, area: str | None) -> AnalysisParams:
    body = body if isinstance(body, dict) else {}
    category = body.get("category") or []
    months = [body.get("from"), body.get("to")]
    if any(m is not None and not isinstance(m, str) for m in months):
        raise InvalidInput("analysis: 'from' and 'to' must be months YYYY-MM")
    params = AnalysisParams(
        month_from=months[0],
        month_to=months[1],
        crime_types=tuple(str(c) for c in (category if isinstance(category, list) else [category])),
        eps_m=body.get("eps_m"),
        min_samples=body.get("min_samples"),
        weight=body.get("weight") or "count",
        area=area,
    )
    params.validate()
    return params


def record_from(service: HotspotService, who: Principal, body: dict[str, Any]) -> dict[str, Any]:
    """Record an intervention from a parsed body (JSON or form fields with file contents)."""
    ids = _list(body.get("hotspot_ids"), "hotspot_ids")
    try:
        hotspot_ids = [int(i) for i in ids]
    except (TypeError, ValueError):
        raise InvalidInput("hotspot_ids must be whole numbers") from None
    area = _text(body, "area")
    record = service.interventions.record(
        name=_text(body, "name") or "",
        kind=_text(body, "type") or "",
        start=_text(body, "start") or "",
        end=_text(body, "end"),
        partner=_text(body, "partner") or "",
        notes=_text(body, "notes") or "",
        polygon=body.get("polygon") or None,
        hotspot_ids=hotspot_ids,
        dataset=_text(body, "dataset"),
        analysis=_analysis(body.get("analysis"), area) if hotspot_ids else None,
        wards=[str(w) for w in _list(body.get("wards"), "wards")],
        control=body.get("control") or None,
        area=area,
        created_by=who.name,
        view=who.disclosure,
    )
    service.security.audit(
        who.name,
        who.role,
        "intervention recorded",
        record.id,
        {"name": record.name, "type": record.kind, "where": record.where_kind, "start": record.start},
    )
    return service.interventions.feature(record)


@router.post("/interventions", status_code=201, operation_id="record_intervention", openapi_extra=RECORD_BODY)
async def record_intervention(request: Request, service: Service, who: Recorder) -> dict[str, Any]:
    """Record an intervention: what, who, when and where (a GeoJSON polygon, hotspot ids of an analysis
    (their shapes frozen into the record) or wards). Police and council; audited."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("application/json"):
        body = await _read_json(request)
        return await run_in_threadpool(record_from, service, who, body)
    form = await read_form(request, MAX_BODY)
    try:
        fields: dict[str, Any] = dict(form.fields)
        for name in ("polygon", "control"):
            if form.files.get(name):
                fields[name] = await run_in_threadpool(read_upload, form.files[name][0], iv.MAX_GEOJSON_BYTES)
        return await run_in_threadpool(record_from, service, who, fields)
    finally:
        await form.close()


@router.get("/interventions", operation_id="list_interventions")
def list_interventions(service: Service, _: Viewer) -> list[dict[str, Any]]:
    """Every recorded intervention (newest start first), without geometry."""
    return [r.describe() for r in service.interventions.all()]


@router.get(
    "/interventions.geojson",
    operation_id="interventions_geojson",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def interventions_geojson(service: Service, _: Viewer) -> Response:
    """Every intervention as an RFC 7946 FeatureCollection (WGS84), for the map and GIS tools."""
    return Response(dumps(service.interventions.feature_collection()), media_type="application/geo+json")


@router.get("/interventions/{ident}", operation_id="get_intervention")
def get_intervention(ident: Ident, service: Service, _: Viewer) -> dict[str, Any]:
    """One intervention as a GeoJSON Feature (WGS84)."""
    return service.interventions.feature(service.interventions.get(ident))


@router.delete("/interventions/{ident}", operation_id="delete_intervention")
def delete_intervention(ident: Ident, service: Service, who: Recorder) -> dict[str, Any]:
    """Delete an intervention record. Police and council; audited."""
    record = service.interventions.delete(ident)
    service.security.audit(who.name, who.role, "intervention deleted", record.id, {"name": record.name})
    return {"deleted": record.id}


async def evaluation_query(
    dataset: Annotated[
        str | None, Query(description="Dataset name or name@version, or several joined by commas")
    ] = None,
    category: Annotated[list[str] | None, Query(description="Crime type(s); repeat for several")] = None,
    weight: Annotated[
        Literal["count", "harm"], Query(description="Count incidents or sum their harm")
    ] = "count",
    start: Annotated[
        str | None, Query(description="Start month YYYY-MM (default: the intervention's)")
    ] = None,
    end: Annotated[str | None, Query(description="Last month YYYY-MM (default: the intervention's)")] = None,
    before_months: Annotated[
        int | None,
        Query(
            ge=1, le=iv.MAX_BEFORE_MONTHS, description="Months before the start (default: as many as after)"
        ),
    ] = None,
    buffer_m: Annotated[
        float,
        Query(ge=iv.MIN_BUFFER_M, le=iv.MAX_BUFFER_M, description="Width of the buffer ring, metres"),
    ] = iv.DEFAULT_BUFFER_M,
    control: Annotated[
        Literal["auto", "recorded", "wards"],
        Query(description="auto (the area beyond buffer and gap), recorded (the stored polygon) or wards"),
    ] = "auto",
    control_ward: Annotated[
        list[str] | None, Query(description="With control=wards: ward codes; repeat for several")
    ] = None,
    area: Annotated[str | None, Query(description="Area (default: the dataset's)")] = None,
    scale_control: Annotated[
        bool,
        Query(
            description="wdd with the control weighted to the target's size (default false: the plain "
            "formula); both are always given as wdd_plain and wdd_scaled"
        ),
    ] = False,
) -> tuple[str | None, EvaluationParams]:
    params = EvaluationParams(
        start=start,
        end=end,
        before_months=before_months,
        buffer_m=buffer_m,
        control=control,
        control_wards=tuple(control_ward or ()),
        crime_types=tuple(category or ()),
        weight=weight,
        area=area,
        scale_control=scale_control,
    )
    return dataset, params


EvaluationQuery = Annotated[tuple[str | None, EvaluationParams], Depends(evaluation_query)]


@router.get("/interventions/{ident}/evaluation", operation_id="evaluate_intervention")
def evaluate_intervention(
    ident: Ident, service: Service, query: EvaluationQuery, who: Viewer
) -> dict[str, Any]:
    """Did it work? WDD, WDQ and synthetic control on any dataset(s), with the counts behind them,
    the monthly chart's series and the caveats. Protected counts for viewers and councils."""
    ref, params = query
    return service.interventions.evaluate(ident, ref, params, view=who.disclosure)


@router.get(
    "/interventions/{ident}/evaluation.png",
    operation_id="evaluate_intervention_png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def evaluation_png(ident: Ident, service: Service, query: EvaluationQuery, who: Viewer) -> Response:
    """The monthly chart (target, synthetic target, scaled control; the start marked) as PNG."""
    from hotspots.maps.intervention_chart import evaluation_png as draw

    ref, params = query
    report = service.interventions.evaluate(ident, ref, params, view=who.disclosure)
    return Response(draw(report), media_type="image/png")
