"""Hex grids, Getis-Ord Gi* with FDR and ArcGIS bins, and hot share of hotspots."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from esda.getisord import G_Local
from libpysal.weights import DistanceBand
from scipy import stats

from hotspots.boundaries import BoundarySet
from hotspots.crs import BNG
from hotspots.errors import InvalidInput
from hotspots.geo.stats.grid import (
    HexGrid,
    axial_coords,
    count_points,
    default_cell_size,
    hex_area,
    hex_centres,
    hex_grid,
)
from hotspots.geo.stats.significance import (
    LABELS,
    NO_DATA,
    NO_NEIGHBOURS,
    gi_bins,
    gi_star,
    gi_star_grid,
    gi_star_polygons,
    hot_share,
)

# A 4 km x 3 km study area in east London (EPSG:27700 metres).
X0, Y0 = 545_000.0, 185_000.0
AREA = shapely.box(X0, Y0, X0 + 4000, Y0 + 3000)


def uniform_points(n: int, seed: int, area: shapely.Geometry = AREA) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = area.bounds
    return rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)


# --- hex grid geometry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [50.0, 100.0, 237.5])
def test_cell_area_matches_formula(size: float) -> None:
    grid = hex_grid(AREA, size)
    areas = grid.geometry.area.to_numpy()
    assert np.allclose(areas, math.sqrt(3) / 2 * size**2, rtol=1e-9)
    assert hex_area(size) == pytest.approx(math.sqrt(3) / 2 * size**2)
    assert grid.crs.to_epsg() == BNG
    assert grid.attrs["cell_size_m"] == size
    # opposite flat sides are `size` apart: the hexagon's width (pointy-topped)
    minx, _, maxx, _ = grid.geometry.iloc[0].bounds
    assert maxx - minx == pytest.approx(size)


def test_cells_tile_without_overlap_and_cover_the_area() -> None:
    area = shapely.Point(X0 + 2000, Y0 + 1500).buffer(1400)
    grid = hex_grid(area, 100.0)
    union = grid.geometry.union_all()
    assert union.area == pytest.approx(grid.geometry.area.sum(), rel=1e-9)
    assert union.covers(area)
    # every cell has some of its interior in the area, and "centre" keeps fewer
    assert grid.geometry.intersection(area).area.min() > 0
    centre = hex_grid(area, 100.0, include="centre")
    assert len(centre) < len(grid)
    assert shapely.contains_xy(area, *HexGrid.from_geodataframe(centre).centres()).all()


def test_neighbouring_centres_are_one_cell_size_apart() -> None:
    grid = HexGrid.covering(AREA, 100.0)
    adj = grid.neighbours(1).tocoo()
    cx, cy = grid.centres()
    dist = np.hypot(cx[adj.row] - cx[adj.col], cy[adj.row] - cy[adj.col])
    assert np.allclose(dist, 100.0)
    assert np.asarray(grid.neighbours(1).sum(axis=1)).max() == 6
    assert np.asarray(grid.neighbours(2).sum(axis=1)).max() == 18
    # equal to a libpysal distance band just over one cell size between centres
    band = DistanceBand(np.column_stack([cx, cy]), threshold=101.0, silence_warnings=True)
    assert (band.sparse != grid.neighbours(1)).nnz == 0


def test_point_counts_equal_point_in_polygon() -> None:
    grid = hex_grid(AREA, 100.0)
    x, y = uniform_points(5000, seed=1, area=AREA.buffer(300))
    tree = shapely.STRtree(grid.geometry.values)
    pts, cells = tree.query(shapely.points(x, y), predicate="within")
    expected_cell = np.full(len(x), -1)
    expected_cell[pts] = grid["cell_id"].to_numpy()[cells]
    assert len(np.unique(pts)) == len(pts)  # no point in two cells
    hg = HexGrid.from_geodataframe(grid)
    assert np.array_equal(hg.locate(x, y), expected_cell)
    expected_counts = np.bincount(expected_cell[expected_cell >= 0], minlength=len(grid))
    assert np.array_equal(count_points(grid, x, y), expected_counts)
    w = np.random.default_rng(2).uniform(0, 3, len(x))
    inside = expected_cell >= 0
    expected_w = np.bincount(expected_cell[inside], weights=w[inside], minlength=len(grid))
    assert np.allclose(count_points(hg, x, y, weights=w), expected_w)
    # row order of the frame is respected
    shuffled = grid.sample(frac=1.0, random_state=3)
    assert np.array_equal(count_points(shuffled, x, y), expected_counts[shuffled["cell_id"].to_numpy()])


def test_axial_round_trip_and_bad_coordinates() -> None:
    grid = HexGrid.covering(AREA, 80.0)
    cx, cy = grid.centres()
    q, r = axial_coords(cx, cy, 80.0)
    assert np.array_equal(q, grid.q) and np.array_equal(r, grid.r)
    assert (grid.locate(np.array([np.nan, X0 + 10]), np.array([Y0 + 10, np.inf])) == -1).all()


def test_default_cell_size_rule() -> None:
    # 5 incidents per cell if spread evenly; clamp to [50, 500] m; round to 10 m
    assert default_cell_size(147_131, 210e6) == 90.0
    assert default_cell_size(4_000, 210e6) == 500.0
    assert default_cell_size(10_000_000, 210e6) == 50.0
    assert default_cell_size(0, 210e6) == 500.0
    size = default_cell_size(30_000, 210e6)
    assert size % 10 == 0 and 50 <= size <= 500
    assert 5 * 210e6 / 30_000 == pytest.approx(hex_area(size), rel=0.2)


def test_grid_rejects_bad_sizes() -> None:
    with pytest.raises(InvalidInput):
        hex_grid(AREA, 0.0)
    with pytest.raises(InvalidInput):
        hex_grid(shapely.box(0, 0, 1e6, 1e6), 5.0)


# --- Gi* -----------------------------------------------------------------------------------------------


def test_gi_star_equals_esda_reference() -> None:
    x, y = uniform_points(3000, seed=4)
    x = np.concatenate([x, np.random.default_rng(5).normal(X0 + 1000, 150, 400)])
    y = np.concatenate([y, np.random.default_rng(6).normal(Y0 + 1000, 150, 400)])
    out = gi_star_grid(x, y, AREA, 200.0, fdr=False)
    grid = HexGrid.from_geodataframe(out)
    band = DistanceBand(np.column_stack(grid.centres()), threshold=201.0, silence_warnings=True)
    ref = G_Local(out["count"].to_numpy(), band, transform="B", star=True, permutations=0)
    assert np.allclose(out["z"].to_numpy(), ref.Zs)
    assert np.allclose(out["p"].to_numpy(), 2 * ref.p_norm)
    assert np.array_equal(out["p_fdr"].to_numpy(), out["p"].to_numpy())
    assert np.array_equal(out["gi_bin"].to_numpy(), gi_bins(ref.Zs, 2 * ref.p_norm))
    assert list(out.columns) == [
        "cell_id",
        "q",
        "r",
        "count",
        "z",
        "p",
        "p_fdr",
        "gi_bin",
        "label",
        "n_neighbours",
        "geometry",
    ]
    assert out["count"].sum() == len(x)
    # with FDR: Benjamini-Hochberg adjusted p-values
    adj = gi_star_grid(x, y, AREA, 200.0)
    assert np.allclose(adj["p_fdr"], stats.false_discovery_control(2 * ref.p_norm))
    assert (adj["gi_bin"].abs() <= out["gi_bin"].abs()).all()


def test_bins_and_labels() -> None:
    z = np.array([3.0, 2.0, 1.7, 0.5, -1.7, -2.0, -3.0, 1.0])
    p = np.array([0.005, 0.03, 0.08, 0.6, 0.08, 0.03, 0.005, np.nan])
    assert gi_bins(z, p).tolist() == [3, 2, 1, 0, -1, -2, -3, 0]
    assert LABELS[3] == "Hot spot 99%" and LABELS[-2] == "Cold spot 95%"


def test_planted_cluster_is_hot_at_99_and_nothing_far_away() -> None:
    rng = np.random.default_rng(7)
    x, y = uniform_points(4000, seed=8)
    cx, cy = X0 + 1000, Y0 + 1000
    x = np.concatenate([x, rng.normal(cx, 60, 300)])
    y = np.concatenate([y, rng.normal(cy, 60, 300)])
    out = gi_star_grid(x, y, AREA, 100.0)
    centres = out.geometry.centroid
    dist = np.hypot(centres.x - cx, centres.y - cy).to_numpy()
    at_cluster = out.loc[dist < 60]
    assert (at_cluster["gi_bin"] == 3).all() and (at_cluster["label"] == "Hot spot 99%").all()
    assert (out.loc[dist > 600, "gi_bin"] <= 0).all()


def test_uniform_points_give_almost_no_significant_cells() -> None:
    x, y = uniform_points(20_000, seed=9)
    out = gi_star_grid(x, y, AREA, 100.0)
    assert (out["gi_bin"] != 0).mean() < 0.01
    raw = gi_star_grid(x, y, AREA, 100.0, fdr=False)
    assert (raw["gi_bin"] != 0).sum() >= (out["gi_bin"] != 0).sum()


def test_permutation_p_values_are_seeded() -> None:
    x, y = uniform_points(800, seed=10)
    a = gi_star_grid(x, y, AREA, 400.0, permutations=99)
    b = gi_star_grid(x, y, AREA, 400.0, permutations=99)
    assert np.array_equal(a["p"].to_numpy(), b["p"].to_numpy())
    assert ((a["p"] > 0) & (a["p"] <= 1)).all()
    assert "permutations" in str(a.attrs["gi_method"]["p_values"])


def test_degenerate_inputs_do_not_crash() -> None:
    empty = gi_star_grid(np.empty(0), np.empty(0), AREA, 200.0)
    assert (empty["gi_bin"] == 0).all() and (empty["z"] == 0).all() and (empty["p"] == 1).all()
    one = gi_star_grid(np.full(50, X0 + 500.0), np.full(50, Y0 + 500.0), AREA, 200.0)
    assert one["count"].max() == 50 and np.isfinite(one["z"]).all()
    assert one.loc[one["count"] == 50, "gi_bin"].iloc[0] > 0
    # two single-cell islands far apart: not tested
    (ax, bx), (ay, by) = hex_centres(np.array([5450, 5500]), np.array([2140, 2140]), 100.0)
    islands = shapely.MultiPolygon(
        [shapely.box(ax - 5, ay - 5, ax + 5, ay + 5), shapely.box(bx - 5, by - 5, bx + 5, by + 5)]
    )
    out = gi_star_grid(np.array([ax]), np.array([ay]), islands, 100.0)
    assert len(out) == 2
    isl = out[out["n_neighbours"] == 0]
    assert len(isl) and isl["z"].isna().all() and (isl["gi_bin"] == 0).all()
    assert (isl["label"] == NO_NEIGHBOURS).all()
    # a grid with no cells at all
    tiny = shapely.box(X0 + 1, Y0 + 1, X0 + 2, Y0 + 2)
    none = gi_star_grid(np.array([X0 + 1.5]), np.array([Y0 + 1.5]), tiny, 100.0, include="centre")
    assert len(none) in (0, 1)
    assert len(gi_star(np.empty(0), np.zeros((0, 0))).z) == 0


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="degrees"):
        gi_star_grid(np.array([0.1, 0.2]), np.array([51.5, 51.6]), AREA, 100.0)
    with pytest.raises(InvalidInput):
        gi_star_grid(np.array([X0]), np.array([Y0, Y0]), AREA, 100.0)
    with pytest.raises(InvalidInput):
        gi_star_grid(np.array([X0]), np.array([Y0]), shapely.Polygon(), 100.0)


def test_default_cell_size_used_when_not_given() -> None:
    x, y = uniform_points(2000, seed=11)
    out = gi_star_grid(x, y, AREA, None)
    assert out.attrs["cell_size_m"] == default_cell_size(2000, AREA.area)


# --- wards ---------------------------------------------------------------------------------------------


def test_gi_star_on_shipped_wards(boundary_sets: dict[str, BoundarySet]) -> None:
    wards = boundary_sets["wards-2018"].wards.copy()
    centres = wards.geometry.centroid
    focus = centres.iloc[0]
    dist_km = np.hypot(centres.x - focus.x, centres.y - focus.y).to_numpy() / 1000
    rng = np.random.default_rng(12)
    wards["count"] = np.round(400 * np.exp(-dist_km / 2) + rng.poisson(50, len(wards)))
    wards.loc[wards.index[-1], "count"] = np.nan
    out = gi_star_polygons(wards, "count")
    assert len(out) == len(wards) and out.crs == wards.crs
    assert list(out.index) == list(wards.index)
    tested = out.iloc[:-1]
    assert (tested["n_neighbours"] > 0).all() and np.isfinite(tested["z"]).all()
    assert out["gi_bin"].iloc[0] == 3
    hot = tested["gi_bin"].to_numpy() > 0
    assert dist_km[:-1][hot].max() < dist_km[:-1][~hot].mean()
    assert out["label"].iloc[-1] == NO_DATA and np.isnan(out["z"].iloc[-1])
    assert out.attrs["gi_method"]["neighbours"].startswith("queen contiguity")
    with pytest.raises(InvalidInput):
        gi_star_polygons(wards, "no_such_column")


# --- hot share -----------------------------------------------------------------------------------------


def test_hot_share_inside_partly_and_far_away() -> None:
    rng = np.random.default_rng(13)
    x, y = uniform_points(4000, seed=14)
    cx, cy = X0 + 1000, Y0 + 1000
    x = np.concatenate([x, rng.normal(cx, 60, 300)])
    y = np.concatenate([y, rng.normal(cy, 60, 300)])
    gi = gi_star_grid(x, y, AREA, 100.0)
    hot_cell = gi.loc[gi["gi_bin"] == 3].geometry.iloc[0]
    inside = hot_cell.centroid.buffer(20)
    far = shapely.Point(X0 + 3500, Y0 + 2500).buffer(40)
    half = shapely.box(*hot_cell.bounds).union(shapely.box(X0 + 3400, Y0 + 2400, X0 + 3500, Y0 + 2500))
    geoms = gpd.GeoSeries([inside, far, shapely.Polygon(), half], crs=BNG)
    share = hot_share(geoms, gi)
    assert share[0] == pytest.approx(1.0)
    assert share[1] == 0.0
    assert np.isnan(share[2])
    assert 0.0 < share[3] < 1.0
    # reprojected input gives the same answer
    assert hot_share(geoms.iloc[:2].to_crs(4326), gi) == pytest.approx(share[:2], abs=1e-3)
    # no hot cells at all
    cold = gi.assign(gi_bin=0)
    assert hot_share(geoms.iloc[:2], cold).tolist() == [0.0, 0.0]
