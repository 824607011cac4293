"""The app's data page (``/app/data``): every role picks a dataset; an administrator loads data.

The page's forms post to routes of their own under ``/app`` (never to the JSON API): each
form carries this browser's CSRF token (:mod:`hotspots.api.csrf`), and only then is the
signed-in cookie taken as the administrator's key. The JSON API's POSTs still ignore the
cookie. The validation report of an upload, with the line and column of every row error, is
shown as a page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from hotspots.api.auth import KEY_COOKIE, Principal, Viewer
from hotspots.api.csrf import CSRF_FIELD, form_is_genuine, page_token, set_token_cookie
from hotspots.api.deps import Service
from hotspots.api.errors import status_for
from hotspots.api.routes.app_page import SESSION_S, _holds, _latest_versions
from hotspots.api.routes.datasets import FORMATS, _store_upload
from hotspots.api.routes.uploads import UploadForm, read_form, read_upload, safe_filename
from hotspots.api.templating import templates
from hotspots.boundaries.upload import MAX_POPULATION_BYTES
from hotspots.errors import HotspotError, InvalidInput
from hotspots.geo.inputs.ingest import OUTSIDE_POLICIES
from hotspots.service import HotspotService

router = APIRouter(tags=["app"])
FORGED = "This form was not sent from this site's own page, or it has expired. Open the page again."
NOT_ADMIN = "Only a signed-in administrator can load data. Sign in with an admin key."


@router.get("/app/data", operation_id="app_data_page", response_class=HTMLResponse)
def data_page(request: Request, service: Service, who: Viewer) -> HTMLResponse:
    """Datasets (what each holds and lacks) to open in the map; for an admin, the upload forms."""
    return _page(request, service, who.role == "admin", None, 200)


@router.post("/app/data/upload", operation_id="app_data_upload", response_class=HTMLResponse)
async def upload(request: Request, service: Service) -> HTMLResponse:
    """Validate and store incident files sent from the data page's own form (admin, CSRF-checked).

    The answer is a page: the validation report, or the row errors with line and column.
    """
    form = await read_form(request, service.settings.max_upload_bytes)
    try:
        who = _admin(request, service, form)
        if isinstance(who, HTMLResponse):
            return who
        try:
            described = await run_in_threadpool(_store_upload, service, who, form)
        except HotspotError as exc:
            return _report(request, None, exc, status_for(exc))
        return _report(request, described, None, 201)
    finally:
        await form.close()


@router.post("/app/data/area", operation_id="app_data_area", response_class=HTMLResponse)
async def make_area(request: Request, service: Service) -> HTMLResponse:
    """Make an area from catalogue districts, a police force or a boundary file, from the data page
    (admin, CSRF-checked); the validation problems, if any, come back as the page."""
    form = await read_form(request, service.settings.max_upload_bytes)
    try:
        who = _admin(request, service, form)
        if isinstance(who, HTMLResponse):
            return who
        name = form.required("name")
        districts = [
            d.strip() for d in (form.text("districts") or "").replace("\n", ",").split(",") if d.strip()
        ]
        force = (form.text("police_force") or "").strip() or None
        files = [f for f in form.files.get("file", []) if f.filename]
        population = [f for f in form.files.get("population", []) if f.filename]
        try:
            if files:
                limit = service.settings.max_boundary_upload_bytes
                area = await run_in_threadpool(
                    lambda: service.add_area_from_file(
                        read_upload(files[0], limit),
                        safe_filename(files[0].filename),
                        name,
                        title=form.text("title") or None,
                        population_csv=read_upload(population[0], MAX_POPULATION_BYTES)
                        if population
                        else None,
                        has_other_choice=bool(districts or force),
                    )
                )
            else:
                area = await run_in_threadpool(
                    lambda: service.add_area(
                        name, title=form.text("title") or None, districts=districts, police_force=force
                    )
                )
        except HotspotError as exc:
            return _page(request, service, True, exc.message, status_for(exc), error=True)
        service.security.audit(
            who.name, who.role, "area created", area.name, {"kind": area.kind, **area.spec}
        )
        return _page(request, service, True, f"Area {area.name!r} made: {area.title}.", 201)
    finally:
        await form.close()


def _admin(request: Request, service: HotspotService, form: UploadForm) -> Principal | HTMLResponse:
    """The administrator who sent this form, or the page saying why not (403 or 401)."""
    if not form_is_genuine(request, form.text(CSRF_FIELD)):
        return _page(request, service, False, FORGED, 403, error=True)
    key = request.cookies.get(KEY_COOKIE)
    record = service.security.verify(key.strip()) if key else None
    if record is None:
        return _page(request, service, False, NOT_ADMIN, 401, error=True)
    if record.role != "admin":
        return _page(request, service, False, NOT_ADMIN, 403, error=True)
    return Principal(record.name, record.role, service.disclosure_for(record.role))


def _page(
    request: Request,
    service: HotspotService,
    admin: bool,
    message: str | None,
    status: int,
    error: bool = False,
) -> HTMLResponse:
    token = page_token(request)
    context: dict[str, Any] = {
        "datasets": sorted(
            (_holds(v) for v in _latest_versions(service)), key=lambda h: h["period"], reverse=True
        ),
        "areas": [{"name": a.name, "title": a.title} for a in service.areas()],
        "admin": admin,
        "signed_in": KEY_COOKIE in request.cookies,
        "formats": FORMATS,
        "outside": OUTSIDE_POLICIES,
        "message": message,
        "error": error,
        "csrf": token,
    }
    page = templates.TemplateResponse(request, "app_data.html", context, status_code=status)
    set_token_cookie(request, page, token, SESSION_S)
    return page


def _report(
    request: Request, described: dict[str, Any] | None, exc: HotspotError | None, status: int
) -> HTMLResponse:
    errors = [e.as_dict() for e in exc.errors] if isinstance(exc, InvalidInput) else []
    total = exc.total_errors if isinstance(exc, InvalidInput) else None
    context = {
        "described": described,
        "report": (described or {}).get("report") or {},
        "message": exc.message if exc else None,
        "errors": errors,
        "total_errors": total if total is not None else len(errors),
    }
    return templates.TemplateResponse(request, "app_report.html", context, status_code=status)
