"""Hotspot outlines drawn from fewer pieces are the same region as the union of every circle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from hotspots.boundaries import BoundarySet
from hotspots.geo.clusters import shapes
from hotspots.geo.clusters.dbscan import weighted_dbscan
from hotspots.geo.clusters.hotspots import build_hotspots
from hotspots.geo.clusters.shapes import circle_union, covered_cells
from hotspots.geo.inputs.join import join_wards

TOLERANCE_M = 1e-6
"""Largest distance allowed between the two outlines: floating-point noise only."""


def plain_union(x: np.ndarray, y: np.ndarray, radius: float, quad_segs: int = 8) -> shapely.Geometry:
    return shapely.union_all(shapely.buffer(shapely.points(x, y), radius, quad_segs=quad_segs))


def assert_same_region(ours: shapely.Geometry, ref: shapely.Geometry, x: np.ndarray, y: np.ndarray) -> None:
    assert shapely.hausdorff_distance(ours, ref) < TOLERANCE_M
    assert shapely.area(shapely.symmetric_difference(ours, ref)) < TOLERANCE_M * max(ref.length, 1.0)
    assert abs(ours.area - ref.area) <= 1e-9 * ref.area
    assert shapely.covers(ours.buffer(TOLERANCE_M), shapely.points(x, y)).all()


def _clusters(rng: np.random.Generator, n: int, spread: float, snap: float | None) -> tuple[np.ndarray, ...]:
    centres = rng.uniform(0, 3000, (4, 2)) + [545000.0, 185000.0]
    pts = centres[rng.integers(0, 4, n)] + rng.normal(0, spread, (n, 2))
    if snap:
        pts = np.unique(np.round(pts / snap) * snap, axis=0)
    return pts[:, 0], pts[:, 1]


@pytest.mark.parametrize(
    ("seed", "radius", "quad_segs", "snap"),
    [(0, 30.0, 8, None), (1, 30.0, 8, 1.0), (2, 12.5, 4, None), (3, 75.0, 16, 5.0), (4, 1.0, 8, None)],
)
def test_circle_union_is_the_union_of_every_circle(
    seed: int, radius: float, quad_segs: int, snap: float | None
) -> None:
    rng = np.random.default_rng(seed)
    x, y = _clusters(rng, 4000, radius * 3, snap)
    keep, boxes = covered_cells(x, y, radius, quad_segs=quad_segs)
    if radius >= 10:
        assert (~keep).sum() > len(x) // 4  # the cells do leave circles out
    else:  # 1 m circles 3 km apart: cells would be too many, so every circle is kept
        assert keep.all() and len(boxes) == 0
    ours = circle_union(x, y, radius, quad_segs=quad_segs)
    assert_same_region(ours, plain_union(x, y, radius, quad_segs), x, y)


def test_covered_cells_lie_inside_circles_and_hold_the_circles_left_out() -> None:
    rng = np.random.default_rng(7)
    x, y = _clusters(rng, 3000, 60.0, None)
    keep, boxes = covered_cells(x, y, 30.0)
    circles = shapely.buffer(shapely.points(x, y), 30.0, quad_segs=8)
    union = shapely.union_all(circles)
    assert shapely.covers(union.buffer(TOLERANCE_M), boxes).all()
    cells = shapely.coverage_union_all(boxes).buffer(TOLERANCE_M)
    assert shapely.covers(cells, circles[~keep]).all()


def test_circle_union_of_few_or_sparse_points_is_the_plain_union() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 1e5, 1500), rng.uniform(0, 1e5, 1500)  # far apart: nothing to leave out
    keep, boxes = covered_cells(x, y, 30.0)
    assert keep.all()
    assert circle_union(x, y, 30.0).equals_exact(plain_union(x, y, 30.0), 0.0)
    assert circle_union(x[:10], y[:10], 30.0).equals_exact(plain_union(x[:10], y[:10], 30.0), 0.0)
    keep, boxes = covered_cells(x[:0], y[:0], 30.0)
    assert len(keep) == 0 and len(boxes) == 0


def test_hotspots_of_the_sample_drawn_from_cells_match(
    points: pd.DataFrame, boundary_sets: dict[str, BoundarySet], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every hotspot of the real sample drawn through the cells: same summaries, same outline."""
    bset = boundary_sets["wards-2018"]
    joined = pd.concat([points, join_wards(points, bset)], axis=1)
    labels = weighted_dbscan(joined["x"].to_numpy(), joined["y"].to_numpy(), 100.0, 70)
    months = [str(p) for p in pd.period_range("2018-02", "2020-12", freq="M")]
    plain = build_hotspots(joined, labels, months=months, study_area=bset.outline)
    monkeypatch.setattr(shapes, "CELL_PATH_MIN_POINTS", 0)
    cells = build_hotspots(joined, labels, months=months, study_area=bset.outline)
    pd.testing.assert_frame_equal(
        pd.DataFrame(cells.drop(columns="geometry")), pd.DataFrame(plain.drop(columns="geometry"))
    )
    for ours, ref in zip(cells.geometry, plain.geometry, strict=True):
        assert shapely.hausdorff_distance(ours, ref) < TOLERANCE_M
        assert abs(ours.area - ref.area) <= 1e-9 * ref.area
    member = labels >= 0
    pts = shapely.points(joined["x"].to_numpy()[member], joined["y"].to_numpy()[member])
    shape_of = cells.geometry.to_numpy()[labels[member]]
    assert shapely.covers(shape_of, pts).all()
