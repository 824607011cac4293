"""DBSCAN on distinct locations weighted by their incident counts.

Police.uk snaps incidents to shared map points, so many incidents share exact
coordinates. DBSCAN on the distinct locations with ``sample_weight`` equal to
the number of incidents at each gives the same clusters as DBSCAN on the raw
points (a location is core when the incidents within ``eps`` metres, itself
included, number at least ``min_samples``), and is much faster.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from hotspots.errors import InvalidInput
from hotspots.geo.clusters.bounds import FineGrid
from hotspots.geo.clusters.locations import Locations

DEFAULT_EPS_M = 100.0
"""Default neighbourhood radius: street scale, about one block."""

DENSITY_FACTOR = 6.0
"""A hotspot neighbourhood holds at least this many times the area-wide average."""

MIN_MIN_SAMPLES = 5


def default_min_samples(n_incidents: int, area_m2: float, eps_m: float = DEFAULT_EPS_M) -> int:
    """Data-driven ``min_samples``: six times the incidents expected in an eps-disc.

    ``area_m2`` is the area where incidents happen (see :func:`occupied_area_m2`). If the
    ``n_incidents`` were spread evenly over ``area_m2`` square metres,
    a disc of radius ``eps_m`` would hold ``n * pi * eps^2 / area`` of them.
    A hotspot must hold :data:`DENSITY_FACTOR` times that, and never fewer
    than :data:`MIN_MIN_SAMPLES` incidents.
    """
    if area_m2 <= 0:
        return MIN_MIN_SAMPLES
    expected = n_incidents * math.pi * eps_m**2 / area_m2
    return max(MIN_MIN_SAMPLES, math.ceil(DENSITY_FACTOR * expected))


MIN_SAMPLES_RULE = (
    "6 x incidents expected in an eps-radius disc if spread evenly over the part of the area "
    "where incidents happen (500 m squares holding any), at least 5"
)
"""The default ``min_samples`` rule in words (:func:`default_min_samples`), for metadata."""
OCCUPIED_CELL_M = 500.0
"""Side of the squares (metres) whose count of occupied ones measures where incidents happen."""


def occupied_area_m2(x: np.ndarray, y: np.ndarray, limit_m2: float, cell_m: float = OCCUPIED_CELL_M) -> float:
    """Area (m2) of the ``cell_m`` squares of the BNG grid holding any of the points, at most ``limit_m2``.

    The part of an area where incidents happen: a county of towns, villages and farmland is
    mostly empty of incidents, three London boroughs hardly at all. ``x``, ``y`` in EPSG:27700.
    """
    if not len(x):
        return float(limit_m2)
    cells = np.unique(np.floor(np.asarray(x) / cell_m) * 1e7 + np.floor(np.asarray(y) / cell_m))
    return float(min(limit_m2, len(cells) * cell_m * cell_m))


def check_parameters(eps_m: float, min_samples: int) -> None:
    """Reject parameters that make no sense (eps in metres, min_samples in incidents)."""
    if not (math.isfinite(eps_m) and 1.0 <= eps_m <= 5000.0):
        raise InvalidInput(f"eps_m must be between 1 and 5000 metres, got {eps_m}")
    if not (1 <= min_samples <= 10_000_000):
        raise InvalidInput(f"min_samples must be a whole number of incidents from 1, got {min_samples}")


def weighted_dbscan(
    x: np.ndarray,
    y: np.ndarray,
    eps_m: float,
    min_samples: int,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Cluster points (EPSG:27700 metres) and return a label per input point (-1 = noise).

    ``weights`` (default 1 per point) count towards ``min_samples``, e.g. harm
    weights. Labels are canonical: 0 is the cluster with the largest total
    weight, ties broken by the smallest x then y of its locations, so the same
    input always gives the same labels whatever the row order.
    """
    check_parameters(eps_m, min_samples)
    n = len(x)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    locs = Locations.from_xy(x, y)
    w = locs.counts.astype(float) if weights is None else locs.sum_by_location(np.asarray(weights, float))
    xy = np.column_stack([locs.x, locs.y])
    if len(locs) >= GRID_MIN_LOCATIONS and _whole_numbers(w):
        labels, core_indices = grid_dbscan(xy, w, eps_m, min_samples)
    else:  # few locations, or fractional (harm) weights: scikit-learn's exact DBSCAN
        from sklearn.cluster import DBSCAN  # imported here: the grid path, the usual one, needs none

        model = DBSCAN(eps=eps_m, min_samples=min_samples, algorithm="auto").fit(xy, sample_weight=w)
        labels, core_indices = model.labels_, model.core_sample_indices_
    loc_labels = attach_border_points(xy, labels, core_indices)
    loc_labels = canonical_labels(loc_labels, w, locs.x, locs.y)
    return loc_labels[locs.inverse]


