"""Point-in-polygon join of incidents to wards and boroughs, in EPSG:27700.

Each incident gets exactly one ward: a point on the shared edge of two wards goes
to the ward whose code sorts first. Points outside every ward are kept with
``outside_area=True`` and empty ward/borough fields; nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from hotspots.boundaries.model import WARD_COLUMNS, BoundarySet
from hotspots.errors import InvalidInput
from hotspots.geo.crs import BNG
from hotspots.geo.locations import Locations

JOIN_COLUMNS = [*WARD_COLUMNS, "outside_area", "boundary_set"]


def ward_index_for_points(x: np.ndarray, y: np.ndarray, boundary: BoundarySet) -> np.ndarray:
    """Row position in ``boundary.wards`` for each point (EPSG:27700 metres), -1 if outside.

    Uses a geopandas spatial join (``intersects``, so points on an edge match)
    and keeps the ward with the smallest code where a point touches two.
    """
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=BNG)
    wards = boundary.wards[["ward_code", "geometry"]].reset_index(drop=True)
    hits = gpd.sjoin(points, wards, how="inner", predicate="intersects")
    hits = hits.sort_values("ward_code", kind="stable")
    first = hits[~hits.index.duplicated(keep="first")]
    out = np.full(len(x), -1, dtype=np.int64)
    out[first.index.to_numpy()] = first["index_right"].to_numpy()
    return out


def join_wards(incidents: pd.DataFrame, boundary: BoundarySet | Sequence[BoundarySet]) -> pd.DataFrame:
    """Ward and borough of each incident.

    Parameters
    ----------
    incidents:
        Frame with ``x``, ``y`` (EPSG:27700 metres, NaN where unknown) and ``month``.
    boundary:
        One boundary set for every incident, or several: each incident is then
        joined to the set in force for its month (the newest set that covers
        it, else the oldest set).

    Returns
    -------
    pandas.DataFrame
        Same index as ``incidents``; columns :data:`JOIN_COLUMNS`.
    """
    sets = [boundary] if isinstance(boundary, BoundarySet) else list(boundary)
    if not sets:
        raise InvalidInput("no boundary set to join to")
    set_of_row = _set_for_months(incidents["month"].to_numpy(dtype=object), sets)
    x = incidents["x"].to_numpy(dtype=float)
    y = incidents["y"].to_numpy(dtype=float)
    located = np.isfinite(x) & np.isfinite(y)
    # Every ward of every set gets a global position; the last position means "outside".
    offsets = np.cumsum([0] + [len(s.wards) for s in sets])
    ward_pos = np.full(len(incidents), offsets[-1], dtype=np.int64)
    for k, bset in enumerate(sets):
        rows = np.flatnonzero((set_of_row == k) & located)
        if len(rows) == 0:
            continue
        locs = Locations.from_xy(x[rows], y[rows])
        pos = ward_index_for_points(locs.x, locs.y, bset)[locs.inverse]
        ward_pos[rows] = np.where(pos >= 0, pos + offsets[k], offsets[-1])
    table = pd.concat([s.wards[WARD_COLUMNS] for s in sets], ignore_index=True)
    out = pd.DataFrame(index=incidents.index)
    for c in WARD_COLUMNS:
        values = np.concatenate([table[c].to_numpy(dtype=object), np.array([None], dtype=object)])
        out[c] = pd.array(values[ward_pos], dtype="string")
    out["outside_area"] = ward_pos == offsets[-1]
    names = np.array([s.name for s in sets], dtype=object)
    out["boundary_set"] = pd.array(names[set_of_row], dtype="string")
    return out


def _set_for_months(months: np.ndarray, sets: list[BoundarySet]) -> np.ndarray:
    """Index into ``sets`` of the set in force for each month."""
    if len(sets) == 1:
        return np.zeros(len(months), dtype=np.int64)
    uniq, inverse = np.unique(months.astype(str), return_inverse=True)
    chosen = np.zeros(len(uniq), dtype=np.int64)
    for i, month in enumerate(uniq):
        in_force = [k for k, s in enumerate(sets) if s.in_force(month)]
        if in_force:
            chosen[i] = in_force[-1]
        else:
            chosen[i] = min(range(len(sets)), key=lambda k: sets[k].valid_from or "")
    return chosen[inverse.ravel()]
