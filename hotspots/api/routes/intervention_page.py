"""The interventions page of the app: record one, list them, open an evaluation with its chart.

``GET /app/interventions`` lists the interventions and, with ``open=ID``, shows the
evaluation (plain-words verdict, chart, counts, measures, caveats) as the caller may see
it. ``POST /app/interventions`` records one from the page's form: a browser's key
cookie counts only for reads (see :mod:`hotspots.api.auth`), so this form, like sign-in,
must carry this browser's CSRF token (:func:`form_is_genuine`); the key in the cookie is
then checked and its role must be police, council or admin.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hotspots.api.auth import KEY_COOKIE, Principal, Viewer
from hotspots.api.csrf import CSRF_FIELD, form_is_genuine, page_token, set_token_cookie
from hotspots.api.deps import Service
from hotspots.api.errors import status_for
from hotspots.api.routes.interventions import record_from
from hotspots.api.routes.uploads import read_form, read_upload
from hotspots.api.templating import templates
from hotspots.errors import Forbidden, HotspotError, Unauthorized
from hotspots.geo.outputs.export import rfc7946_geometry
from hotspots.geo.stats import interventions as iv
from hotspots.maps import MapOptions
from hotspots.maps.assets import LEAFLET_CSS, LEAFLET_JS, asset_url
from hotspots.maps.intervention_layer import months_text
from hotspots.maps.style import tile_source
from hotspots.service import HotspotService
from hotspots.service_interventions import EvaluationParams

router = APIRouter(tags=["app"])
PAGE = "/app/interventions"
RECORDERS = frozenset({"police", "council", "admin"})
SESSION_S = 12 * 3600
DRAW_SIMPLIFY_M = 20.0
"""Simplification of the area outline drawn under the polygon drawing map, metres (EPSG:27700)."""


def _context(
    request: Request, service: HotspotService, who: Principal, area: str | None = None
) -> dict[str, Any]:
    token = page_token(request)
    return {
        "interventions": [r.describe() for r in service.interventions.all()],
        "types": iv.INTERVENTION_TYPES,
        "may_record": who.role in RECORDERS,
        "role": who.role,
        "csrf_field": CSRF_FIELD,
        "csrf": token,
        "k": service.settings.disclosure_k,
        "error": None,
        "report": None,
        "opened": None,
        "form": {},
        "datasets": sorted({v.name for v in service.store.list_datasets()}),
        "draw": _draw(request, service, area) if who.role in RECORDERS else None,
    }


def _draw(request: Request, service: HotspotService, area_name: str | None = None) -> dict[str, Any]:
    """What the page's polygon drawing map needs: Leaflet from our own static path, the base map
    (or none), the outline (WGS84) and bounds of the area to draw on (``area_name``, or the
    default area), and the interventions already recorded there (name, months, WGS84 shape)."""
    prefix = str(request.app.state.static_prefix)
    options = MapOptions(tiles=service.settings.tiles, tiles_attribution=service.settings.tiles_attribution)
    tiles, attribution = tile_source(options)
    area = service.area(area_name)
    outline = iv.to_wgs84(area.outline.simplify(DRAW_SIMPLIFY_M))
    west, south, east, north = outline.bounds
    # what is already recorded here, drawn under the new polygon so targets are not drawn twice
    here = service.interventions.frame(within=area.outline)
    existing = [
        {
            "name": r["name"],
            "when": months_text(str(r["start"]), r["end"] if isinstance(r["end"], str) else None),
            "geometry": rfc7946_geometry(iv.to_wgs84(r["geometry"].simplify(2.0))),
        }
        for r in here.to_dict("records")
    ]
    return {
        "leaflet_js": asset_url(prefix, LEAFLET_JS),
        "leaflet_css": asset_url(prefix, LEAFLET_CSS),
        "config": {
            "tiles": tiles,
            "attribution": attribution,
            "outline": rfc7946_geometry(outline),
            "bounds": [[round(south, 6), round(west, 6)], [round(north, 6), round(east, 6)]],
            "existing": existing,
        },
    }


def _page(request: Request, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    page = templates.TemplateResponse(request, "interventions.html", context, status_code=status)
    set_token_cookie(request, page, context["csrf"], SESSION_S)
    return page


@router.get(PAGE, operation_id="app_interventions_page", response_class=HTMLResponse)
def interventions_page(
    request: Request,
    service: Service,
    who: Viewer,
    open_id: Annotated[
        str | None, Query(alias="open", max_length=32, pattern="^[0-9a-f]{1,32}$", description="Intervention")
    ] = None,
    dataset: Annotated[str | None, Query(description="Dataset(s) to evaluate on")] = None,
    category: Annotated[list[str] | None, Query(description="Crime type(s)")] = None,
    weight: Annotated[Literal["count", "harm"], Query(description="count or harm")] = "count",
    buffer_m: Annotated[float, Query(ge=iv.MIN_BUFFER_M, le=iv.MAX_BUFFER_M)] = iv.DEFAULT_BUFFER_M,
    before_months: Annotated[int | None, Query(ge=1, le=iv.MAX_BEFORE_MONTHS)] = None,
    scale_control: Annotated[bool, Query(description="WDD with the control scaled (default: plain)")] = False,
    area: Annotated[
        str | None,
        Query(max_length=64, description="Area whose outline the drawing map shows (default area)"),
    ] = None,
) -> HTMLResponse:
    """Interventions: the list, a form to record one (police, council), and an opened evaluation."""
    try:
        context = _context(request, service, who, area)
    except HotspotError as exc:
        context = _context(request, service, who)
        context["error"] = exc.message
        return _page(request, context, status_for(exc))
    if open_id is None:
        return _page(request, context)
    params = EvaluationParams(
        buffer_m=buffer_m,
        before_months=before_months,
        crime_types=tuple(category or ()),
        weight=weight,
        scale_control=scale_control,
    )
    query: dict[str, Any] = {"buffer_m": buffer_m, "weight": weight}
    if dataset:
        query["dataset"] = dataset
    if before_months:
        query["before_months"] = before_months
    if category:
        query["category"] = category
    if scale_control:
        query["scale_control"] = "true"
    context["form"] = {
        "dataset": dataset or "",
        "weight": weight,
        "buffer_m": buffer_m,
        "category": category or [],
        "scale_control": scale_control,
    }
    try:
        record = service.interventions.get(open_id)
        context["opened"] = record.describe()
        context["report"] = service.interventions.evaluate(open_id, dataset, params, view=who.disclosure)
        context["chart_src"] = f"/interventions/{open_id}/evaluation.png?{urlencode(query, doseq=True)}"
        context["json_src"] = f"/interventions/{open_id}/evaluation?{urlencode(query, doseq=True)}"
    except HotspotError as exc:
        context["error"] = exc.message
        return _page(request, context, status_for(exc))
    return _page(request, context)


def _cookie_principal(request: Request, service: HotspotService, submitted: str | None) -> Principal:
    """The signed-in browser's caller for a form POST: genuine form, valid key, a recording role."""
    if not form_is_genuine(request, submitted):
        raise Forbidden(
            "This form was not sent from this site's own page, or it has expired. Please try again."
        )
    key = request.cookies.get(KEY_COOKIE)
    if not key:
        raise Unauthorized("sign in (with a police or council key) to record an intervention")
    record = service.security.verify(key.strip())
    if record is None:
        raise Unauthorized("the key this browser signed in with is no longer valid: sign in again")
    if record.role not in RECORDERS:
        raise Forbidden(f"the '{record.role}' role may not record interventions; police and council may")
    return Principal(record.name, record.role, service.disclosure_for(record.role))


