"""Hotspot outlines: the union of equal circles around points, in EPSG:27700 metres.

A circle is the polygon ``shapely.buffer`` draws around a point (``4 * quad_segs`` sides,
vertices on the circle). A dense cluster has thousands of such circles that mostly overlap,
and unioning all of them is slow. :func:`circle_union` unions far fewer pieces and gives the
same region:

* the ground is cut into square cells a quarter of the radius wide; a cell is *covered* when
  it lies wholly inside the circle of some point (all four corners within the polygon's
  inradius, wherever in its own cell the point is);
* a point whose circle meets only covered cells adds nothing to the union: its circle is
  left out;
* the union is then taken of the covered cells (merged exactly, as a grid coverage) and of
  the circles that were kept.

Every covered cell lies inside the union of all circles, and every left-out circle lies
inside the covered cells, so the region is the same set of points as the union of every
circle; only the order of floating-point operations differs (differences of about 1e-9 m).
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from scipy import ndimage

QUAD_SEGS = 8
"""Segments per quarter circle of each drawn circle (32-sided polygons)."""

CELLS_PER_RADIUS = 4
"""Cells are a quarter of the radius wide (7.5 m for 30 m circles)."""

CELL_PATH_MIN_POINTS = 100
"""From this many points :func:`circle_union` leaves out circles inside covered cells (below
it the plain union is about as fast)."""

MAX_CELLS = 1 << 22
"""Largest cell grid (cells) built for one union; past it cells grow, or the plain union runs."""

_SLACK_M = 1e-6
"""Metres kept in hand against rounding when a point's cell and a cell's corners are computed."""


def circle_union(
    x: np.ndarray, y: np.ndarray, radius: float, *, quad_segs: int = QUAD_SEGS
) -> shapely.Geometry:
    """Union of the ``radius``-metre circles around the points ``x``, ``y`` (EPSG:27700 metres).

    The same region as ``shapely.union_all(shapely.buffer(shapely.points(x, y), radius,
    quad_segs=quad_segs))``; from :data:`CELL_PATH_MIN_POINTS` points, circles lying inside
    cells already covered by other circles are left out (see the module docstring).
    Circles are unioned in the order given.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(x) < CELL_PATH_MIN_POINTS:
        return shapely.union_all(shapely.buffer(shapely.points(x, y), radius, quad_segs=quad_segs))
    keep, boxes = covered_cells(x, y, radius, quad_segs=quad_segs)
    parts = shapely.buffer(shapely.points(x[keep], y[keep]), radius, quad_segs=quad_segs)
    if len(boxes):
        parts = np.append(parts, shapely.coverage_union_all(boxes))
    return shapely.union_all(parts)


