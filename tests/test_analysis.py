"""The analysis pipeline on planted and real data: hotspots, cross-border flags, summaries, counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from hotspots.boundaries import BoundarySet
from hotspots.errors import InvalidInput, NotFound
from hotspots.geo.analysis import AnalysisParams, analyse
from hotspots.geo.inputs.ingest import read_incidents
from tests.planting import border_point, planted_incidents, to_csv_source

BD, HAVERING, REDBRIDGE = "E09000002", "E09000016", "E09000026"


@pytest.fixture(scope="module")
def planted(boundary_sets: dict[str, BoundarySet]) -> tuple[pd.DataFrame, np.ndarray, tuple[float, float]]:
    bset = boundary_sets["wards-2022"]
    straddle = border_point(bset, BD, REDBRIDGE)
    centres = [straddle, (552500.0, 188400.0), (545600.0, 184000.0)]
    frame, truth = planted_incidents(
        centres, per_cluster=60, spread_m=30.0, background=300, area=bset.outline, seed=20240101
    )
    incidents = read_incidents([to_csv_source(frame)]).incidents
    return incidents, truth, straddle


def test_border_straddling_cluster_is_one_cross_border_hotspot(
    planted: tuple[pd.DataFrame, np.ndarray, tuple[float, float]], boundary_sets: dict[str, BoundarySet]
) -> None:
    incidents, truth, _ = planted
    result = analyse(incidents, boundary_sets, AnalysisParams(eps_m=60, min_samples=12))
    ids = result.incidents["hotspot_id"].to_numpy()
    assert adjusted_rand_score(truth, ids) >= 0.95
    straddling = set(ids[truth == 0]) - {-1}
    assert len(straddling) == 1, "the straddling cluster must be a single hotspot"
    row = result.hotspots.set_index("hotspot_id").loc[straddling.pop()]
    assert bool(row["cross_border"]) is True
    assert set(row["borough_codes"]) == {BD, REDBRIDGE}
    assert set(row["boroughs"]) == {"Barking and Dagenham", "Redbridge"}
    assert len(row["wards"]) >= 2
    others = result.hotspots[result.hotspots["cross_border"] == False]  # noqa: E712
    assert len(others) == 2


def test_hotspot_summary_fields(
    planted: tuple[pd.DataFrame, np.ndarray, tuple[float, float]], boundary_sets: dict[str, BoundarySet]
) -> None:
    incidents, truth, _ = planted
    result = analyse(incidents, boundary_sets, AnalysisParams(eps_m=60, min_samples=12, shape_buffer_m=30))
    hs = result.hotspots
    assert hs["hotspot_id"].tolist() == list(range(1, len(hs) + 1))
    assert (hs["count"].diff().dropna() <= 0).all(), "ranked by count"
    top = hs.iloc[0]
    members = result.incidents[result.incidents["hotspot_id"] == top["hotspot_id"]]
    assert top["count"] == len(members)
    # Circles of 30 m around ~60 locations spread ~30 m: between one circle and 60 disjoint ones.
    assert np.pi * 30**2 < top["area_m2"] < 60 * np.pi * 30**2
    assert top["density_per_km2"] == pytest.approx(top["count"] / (top["area_m2"] / 1e6), rel=1e-3)
    assert sum(c["count"] for c in top["top_categories"]) <= top["count"]
    assert top["top_categories"][0]["count"] == members["crime_type"].value_counts().iloc[0]
    assert top["monthly_counts"] == {"2024-01": int(top["count"])}
    assert hs.crs.to_epsg() == 27700
    assert result.meta["incidents_in_hotspots"] == int((result.incidents["hotspot_id"] > 0).sum())


def test_ward_and_borough_counts_add_up(bd: pd.DataFrame, boundary_sets: dict[str, BoundarySet]) -> None:
    result = analyse(bd, boundary_sets, AnalysisParams())
    assert result.meta["boundary_sets"] == ["wards-2022"], "January 2023 is joined to the 2022 wards"
    inside = result.meta["incidents_located"] - result.meta["incidents_outside_area"]
    assert result.wards["count"].sum() == inside
    assert result.boroughs.set_index("borough_code")["count"][BD] == inside
    assert "rate_per_1000" in result.wards.columns
    measured = ~result.wards["no_data"]
    assert result.wards.loc[measured, "borough_code"].eq(BD).all(), "the file covers one borough"
    assert result.wards.loc[measured, "rate_per_1000"].notna().all()
    assert result.wards.loc[~measured, "rate_per_1000"].isna().all(), "no data, so no rate"


def test_period_and_category_filters(points: pd.DataFrame, boundary_sets: dict[str, BoundarySet]) -> None:
    params = AnalysisParams(month_from="2020-11", month_to="2020-12", crime_types=("robbery",))
    result = analyse(points, boundary_sets, params)
    assert set(result.incidents["month"]) == {"2020-11", "2020-12"}
    assert set(result.incidents["crime_type"]) == {"Robbery"}
    assert result.months == ["2020-11", "2020-12"]
    with pytest.raises(InvalidInput, match="unknown crime type"):
        analyse(points, boundary_sets, AnalysisParams(crime_types=("Jaywalking",)))
    with pytest.raises(InvalidInput, match="no incidents"):
        analyse(points, boundary_sets, AnalysisParams(month_from="2030-01"))
    with pytest.raises(InvalidInput, match="YYYY-MM"):
        analyse(points, boundary_sets, AnalysisParams(month_from="Jan 2020"))
    with pytest.raises(NotFound):
        analyse(points, boundary_sets, AnalysisParams(boundaries="wards-1066"))


def test_default_hotspots_predict_next_month(
    points: pd.DataFrame, boundary_sets: dict[str, BoundarySet]
) -> None:
    """Fit on 2018-02..2020-11, test on 2020-12: hotspots hold far more than their area share."""
    fit = analyse(points, boundary_sets, AnalysisParams(month_to="2020-11", eps_m=100, min_samples=70))
    test = points[(points["month"] == "2020-12")]
    import shapely

    shape = shapely.union_all(fit.hotspots.geometry.to_numpy())
    inside_area = ~analyse(test, boundary_sets, AnalysisParams()).incidents["outside_area"].to_numpy(bool)
    tx, ty = test["x"].to_numpy()[inside_area], test["y"].to_numpy()[inside_area]
    hit_rate = shapely.contains_xy(shape, tx, ty).mean()
    area_share = shape.area / boundary_sets["wards-2018"].area_m2
    pai = hit_rate / area_share
    assert area_share < 0.05
    assert hit_rate > 0.3
    assert pai > 15, pai


def test_real_data_has_cross_border_hotspots(
    points: pd.DataFrame, boundary_sets: dict[str, BoundarySet]
) -> None:
    result = analyse(points, boundary_sets, AnalysisParams(eps_m=150, min_samples=40))
    cross = result.hotspots[result.hotspots["cross_border"]]
    assert len(cross) > 0
    assert all(
        len(b) >= 2 or o for b, o in zip(cross["boroughs"], cross["extends_outside_area"], strict=True)
    )
