"""Cross-site request forgery protection of the browser forms (sign in, sign out).

A signed double-submit token: the token is a random nonce and its HMAC-SHA256 under a
secret kept in the data directory (so every worker process shares it), sent both in the
:data:`CSRF_COOKIE` cookie (SameSite=Strict, path ``/app``) and in the form's hidden
:data:`CSRF_FIELD` field. A POST is refused (403) unless

- its ``Origin`` header, when sent, names this server (``null`` and other sites are
  refused); with no ``Origin``, a ``Referer`` from another site is refused too; and
- the form's token equals the cookie's, and its signature checks.

A page on another site can neither read nor send the cookie (SameSite=Strict), so it
cannot sign a browser in with the attacker's key, nor sign it out. The signature stops
invented tokens; the ``Origin`` check stops a sibling subdomain that could plant a token
of its own in the cookie (its pages are another origin). The cookie is readable by
the app page's script, which copies it into the cached page's sign-out form (the page is
built once for many browsers, so it cannot carry a browser's own token).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response

CSRF_COOKIE = "hotspots_csrf"
CSRF_FIELD = "csrf"
SECRET_FILE = "csrf-secret"
SECRET_BYTES = 32
COOKIE_PATH = "/app"


class CsrfTokens:
    """Makes and checks the signed tokens of one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the CSRF secret needs at least 16 bytes")
        self._secret = secret

    @classmethod
    def load(cls, directory: Path) -> CsrfTokens:
        """The secret in ``directory`` (made on first use, readable by its owner only).

        A new secret is written to a temporary file and linked into place, so processes
        starting together agree on one secret and never read a half-written one.
        """
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / SECRET_FILE
        if not path.exists():
            tmp = directory / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(secrets.token_bytes(SECRET_BYTES).hex())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process made it first: use theirs
            finally:
                tmp.unlink()
        return cls(bytes.fromhex(path.read_text(encoding="ascii").strip()))

    def new(self) -> str:
        nonce = secrets.token_urlsafe(24)
        return f"{nonce}.{self._sign(nonce)}"

    def valid(self, token: str | None) -> bool:
        if not token or token.count(".") != 1 or len(token) > 200:
            return False
        nonce, signature = token.split(".")
        return hmac.compare_digest(signature, self._sign(nonce))

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._secret, b"csrf:" + nonce.encode(), hashlib.sha256).hexdigest()


def tokens(request: Request) -> CsrfTokens:
    found: CsrfTokens = request.app.state.csrf
    return found


def page_token(request: Request) -> str:
    """The token for a form on this page: the browser's own if it has a valid one, else a new one."""
    current = request.cookies.get(CSRF_COOKIE)
    return current if current and tokens(request).valid(current) else tokens(request).new()


def set_token_cookie(request: Request, response: Response, token: str, max_age: int) -> None:
    """Keep ``token`` in the browser (not HttpOnly: the app page's script reads it)."""
    response.set_cookie(
        CSRF_COOKIE,
        token,
        httponly=False,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=max_age,
        path=COOKIE_PATH,
    )


def same_site(request: Request) -> bool:
    """Whether the request's ``Origin`` (or, without one, its ``Referer``) is this server.

    Neither header sent: ``True`` (the token alone decides). Hosts are compared without the
    scheme, so a proxy that ends TLS in front of the app does not refuse its own pages; the
    ``Host`` header or a proxy's ``X-Forwarded-Host`` may match (a cross-site form cannot set
    either header).
    """
    hosts = {request.headers.get("host", "").strip().lower()}
    forwarded = request.headers.get("x-forwarded-host")
    if forwarded:
        hosts.add(forwarded.split(",")[0].strip().lower())
    hosts.discard("")
    origin = request.headers.get("origin")
    if origin is not None:
        return urlsplit(origin.strip()).netloc.lower() in hosts
    referer = request.headers.get("referer")
    if referer:
        return urlsplit(referer.strip()).netloc.lower() in hosts
    return True


def form_is_genuine(request: Request, submitted: str | None) -> bool:
    """The checks of a form POST: same site, and the form's token is the cookie's, signed by us."""
    cookie = request.cookies.get(CSRF_COOKIE)
    return (
        same_site(request)
        and submitted is not None
        and cookie is not None
        and hmac.compare_digest(submitted.encode(), cookie.encode())
        and tokens(request).valid(cookie)
    )