def covered_cells(
    x: np.ndarray, y: np.ndarray, radius: float, *, quad_segs: int = QUAD_SEGS
) -> tuple[np.ndarray, np.ndarray]:
    """Which circles to keep, and the covered cells as boxes (EPSG:27700 metres).

    Returns a mask over the points (``False``: the point's circle lies inside the covered
    cells) and an array of square polygons, each wholly inside some point's circle.
    With no usable grid (too few cells fit a circle) every circle is kept and no box given.
    """
    keep = np.ones(len(x), dtype=bool)
    none = np.empty(0, dtype=object)
    if len(x) == 0:
        return keep, none
    inner = radius * math.cos(math.pi / (4 * quad_segs)) - _SLACK_M  # inradius of each circle
    x0, y0 = float(x.min()) - radius, float(y.min()) - radius
    width, height = float(x.max()) + radius - x0, float(y.max()) + radius - y0
    cell = max(radius / CELLS_PER_RADIUS, math.sqrt(width * height / MAX_CELLS))
    # A covered cell must fit inside a circle wherever in its own cell the point lies.
    fit_span = int(inner // cell) - 1
    if fit_span < 1:
        return keep, none
    ix = np.floor((x - x0) / cell).astype(np.int64)
    iy = np.floor((y - y0) / cell).astype(np.int64)
    occupied = np.zeros((int(width // cell) + 2, int(height // cell) + 2), dtype=bool)
    occupied[ix, iy] = True
    # cells whose far corners are within the inradius of any point of the centre cell
    di, dj = _offsets(fit_span)
    fits = ((di + 1) * cell) ** 2 + ((dj + 1) * cell) ** 2 <= inner**2
    covered = ndimage.binary_dilation(occupied, structure=fits)
    # cells that a circle around some point of the centre cell may reach
    di, dj = _offsets(math.ceil(radius / cell) + 1)
    gap_x = np.maximum((di - 1) * cell - _SLACK_M, 0.0)
    gap_y = np.maximum((dj - 1) * cell - _SLACK_M, 0.0)
    meets = gap_x**2 + gap_y**2 <= radius**2
    inside = ndimage.binary_erosion(covered, structure=meets, border_value=0)
    keep = ~inside[ix, iy]
    ci, cj = np.nonzero(covered)
    boxes = shapely.box(x0 + ci * cell, y0 + cj * cell, x0 + (ci + 1) * cell, y0 + (cj + 1) * cell)
    return keep, boxes


def _offsets(span: int) -> tuple[np.ndarray, np.ndarray]:
    """Absolute cell offsets (x and y) of a square of ``2 * span + 1`` cells a side."""
    d = np.abs(np.arange(-span, span + 1))
    di, dj = np.meshgrid(d, d, indexing="ij")
    return di, dj


LINK_WIDTH_FACTOR = 1.0
"""Street links are as wide as the circles' radius (15 m wide for the default 15 m circles)."""


def hotspot_outline(
    x: np.ndarray, y: np.ndarray, radius: float, link_m: float, *, quad_segs: int = QUAD_SEGS
) -> shapely.Geometry:
    """A hotspot's outline: circles around its places joined by street links (EPSG:27700 metres).

    The union of the ``radius``-metre circles around the distinct places ``x``, ``y``
    (:func:`circle_union`) and of corridors ``radius * LINK_WIDTH_FACTOR`` metres wide
    along the edges of the minimum spanning tree of the places, using only edges of at
    most ``link_m`` metres (DBSCAN's ``eps``). A DBSCAN cluster is connected by such
    edges (cores within ``eps`` of each other, each border place within ``eps`` of a
    core), so its outline is one contiguous shape a patrol can walk, yet it claims only
    a narrow strip between places instead of large circles that hold no incidents.
    Places farther apart than ``link_m`` (possible with HDBSCAN) stay separate parts.
    A link short enough to lie inside its two end circles is left out (the same region).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    circles = circle_union(x, y, radius, quad_segs=quad_segs)
    if len(x) < 2 or not (link_m > 0):
        return circles
    a, b = minimum_spanning_links(x, y, link_m)
    half = radius * LINK_WIDTH_FACTOR / 2.0
    # a corridor lies inside its end circles when every point of it is within the circles'
    # inradius of the nearer end: (d / 2)^2 + half^2 <= inradius^2
    inner = radius * math.cos(math.pi / (4 * quad_segs)) - _SLACK_M
    d = np.hypot(x[a] - x[b], y[a] - y[b])
    needed = (d / 2.0) ** 2 + half**2 > inner**2 if inner > half else np.ones(len(a), dtype=bool)
    a, b = a[needed], b[needed]
    if not len(a):
        return circles
    segments = shapely.linestrings(np.stack([np.c_[x[a], y[a]], np.c_[x[b], y[b]]], axis=1))
    corridors = shapely.buffer(segments, half, quad_segs=2)
    return shapely.union_all(np.append(corridors, circles))


def minimum_spanning_links(x: np.ndarray, y: np.ndarray, link_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Edges (index pairs, ``a < b``) of the minimum spanning forest of the points over edges of at
    most ``link_m`` metres, sorted by ``a`` then ``b``.

    The Euclidean minimum spanning tree is a subgraph of the Delaunay triangulation, so only its
    edges are weighed (a few per point, however dense the cluster); points that Qhull cannot
    triangulate (all on one line, or fewer than three) fall back to every pair within ``link_m``.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import minimum_spanning_tree
    from scipy.spatial import cKDTree

    n = len(x)
    empty = np.empty(0, dtype=np.int64)
    if n < 2:
        return empty, empty
    xy = np.column_stack([x, y])
    pairs = None
    if n >= 4:
        from scipy.spatial import Delaunay, QhullError

        try:
            tri = Delaunay(xy - xy.mean(axis=0))
        except QhullError:
            tri = None
        if tri is not None:
            s = tri.simplices
            e = np.concatenate([s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]])
            # points Qhull left out of the triangulation (coincident ones) have no edge: pair them too
            if len(np.unique(s)) == n:
                e = np.sort(e, axis=1).astype(np.int64)
                key = np.unique(e[:, 0] * n + e[:, 1])
                pairs = np.column_stack([key // n, key % n])
    if pairs is None:
        pairs = cKDTree(xy).query_pairs(link_m, output_type="ndarray")
    if not len(pairs):
        return empty, empty
    i, j = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    d = np.hypot(x[i] - x[j], y[i] - y[j])
    ok = d <= link_m
    i, j, d = i[ok], j[ok], d[ok]
    if not len(i):
        return empty, empty
    # + a hair: a zero-length edge would be no edge to the sparse graph
    graph = coo_matrix((d + 1e-9, (i, j)), shape=(n, n)).tocsr()
    mst = minimum_spanning_tree(graph).tocoo()
    a = np.minimum(mst.row, mst.col).astype(np.int64)
    b = np.maximum(mst.row, mst.col).astype(np.int64)
    order = np.lexsort((b, a))
    return a[order], b[order]
