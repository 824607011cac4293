"""OGC API - Features query parameters: the accepted names, ``bbox`` and ``datetime`` (400 when bad)."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

import numpy as np
import shapely
from fastapi import Query, Request

from hotspots.errors import InvalidParameter

# ---- query parameters -------------------------------------------------------------

DatasetParam = Annotated[
    str | None,
    Query(description="Dataset name (latest version) or name@version; default: the sample dataset"),
]
FormatParam = Annotated[Literal["json"], Query(description="Output format: JSON")]
FeatureFormatParam = Annotated[
    Literal["json", "geojson"], Query(description="Output format: GeoJSON (json and geojson are the same)")
]
COMMON_PARAMS = frozenset({"f", "dataset"})
ITEM_PARAMS = COMMON_PARAMS | {"limit", "offset", "bbox", "datetime"}
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?$",
)


def check_parameters(request: Request, allowed: frozenset[str]) -> None:
    """400 for a query parameter the API definition does not list (/req/core/query-param-unknown)."""
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise InvalidParameter(
            f"unknown query parameter(s): {', '.join(unknown)}; this resource accepts: "
            + ", ".join(sorted(allowed))
        )


def parse_bbox(text: str) -> list[shapely.Geometry]:
    """``minx,miny,maxx,maxy`` (or 6 numbers with heights) in CRS84 as one or two boxes.

    A box whose ``minx`` is east of its ``maxx`` crosses the antimeridian and is split in two.
    """
    parts = text.split(",")
    if len(parts) not in (4, 6):
        raise InvalidParameter(
            f"bbox must be 4 numbers minx,miny,maxx,maxy (longitude, latitude), got {text!r}"
        )
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InvalidParameter(f"bbox must be 4 comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(n) for n in numbers):
        raise InvalidParameter(f"bbox numbers must be finite, got {text!r}")
    if len(numbers) == 6:
        minx, miny, _, maxx, maxy, _ = numbers
    else:
        minx, miny, maxx, maxy = numbers
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180):
        raise InvalidParameter(f"bbox longitudes must be between -180 and 180, got {text!r}")
    if not (-90 <= miny <= 90 and -90 <= maxy <= 90):
        raise InvalidParameter(f"bbox latitudes must be between -90 and 90, got {text!r}")
    if miny > maxy:
        raise InvalidParameter(f"bbox miny is north of maxy in {text!r}")
    if minx <= maxx:
        return [shapely.box(minx, miny, maxx, maxy)]
    return [shapely.box(minx, miny, 180, maxy), shapely.box(-180, miny, maxx, maxy)]


def _instant(text: str, *, end: bool) -> np.datetime64:
    """An RFC 3339 date-time (with offset) or full-date as a UTC instant.

    A full-date is its day: its first microsecond, or its last when ``end``.
    """
    match = _RFC3339.match(text)
    if match is None:
        raise InvalidParameter(
            f"datetime must be RFC 3339, e.g. 2020-06-01T00:00:00Z or 2020-06-01, got {text!r}"
        )
    day, clock, fraction, offset = match.groups()
    try:
        if clock is None:
            start = datetime.combine(date.fromisoformat(day), datetime.min.time())
            value = start + timedelta(days=1, microseconds=-1) if end else start
        else:
            frac = (fraction or ".0")[:7]
            zone = "+00:00" if offset in ("Z", "z") else offset
            value = datetime.fromisoformat(f"{day}T{clock}{frac}{zone}").astimezone(UTC).replace(tzinfo=None)
    except ValueError:
        raise InvalidParameter(f"datetime {text!r} is not a valid date or time") from None
    return np.datetime64(value, "us")


def parse_datetime(text: str) -> tuple[np.datetime64 | None, np.datetime64 | None]:
    """An instant ``t`` or an interval ``a/b``, ``../b``, ``a/..`` as (start, end), ``None`` if open."""
    if "/" not in text:
        return _instant(text, end=False), _instant(text, end=True)
    parts = text.split("/")
    if len(parts) != 2:
        raise InvalidParameter(f"datetime interval must be start/end, got {text!r}")
    lo = None if parts[0] in ("", "..") else _instant(parts[0], end=False)
    hi = None if parts[1] in ("", "..") else _instant(parts[1], end=True)
    if lo is None and hi is None:
        raise InvalidParameter("datetime interval must have a start or an end")
    if lo is not None and hi is not None and lo > hi:
        raise InvalidParameter(f"datetime interval starts after it ends: {text!r}")
    return lo, hi
