"""Hexagonal grids in British National Grid (EPSG:27700), and fast point counts per cell.

Geometry conventions
--------------------
Cells are regular, *pointy-topped* hexagons (a vertex at the top and the
bottom, two vertical flat sides at left and right). Their size is the
**cell size** ``d`` in metres, defined as the distance between two opposite
flat sides. That is also the distance between the centres of two neighbouring
cells. Derived quantities:

- side length (= circumradius) ``s = d / sqrt(3)``;
- cell area ``A = sqrt(3) / 2 * d**2`` (8,660 m2 for ``d = 100`` m).

Cells are indexed by integer *axial* coordinates ``(q, r)``. The grid is
anchored at the EPSG:27700 origin: cell ``(q, r)`` has its centre at
``x = d * (q + r / 2)``, ``y = d * sqrt(3) / 2 * r`` (metres), whatever the area.
So for one cell size a cell's ``(q, r)`` means the same place for every area,
dataset and period. Points are assigned to cells with cube-coordinate
rounding, without spatial joins, which is exact (a point gets the hexagon whose
centre is nearest) and vectorised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import shapely
from scipy import sparse
from shapely.geometry.base import BaseGeometry

from hotspots.crs import BNG
from hotspots.errors import InvalidInput
from hotspots.geo.geos import prepared_copy

SQRT3 = math.sqrt(3.0)

MIN_CELL_SIZE_M = 50.0
"""Smallest cell size :func:`default_cell_size` returns (metres, flat side to flat side)."""
MAX_CELL_SIZE_M = 500.0
"""Largest cell size :func:`default_cell_size` returns (metres, flat side to flat side)."""
TARGET_INCIDENTS_PER_CELL = 5.0
"""Incidents an average cell should hold if they were spread evenly (the default disclosure ``k``)."""
MAX_CELLS = 2_000_000
"""Refuse to build grids with more candidate cells than this (protects memory)."""

Include = Literal["intersects", "centre"]

# Axial offsets of the six neighbours of a cell.
_NEIGHBOUR_OFFSETS = np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (-1, 1)], dtype=np.int64)


def hex_area(cell_size_m: float) -> float:
    """Area in square metres of one hexagon whose opposite flat sides are ``cell_size_m`` apart."""
    return SQRT3 / 2.0 * cell_size_m**2


def default_cell_size(n_incidents: int, area_m2: float) -> float:
    """Data-driven cell size in metres (flat side to flat side) for Gi* on a hex grid.

    Rule: the cell area is chosen so that, if the ``n_incidents`` were spread
    evenly over ``area_m2`` square metres, each cell would hold
    :data:`TARGET_INCIDENTS_PER_CELL` (5) incidents, i.e.
    ``A = 5 * area_m2 / n_incidents`` and ``d = sqrt(2 * A / sqrt(3))``.
    ``d`` is clamped to [:data:`MIN_CELL_SIZE_M`, :data:`MAX_CELL_SIZE_M`]
    (50 m, street scale, to 500 m, neighbourhood scale) and rounded to
    the nearest 10 m. Fewer incidents give larger cells, so counts per cell stay
    large enough to test; 147k incidents over the 210 km2 of the shipped demo area give
    90 m, one month of them (about 4,000) gives 500 m.

    Parameters
    ----------
    n_incidents:
        Number of incidents to be counted (located ones only).
    area_m2:
        Study area in square metres (EPSG:27700).

    Returns
    -------
    float
        Cell size in metres.
    """
    if n_incidents <= 0 or not math.isfinite(area_m2) or area_m2 <= 0:
        return MAX_CELL_SIZE_M
    cell_area = TARGET_INCIDENTS_PER_CELL * area_m2 / n_incidents
    d = math.sqrt(2.0 * cell_area / SQRT3)
    d = min(MAX_CELL_SIZE_M, max(MIN_CELL_SIZE_M, d))
    return float(round(d / 10.0) * 10.0)


def check_cell_size(cell_size_m: float) -> None:
    """Reject a cell size that is not a finite number of metres from 1 to 50,000."""
    if not (isinstance(cell_size_m, int | float) and math.isfinite(cell_size_m)):
        raise InvalidInput(f"cell_size_m must be a number of metres, got {cell_size_m!r}")
    if not (1.0 <= cell_size_m <= 50_000.0):
        raise InvalidInput(f"cell_size_m must be between 1 and 50,000 metres, got {cell_size_m}")


def axial_coords(x: np.ndarray, y: np.ndarray, cell_size_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Axial coordinates ``(q, r)`` of the hexagon holding each point.

    Parameters
    ----------
    x, y:
        Point coordinates in metres (EPSG:27700).
    cell_size_m:
        Cell size in metres (flat side to flat side).

    Returns
    -------
    tuple of numpy.ndarray
        ``q`` and ``r`` as int64 arrays. Non-finite coordinates give
        ``q = r = np.iinfo(np.int64).min``, which matches no cell.

    Notes
    -----
    Cube rounding: the fractional axial position is converted to cube
    coordinates ``(q, -q - r, r)``, each rounded, and the component with the
    largest rounding error recomputed from the other two, so the three still sum
    to zero. This picks the hexagon whose centre is nearest the point; a point
    exactly on an edge gets exactly one of the two cells.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        fr = y / (SQRT3 / 2.0 * cell_size_m)
        fq = x / cell_size_m - fr / 2.0
        fs = -fq - fr
        rq, rr, rs = np.rint(fq), np.rint(fr), np.rint(fs)
        dq, dr, ds = np.abs(rq - fq), np.abs(rr - fr), np.abs(rs - fs)
        fix_q = (dq > dr) & (dq > ds)
        fix_r = ~fix_q & (dr > ds)
        rq = np.where(fix_q, -rr - rs, rq)
        rr = np.where(fix_r, -rq - rs, rr)
    bad = ~(np.isfinite(rq) & np.isfinite(rr))
    sentinel = np.iinfo(np.int64).min
    q = np.where(bad, 0, rq).astype(np.int64)
    r = np.where(bad, 0, rr).astype(np.int64)
    q[bad] = sentinel
    r[bad] = sentinel
    return q, r


def hex_centres(q: np.ndarray, r: np.ndarray, cell_size_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres (metres, EPSG:27700) of the cells with axial coordinates ``(q, r)``."""
    q = np.asarray(q, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    return cell_size_m / 2.0 * (2.0 * q + r), cell_size_m / SQRT3 / 2.0 * (3.0 * r)


def hex_polygons(q: np.ndarray, r: np.ndarray, cell_size_m: float) -> np.ndarray:
    """Hexagon polygons (shapely, EPSG:27700 metres) for axial coordinates ``(q, r)``.

    Built in one vectorised call to :func:`shapely.polygons`; vertices run
    anticlockwise from the upper-right one, and the ring is closed.
    """
    q = np.asarray(q, dtype=np.int64)
    r = np.asarray(r, dtype=np.int64)
    # Vertices as integer multiples of d/2 (x) and s/2 (y), so neighbouring cells share
    # bit-identical vertices and the grid has no slivers between cells.
    ox = np.array([1, 0, -1, -1, 0, 1, 1], dtype=np.int64)
    oy = np.array([1, 2, 1, -1, -2, -1, 1], dtype=np.int64)
    half_d = cell_size_m / 2.0
    half_s = cell_size_m / SQRT3 / 2.0
    coords = np.empty((len(q), 7, 2), dtype=np.float64)
    coords[:, :, 0] = half_d * ((2 * q + r)[:, None] + ox[None, :]).astype(np.float64)
    coords[:, :, 1] = half_s * (3 * r[:, None] + oy[None, :]).astype(np.float64)
    return np.asarray(shapely.polygons(coords))


def _keys(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """One int64 per cell, ordered by ``r`` then ``q`` (axial coordinates fit in 31 bits)."""
    return (r.astype(np.int64) << 32) + (q.astype(np.int64) + (1 << 31))


@dataclass(frozen=True, eq=False)
class HexGrid:
    """A set of hexagonal cells of one size, in EPSG:27700.

    Attributes
    ----------
    cell_size_m:
        Distance in metres between opposite flat sides of a cell.
    q, r:
        Axial coordinates of the cells (int64), sorted by ``r`` then ``q``;
        position ``i`` in these arrays is the cell's ``cell_id``.
    """

    cell_size_m: float
    q: np.ndarray
    r: np.ndarray
    _keys: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_cell_size(self.cell_size_m)
        q = np.asarray(self.q, dtype=np.int64)
        r = np.asarray(self.r, dtype=np.int64)
        keys = _keys(q, r)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        if len(keys) > 1 and (np.diff(keys) == 0).any():
            raise ValueError("HexGrid cells must be distinct")
        object.__setattr__(self, "q", q[order])
        object.__setattr__(self, "r", r[order])
        object.__setattr__(self, "_keys", keys)

    @classmethod
    def covering(cls, area: BaseGeometry, cell_size_m: float, include: Include = "intersects") -> HexGrid:
        """The cells of the global hex lattice that cover ``area``.

        Parameters
        ----------
        area:
            Shapely (multi)polygon in EPSG:27700 metres.
        cell_size_m:
            Cell size in metres (flat side to flat side).
        include:
            ``"intersects"`` (default): every cell any part of which lies in
            ``area`` (touching only at an edge does not count), so every point of
            the area falls in some cell. ``"centre"``: cells whose centre lies
            in ``area`` (fewer cells at the edge; part of the area can be left
            uncovered). Cells are never clipped: each keeps its full hexagon, so
            all cells have the same area.
        """
        check_cell_size(cell_size_m)
        if include not in ("intersects", "centre"):
            raise InvalidInput(f"include must be 'intersects' or 'centre', got {include!r}")
        if area is None or area.is_empty:
            return cls(cell_size_m, np.empty(0, np.int64), np.empty(0, np.int64))
        minx, miny, maxx, maxy = area.bounds
        d = cell_size_m
        row_h = SQRT3 / 2.0 * d
        r_lo = math.floor(miny / row_h) - 1
        r_hi = math.ceil(maxy / row_h) + 1
        n_cols = math.ceil((maxx - minx) / d) + 4
        n_rows = r_hi - r_lo + 1
        if n_rows * n_cols > MAX_CELLS:
            raise InvalidInput(
                f"a {d:g} m grid over this area needs about {n_rows * n_cols:,} cells (limit {MAX_CELLS:,}); "
                "choose a larger cell size"
            )
        rows = np.arange(r_lo, r_hi + 1, dtype=np.int64)
        q_lo = np.floor(minx / d - rows / 2.0).astype(np.int64) - 2
        q = (q_lo[:, None] + np.arange(n_cols, dtype=np.int64)[None, :]).ravel()
        r = np.repeat(rows, n_cols)
        prepared = prepared_copy(area)  # ``area`` may be a shared outline: prepare a copy (geo.geos)
        if include == "centre":
            cx, cy = hex_centres(q, r, d)
            keep = shapely.contains_xy(prepared, cx, cy)
        else:
            polys = hex_polygons(q, r, d)
            keep = shapely.intersects(prepared, polys) & ~shapely.touches(prepared, polys)
        return cls(cell_size_m, q[keep], r[keep])

    def __len__(self) -> int:
        return int(self.q.shape[0])

    @property
    def cell_area_m2(self) -> float:
        """Area of one cell in square metres."""
        return hex_area(self.cell_size_m)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres in metres (EPSG:27700)."""
        return hex_centres(self.q, self.r, self.cell_size_m)

    def polygons(self) -> np.ndarray:
        """Cell hexagons (shapely polygons, EPSG:27700)."""
        return hex_polygons(self.q, self.r, self.cell_size_m)

    def index_of(self, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Position (``cell_id``) of each axial coordinate pair in the grid, -1 where absent."""
        keys = _keys(np.asarray(q, np.int64), np.asarray(r, np.int64))
        if len(self) == 0:
            return np.full(keys.shape, -1, dtype=np.int64)
        pos = np.searchsorted(self._keys, keys)
        pos_c = np.minimum(pos, len(self) - 1)
        found = self._keys[pos_c] == keys
        return np.where(found, pos_c, -1).astype(np.int64)

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``cell_id`` of the cell holding each point (metres, EPSG:27700); -1 outside the grid."""
        q, r = axial_coords(x, y, self.cell_size_m)
        return self.index_of(q, r)

    def count(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Number of points (or sum of ``weights``) in each cell, as float64 of length ``len(self)``.

        Points outside the grid, or with non-finite coordinates, are not counted.
        """
        idx = self.locate(x, y)
        inside = idx >= 0
        w = None if weights is None else np.asarray(weights, dtype=np.float64)[inside]
        return np.bincount(idx[inside], weights=w, minlength=len(self)).astype(np.float64)

    def neighbours(self, rings: int = 1, self_weight: bool = False) -> sparse.csr_matrix:
        """Binary contiguity matrix of the grid's cells (scipy CSR, ``len(self)`` square).

        Entry ``(i, j)`` is 1 when cell ``j`` is within ``rings`` hex steps of
        cell ``i`` (``rings=1``: the six cells sharing an edge, i.e. queen and
        rook contiguity coincide on hexagons, and equal a distance band of
        ``cell_size_m`` between centres). The diagonal is 1 only with
        ``self_weight``. Cells missing from the grid (outside the area) are
        simply absent, so edge cells have fewer neighbours.
        """
        if rings < 1:
            raise InvalidInput(f"rings must be at least 1, got {rings}")
        offsets = _ring_offsets(rings, include_self=self_weight)
        n = len(self)
        rows_list = []
        cols_list = []
        for dq, dr in offsets:
            j = self.index_of(self.q + dq, self.r + dr)
            ok = j >= 0
            rows_list.append(np.flatnonzero(ok))
            cols_list.append(j[ok])
        rows = np.concatenate(rows_list) if rows_list else np.empty(0, np.int64)
        cols = np.concatenate(cols_list) if cols_list else np.empty(0, np.int64)
        data = np.ones(len(rows), dtype=np.float64)
        return sparse.csr_matrix((data, (rows, cols)), shape=(n, n))

    def to_geodataframe(self) -> gpd.GeoDataFrame:
        """``cell_id``, ``q``, ``r``, ``geometry`` (EPSG:27700); ``attrs['cell_size_m']`` holds the size."""
        gdf = gpd.GeoDataFrame(
            {"cell_id": np.arange(len(self), dtype=np.int64), "q": self.q, "r": self.r},
            geometry=self.polygons(),
            crs=BNG,
        )
        gdf.attrs["cell_size_m"] = float(self.cell_size_m)
        return gdf

    @classmethod
    def from_geodataframe(cls, grid: gpd.GeoDataFrame) -> HexGrid:
        """Rebuild from a frame made by :meth:`to_geodataframe` (needs ``q``, ``r``).

        The cell size comes from ``attrs['cell_size_m']`` or, failing that,
        from the area of the first cell.
        """
        if not {"q", "r"} <= set(grid.columns):
            raise InvalidInput("a hex grid frame needs 'q' and 'r' columns")
        size = grid.attrs.get("cell_size_m")
        if size is None:
            if len(grid) == 0:
                raise InvalidInput("cannot tell the cell size of an empty grid without attrs['cell_size_m']")
            size = math.sqrt(2.0 * float(grid.geometry.iloc[0].area) / SQRT3)
        return cls(float(size), grid["q"].to_numpy(np.int64), grid["r"].to_numpy(np.int64))


def _ring_offsets(rings: int, include_self: bool) -> list[tuple[int, int]]:
    """Axial offsets of all cells within ``rings`` steps (hex distance), self optional."""
    out = []
    for dq in range(-rings, rings + 1):
        for dr in range(max(-rings, -dq - rings), min(rings, -dq + rings) + 1):
            if dq == 0 and dr == 0 and not include_self:
                continue
            out.append((dq, dr))
    return out


def hex_grid(area: BaseGeometry, cell_size_m: float, include: Include = "intersects") -> gpd.GeoDataFrame:
    """A hexagonal grid over ``area`` as a GeoDataFrame in EPSG:27700.

    Parameters
    ----------
    area:
        Shapely (multi)polygon in EPSG:27700 metres, e.g. a boundary set's
        ``outline``.
    cell_size_m:
        Distance in metres between opposite flat sides of each hexagon (also
        the distance between neighbouring centres); cell area is
        ``sqrt(3) / 2 * cell_size_m**2``. See :func:`default_cell_size`.
    include:
        ``"intersects"`` (default) keeps every cell with any part inside the
        area; ``"centre"`` keeps cells whose centre is inside. Cells are full
        hexagons, never clipped to the area.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``cell_id`` (0..n-1, ordered by ``r`` then ``q``), ``q``,
        ``r`` (axial coordinates on the lattice anchored at the EPSG:27700
        origin) and ``geometry``; ``attrs['cell_size_m']`` is the size.
    """
    return HexGrid.covering(area, cell_size_m, include).to_geodataframe()


def count_points(
    grid: gpd.GeoDataFrame | HexGrid,
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Points (or the sum of their ``weights``) per cell of ``grid``, aligned with its rows.

    Parameters
    ----------
    grid:
        A :class:`HexGrid` or a frame from :func:`hex_grid` (row order is kept).
    x, y:
        Point coordinates in metres (EPSG:27700).
    weights:
        Optional weight per point (e.g. harm); default 1 each.

    Returns
    -------
    numpy.ndarray
        float64 counts, one per grid row. Points in no cell are not counted.
    """
    if isinstance(grid, HexGrid):
        return grid.count(x, y, weights)
    hg = HexGrid.from_geodataframe(grid)
    counts = hg.count(x, y, weights)
    rows = hg.index_of(grid["q"].to_numpy(np.int64), grid["r"].to_numpy(np.int64))
    return counts[rows]
