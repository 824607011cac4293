"""The one place that maps the project's errors to HTTP status codes."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response

from hotspots.api.templating import APP_PREFIX, templates
from hotspots.errors import (
    Conflict,
    Forbidden,
    HotspotError,
    InvalidInput,
    InvalidParameter,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)
from hotspots.geo.cancel import Cancelled
from hotspots.geo.params import by_query_name

STATUS: dict[type[HotspotError], int] = {
    Cancelled: 499,  # the client left (nginx's "client closed request"); nobody reads it
    PayloadTooLarge: 413,
    InvalidParameter: 400,
    InvalidInput: 422,
    NotFound: 404,
    Unauthorized: 401,
    Forbidden: 403,
    Conflict: 409,
    Unavailable: 503,
    HotspotError: 400,
}


def status_for(exc: HotspotError) -> int:
    """Status of the most specific class in :data:`STATUS` (so subclasses map correctly)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def error_body(exc: HotspotError) -> dict[str, object]:
    body: dict[str, object] = {"error": type(exc).__name__, "message": exc.message}
    if isinstance(exc, InvalidInput):
        body["errors"] = [e.as_dict() for e in exc.errors]
        body["total_errors"] = exc.total_errors
    return body


OGC_PREFIX = "/ogc"
"""Under this path errors are OGC API exceptions: ``{"code", "description"}``, parameters 400."""
OGC_CODES: dict[type[HotspotError], str] = {
    InvalidInput: "InvalidParameterValue",
    NotFound: "NotFound",
    Forbidden: "Forbidden",
    Unauthorized: "Unauthorized",
}


def ogc_body(exc: HotspotError) -> dict[str, str]:
    """The OGC API exception body of ``exc`` (code of its most specific class in :data:`OGC_CODES`)."""
    code = next((OGC_CODES[c] for c in type(exc).__mro__ if c in OGC_CODES), type(exc).__name__)
    return {"code": code, "description": exc.message}


def register_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HotspotError)
        if _is_page(request):
            return _page_error(request, exc)
        if _is_ogc(request):
            status = 400 if isinstance(exc, InvalidInput) and status_for(exc) == 422 else status_for(exc)
            return JSONResponse(ogc_body(exc), status_code=status)
        headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'} if isinstance(exc, Unauthorized) else None
        return JSONResponse(error_body(exc), status_code=status_for(exc), headers=headers)

    async def handle_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        message = validation_message(exc)
        if _is_page(request):
            return _page_error(request, InvalidInput(message))
        if _is_ogc(request):
            return JSONResponse(ogc_body(InvalidParameter(message)), status_code=400)
        body = {"detail": jsonable_encoder(exc.errors()), "error": "InvalidInput", "message": message}
        return JSONResponse(body, status_code=422)

    app.add_exception_handler(HotspotError, handle)
    app.add_exception_handler(RequestValidationError, handle_validation)


def _is_ogc(request: Request) -> bool:
    path = request.url.path
    return path == OGC_PREFIX or path.startswith(OGC_PREFIX + "/")


def validation_message(exc: RequestValidationError) -> str:
    """FastAPI's parameter errors in words; a contract parameter's gives its usable range."""
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "body", "path")]
        name = loc[-1] if loc else "request"
        spec = by_query_name(name)
        parts.append(spec.message(err.get("input")) if spec else f"{name}: {err.get('msg', 'invalid')}")
    return "; ".join(dict.fromkeys(parts)) or "invalid request"


def _is_page(request: Request) -> bool:
    path = request.url.path
    return (path == APP_PREFIX or path.startswith(APP_PREFIX + "/")) and request.method in ("GET", "HEAD")


def _page_error(request: Request, exc: HotspotError) -> Response:
    """App pages answer people: a missing key leads to the sign-in page, other errors to a page."""
    if isinstance(exc, Unauthorized) and request.url.path != f"{APP_PREFIX}/login":
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{APP_PREFIX}/login?{urlencode({'next': here})}", status_code=303)
    context = {"title": "Something needs changing", "message": exc.message, "error": True, "login": False}
    return templates.TemplateResponse(request, "message.html", context, status_code=status_for(exc))
