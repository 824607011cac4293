"""Reading uploads: after authentication, within a size limit, off the event loop.

Upload routes take the :class:`~starlette.requests.Request` rather than FastAPI ``File``
and ``Form`` parameters: FastAPI reads and parses a form before any dependency runs, so
an unauthenticated caller could make the server read (and spool to disk) a body of any
size before the 401. Here the auth dependency runs first, then :func:`read_form`:

- a ``Content-Length`` above the limit is refused (413) before a byte of the body is read;
- the body is counted as it streams in, and refused as soon as it passes the limit
  (a chunked body has no length to check up front);
- the multipart parser spools files to temporary files, so memory stays small.

Handlers then run their parsing and validation in a worker thread
(``run_in_threadpool``): the event loop, and ``/healthz`` with it, stays responsive
during a large upload.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser

from hotspots.errors import InvalidInput, PayloadTooLarge

CHUNK = 1 << 20
FORM_OVERHEAD = 1 << 20
"""Room for the multipart framing and the text fields on top of the file size limit (bytes)."""
MAX_FILES = 100
MAX_FIELDS = 50
MAX_FIELD_BYTES = 64 * 1024
"""Largest text field of an upload form (a column mapping, a purpose...)."""


@dataclass
class UploadForm:
    """A parsed upload form: text fields and files (spooled to temporary files)."""

    fields: dict[str, str]
    files: dict[str, list[UploadFile]]

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.fields.get(name)
        return default if value is None or value == "" else value

    def required(self, name: str) -> str:
        value = self.fields.get(name)
        if value is None or not value.strip():
            raise InvalidInput(f"the form field {name!r} is required")
        return value

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(name, default) or default
        if value not in allowed:
            raise InvalidInput(f"{name} must be one of {', '.join(allowed)}, got {value[:50]!r}")
        return value

    def uploads(self, name: str) -> list[UploadFile]:
        files = self.files.get(name, [])
        if not files:
            raise InvalidInput(f"no file given: send the file(s) in the multipart field {name!r}")
        return files

    async def close(self) -> None:
        for files in self.files.values():
            for f in files:
                await f.close()


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"upload is larger than the limit of {max_bytes / 2**20:.1f} MiB")


async def read_form(request: Request, max_bytes: int) -> UploadForm:
    """The multipart form of ``request``, whose body may hold at most ``max_bytes`` of files.

    :class:`PayloadTooLarge` (413) from the ``Content-Length`` header alone when it says
    more, else as soon as the streamed body passes the limit; :class:`InvalidInput` (422)
    for a body that is not a well-formed ``multipart/form-data`` form (a form without files
    may also be sent ``application/x-www-form-urlencoded``).
    """
    limit = max_bytes + FORM_OVERHEAD
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.strip().isascii() and declared.strip().isdigit()):
            raise InvalidInput("the Content-Length header is not a number")
        if int(declared) > limit:
            raise _too_large(max_bytes)
    content_type = request.headers.get("content-type", "").lower()
    urlencoded = content_type.startswith("application/x-www-form-urlencoded")
    if not (content_type.startswith("multipart/form-data") or urlencoded):
        raise InvalidInput("send the upload as multipart/form-data (a form with file fields)")

    async def limited() -> AsyncGenerator[bytes, None]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(max_bytes)
            yield chunk

    parser: MultiPartParser | FormParser = (
        FormParser(request.headers, limited())
        if urlencoded
        else MultiPartParser(
            request.headers,
            limited(),
            max_files=MAX_FILES,
            max_fields=MAX_FIELDS,
            max_part_size=MAX_FIELD_BYTES,
        )
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidInput(f"the upload form is not valid: {exc.message}") from None
    fields: dict[str, str] = {}
    files: dict[str, list[UploadFile]] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            files.setdefault(key, []).append(value)
        elif len(value) > MAX_FIELD_BYTES:
            raise InvalidInput(f"the form field {key[:50]!r} is longer than {MAX_FIELD_BYTES // 1024} KiB")
        else:
            fields[key] = value
    parsed = UploadForm(fields, files)
    request.state.upload_form = parsed  # for the audit of a rejected upload (hotspots.api.audit)
    return parsed


def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """All bytes of a spooled upload (blocking: call from a worker thread); 413 past ``max_bytes``."""
    upload.file.seek(0)
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"{upload.filename}: upload is larger than the limit of {max_bytes / 2**20:.1f} MiB"
        )
    return data


async def read_limited(upload: UploadFile, max_bytes: int) -> bytes:
    """All bytes of an upload; :class:`PayloadTooLarge` past ``max_bytes``."""
    parts: list[bytes] = []
    size = 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(
                f"{upload.filename}: upload is larger than the limit of {max_bytes / 2**20:.1f} MiB"
            )
        parts.append(chunk)
    return b"".join(parts)


def safe_filename(name: str | None) -> str:
    """The last path component of a client-supplied file name (no directories, no traversal)."""
    base = (name or "upload").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if base in ("", ".", ".."):
        raise InvalidInput("the uploaded file needs a name")
    return base[:200]
