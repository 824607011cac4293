"""Shared geometries are never prepared, and concurrent analyses equal sequential ones."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
import shapely

from hotspots.boundaries import BoundarySet, shipped_boundary_sets
from hotspots.geo.analysis import AnalysisParams, analyse
from hotspots.geo.geos import PerThread, prepared_copy, private_copy
from hotspots.geo.inputs import join
from hotspots.geo.outputs.export import dumps, jsonable
from hotspots.geo.stats.assessment import compare, evaluate_hotspots


def _prepared(bset: BoundarySet) -> int:
    geoms = [*bset.wards.geometry.to_numpy(), *bset.boroughs.geometry.to_numpy(), bset.outline]
    return int(shapely.is_prepared(geoms).sum())


@pytest.fixture
def fresh_sets() -> dict[str, BoundarySet]:
    """The shipped boundary sets, unprepared (whatever ran before), with no cached ward grid."""
    sets = shipped_boundary_sets()
    for b in sets.values():
        shapely.destroy_prepared([*b.wards.geometry.to_numpy(), *b.boroughs.geometry.to_numpy(), b.outline])
    with join._GRIDS_LOCK:
        join._GRIDS.clear()
    return sets


@pytest.fixture(scope="module")
def months(points: pd.DataFrame) -> pd.DataFrame:
    return points[points["month"] >= "2020-07"].reset_index(drop=True)


def test_analysis_never_prepares_the_shared_boundary_geometries(
    months: pd.DataFrame, fresh_sets: dict[str, BoundarySet]
) -> None:
    params = AnalysisParams(eps_m=100, min_samples=40)
    analyse(months, fresh_sets, params)
    evaluate_hotspots(months, fresh_sets, params, n_tests=1)
    compare(
        months,
        fresh_sets,
        AnalysisParams(month_from="2020-07", month_to="2020-09", eps_m=100, min_samples=20),
        AnalysisParams(month_from="2020-10", month_to="2020-12", eps_m=100, min_samples=20),
    )
    assert {name: _prepared(b) for name, b in fresh_sets.items()} == dict.fromkeys(fresh_sets, 0)


def test_private_copies() -> None:
    square = shapely.box(0, 0, 10, 10)
    copy = prepared_copy(square)
    assert copy is not square and copy.equals(square)
    assert shapely.is_prepared(copy) and not shapely.is_prepared(square)
    assert private_copy(None) is None
    per = PerThread([square, None])
    with ThreadPoolExecutor(max_workers=2) as pool:
        a, b = pool.submit(per.get).result(), pool.submit(lambda: per.get()).result()
    mine = per.get()
    assert mine[1] is None and mine[0].equals(square) and mine is per.get()
    assert not shapely.is_prepared(square)
    del a, b


def test_concurrent_distinct_evaluations_equal_sequential_ones(
    months: pd.DataFrame, fresh_sets: dict[str, BoundarySet]
) -> None:
    """Several evaluations at once from threads (as /evaluate requests run) give the sequential results."""
    cases = [
        AnalysisParams(eps_m=eps, min_samples=ms) for eps, ms in ((80, 30), (100, 40), (120, 50), (150, 60))
    ]

    def run(params: AnalysisParams) -> str:
        return dumps(jsonable(evaluate_hotspots(months, fresh_sets, params, n_tests=2)))

    with ThreadPoolExecutor(max_workers=len(cases)) as pool:
        together = list(pool.map(run, cases * 2))
    with join._GRIDS_LOCK:
        join._GRIDS.clear()
    alone = [run(p) for p in cases]
    assert together == alone * 2
    assert all(json.loads(t)["rows"] for t in together)
