"""Emerging Hot Spot Analysis: space-time Gi*, Mann-Kendall, ArcGIS categories."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from esda.getisord import G_Local
from libpysal.graph import Graph
from scipy import sparse, stats

from hotspots.errors import InvalidInput
from hotspots.geo.stats.emerging import (
    CATEGORIES,
    NO_PATTERN,
    classify,
    emerging_hot_spots,
    mann_kendall,
    month_index,
    space_time_gi_star,
)
from hotspots.geo.stats.grid import HexGrid

X0, Y0 = 545_000.0, 185_000.0
AREA = shapely.box(X0, Y0, X0 + 5000, Y0 + 4000)


def test_space_time_gi_star_equals_esda_on_flattened_cube() -> None:
    grid = HexGrid.covering(shapely.box(X0, Y0, X0 + 600, Y0 + 500), 100.0)
    n, t = len(grid), 6
    rng = np.random.default_rng(1)
    cube = rng.poisson(2.0, (t, n)).astype(float)
    cube[:, 3] += np.arange(t) * 3
    adj = grid.neighbours(1)
    s_star = adj + sparse.identity(n)
    for k in (0, 1, 2):
        blocks = sparse.csr_matrix((n * t, n * t))
        for lag in range(k + 1):
            shift = sparse.eye(t, k=-lag)  # row t sees column t - lag
            blocks = blocks + sparse.kron(shift, s_star)
        ref = G_Local(
            cube.ravel(),
            Graph.from_sparse(sparse.csr_matrix(blocks)),
            transform="B",
            star=True,
            permutations=0,
        )
        ours = space_time_gi_star(cube, adj, time_steps=k)
        assert np.allclose(ours.ravel(), ref.Zs), k


def test_single_month_equals_esda_spatial_gi_star() -> None:
    grid = HexGrid.covering(shapely.box(X0, Y0, X0 + 800, Y0 + 600), 100.0)
    values = np.random.default_rng(2).poisson(3.0, len(grid)).astype(float)
    ref = G_Local(values, Graph.from_sparse(grid.neighbours(1)), transform="B", star=True, permutations=0)
    assert np.allclose(space_time_gi_star(values[None, :], grid.neighbours(1), 1)[0], ref.Zs)


def test_mann_kendall_equals_kendalltau() -> None:
    rng = np.random.default_rng(3)
    series = rng.normal(size=(40, 35))
    series[:10] = np.round(series[:10])  # ties
    series[10:15] += np.linspace(0, 3, 35)  # trends
    series[15] = 1.0  # constant
    z, p = mann_kendall(series)
    t = np.arange(35)
    for i in range(len(series)):
        if i == 15:
            assert z[i] == 0 and p[i] == 1
            continue
        ref = stats.kendalltau(t, series[i], method="asymptotic")
        assert p[i] == pytest.approx(ref.pvalue, rel=1e-9)
        assert np.sign(z[i]) == np.sign(ref.statistic)
    assert (z[10:15] > 0).all() and (p[10:15] < 0.01).all()


def _series(*pattern: str) -> np.ndarray:
    """'H' hot, 'C' cold, '.' neither, one character per month."""
    return np.array([list(p) for p in pattern])


@pytest.mark.parametrize(
    ("pattern", "trend", "expected"),
    [
        ("." * 19 + "H", 0.0, "new hot spot"),
        ("." * 16 + "HHHH", 0.0, "consecutive hot spot"),
        ("H" * 20, 4.0, "intensifying hot spot"),
        (".H" + "H" * 18, 0.5, "persistent hot spot"),
        ("H" * 20, -4.0, "diminishing hot spot"),
        ("..H...H..HH.....H..H", 0.0, "sporadic hot spot"),
        ("..C.......H......HHH", 0.0, "oscillating hot spot"),
        ("H" * 18 + "..", 0.0, "historical hot spot"),
        ("HHHHHH" + "." * 14, -3.0, NO_PATTERN),
        ("." * 20, 0.0, NO_PATTERN),
        ("." * 19 + "C", 0.0, "new cold spot"),
        ("." * 17 + "CCC", 0.0, "consecutive cold spot"),
        ("C" * 20, -4.0, "intensifying cold spot"),
        ("C" * 20, 0.0, "persistent cold spot"),
        ("C" * 20, 4.0, "diminishing cold spot"),
        ("C...C..C......C....C", 0.0, "sporadic cold spot"),
        ("H.........C........C", 0.0, "oscillating cold spot"),
        ("C" * 19 + ".", 0.0, "historical cold spot"),
    ],
)
def test_categories_follow_arcgis_definitions(pattern: str, trend: float, expected: str) -> None:
    s = _series(pattern)
    trend_z = np.array([trend])
    trend_p = 2 * stats.norm.sf(np.abs(trend_z))
    got = classify(s == "H", s == "C", trend_z, trend_p)
    assert got.tolist() == [expected]
    assert expected in CATEGORIES


def test_category_boundaries() -> None:
    # 90% rule: 18 of 20 hot months incl. the last is persistent; 17 is sporadic
    s = _series("..H" + "H" * 17, "..H.H" + "H" * 15)
    got = classify(s == "H", s == "C", np.zeros(2), np.ones(2))
    assert got.tolist() == ["persistent hot spot", "sporadic hot spot"]
    # a one-month hot run after earlier hot months is sporadic, not new
    s = _series("H" + "." * 18 + "H")
    assert classify(s == "H", s == "C", np.zeros(1), np.ones(1)).tolist() == ["sporadic hot spot"]
    assert len(CATEGORIES) == 17


def _planted(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, tuple[float, float]]]:
    """35 months of uniform background plus clusters whose monthly sizes follow known patterns."""
    rng = np.random.default_rng(seed)
    months = [f"{2018 + (1 + i) // 12}-{(1 + i) % 12 + 1:02d}" for i in range(35)]
    t = np.arange(35)
    sizes = {
        "intensifying": np.round(np.linspace(25, 90, 35)).astype(int),
        "diminishing": np.round(np.linspace(90, 25, 35)).astype(int),
        "persistent": np.full(35, 45),
        "new": np.where(t == 34, 80, 0),
        "consecutive": np.where(t >= 30, 60, 0),
        "historical": np.where(t <= 32, 60, 0),
    }
    centres = {name: (X0 + 700 + 1200 * (i % 3), Y0 + 800 + 2000 * (i // 3)) for i, name in enumerate(sizes)}
    xs, ys, ms = [], [], []
    for i, month in enumerate(months):
        bx = rng.uniform(X0, X0 + 5000, 2500)
        by = rng.uniform(Y0, Y0 + 4000, 2500)
        xs += [bx]
        ys += [by]
        ms += [np.full(len(bx), month)]
        for name, size in sizes.items():
            cx, cy = centres[name]
            xs += [rng.normal(cx, 25, size[i])]
            ys += [rng.normal(cy, 25, size[i])]
            ms += [np.full(size[i], month)]
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ms), centres


def test_emerging_hot_spots_recovers_planted_patterns() -> None:
    x, y, months, centres = _planted(seed=4)
    out = emerging_hot_spots(x, y, months, AREA, 100.0)
    assert list(out.columns) == [
        "cell_id",
        "q",
        "r",
        "count",
        "category",
        "trend_z",
        "trend_p",
        "n_months_hot",
        "n_months_cold",
        "last_month_hot",
        "n_months_covered",
        "geometry",
    ]
    assert len(out.attrs["months"]) == 35 and out.attrs["months"][0] == "2018-02"
    grid = HexGrid.from_geodataframe(out)
    for name, (cx, cy) in centres.items():
        row = out.iloc[int(grid.locate(np.array([cx]), np.array([cy]))[0])]
        assert row["category"] == f"{name} hot spot", (name, row.to_dict())
    cat = out.set_index("cell_id")["category"]
    assert out.loc[out["category"] == "new hot spot", "last_month_hot"].all()
    assert out.loc[out["category"] == "historical hot spot", "last_month_hot"].eq(False).all()
    # far from the clusters, nothing emerges
    centres_xy = np.array(list(centres.values()))
    gx, gy = grid.centres()
    far = np.min(np.hypot(gx[:, None] - centres_xy[:, 0], gy[:, None] - centres_xy[:, 1]), axis=1) > 500
    assert (cat.to_numpy()[far] == NO_PATTERN).mean() > 0.99
    assert out["count"].sum() == len(x)


def test_month_index_and_missing_months() -> None:
    pos, labels = month_index(np.array(["2020-03", "2020-01", None, "bad", "2020-01"], dtype=object))
    assert labels == ["2020-01", "2020-02", "2020-03"]
    assert pos.tolist() == [2, 0, -1, -1, 0]
    pos, labels = month_index(["2020-03"], month_range=["2020-01", "2020-02"])
    assert pos.tolist() == [-1]
    x, y, months, _ = _planted(seed=5)
    months = months.astype(object)
    months[:10] = None
    out = emerging_hot_spots(x, y, months, AREA, 200.0)
    assert out.attrs["method"]["points_without_month"] == 10
    assert out["count"].sum() == len(x) - 10


def test_degenerate_inputs() -> None:
    empty = emerging_hot_spots(np.empty(0), np.empty(0), np.empty(0, dtype=object), AREA, 250.0)
    assert (empty["category"] == NO_PATTERN).all() and empty.attrs["months"] == []
    x = np.full(30, X0 + 1000.0)
    one = emerging_hot_spots(x, x * 0 + Y0 + 1000, ["2020-01"] * 30, AREA, 250.0)
    assert len(one.attrs["months"]) == 1 and set(one["category"]) <= set(CATEGORIES)
    flat = emerging_hot_spots(
        np.empty(0), np.empty(0), np.empty(0, dtype=object), AREA, 250.0, month_range=["2020-01", "2020-02"]
    )
    assert (flat["trend_p"] == 1).all() and (flat["category"] == NO_PATTERN).all()
    with pytest.raises(InvalidInput):
        emerging_hot_spots(np.array([X0]), np.array([Y0]), ["2020-01", "2020-02"], AREA, 100.0)
    with pytest.raises(InvalidInput):
        emerging_hot_spots(np.array([X0]), np.array([Y0]), ["2020-01"], AREA, 100.0, alpha=0.0)
