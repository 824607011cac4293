"""The one place that maps the project's errors to HTTP status codes."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from hotspots.errors import (
    Conflict,
    Forbidden,
    HotspotError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)

STATUS: dict[type[HotspotError], int] = {
    PayloadTooLarge: 413,
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


def register_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HotspotError)
        headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'} if isinstance(exc, Unauthorized) else None
        return JSONResponse(error_body(exc), status_code=status_for(exc), headers=headers)

    app.add_exception_handler(HotspotError, handle)
