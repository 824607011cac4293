"""Planted test data: police.uk-like incidents with clusters at known places, generated with a seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from hotspots.boundaries import BoundarySet
from hotspots.crs import BNG, WGS84, transform
from hotspots.geo.geos import prepared_copy
from hotspots.geo.inputs.ingest import Source


def border_point(boundary: BoundarySet, code_a: str, code_b: str) -> tuple[float, float]:
    """A point (EPSG:27700) in the middle of the longest stretch of border between two boroughs."""
    wards = boundary.wards
    a = wards[wards["borough_code"] == code_a].geometry.union_all()
    b = wards[wards["borough_code"] == code_b].geometry.union_all()
    shared = shapely.line_merge(a.boundary.intersection(b.buffer(1.0)))
    parts = list(getattr(shared, "geoms", [shared]))
    longest = max(parts, key=lambda g: g.length)
    p = longest.interpolate(0.5, normalized=True)
    return float(p.x), float(p.y)


def planted_incidents(
    centres: list[tuple[float, float]],
    *,
    per_cluster: int,
    spread_m: float,
    background: int,
    area: shapely.Geometry,
    seed: int,
    month: str = "2024-01",
) -> tuple[pd.DataFrame, np.ndarray]:
    """Police.uk-like CSV rows (as a DataFrame) with gaussian clusters and uniform noise.

    Returns the frame (columns of the police.uk layout) and the true cluster of
    each row (-1 for background). Coordinates are rounded to 6 decimals.
    """
    rng = np.random.default_rng(seed)
    xs, ys, truth = [], [], []
    for k, (cx, cy) in enumerate(centres):
        xs.append(rng.normal(cx, spread_m, per_cluster))
        ys.append(rng.normal(cy, spread_m, per_cluster))
        truth.append(np.full(per_cluster, k))
    minx, miny, maxx, maxy = area.bounds
    bx = rng.uniform(minx, maxx, background * 3)
    by = rng.uniform(miny, maxy, background * 3)
    inside = shapely.contains_xy(prepared_copy(area), bx, by)  # never prepare a shared outline
    xs.append(bx[inside][:background])
    ys.append(by[inside][:background])
    truth.append(np.full(int(min(background, inside.sum())), -1))
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    lon, lat = transform(x, y, BNG, WGS84)
    n = len(x)
    types = np.array(["Violence and sexual offences", "Robbery", "Burglary", "Drugs"])
    frame = pd.DataFrame(
        {
            "Crime ID": [f"{i:064x}" for i in range(n)],
            "Month": month,
            "Reported by": "Metropolitan Police Service",
            "Falls within": "Metropolitan Police Service",
            "Longitude": np.round(lon, 6),
            "Latitude": np.round(lat, 6),
            "Location": "On or near Test Street",
            "LSOA code": "E01000001",
            "LSOA name": "Test 001A",
            "Crime type": types[rng.integers(0, len(types), n)],
            "Last outcome category": "Under investigation",
            "Context": "",
        }
    )
    return frame, np.concatenate(truth)


def to_csv_source(frame: pd.DataFrame, name: str = "planted.csv") -> Source:
    return Source(name, frame.to_csv(index=False).encode("utf-8"))
