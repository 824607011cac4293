"""Reading uploaded files with a size limit (a larger file is refused, never truncated)."""

from __future__ import annotations

from fastapi import UploadFile

from hotspots.errors import InvalidInput, PayloadTooLarge

CHUNK = 1 << 20


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