@router.post(PAGE, operation_id="app_record_intervention", response_class=HTMLResponse)
async def record_from_page(request: Request, service: Service) -> Response:
    """Record an intervention from the page's form (GeoJSON file or text, ward codes or hotspot ids)."""
    form = await read_form(request, 2 * iv.MAX_GEOJSON_BYTES)
    try:
        fields: dict[str, Any] = {k: v for k, v in form.fields.items() if k != CSRF_FIELD}
        for name in ("polygon", "control"):
            uploads = form.files.get(name)
            if uploads and uploads[0].filename:
                fields[name] = await run_in_threadpool(read_upload, uploads[0], iv.MAX_GEOJSON_BYTES)
            elif isinstance(fields.get(f"{name}_text"), str) and fields[f"{name}_text"].strip():
                fields[name] = fields[f"{name}_text"]
        fields.pop("polygon_text", None)
        fields.pop("control_text", None)
        try:
            who = await run_in_threadpool(_cookie_principal, request, service, form.fields.get(CSRF_FIELD))
            feature = await run_in_threadpool(record_from, service, who, fields)
        except HotspotError as exc:
            viewer = Principal("anonymous", "viewer", service.disclosure_for("viewer"))
            context = _context(request, service, viewer)
            context["may_record"] = True
            context["draw"] = _draw(request, service)
            context["error"] = exc.message
            context["form"] = {k: v for k, v in fields.items() if isinstance(v, str) and len(v) < 2000}
            return _page(request, context, status_for(exc))
    finally:
        await form.close()
    return RedirectResponse(f"{PAGE}?open={feature['id']}", status_code=303)
