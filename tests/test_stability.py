"""Stability: months hot of the last 12, and persistence of the previous period's hotspots (#13.6)."""

from __future__ import annotations

import pandas as pd
import pytest

from hotspots.boundaries import BoundarySet
from hotspots.geo.analysis import AnalysisParams, analyse
from hotspots.geo.inputs.ingest import read_incidents
from hotspots.geo.stats.stability import hotspot_stability, with_stability
from tests.planting import planted_incidents, to_csv_source

BD = "E09000002"
MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]
B_MONTHS = {"2024-01", "2024-02", "2024-04", "2024-05", "2024-07", "2024-09", "2024-12"}  # 7 of 12
C_MONTHS = set(MONTHS[:6])  # only in the first half: last period's hotspot that vanishes


@pytest.fixture(scope="module")
def planted(boundary_sets: dict[str, BoundarySet]) -> tuple[pd.DataFrame, dict[str, BoundarySet], list]:
    bset = list(boundary_sets.values())[-1]
    wards = bset.wards[bset.wards["borough_code"] == BD]
    area = wards.geometry.union_all()
    points = [wards.geometry.iloc[i].representative_point() for i in (0, 5, 10)]
    a, b, c = ((float(p.x), float(p.y)) for p in points)
    frames = []
    for i, month in enumerate(MONTHS):
        centres = [a] + ([b] if month in B_MONTHS else []) + ([c] if month in C_MONTHS else [])
        frame, _ = planted_incidents(
            centres, per_cluster=60, spread_m=15, background=200, area=area, seed=100 + i, month=month
        )
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    incidents = read_incidents([to_csv_source(frame)]).incidents
    return incidents, boundary_sets, [a, b, c]


def _hotspot_at(result, xy):  # type: ignore[no-untyped-def]
    from shapely.geometry import Point

    hit = result.hotspots[result.hotspots.geometry.intersects(Point(xy).buffer(20))]
    assert len(hit) == 1
    return int(hit["hotspot_id"].iloc[0])


def test_months_hot_counts_the_months_a_hotspot_was_hot(planted) -> None:  # type: ignore[no-untyped-def]
    incidents, sets, (a, b, _) = planted
    params = AnalysisParams(month_from="2024-01", month_to="2024-12", eps_m=100, min_samples=240)
    result = analyse(incidents, sets, params, statistics=False)
    report = hotspot_stability(incidents, sets, result)
    assert report["months"] == MONTHS
    assert report["monthly_min_samples"] == 20
    per = {r["hotspot_id"]: r for r in report["hotspots"]}
    assert per[_hotspot_at(result, a)]["months_hot"] == 12
    assert per[_hotspot_at(result, b)]["months_hot"] == 7
    assert all(r["months_checked"] == 12 for r in report["hotspots"])
    assert report["persistence_share"] is None  # no data before 2024-01
    shown = with_stability(result, report)
    assert shown.hotspots.set_index("hotspot_id").loc[_hotspot_at(result, b), "months_hot"] == 7
    assert "hotspots" not in shown.meta["stability"] and shown.meta["stability"]["months"] == MONTHS
    assert "months_hot" not in result.hotspots.columns  # the cached result is not changed


def test_persistence_share_of_the_previous_period(planted) -> None:  # type: ignore[no-untyped-def]
    incidents, sets, (a, b, c) = planted
    params = AnalysisParams(month_from="2024-07", month_to="2024-12", eps_m=100, min_samples=120)
    result = analyse(incidents, sets, params, statistics=False)
    report = hotspot_stability(incidents, sets, result)
    prev = report["previous_period"]
    assert (prev["from"], prev["to"], prev["hotspots"], prev["persisting"]) == ("2024-01", "2024-06", 3, 2)
    assert report["persistence_share"] == pytest.approx(2 / 3)
    per = {r["hotspot_id"]: r["months_hot"] for r in report["hotspots"]}
    assert per[_hotspot_at(result, b)] == 7  # the last 12 months reach back before the period


def test_table_rows_show_months_hot(planted) -> None:  # type: ignore[no-untyped-def]
    from hotspots.maps.panel import hotspot_rows

    incidents, sets, (_, b, _) = planted
    params = AnalysisParams(month_from="2024-01", month_to="2024-12", eps_m=100, min_samples=240)
    result = analyse(incidents, sets, params, statistics=False)
    assert {r.months_hot for r in hotspot_rows(result.hotspots, result.meta)} == {"n/a"}
    shown = with_stability(result, hotspot_stability(incidents, sets, result))
    rows = {r.rank: r for r in hotspot_rows(shown.hotspots, shown.meta)}
    assert rows[_hotspot_at(result, b)].months_hot == "7 of 12"
    assert all(r.missing_months == "" for r in rows.values())
