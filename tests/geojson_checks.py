"""Checks that a GeoJSON object follows RFC 7946 as GIS tools expect."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import shapely


def _positions(coords: Any) -> Iterator[list[float]]:
    if coords and isinstance(coords[0], int | float):
        yield coords
    else:
        for c in coords:
            yield from _positions(c)


def _rings(geometry: dict[str, Any]) -> Iterator[tuple[list[list[float]], bool]]:
    polys = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    for poly in polys:
        for i, ring in enumerate(poly):
            yield ring, i == 0


def assert_rfc7946(fc: dict[str, Any]) -> None:
    """WGS84 ranges, at most 6 decimals, CCW exteriors / CW holes, closed rings, no crs member."""
    assert fc["type"] == "FeatureCollection"
    assert "crs" not in fc
    for feature in fc["features"]:
        assert feature["type"] == "Feature"
        geom = feature["geometry"]
        if geom is None:
            continue
        for x, y in _positions(geom["coordinates"]):
            assert -180 <= x <= 180 and -90 <= y <= 90
            assert round(x, 6) == x and round(y, 6) == y
        if geom["type"] in ("Polygon", "MultiPolygon"):
            for ring, exterior in _rings(geom):
                assert ring[0] == ring[-1], "rings are closed"
                ccw = shapely.LinearRing(ring).is_ccw
                assert ccw == exterior, "exterior rings counter-clockwise, holes clockwise"
