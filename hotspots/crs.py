"""Coordinate reference systems used throughout: WGS84 in and out, British National Grid for metres."""

from __future__ import annotations

from functools import cache

import numpy as np
from pyproj import Transformer

WGS84 = 4326
BNG = 27700  # British National Grid: all distances, areas and DBSCAN eps are metres here.

# Generous lon/lat box around Great Britain and Northern Ireland (degrees, WGS84).
UK_LON = (-8.8, 2.1)
UK_LAT = (49.8, 60.95)


@cache
def _transformer(src: int, dst: int) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def to_bng(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 degrees (EPSG:4326) to British National Grid metres (EPSG:27700)."""
    x, y = _transformer(WGS84, BNG).transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x), np.asarray(y)


def transform(x: np.ndarray, y: np.ndarray, src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """Transform coordinate arrays between two EPSG codes (x = easting or longitude)."""
    if src == dst:
        return np.asarray(x, float), np.asarray(y, float)
    tx, ty = _transformer(src, dst).transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(tx), np.asarray(ty)


def to_wgs84_point(x: float, y: float) -> tuple[float, float]:
    """One British National Grid point (metres) to (longitude, latitude) degrees."""
    lon, lat = _transformer(BNG, WGS84).transform(x, y)
    return float(lon), float(lat)
