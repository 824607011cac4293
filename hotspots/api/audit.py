"""Rejected uploads in the audit log, written in one place for every way an upload can fail.

:func:`audited_rejections` makes a route class for a router of upload routes: every POST
that ends in an error (a file too large, a bad file name or field, FastAPI's own validation
of the form, a domain error, or an unexpected exception that becomes a 500) writes one audit
entry, ``<action>`` with the caller, the status and the reason, then the error goes on to
the error handlers as before. Callers who cannot be identified by a valid key (401) are not
logged, so anonymous requests cannot fill the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from hotspots.api.auth import ANONYMOUS, Principal, current_principal
from hotspots.api.errors import status_for
from hotspots.api.routes.uploads import UploadForm
from hotspots.errors import HotspotError

log = logging.getLogger("hotspots")
REASON_CHARS = 500


def audited_rejections(action: str) -> type[APIRoute]:
    """A route class whose POST routes audit their rejections as ``action``."""

    class AuditedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()
            if "POST" not in (self.methods or ()):
                return handler

            async def audited(request: Request) -> Response:
                try:
                    response = await handler(request)
                except Exception as exc:
                    status, reason = _rejection(exc)
                    await _audit(request, action, status, reason)
                    raise
                if response.status_code >= 400:
                    await _audit(request, action, response.status_code, f"HTTP {response.status_code}")
                return response

            return audited

    return AuditedRoute


def _rejection(exc: Exception) -> tuple[int, str]:
    """Status and reason of an exception, as the error handlers will answer it."""
    if isinstance(exc, HotspotError):
        return status_for(exc), exc.message
    if isinstance(exc, RequestValidationError):
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()
        ]
        return 422, "; ".join(problems[:5]) or "invalid request"
    if isinstance(exc, HTTPException):
        return exc.status_code, str(exc.detail)
    return 500, f"internal error ({type(exc).__name__})"


async def _audit(request: Request, action: str, status: int, reason: str) -> None:
    try:
        who = await _caller(request)
        if who is None:
            return
        service = request.app.state.service
        target, detail = _upload(request)
        detail.update(status=status, reason=reason[:REASON_CHARS])
        await run_in_threadpool(service.security.audit, who.name, who.role, action, target, detail)
    except Exception:  # the audit must never hide the error the caller is about to get
        log.exception("could not audit a rejected upload")


async def _caller(request: Request) -> Principal | None:
    """The principal the auth check set, else whoever the request's key names; ``None`` if unknown."""
    who = getattr(request.state, "principal", None)
    if not isinstance(who, Principal):
        try:
            who = await run_in_threadpool(current_principal, request)
        except HotspotError:
            return None
    return None if who is None or who.name == ANONYMOUS else who


def _upload(request: Request) -> tuple[str, dict[str, Any]]:
    """The upload's ``name`` field and file names, when the form was read (never reads the body)."""
    form = getattr(request.state, "upload_form", None)  # set by hotspots.api.routes.uploads.read_form
    if not isinstance(form, UploadForm):
        return request.url.path, {}
    name = form.fields.get("name")
    files = [f.filename or "" for group in form.files.values() for f in group]
    target = name if name else request.url.path
    return target, {"files": [f[:200] for f in files[:20]]}
