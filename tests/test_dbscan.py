"""DBSCAN on weighted distinct locations: same clusters as sklearn on raw points, planted clusters found."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score

from hotspots.errors import InvalidInput
from hotspots.geo.clusters.bounds import FineGrid
from hotspots.geo.clusters.dbscan import (
    attach_border_points,
    canonical_labels,
    default_min_samples,
    weighted_dbscan,
)


def reference_labels(x: np.ndarray, y: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    """Plain scikit-learn DBSCAN on every raw point, with the same border rule and numbering."""
    xy = np.column_stack([x, y])
    model = DBSCAN(eps=eps, min_samples=min_samples).fit(xy)
    labels = attach_border_points(xy, model.labels_, model.core_sample_indices_)
    return canonical_labels(labels, np.ones(len(x)), x, y)


@pytest.mark.parametrize(("eps", "min_samples"), [(100.0, 70), (150.0, 20)])
def test_identical_to_sklearn_on_raw_points(points: pd.DataFrame, eps: float, min_samples: int) -> None:
    x = points["x"].to_numpy()
    y = points["y"].to_numpy()
    ours = weighted_dbscan(x, y, eps, min_samples)
    raw = DBSCAN(eps=eps, min_samples=min_samples).fit(np.column_stack([x, y])).labels_
    # Noise and the partition into clusters are those of plain sklearn DBSCAN ...
    assert np.array_equal(ours < 0, raw < 0)
    assert adjusted_rand_score(ours, raw) > 0.9999
    # ... and with the order-independent border rule the labels are identical.
    assert np.array_equal(ours, reference_labels(x, y, eps, min_samples))
    assert ours.max() > 100  # the real data has hundreds of hotspots at these settings


def test_labels_do_not_depend_on_row_order(points: pd.DataFrame) -> None:
    x = points["x"].to_numpy()[:30000]
    y = points["y"].to_numpy()[:30000]
    order = np.random.default_rng(7).permutation(len(x))
    a = weighted_dbscan(x, y, 100.0, 30)
    b = weighted_dbscan(x[order], y[order], 100.0, 30)
    assert np.array_equal(a[order], b)


def test_planted_clusters_recovered() -> None:
    rng = np.random.default_rng(42)
    centres = [(545000, 185000), (548000, 187500), (552000, 183000), (540500, 189000)]
    xs, ys, truth = [], [], []
    for k, (cx, cy) in enumerate(centres):
        xs.append(rng.normal(cx, 25, 80))
        ys.append(rng.normal(cy, 25, 80))
        truth.append(np.full(80, k))
    xs.append(rng.uniform(538000, 556000, 400))
    ys.append(rng.uniform(180000, 192000, 400))
    truth.append(np.full(400, -1))
    labels = weighted_dbscan(np.concatenate(xs), np.concatenate(ys), 60.0, 15)
    assert adjusted_rand_score(np.concatenate(truth), labels) >= 0.95
    assert labels.max() + 1 == 4


def test_weights_count_towards_min_samples() -> None:
    x = np.array([0.0, 10.0, 1000.0])
    y = np.array([0.0, 0.0, 0.0])
    assert weighted_dbscan(x, y, 50, 5).tolist() == [-1, -1, -1]
    assert weighted_dbscan(x, y, 50, 5, weights=np.array([3.0, 2.0, 1.0])).tolist() == [0, 0, -1]


def test_snapped_duplicates_form_a_cluster() -> None:
    x = np.array([5.0] * 12 + [900.0])
    y = np.array([5.0] * 12 + [900.0])
    assert weighted_dbscan(x, y, 10, 12).tolist() == [0] * 12 + [-1]


def test_canonical_numbering_largest_first() -> None:
    x = np.array([0, 1, 2, 1000, 1001, 1002, 1003, 1004], dtype=float)
    y = np.zeros(8)
    labels = weighted_dbscan(x, y, 5, 3)
    assert labels.tolist() == [1, 1, 1, 0, 0, 0, 0, 0]


def test_bad_parameters_rejected() -> None:
    with pytest.raises(InvalidInput, match="eps_m"):
        weighted_dbscan(np.zeros(3), np.zeros(3), 0.0, 5)
    with pytest.raises(InvalidInput, match="min_samples"):
        weighted_dbscan(np.zeros(3), np.zeros(3), 100.0, 0)


def test_default_min_samples_rule() -> None:
    # 3,400 incidents a month over 204 km2: about 0.16 expected per 100 m disc -> floor of 5.
    assert default_min_samples(3400, 204e6) == 5
    # 118,740 incidents: about 18.3 expected -> 6x = 110.
    assert default_min_samples(118_740, 204e6) == 110
    assert default_min_samples(10, 0) == 5


def test_fine_bounds_hold_the_exact_neighbourhood_weight() -> None:
    """Bounds from the fine cell grid never cut off a neighbour, even at exactly eps."""
    rng = np.random.default_rng(12)
    cases = [
        (rng.integers(0, 60, (3000, 2)) * 3.0 + rng.choice([0.0, 3.0, 4.0], (3000, 2)), 5.0),  # 3-4-5
        (rng.normal(0, 40, (4000, 2)) + [545000.0, 185000.0], 100.0),
        (np.round(rng.uniform(0, 500, (4000, 2))), 25.0),
    ]
    for xy, eps in cases:
        x, y = xy[:, 0], xy[:, 1]
        weight = rng.integers(1, 4, len(x)).astype(float)
        rows = np.arange(len(x))
        grid = FineGrid.build(x, y, weight, eps)
        assert grid is not None
        pairs = cKDTree(xy).query_ball_point(xy, eps * (1 + 1e-12))
        exact = np.array(
            [
                weight[[j for j in p if (x[j] - x[i]) ** 2 + (y[j] - y[i]) ** 2 <= eps * eps]].sum()
                for i, p in enumerate(pairs)
            ]
        )
        lower, upper = grid.point_bounds(x, y, rows)
        assert (lower <= exact).all() and (exact <= upper).all()
        assert np.mean(upper - lower) < 0.5 * np.mean(exact)  # and they are tight enough to help
        cell_lower, cell_upper = grid.cell_bounds(rows)  # looser: the same for a whole cell
        assert (cell_lower <= exact).all() and (exact <= cell_upper).all()
        assert np.mean(cell_upper - cell_lower) < np.mean(exact)


def _unsnapped(seed: int, n: int = 6000) -> tuple[np.ndarray, np.ndarray]:
    """Exact (unsnapped) coordinates: Gaussian clusters of several sizes over a uniform background."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform([540000.0, 182000.0], [548000.0, 188000.0], (12, 2))
    spread = rng.uniform(20.0, 120.0, 12)
    pick = rng.integers(0, 12, n)
    clustered = centres[pick] + rng.normal(0.0, 1.0, (n, 2)) * spread[pick, None]
    background = rng.uniform([539000.0, 181000.0], [549000.0, 189000.0], (n // 2, 2))
    xy = np.concatenate([clustered, background])
    return xy[:, 0].copy(), xy[:, 1].copy()


def weighted_reference(
    x: np.ndarray, y: np.ndarray, eps: float, min_samples: int, weights: np.ndarray | None
) -> np.ndarray:
    """scikit-learn's DBSCAN (with ``sample_weight``), the order-free border rule, canonical numbers."""
    xy = np.column_stack([x, y])
    w = np.ones(len(x)) if weights is None else weights
    model = DBSCAN(eps=eps, min_samples=min_samples).fit(xy, sample_weight=w)
    labels = attach_border_points(xy, model.labels_, model.core_sample_indices_)
    return canonical_labels(labels, w, x, y)


@pytest.mark.parametrize("seed", range(4))
def test_identical_to_sklearn_on_unsnapped_points(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exact coordinates go through the fine-grid bounds and still give scikit-learn's labels."""
    x, y = _unsnapped(seed)
    settled = []
    cell_bounds = FineGrid.cell_bounds

    def spy(self: FineGrid, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        settled.append(len(rows))
        return cell_bounds(self, rows)

    monkeypatch.setattr(FineGrid, "cell_bounds", spy)
    rng = np.random.default_rng(seed)
    weights = rng.integers(1, 4, len(x)).astype(float)
    cases: list[tuple[float, int, np.ndarray | None]] = [
        (100.0, 40, None),
        (60.0, 12, None),
        (100.0, 90, weights),  # weighted points (harm, repeat victims): weights count to min_samples
        (80.0, 1, None),  # every point is core
        (80.0, 2, None),  # two incidents within eps make a cluster
        (100.0, 100_000, None),  # nothing reaches it: all noise
    ]
    for eps, min_samples, w in cases:
        ours = weighted_dbscan(x, y, eps, min_samples, weights=w)
        assert np.array_equal(ours, weighted_reference(x, y, eps, min_samples, w)), (seed, eps, min_samples)
    assert weighted_dbscan(x, y, 100.0, 40).max() >= 5  # the planted clusters are found
    assert settled  # the fine-grid bounds were used


def test_min_samples_exactly_reached() -> None:
    """A point with exactly ``min_samples`` incidents within eps (itself included, at exactly eps) is core."""
    rng = np.random.default_rng(3)
    # background points far apart, plus one point with 9 others at exactly 50 m (3-4-5 triangles)
    x = list(rng.uniform(0, 100_000, 100))
    y = list(rng.uniform(200_000, 300_000, 100))
    offsets = [
        (30, 40),
        (40, 30),
        (-30, 40),
        (-40, 30),
        (30, -40),
        (40, -30),
        (-30, -40),
        (-40, -30),
        (50, 0),
    ]
    x += [500.0] + [500.0 + dx for dx, _ in offsets]
    y += [500.0] + [500.0 + dy for _, dy in offsets]
    xa, ya = np.array(x), np.array(y)
    labels = weighted_dbscan(xa, ya, 50.0, 10)
    assert (labels[100:] == 0).all() and (labels[:100] == -1).all()
    assert (weighted_dbscan(xa, ya, 50.0, 11) == -1).all()
    assert np.array_equal(labels, weighted_reference(xa, ya, 50.0, 10, None))
