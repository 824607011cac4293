"""Security headers on every response: a Content-Security-Policy, no framing, no sniffing.

The policy lets pages load scripts, styles, fonts and images from this server only (plus
``data:`` images, and the base map's tile host when tiles are on), send forms and requests
only here, and never be framed. The map pages are Folium documents whose scripts and styles
are inline, so the page policy allows inline scripts and styles; what it stops is loading
code from anywhere else, sending data elsewhere, plugins, ``<base>`` tricks and framing.
Swagger UI (``/docs``) loads its assets from this server too (the installed
``fastapi-offline`` package, see :mod:`hotspots.api.routes.docs`) under the same policy: no
page of ours may load anything from another host but the base map's tiles.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

from starlette.types import ASGIApp, Message, Receive, Scope, Send

OSM_TILE_HOSTS = ("https://tile.openstreetmap.org", "https://*.tile.openstreetmap.org")

_HOST = re.compile(r"^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:\d+)?$")


def tile_sources(tiles: str) -> tuple[str, ...]:
    """CSP sources of the base map's tiles: ``()`` for none, the tile URL's origin otherwise.

    ``openstreetmap`` gives OpenStreetMap's tile hosts; an XYZ template's ``{s}``
    subdomain becomes a ``*.`` wildcard. An unusable value gives ``()`` (the map page
    refuses it anyway).
    """
    value = tiles.strip()
    if value.lower() == "openstreetmap":
        return OSM_TILE_HOSTS
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return ()
    host = re.sub(r"\{[^}]*\}", "*", parsed.netloc.rsplit("@", 1)[-1])
    if not _HOST.match(host):
        return (f"{parsed.scheme}:",)  # a placeholder mid-name: no narrower source can say it
    return (f"{parsed.scheme}://{host}",)


def content_security_policy(tiles: str) -> str:
    """The policy of every page of the app, the API documentation included."""
    directives: dict[str, list[str]] = {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'unsafe-inline'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", *tile_sources(tiles)],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


class SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP response (unless already set)."""

    def __init__(self, app: ASGIApp, tiles: str) -> None:
        self.app = app
        common = [
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
        ]
        self.headers = [(b"content-security-policy", content_security_policy(tiles).encode()), *common]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in self.headers if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
