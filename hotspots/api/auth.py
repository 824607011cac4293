"""API keys and roles: who is calling, and may they do this?

Roles: ``viewer`` (maps and aggregated layers), ``police`` (plus incident-level
points and patrol lists), ``council`` (plus exports), ``admin`` (everything:
uploads, boundaries, keys, audit). Keys arrive in the ``X-API-Key`` header or as
``Authorization: Bearer <key>``. A browser that signed in on ``/app/login`` sends
the key in the :data:`KEY_COOKIE` cookie (HttpOnly, SameSite=Strict); the cookie
counts only for reads (GET and HEAD), so a page on another site cannot make a
signed-in browser upload or delete anything; the sign-in and sign-out forms themselves
are guarded by a CSRF token and an ``Origin`` check (:mod:`hotspots.api.csrf`). Without
a key, the demo setting lets callers in as ``viewer``; with ``auth_required`` they get
401. A key whose role is not allowed gets 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from hotspots.errors import Forbidden, Unauthorized
from hotspots.geo.disclosure import Disclosure
from hotspots.service import HotspotService

ANONYMOUS = "anonymous"
KEY_COOKIE = "hotspots_key"
READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Principal:
    """The caller: a key's name and role (or the anonymous demo viewer), and what they may see.

    ``disclosure`` is decided once, from the role, by
    :meth:`~hotspots.service.HotspotService.disclosure_for` (exact for police and admin,
    protected for viewers and councils); handlers pass it to the service unchanged and never
    decide disclosure themselves.
    """

    name: str
    role: str
    disclosure: Disclosure = field(repr=False)

    @property
    def sees_exact_counts(self) -> bool:
        """For audit records: whether this caller's outputs carry exact counts."""
        return self.disclosure.exact


def _key_from(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    cookie = request.cookies.get(KEY_COOKIE)
    if cookie and request.method in READ_METHODS:
        return cookie.strip()
    return None


def current_principal(request: Request) -> Principal:
    service: HotspotService = request.app.state.service
    key = _key_from(request)
    if key is None:
        if service.settings.auth_required:
            raise Unauthorized("an API key is required: send it in the X-API-Key header")
        return Principal(ANONYMOUS, "viewer", service.disclosure_for("viewer"))
    record = service.security.verify(key)
    if record is None:
        raise Unauthorized("the API key is not valid (unknown or revoked)")
    return Principal(record.name, record.role, service.disclosure_for(record.role))


def require(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits ``roles`` (admins always) and returns the caller.

    It runs on the event loop (no thread hop for the anonymous demo viewer); checking a key
    reads the database, so that part runs in a worker thread.
    """
    allowed = set(roles) | {"admin"}

    async def check(request: Request) -> Principal:
        if _key_from(request) is None:
            principal = current_principal(request)
        else:
            principal = await run_in_threadpool(current_principal, request)
        if principal.role not in allowed:
            raise Forbidden(
                f"the '{principal.role}' role may not do this; it needs one of: {', '.join(sorted(allowed))}"
            )
        request.state.principal = principal
        return principal

    return check


ALL_ROLES = ("viewer", "police", "council")
Viewer = Annotated[Principal, Depends(require(*ALL_ROLES))]
Police = Annotated[Principal, Depends(require("police"))]
Council = Annotated[Principal, Depends(require("council"))]
PatrolList = Annotated[Principal, Depends(require("police", "council"))]
Admin = Annotated[Principal, Depends(require("admin"))]
