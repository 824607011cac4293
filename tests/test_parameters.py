"""DBSCAN parameter help (k-distance curve, suggested eps, plot) and HDBSCAN on snapped incidents."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import cdist
from sklearn.cluster import DBSCAN, HDBSCAN
from sklearn.metrics import adjusted_rand_score

from hotspots.errors import InvalidInput
from hotspots.geo.clusters.dbscan import canonical_labels, weighted_dbscan
from hotspots.geo.clusters.hdbscan import hdbscan_labels, location_mst
from hotspots.geo.clusters.hotspots import build_hotspots
from hotspots.geo.clusters.locations import Locations
from hotspots.geo.stats.parameters import (
    EPS_MAX_M,
    EPS_MIN_M,
    k_distance_json,
    k_distance_png,
    k_distances,
    location_k_distances,
    suggest_eps,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def snapped_sample(seed: int, n_base: int = 150) -> tuple[np.ndarray, np.ndarray]:
    """Points snapped to a 20 m grid (many exact duplicates), plus repeated points, in metres."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 1500, (3, 2))
    base = np.concatenate(
        [rng.normal(c, 60, (n_base // 3, 2)) for c in centres] + [rng.uniform(0, 1500, (40, 2))]
    )
    pts = np.repeat(base, rng.geometric(0.5, len(base)), axis=0)
    pts = np.round(pts / 20) * 20 + 500_000
    return pts[:, 0], pts[:, 1]


def brute_k_distances(x: np.ndarray, y: np.ndarray, k: float, w: np.ndarray | None = None) -> np.ndarray:
    """Per raw point: smallest distance at which the (weighted) count within, itself included, reaches k."""
    d = cdist(np.column_stack([x, y]), np.column_stack([x, y]))
    w = np.ones(len(x)) if w is None else w
    out = np.full(len(x), np.inf)
    for i in range(len(x)):
        order = np.argsort(d[i], kind="stable")
        reached = np.flatnonzero(np.cumsum(w[order]) >= k)
        if len(reached):
            out[i] = d[i, order[reached[0]]]
    return np.sort(out)[::-1]


# --- k-distances ----------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 5, 10, 40])
def test_k_distances_equal_brute_force_with_duplicates(k: int) -> None:
    x, y = snapped_sample(1)
    assert len(np.unique(x + 1j * y)) < 0.7 * len(x)  # plenty of co-located incidents
    np.testing.assert_array_equal(k_distances(x, y, k), brute_k_distances(x, y, k))


@pytest.mark.parametrize("k", [1.0, 30.0, 250.0, 2000.0])
def test_weighted_k_distances_equal_brute_force(k: float) -> None:
    x, y = snapped_sample(2)
    w = np.random.default_rng(3).choice([3.0, 13.0, 211.0, 746.0, 0.0], len(x))
    np.testing.assert_array_equal(k_distances(x, y, k, w), brute_k_distances(x, y, k, w))


def test_core_points_are_exactly_those_with_k_distance_within_eps() -> None:
    x, y = snapped_sample(4)
    for k in (3, 8, 20):
        kd = k_distances(x, y, k)
        for eps in (20.0, 45.0, 100.0):
            model = DBSCAN(eps=eps, min_samples=k).fit(np.column_stack([x, y]))
            assert len(model.core_sample_indices_) == int((kd <= eps).sum())


def test_unreachable_k_is_infinite_and_bad_k_rejected() -> None:
    x = np.array([0.0, 0.0, 10.0])
    y = np.array([0.0, 0.0, 0.0])
    np.testing.assert_array_equal(k_distances(x, y, 3), [10.0, 10.0, 10.0])
    assert np.isinf(k_distances(x, y, 4)).all()
    assert len(k_distances(np.empty(0), np.empty(0), 5)) == 0
    with pytest.raises(InvalidInput):
        k_distances(x, y, 0)
    with pytest.raises(InvalidInput):
        k_distances(x, y, 2, weights=np.array([1.0, -1.0, 1.0]))


def test_k_distances_on_the_147k_sample(points: pd.DataFrame) -> None:
    """Exact on the whole sample (its speed against scikit-learn is in bench/kernels.py)."""
    located = points["has_location"].to_numpy(bool)
    x = points["x"].to_numpy()[located]
    y = points["y"].to_numpy()[located]
    kd = k_distances(x, y, 70)
    assert len(kd) == len(x) and np.all(np.diff(kd) <= 0)
    # A location with c >= k incidents has k-distance 0 for all of them.
    locs = Locations.from_xy(x, y)
    assert int((kd == 0).sum()) == int(locs.counts[locs.counts >= 70].sum())
    per_location = location_k_distances(locs, locs.counts.astype(float), 70)
    np.testing.assert_array_equal(np.sort(per_location[locs.inverse])[::-1], kd)


# --- suggested eps --------------------------------------------------------------------------------


def clustered(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Four 40 m clusters of 200 incidents in 1,500 uniform ones over 5 x 5 km, snapped to 10 m."""
    rng = np.random.default_rng(seed)
    centres = [(0, 0), (2000, 500), (800, 2500), (3000, 3000)]
    xs = [rng.normal(c, 40, (200, 2)) for c in centres] + [rng.uniform(-1000, 4000, (1500, 2))]
    truth = np.concatenate([np.full(200, i) for i in range(4)] + [np.full(1500, -1)])
    pts = np.round(np.concatenate(xs) / 10) * 10 + 520_000
    return pts[:, 0], pts[:, 1], truth


@pytest.mark.parametrize("k", [5, 10, 20])
def test_suggested_eps_on_clustered_data_is_sensible(k: int) -> None:
    x, y, truth = clustered(5)
    eps = suggest_eps(k_distances(x, y, k))
    # Cluster spread 40 m; uniform background about 130 m apart: the knee sits in between.
    assert 20.0 < eps <= 120.0
    labels = weighted_dbscan(x, y, eps, k)
    assert labels.max() + 1 >= 4
    assert adjusted_rand_score(truth, labels) > 0.8


def test_suggested_eps_is_clamped_and_handles_degenerate_curves() -> None:
    assert suggest_eps(np.array([])) == 100.0
    assert suggest_eps(np.zeros(50)) == 100.0
    assert suggest_eps(np.array([np.inf, np.inf])) == 100.0
    assert suggest_eps(np.full(20, 3000.0)) == EPS_MAX_M
    assert suggest_eps(np.linspace(5.0, 0.1, 100)) == EPS_MIN_M
    assert suggest_eps(np.array([80.0, 80.0, 80.0])) == 80.0


def test_k_distance_json_is_small_and_serialisable() -> None:
    x, y, _ = clustered(6)
    out = k_distance_json(x, y, 10, current_eps_m=60.0)
    json.dumps(out)
    assert out["k"] == 10 and out["n"] == len(x) and out["n_unreachable"] == 0
    assert len(out["distances_m"]) == len(out["rank"]) <= 500
    assert out["rank"][0] == 0 and out["rank"][-1] == len(x) - 1
    assert all(a >= b for a, b in zip(out["distances_m"], out["distances_m"][1:], strict=False))
    assert out["suggested_eps_m"] == pytest.approx(suggest_eps(k_distances(x, y, 10)), abs=0.05)
    assert 0 < out["core_share_at_current_eps"] <= 1
    assert out["units"] == "metres" and out["crs"] == "EPSG:27700"


def test_k_distance_png_is_a_png() -> None:
    x, y, _ = clustered(7)
    png = k_distance_png(x, y, 10, current_eps_m=80.0)
    assert png.startswith(PNG_MAGIC) and len(png) > 5000
    weighted = k_distance_png(x, y, 100.0, weights=np.full(len(x), 13.0))
    assert weighted.startswith(PNG_MAGIC)


# --- HDBSCAN --------------------------------------------------------------------------------------


def raw_hdbscan(x: np.ndarray, y: np.ndarray, mcs: int, ms: int, floor_m: float) -> np.ndarray:
    """scikit-learn HDBSCAN on every raw point, distances floored at ``floor_m``, canonical numbering."""
    xy = np.column_stack([x, y])
    d = np.maximum(cdist(xy, xy), floor_m)
    np.fill_diagonal(d, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        labels = HDBSCAN(min_cluster_size=mcs, min_samples=ms, metric="precomputed", copy=True).fit(d).labels_
    return canonical_labels(labels, np.ones(len(x)), x, y)


def duplicated_sample(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Continuous positions, each repeated 1+ times (exact duplicates as with snapping), in metres."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 2000, (4, 2))
    spreads = rng.choice([20.0, 60.0, 150.0], 4)
    base = np.concatenate(
        [rng.normal(c, s, (int(rng.integers(15, 50)), 2)) for c, s in zip(centres, spreads, strict=True)]
        + [rng.uniform(0, 2000, (60, 2))]
    )
    pts = np.repeat(base, rng.geometric(0.4, len(base)), axis=0) + 510_000
    return pts[:, 0], pts[:, 1]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ms", [1, 4, 10])
def test_hdbscan_spanning_tree_is_that_of_the_raw_incidents(seed: int, ms: int) -> None:
    x, y = duplicated_sample(seed)
    floor = 10.0
    xy = np.column_stack([x, y])
    d = np.maximum(cdist(xy, xy), floor)
    np.fill_diagonal(d, 0.0)
    core_raw = np.partition(d, ms - 1, axis=1)[:, ms - 1]
    reach = np.maximum(np.maximum(d, core_raw[:, None]), core_raw[None, :])
    np.fill_diagonal(reach, 0.0)
    raw_weights = np.sort(minimum_spanning_tree(reach).data)
    locs = Locations.from_xy(x, y)
    core = np.maximum(location_k_distances(locs, locs.counts.astype(float), ms), floor)
    np.testing.assert_allclose(core[locs.inverse], np.maximum(core_raw, floor))  # ms=1: raw core is 0
    _, _, loc_weights = location_mst(locs.x, locs.y, core)
    star_weights = np.repeat(core, locs.counts - 1)
    np.testing.assert_allclose(np.sort(np.concatenate([loc_weights, star_weights])), raw_weights)


@pytest.mark.parametrize("seed", range(6))
def test_hdbscan_equals_sklearn_on_raw_points_without_ties(seed: int) -> None:
    # With min_samples=1 no mutual-reachability ties arise: labels must be identical.
    x, y = duplicated_sample(seed)
    for mcs in (5, 20):
        ours = hdbscan_labels(x, y, mcs, 1, min_distance_m=0.001)
        np.testing.assert_array_equal(ours, raw_hdbscan(x, y, mcs, 1, 0.001))


@pytest.mark.parametrize("seed", range(4))
def test_hdbscan_close_to_sklearn_on_raw_points_and_order_independent(seed: int) -> None:
    x, y = duplicated_sample(seed + 10)
    ours = hdbscan_labels(x, y, 10, 5)
    # Equal-distance merges are taken in a fixed order, so the row order does not matter ...
    perm = np.random.default_rng(seed).permutation(len(x))
    shuffled = np.empty_like(ours)
    shuffled[perm] = hdbscan_labels(x[perm], y[perm], 10, 5)
    np.testing.assert_array_equal(ours, shuffled)
    # ... whereas scikit-learn on raw points takes them in row order, so its own result moves with a
    # shuffle (on some samples between two answers). Ours is one of its answers: as close to one of
    # its runs as its runs are to each other.
    raw = raw_hdbscan(x, y, 10, 5, 10.0)
    runs, spread = [raw], []
    for i in range(8):
        p = np.random.default_rng(seed + 100 + i).permutation(len(x))
        again = np.empty_like(raw)
        again[p] = raw_hdbscan(x[p], y[p], 10, 5, 10.0)
        runs.append(again)
        spread.append(adjusted_rand_score(raw, again))
    assert max(adjusted_rand_score(ours, run) for run in runs) >= min(0.9, *spread) - 0.05
    # One label per location.
    locs = Locations.from_xy(x, y)
    per_loc = np.full(len(locs), -9)
    per_loc[locs.inverse] = ours
    np.testing.assert_array_equal(per_loc[locs.inverse], ours)


def varying_density(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two tight clusters 120 m apart (15 m spread), a loose one (150 m), sparse noise; snapped to 5 m."""
    rng = np.random.default_rng(seed)
    parts = [
        rng.normal((1000, 1000), 15, (150, 2)),
        rng.normal((1120, 1000), 15, (150, 2)),
        rng.normal((3000, 3000), 150, (300, 2)),
        rng.uniform(0, 5000, (100, 2)),
    ]
    truth = np.concatenate([np.full(150, 0), np.full(150, 1), np.full(300, 2), np.full(100, -1)])
    pts = np.round(np.concatenate(parts) / 5) * 5 + 530_000
    return pts[:, 0], pts[:, 1], truth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hdbscan_recovers_clusters_of_different_density_where_dbscan_cannot(seed: int) -> None:
    x, y, truth = varying_density(seed)
    labels = hdbscan_labels(x, y, 30)
    assert adjusted_rand_score(truth, labels) >= 0.9
    assert labels.max() + 1 == 3
    assert (labels[truth == 2] == 0).mean() > 0.95  # canonical: the largest cluster is 0
    best = max(
        adjusted_rand_score(truth, weighted_dbscan(x, y, float(eps), ms))
        for ms in (5, 10, 20, 40)
        for eps in range(10, 401, 15)
    )
    assert best < 0.9  # small eps breaks up the loose cluster, large eps merges the tight pair


def test_hdbscan_labels_feed_build_hotspots() -> None:
    x, y, _ = varying_density(3)
    labels = hdbscan_labels(x, y, 30)
    frame = pd.DataFrame(
        {
            "x": x,
            "y": y,
            "month": "2020-01",
            "crime_type": "Burglary",
            "occurred_at": pd.NaT,
            "ward_code": "E05000001",
            "ward_name": "Test ward",
            "borough_code": "E09000001",
            "borough_name": "Test borough",
            "outside_area": False,
        }
    )
    area = shapely.box(530_000, 530_000, 535_000, 535_000)
    hotspots = build_hotspots(frame, labels, months=["2020-01"], study_area=area)
    assert list(hotspots["hotspot_id"]) == [1, 2, 3]
    assert list(hotspots["count"]) == sorted(hotspots["count"], reverse=True)
    assert int(hotspots["count"].sum()) == int((labels >= 0).sum())


def test_hdbscan_weights_and_parameter_checks() -> None:
    x, y, _ = varying_density(4)
    w = np.full(len(x), 13.0)
    # Uniform weights with min_samples scaled by the weight: same clusters as counting.
    np.testing.assert_array_equal(
        hdbscan_labels(x, y, 30, 30 * 13.0, weights=w), hdbscan_labels(x, y, 30, 30)
    )
    np.testing.assert_array_equal(hdbscan_labels(x, y, 30, weights=w), hdbscan_labels(x, y, 30))
    assert (hdbscan_labels(x[:5], y[:5], 30) == -1).all()
    with pytest.raises(InvalidInput):
        hdbscan_labels(x, y, 1)
    with pytest.raises(InvalidInput):
        hdbscan_labels(x, y, 10, 0.5)
    with pytest.raises(InvalidInput):
        hdbscan_labels(x, y, 10, min_distance_m=0.0)
    with pytest.raises(InvalidInput):
        hdbscan_labels(x, y, 10, weights=-w)


def test_hdbscan_on_the_147k_sample(points: pd.DataFrame) -> None:
    """The whole sample clusters (its speed against scikit-learn is in bench/kernels.py)."""
    located = points["has_location"].to_numpy(bool)
    x = points["x"].to_numpy()[located]
    y = points["y"].to_numpy()[located]
    labels = hdbscan_labels(x, y, 50)
    assert 500 < labels.max() + 1 < 2000
    sizes = np.bincount(labels[labels >= 0])
    assert np.all(np.diff(sizes) <= 0)  # canonical: by descending size
