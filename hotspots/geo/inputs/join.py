"""Point-in-polygon join of incidents to wards and boroughs, in EPSG:27700.

Each incident gets exactly one ward: a point on the shared edge of two wards goes
to the ward whose code sorts first. Points outside every ward are kept with
``outside_area=True`` and empty ward/borough fields; nothing is dropped.

The join works on distinct locations, through a lookup grid built once per boundary
set: a point in a grid cell that lies wholly inside one ward (and touches no other)
gets that ward without any geometry test; only points in cells crossed by a ward
edge are tested exactly against the wards that touch their cell.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from hotspots.boundaries.model import WARD_COLUMNS, BoundarySet
from hotspots.errors import InvalidInput
from hotspots.geo.clusters.locations import Locations
from hotspots.geo.geos import PerThread, prepared_copy

JOIN_COLUMNS = [*WARD_COLUMNS, "outside_area", "boundary_set"]

GRID_CELLS = 1 << 16
"""About how many cells the lookup grid over a boundary set's extent has."""

DIRECT_POINTS = 20_000
"""Fewer distinct points than this, while no lookup grid exists yet for the boundary set, are
tested directly against the wards (one STRtree query): building the grid's 65,536 cells costs
more than that (a one-month file in a command-line run). The answer is the same."""


@dataclass(frozen=True)
class _WardGrid:
    """Which ward each grid cell lies wholly in (or -1), and the candidate wards of the others."""

    wards: object  # the wards frame this grid was built from (identity check)
    x0: float
    y0: float
    size: float
    nx: int
    ny: int
    pure: np.ndarray  # per cell: ward row position if the cell is inside exactly that ward, else -1
    ptr: np.ndarray  # per cell: start of its candidate wards in ``cand`` (CSR)
    cand: np.ndarray  # candidate ward row positions, each cell's sorted by ward code
    geoms: PerThread  # ward polygons: each thread queries its own prepared copy (see geo.geos)
    rank: np.ndarray  # per ward row position: rank of its code (0 = smallest)

    def cells(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Cell number of each point, -1 outside the grid."""
        i = np.floor((x - self.x0) / self.size)
        j = np.floor((y - self.y0) / self.size)
        inside = (i >= 0) & (i < self.nx) & (j >= 0) & (j < self.ny)
        out = np.full(len(x), -1, dtype=np.int64)
        out[inside] = i[inside].astype(np.int64) * self.ny + j[inside].astype(np.int64)
        return out


_GRIDS: weakref.WeakKeyDictionary[BoundarySet, _WardGrid] = weakref.WeakKeyDictionary()
_GRIDS_LOCK = threading.Lock()


def _built_grid(boundary: BoundarySet) -> _WardGrid | None:
    """The lookup grid of ``boundary`` if one has been built (and still matches its wards)."""
    with _GRIDS_LOCK:
        grid = _GRIDS.get(boundary)
    return grid if grid is not None and grid.wards is boundary.wards else None


def _ward_grid(boundary: BoundarySet) -> _WardGrid:
    grid = _built_grid(boundary)
    if grid is None:
        grid = _build_grid(boundary)
        with _GRIDS_LOCK:
            _GRIDS[boundary] = grid
    return grid


def _build_grid(boundary: BoundarySet) -> _WardGrid:
    # The boundary set's own polygons are shared by every thread: prepare copies only.
    geoms = prepared_copy(np.asarray(boundary.wards.geometry.to_numpy(), dtype=object))
    codes = boundary.wards["ward_code"].astype(str).to_numpy()
    rank = np.empty(len(codes), dtype=np.int64)
    rank[np.argsort(codes, kind="stable")] = np.arange(len(codes))
    valid = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    if not valid.any():
        x0 = y0 = 0.0
        size, nx, ny = 1.0, 1, 1
    else:
        x0, y0, x1, y1 = shapely.total_bounds(geoms[valid])
        w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        size = max(math.sqrt(w * h / GRID_CELLS), 1.0)
        nx, ny = int(w // size) + 1, int(h // size) + 1
    n_cells = nx * ny
    # Cell boxes a millimetre larger than the cells: a point put in a cell by rounding is
    # always inside its box, so "the box is inside one ward" safely answers for the point.
    pad = 1e-3
    ii, jj = np.divmod(np.arange(n_cells, dtype=np.int64), ny)
    boxes = shapely.box(
        x0 + ii * size - pad, y0 + jj * size - pad, x0 + (ii + 1) * size + pad, y0 + (jj + 1) * size + pad
    )
    # The wards as queries (they get prepared), the many small boxes in the tree.
    ward_idx, cell_idx = shapely.STRtree(boxes).query(geoms, predicate="intersects")
    order = np.lexsort((rank[ward_idx], cell_idx))
    cell_idx, ward_idx = cell_idx[order], ward_idx[order]
    per_cell = np.bincount(cell_idx, minlength=n_cells)
    ptr = np.concatenate([[0], np.cumsum(per_cell)]).astype(np.int64)
    pure = np.full(n_cells, -1, dtype=np.int64)
    single = np.flatnonzero(per_cell == 1)
    if len(single):
        w_single = ward_idx[ptr[single]]
        covered = shapely.covers(geoms[w_single], boxes[single])
        pure[single[covered]] = w_single[covered]
    return _WardGrid(
        boundary.wards, float(x0), float(y0), float(size), nx, ny, pure, ptr, ward_idx, PerThread(geoms), rank
    )


def ward_index_for_points(x: np.ndarray, y: np.ndarray, boundary: BoundarySet) -> np.ndarray:
    """Row position in ``boundary.wards`` for each point (EPSG:27700 metres), -1 if outside.

    A point matches a ward it intersects (so points on an edge match), and of two or more
    the ward with the smallest code. Same answer as a geopandas spatial join with
    ``predicate="intersects"``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    out = np.full(len(x), -1, dtype=np.int64)
    if len(x) == 0 or len(boundary.wards) == 0:
        return out
    if len(x) < DIRECT_POINTS and _built_grid(boundary) is None:
        return _direct_ward_index(x, y, boundary)
    grid = _ward_grid(boundary)
    cell = grid.cells(x, y)
    found = cell >= 0
    direct = np.full(len(x), -1, dtype=np.int64)
    direct[found] = grid.pure[cell[found]]
    done = direct >= 0
    out[done] = direct[done]
    todo = np.flatnonzero(found & ~done)
    if len(todo) == 0:
        return out
    # Candidate (point, ward) pairs, the wards of each point in code order.
    c = cell[todo]
    n_cand = grid.ptr[c + 1] - grid.ptr[c]
    pt = np.repeat(todo, n_cand)
    starts = np.repeat(grid.ptr[c] - np.concatenate([[0], np.cumsum(n_cand)[:-1]]), n_cand)
    ward = grid.cand[starts + np.arange(len(pt))]
    hit = np.zeros(len(pt), dtype=bool)
    geoms = grid.geoms.get()
    for w in np.unique(ward):
        sel = np.flatnonzero(ward == w)
        hit[sel] = shapely.intersects_xy(geoms[w], x[pt[sel]], y[pt[sel]])
    pt, ward = pt[hit], ward[hit]
    # Pairs are in point order and, within a point, in code order: keep each point's first.
    first = np.ones(len(pt), dtype=bool)
    first[1:] = pt[1:] != pt[:-1]
    out[pt[first]] = ward[first]
    return out


def _direct_ward_index(x: np.ndarray, y: np.ndarray, boundary: BoundarySet) -> np.ndarray:
    """:func:`ward_index_for_points` without the lookup grid: the wards (prepared private copies)
    query a tree of the points; of a point's wards, the one with the smallest code."""
    geoms = prepared_copy(np.asarray(boundary.wards.geometry.to_numpy(), dtype=object))
    codes = boundary.wards["ward_code"].astype(str).to_numpy()
    rank = np.empty(len(codes), dtype=np.int64)
    rank[np.argsort(codes, kind="stable")] = np.arange(len(codes))
    ward, pt = shapely.STRtree(shapely.points(x, y)).query(geoms, predicate="intersects")
    order = np.lexsort((rank[ward], pt))
    pt, ward = pt[order], ward[order]
    first = np.ones(len(pt), dtype=bool)
    first[1:] = pt[1:] != pt[:-1]
    out = np.full(len(x), -1, dtype=np.int64)
    out[pt[first]] = ward[first]
    return out


def join_wards(
    incidents: pd.DataFrame,
    boundary: BoundarySet | Sequence[BoundarySet],
    *,
    elsewhere: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> pd.DataFrame:
    """Ward and borough of each incident.

    Parameters
    ----------
    incidents:
        Frame with ``x``, ``y`` (EPSG:27700 metres, NaN where unknown) and ``month``.
    boundary:
        One boundary set for every incident, or several: each incident is then
        joined to the set in force for its month (the newest set that covers
        it, else the oldest set).
    elsewhere:
        For a set with a generalised coastline (``shore_m`` > 0): which BNG points lie in
        another district (True) and so stay outside. The others outside every ward but
        within ``shore_m`` of one join the nearest ward. Without it, nothing is moved.

    Returns
    -------
    pandas.DataFrame
        Same index as ``incidents``; columns :data:`JOIN_COLUMNS`, the text ones as
        ``category`` (each ward's code and name stored once, not once per incident).
    """
    sets = [boundary] if isinstance(boundary, BoundarySet) else list(boundary)
    if not sets:
        raise InvalidInput("no boundary set to join to")
    set_of_row = _set_for_months(incidents["month"], sets)
    x = incidents["x"].to_numpy(dtype=float)
    y = incidents["y"].to_numpy(dtype=float)
    located = np.isfinite(x) & np.isfinite(y)
    # Every ward of every set gets a global position; the last position means "outside".
    offsets = np.cumsum([0] + [len(s.wards) for s in sets])
    ward_pos = np.full(len(incidents), offsets[-1], dtype=np.int64)
    for k, bset in enumerate(sets):
        rows = np.flatnonzero((set_of_row == k) & located) if len(sets) > 1 else np.flatnonzero(located)
        if len(rows) == 0:
            continue
        locs = Locations.from_xy(x[rows], y[rows])
        at = ward_index_for_points(locs.x, locs.y, bset)
        if bset.shore_m > 0 and elsewhere is not None and (at < 0).any():
            at = _shore_wards(locs.x, locs.y, at, bset, elsewhere)
        pos = at[locs.inverse]
        ward_pos[rows] = np.where(pos >= 0, pos + offsets[k], offsets[-1])
    table = pd.concat([s.wards[WARD_COLUMNS] for s in sets], ignore_index=True)
    columns: dict[str, object] = {}
    for c in WARD_COLUMNS:
        values = [None if pd.isna(v) else str(v) for v in table[c].tolist()] + [None]
        columns[c] = _category(values, ward_pos)
    columns["outside_area"] = ward_pos == offsets[-1]
    columns["boundary_set"] = _category([s.name for s in sets], set_of_row)
    return pd.DataFrame(columns, index=incidents.index)


def _shore_wards(
    x: np.ndarray,
    y: np.ndarray,
    at: np.ndarray,
    bset: BoundarySet,
    elsewhere: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """``at`` (ward position per point, -1 outside) with the points off a generalised coast
    joined to their nearest ward within ``bset.shore_m``, unless they lie in another district."""
    out = at.copy()
    lost = np.flatnonzero(at < 0)
    lost = lost[~np.asarray(elsewhere(x[lost], y[lost]), dtype=bool)]
    if not len(lost):
        return out
    tree = shapely.STRtree(bset.wards.geometry.to_numpy())  # a private tree: nothing shared is prepared
    points = shapely.points(x[lost], y[lost])
    pt, ward = tree.query_nearest(points, max_distance=bset.shore_m, all_matches=False)
    out[lost[pt]] = ward
    return out


def _category(values: list[str | None], rows: np.ndarray) -> pd.Categorical:
    """``values[rows]`` as a pandas ``category`` (categories sorted; ``None`` is missing)."""
    codes, categories = pd.factorize(pd.Series(values, dtype="string"), sort=True)
    small = np.int32 if len(categories) >= 1 << 15 else np.int16
    return pd.Categorical.from_codes(
        codes.astype(small)[rows], categories=pd.Index(categories, dtype="string")
    )


def _set_for_months(months: pd.Series, sets: list[BoundarySet]) -> np.ndarray:
    """Index into ``sets`` of the set in force for each month."""
    if len(sets) == 1:
        return np.zeros(len(months), dtype=np.int64)
    codes, uniq = pd.factorize(months, use_na_sentinel=True)
    labels = [str(m) for m in uniq]
    if (codes < 0).any():  # missing months: judged by their text, as ever
        codes = np.where(codes < 0, len(labels), codes)
        labels.append(str(months.to_numpy(dtype=object)[np.flatnonzero(codes == len(labels))[0]]))
    chosen = np.zeros(len(labels), dtype=np.int64)
    for i, month in enumerate(labels):
        in_force = [k for k, s in enumerate(sets) if s.in_force(month)]
        if in_force:
            chosen[i] = in_force[-1]
        else:
            chosen[i] = min(range(len(sets)), key=lambda k: sets[k].valid_from or "")
    return chosen[codes]
