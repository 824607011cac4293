"""Response bodies built once and kept compressed: map pages and GeoJSON documents.

A cached body holds its bytes and their gzip encoding, so a request for a cached map
page or layer costs a cache look-up and a socket write, never a re-render or a
re-compression. Clients that accept gzip get the compressed bytes.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

GZIP_LEVEL = 6
MIN_GZIP_BYTES = 1024


@dataclass(frozen=True)
class Body:
    """Bytes of a response body and, when worth it, their gzip encoding."""

    raw: bytes
    gzipped: bytes | None

    @classmethod
    def of(cls, text: str) -> Body:
        raw = text.encode("utf-8")
        if len(raw) < MIN_GZIP_BYTES:
            return cls(raw, None)
        packed = gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0)
        return cls(raw, packed if len(packed) < len(raw) else None)


def accepts_gzip(request: Request) -> bool:
    """Whether the request's ``Accept-Encoding`` allows gzip (``q=0`` refuses it)."""
    for part in request.headers.get("accept-encoding", "").split(","):
        token, _, params = part.strip().partition(";")
        if token.strip().lower() in ("gzip", "*"):
            q = params.strip().lower()
            return not (q.startswith("q=") and _q_is_zero(q[2:]))
    return False


def _q_is_zero(text: str) -> bool:
    try:
        return float(text) == 0
    except ValueError:
        return False


def body_response(request: Request, body: Body, media_type: str) -> Response:
    """``body`` as a response, gzip-encoded when the client accepts it."""
    headers = {"Vary": "Accept-Encoding"}
    if body.gzipped is not None and accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        return Response(body.gzipped, media_type=media_type, headers=headers)
    return Response(body.raw, media_type=media_type, headers=headers)