GRID_MIN_LOCATIONS = 64
"""From this many distinct locations :func:`weighted_dbscan` uses :func:`grid_dbscan`."""


def _whole_numbers(w: np.ndarray) -> bool:
    """Weights whose sums are exact in any order (so neighbourhood totals cannot differ by rounding)."""
    return bool(np.all(np.isfinite(w)) and np.all(w == np.round(w)) and float(np.abs(w).sum()) < 2.0**52)


def grid_dbscan(
    xy: np.ndarray, weight: np.ndarray, eps: float, min_samples: float
) -> tuple[np.ndarray, np.ndarray]:
    """DBSCAN on a grid: the same core points and clusters as scikit-learn's ``DBSCAN``.

    Returns labels (a cluster number for core and border points, -1 for noise; border
    points are to be settled by :func:`attach_border_points`) and the core point indices.

    Two points are neighbours when ``dx*dx + dy*dy <= eps*eps`` (the test scikit-learn's
    k-d tree applies). Points are binned in square cells a hair under ``eps / sqrt(2)``
    wide, so any two in one cell are neighbours and all neighbours of a point lie in the
    5 x 5 cells around its own. Then:

    * core points: a cell whose own weight reaches ``min_samples`` makes all its points
      core; a point whose 25 cells weigh less cannot be core; the points in between are
      settled by bounds from a grid of cells an eighth of ``eps`` wide
      (:class:`~hotspots.geo.clusters.bounds.FineGrid`: first per cell, then per point),
      and only those the bounds leave open are counted exactly (k-d tree);
    * clusters: the core points of a cell are all connected; two cells' core points are
      connected when one pair of them are neighbours, which is settled by a representative
      pair, by the cells' extents, or, only between cells not yet connected another way,
      by testing every pair;
    * border points: non-core points with a core neighbour (nearest core within ``eps``).

    ``weight`` must be whole numbers (exact sums); ``min_samples`` in the same units.
    """
    n = len(xy)
    x = np.ascontiguousarray(xy[:, 0], dtype=float)
    y = np.ascontiguousarray(xy[:, 1], dtype=float)
    labels = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return labels, np.empty(0, dtype=np.int64)
    eps2 = eps * eps
    side = eps / math.sqrt(2.0) * (1.0 - 1e-9)
    x0, y0 = float(x.min()), float(y.min())
    ix = np.floor((x - x0) / side).astype(np.int64) + 2
    iy = np.floor((y - y0) / side).astype(np.int64) + 2
    ny = int(iy.max()) + 3  # two empty rows of cells on each side: offsets never wrap
    cell = ix * ny + iy
    cells, point_cell = np.unique(cell, return_inverse=True)
    point_cell = point_cell.ravel()
    cell_weight = np.bincount(point_cell, weights=weight, minlength=len(cells))
    offsets = [di * ny + dj for di in range(-2, 3) for dj in range(-2, 3)]

    def neighbour_cells(of: np.ndarray, offset: int) -> np.ndarray:
        """Index into ``cells`` of each cell's neighbour at ``offset`` (-1 where empty)."""
        target = cells[of] + offset
        pos = np.searchsorted(cells, target)
        pos = np.minimum(pos, len(cells) - 1)
        return np.where(cells[pos] == target, pos, -1)

    # ---- core points
    all_cells = np.arange(len(cells))
    nb_of = np.stack([neighbour_cells(all_cells, off) for off in offsets], axis=1)  # cells x 25
    nb_weight = np.where(nb_of >= 0, cell_weight[np.maximum(nb_of, 0)], 0.0)
    core = cell_weight[point_cell] >= min_samples
    unsure = np.flatnonzero(~core & (nb_weight.sum(axis=1)[point_cell] >= min_samples))
    if len(unsure):
        # Bounds settle most points: cells wholly within eps count in full, cells wholly
        # beyond not at all; from cells an eighth of eps wide (per cell, then per point), or,
        # where that grid would be too large, from the 25 cells around each point.
        fine = FineGrid.build(x, y, weight, eps)
        stages: list[Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = (
            [fine.cell_bounds, lambda rows: fine.point_bounds(x, y, rows)]
            if fine is not None
            else [lambda rows: _point_bounds(x, y, rows, point_cell, ix, iy, x0, y0, side, eps, nb_weight)]
        )
        exact = unsure
        for bounds in stages:
            lower, upper = bounds(exact)
            core[exact[lower >= min_samples]] = True
            exact = exact[(lower < min_samples) & (upper >= min_samples)]
            if not len(exact):
                break
        if len(exact):
            if np.mean(weight != 1) < 0.1:  # (nearly) one point per incident: k-d tree counts
                total = _neighbourhood_weight(x, y, weight, exact, eps)
            else:  # snapped, weighted: sum the weights in the 25 cells around each point
                total = _cell_neighbourhood_weight(x, y, weight, exact, point_cell, nb_of, eps2)
            core[exact] = total >= min_samples
    core_indices = np.flatnonzero(core)
    if len(core_indices) == 0:
        return labels, core_indices

    # ---- clusters of core points, through the cells that hold them
    core_cells, core_cell_of = np.unique(point_cell[core_indices], return_inverse=True)
    core_cell_of = core_cell_of.ravel()
    order = np.argsort(core_cell_of, kind="stable")
    members = core_indices[order]  # core points, cell by cell
    starts = np.searchsorted(core_cell_of[order], np.arange(len(core_cells) + 1))
    cx, cy = x[members], y[members]
    lo_x = np.minimum.reduceat(cx, starts[:-1])
    hi_x = np.maximum.reduceat(cx, starts[:-1])
    lo_y = np.minimum.reduceat(cy, starts[:-1])
    hi_y = np.maximum.reduceat(cy, starts[:-1])
    # representative: the core point nearest the middle of its cell's core points
    mid_x = np.repeat((lo_x + hi_x) / 2, np.diff(starts))
    mid_y = np.repeat((lo_y + hi_y) / 2, np.diff(starts))
    d_mid = (cx - mid_x) ** 2 + (cy - mid_y) ** 2
    rank = np.lexsort((d_mid, np.repeat(np.arange(len(core_cells)), np.diff(starts))))
    rep = members[rank[starts[:-1]]]
    cell_to_core = np.full(len(cells), -1, dtype=np.int64)
    cell_to_core[core_cells] = np.arange(len(core_cells))
    pair_a, pair_b, sure = [], [], []
    for off in offsets[: len(offsets) // 2]:  # each unordered pair of cells once
        nb = neighbour_cells(core_cells, off)
        a = np.flatnonzero(nb >= 0)
        b = cell_to_core[nb[a]]
        keep = b >= 0
        a, b = a[keep], b[keep]
        dx = x[rep[a]] - x[rep[b]]
        dy = y[rep[a]] - y[rep[b]]
        linked = dx * dx + dy * dy <= eps2
        gap_x = np.maximum(np.maximum(lo_x[a] - hi_x[b], lo_x[b] - hi_x[a]), 0.0)
        gap_y = np.maximum(np.maximum(lo_y[a] - hi_y[b], lo_y[b] - hi_y[a]), 0.0)
        apart = gap_x * gap_x + gap_y * gap_y > eps2 * (1.0 + 1e-9)
        maybe = ~linked & ~apart
        pair_a.append(a[linked | maybe])
        pair_b.append(b[linked | maybe])
        sure.append(linked[linked | maybe])
    pa_, pb_, sure_ = np.concatenate(pair_a), np.concatenate(pair_b), np.concatenate(sure)
    n_core_cells = len(core_cells)
    comp = _components(n_core_cells, pa_[sure_], pb_[sure_])
    check = np.flatnonzero(~sure_ & (comp[pa_] != comp[pb_]))
    if len(check):
        ok = _any_pair_within(x, y, members, starts, pa_[check], pb_[check], eps2)
        extra_a, extra_b = pa_[check][ok], pb_[check][ok]
        comp = _components(
            n_core_cells, np.concatenate([pa_[sure_], extra_a]), np.concatenate([pb_[sure_], extra_b])
        )
    labels[core_indices] = comp[core_cell_of]

    # ---- border points: not core, with a core point within eps
    near_core = np.zeros(len(cells), dtype=bool)
    for off in offsets:
        nb = neighbour_cells(all_cells, off)
        near_core |= (nb >= 0) & (cell_to_core[np.maximum(nb, 0)] >= 0)
    candidates = np.flatnonzero(~core & near_core[point_cell])
    if len(candidates):
        tree = cKDTree(
            np.column_stack([x[core_indices], y[core_indices]]), balanced_tree=False, compact_nodes=False
        )
        _, nearest = tree.query(
            np.column_stack([x[candidates], y[candidates]]), k=1, distance_upper_bound=eps * (1 + 1e-6)
        )
        found = nearest < len(core_indices)
        cand, near = candidates[found], core_indices[nearest[found]]
        dx = x[cand] - x[near]
        dy = y[cand] - y[near]
        border = cand[dx * dx + dy * dy <= eps2]
        labels[border] = 0  # any cluster: attach_border_points gives the nearest core's
    return labels, core_indices


def _point_bounds(
    x: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    point_cell: np.ndarray,
    ix: np.ndarray,
    iy: np.ndarray,
    x0: float,
    y0: float,
    side: float,
    eps: float,
    nb_weight: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on the weight within ``eps`` of each point in ``rows``, from the 25 cells around it."""
    px, py = x[rows], y[rows]
    cx, cy = ix[rows], iy[rows]
    w = nb_weight[point_cell[rows]]
    lower = np.zeros(len(rows))
    upper = np.zeros(len(rows))
    slack = 1e-6  # metres: a point binned by rounding may sit this far outside its cell
    inner, outer = (eps * eps) * (1 - 1e-9), (eps * eps) * (1 + 1e-9)
    k = 0
    for di in range(-2, 3):
        left = x0 + (cx + di - 2) * side - slack
        right = left + side + 2 * slack
        far_x = np.maximum(np.abs(px - left), np.abs(right - px))
        near_x = np.maximum(np.maximum(left - px, px - right), 0.0)
        for dj in range(-2, 3):
            bottom = y0 + (cy + dj - 2) * side - slack
            top = bottom + side + 2 * slack
            far_y = np.maximum(np.abs(py - bottom), np.abs(top - py))
            near_y = np.maximum(np.maximum(bottom - py, py - top), 0.0)
            wk = w[:, k]
            lower += np.where(far_x * far_x + far_y * far_y <= inner, wk, 0.0)
            upper += np.where(near_x * near_x + near_y * near_y <= outer, wk, 0.0)
            k += 1
    return lower, upper


def _cell_neighbourhood_weight(
    x: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    rows: np.ndarray,
    point_cell: np.ndarray,
    nb_of: np.ndarray,
    eps2: float,
    chunk_pairs: int = 1 << 22,
) -> np.ndarray:
    """Total weight within ``eps`` of each point in ``rows``, by testing the points of its 25 cells."""
    by_cell = np.argsort(point_cell, kind="stable")
    start = np.searchsorted(point_cell[by_cell], np.arange(nb_of.shape[0] + 1))
    size = np.diff(start)
    total = np.zeros(len(rows))
    per_row = np.where(nb_of[point_cell[rows]] >= 0, size[np.maximum(nb_of[point_cell[rows]], 0)], 0).sum(
        axis=1
    )
    cum = np.cumsum(per_row)
    lo = 0
    while lo < len(rows):
        hi = max(int(np.searchsorted(cum, cum[lo] - per_row[lo] + chunk_pairs, side="right")), lo + 1)
        part = rows[lo:hi]
        px, py = x[part], y[part]
        acc = np.zeros(len(part))
        for k in range(nb_of.shape[1]):
            nb = nb_of[point_cell[part], k]
            has = np.flatnonzero(nb >= 0)
            counts = size[nb[has]]
            owner = np.repeat(has, counts)
            first = np.repeat(start[nb[has]] - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
            cand = by_cell[first + np.arange(len(owner))]
            dx = px[owner] - x[cand]
            dy = py[owner] - y[cand]
            near = dx * dx + dy * dy <= eps2
            acc += np.bincount(owner[near], weights=weight[cand[near]], minlength=len(part))
        total[lo:hi] = acc
        lo = hi
    return total


def _neighbourhood_weight(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray, rows: np.ndarray, eps: float
) -> np.ndarray:
    """Total weight within ``eps`` of each point in ``rows`` (itself included), exactly."""
    tree = cKDTree(np.column_stack([x, y]), balanced_tree=False, compact_nodes=False)
    queries = np.column_stack([x[rows], y[rows]])
    total = np.asarray(tree.query_ball_point(queries, eps, return_length=True, workers=2), dtype=float)
    extra = weight - 1.0
    heavy = np.flatnonzero(extra != 0)
    if len(heavy):
        # The extra weight of heavier points, from all (query, heavy point) pairs within eps:
        # found tree against tree, a slice of queries at a time to bound memory.
        heavy_tree = cKDTree(np.column_stack([x[heavy], y[heavy]]), balanced_tree=False, compact_nodes=False)
        step = 1 << 16
        for start in range(0, len(rows), step):
            part = queries[start : start + step]
            part_tree = cKDTree(part, balanced_tree=False, compact_nodes=False)
            pairs = part_tree.sparse_distance_matrix(heavy_tree, eps, output_type="ndarray")
            total[start : start + len(part)] += np.bincount(
                pairs["i"], weights=extra[heavy[pairs["j"]]], minlength=len(part)
            )
    return total


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected component of each of ``n`` nodes linked by edges ``a[i]``-``b[i]``."""
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    return np.asarray(comp, dtype=np.int64)


def _any_pair_within(
    x: np.ndarray,
    y: np.ndarray,
    members: np.ndarray,
    starts: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    eps2: float,
    chunk_pairs: int = 1 << 22,
) -> np.ndarray:
    """For each cell pair (a[i], b[i]): is some core point of one within eps of one of the other?"""
    size = np.diff(starts)
    work = size[a] * size[b]
    cum = np.cumsum(work)
    out = np.zeros(len(a), dtype=bool)
    lo = 0
    while lo < len(a):
        # as many cell pairs as fit in about ``chunk_pairs`` point pairs (at least one)
        hi = max(int(np.searchsorted(cum, cum[lo] - work[lo] + chunk_pairs, side="right")), lo + 1)
        sel = np.arange(lo, hi)
        lo = hi
        n_a, n_b = size[a[sel]], size[b[sel]]
        n_ab = n_a * n_b
        pair_of = np.repeat(np.arange(len(sel)), n_ab)
        k = np.arange(len(pair_of)) - np.repeat(np.cumsum(n_ab) - n_ab, n_ab)
        ia = members[starts[a[sel]][pair_of] + k // n_b[pair_of]]
        ib = members[starts[b[sel]][pair_of] + k % n_b[pair_of]]
        dx = x[ia] - x[ib]
        dy = y[ia] - y[ib]
        hit = dx * dx + dy * dy <= eps2
        out[sel] = np.bincount(pair_of[hit], minlength=len(sel)) > 0
    return out


def attach_border_points(xy: np.ndarray, labels: np.ndarray, core_indices: np.ndarray) -> np.ndarray:
    """Give each border point the cluster of its nearest core point.

    Plain DBSCAN gives a border point within ``eps`` of two clusters to
    whichever cluster reaches it first, so the answer depends on row order.
    This rule does not, which makes results reproducible and lets the
    distinct-location path match DBSCAN on the raw points exactly.
    """
    labels = labels.copy()
    core = np.zeros(len(labels), dtype=bool)
    core[core_indices] = True
    border = np.flatnonzero((labels >= 0) & ~core)
    if len(border) and core.any():
        core_pos = np.flatnonzero(core)
        _, nearest = cKDTree(xy[core_pos]).query(xy[border], k=1)
        labels[border] = labels[core_pos[nearest]]
    return labels


def canonical_labels(labels: np.ndarray, weight: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Renumber clusters by descending total weight, then ascending min x, min y; -1 stays -1."""
    k = int(labels.max()) + 1 if len(labels) else 0
    if k == 0:
        return labels.astype(np.int64)
    member = labels >= 0
    lab = labels[member]
    total = np.bincount(lab, weights=weight[member], minlength=k)
    min_x = np.full(k, np.inf)
    min_y = np.full(k, np.inf)
    np.minimum.at(min_x, lab, x[member])
    np.minimum.at(min_y, lab, y[member])
    order = np.lexsort((min_y, min_x, -total))
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    out = np.full(len(labels), -1, dtype=np.int64)
    out[member] = rank[lab]
    return out
