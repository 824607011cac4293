"""DBSCAN on distinct locations weighted by their incident counts.

Police.uk snaps incidents to shared map points, so many incidents share exact
coordinates. DBSCAN on the distinct locations with ``sample_weight`` equal to
the number of incidents at each gives the same clusters as DBSCAN on the raw
points (a location is core when the incidents within ``eps`` metres, itself
included, number at least ``min_samples``), and is much faster.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree
from sklearn.cluster import DBSCAN

from hotspots.errors import InvalidInput
from hotspots.geo.locations import Locations

DEFAULT_EPS_M = 100.0
"""Default neighbourhood radius: street scale, about one block."""

DENSITY_FACTOR = 6.0
"""A hotspot neighbourhood holds at least this many times the area-wide average."""

MIN_MIN_SAMPLES = 5


def default_min_samples(n_incidents: int, area_m2: float, eps_m: float = DEFAULT_EPS_M) -> int:
    """Data-driven ``min_samples``: six times the incidents expected in an eps-disc.

    If the ``n_incidents`` were spread evenly over ``area_m2`` square metres,
    a disc of radius ``eps_m`` would hold ``n * pi * eps^2 / area`` of them.
    A hotspot must hold :data:`DENSITY_FACTOR` times that, and never fewer
    than :data:`MIN_MIN_SAMPLES` incidents.
    """
    if area_m2 <= 0:
        return MIN_MIN_SAMPLES
    expected = n_incidents * math.pi * eps_m**2 / area_m2
    return max(MIN_MIN_SAMPLES, math.ceil(DENSITY_FACTOR * expected))


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
    model = DBSCAN(eps=eps_m, min_samples=min_samples, algorithm="auto").fit(xy, sample_weight=w)
    loc_labels = attach_border_points(xy, model.labels_, model.core_sample_indices_)
    loc_labels = canonical_labels(loc_labels, w, locs.x, locs.y)
    return loc_labels[locs.inverse]


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
