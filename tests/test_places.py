"""Places and areas: a hotspot on one or two locations is a place, ranked apart; the PAI curve."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely

from hotspots.boundaries import BoundarySet
from hotspots.errors import InvalidInput
from hotspots.geo.analysis import AnalysisParams, analyse
from hotspots.geo.clusters.hotspots import build_hotspots
from hotspots.geo.clusters.shapes import hotspot_outline
from hotspots.geo.outputs.export import hotspots_csv, hotspots_geojson
from hotspots.geo.params import SPECS


def _frame(points: list[tuple[float, float, int, str]]) -> pd.DataFrame:
    """Incidents at BNG points: (x, y, how many, location text)."""
    rows = [(x, y, text) for x, y, n, text in points for _ in range(n)]
    n = len(rows)
    return pd.DataFrame(
        {
            "x": [r[0] for r in rows],
            "y": [r[1] for r in rows],
            "location": pd.array([r[2] for r in rows], dtype="string"),
            "month": pd.array(["2020-01"] * n, dtype="string"),
            "crime_type": pd.array(["Shoplifting"] * n, dtype="string"),
            "occurred_at": pd.Series([pd.NaT] * n, dtype="datetime64[ns]"),
            "ward_code": pd.array(["E05000001"] * n, dtype="string"),
            "ward_name": pd.array(["A ward"] * n, dtype="string"),
            "borough_code": pd.array(["E09000002"] * n, dtype="string"),
            "borough_name": pd.array(["Two"] * n, dtype="string"),
            "outside_area": np.zeros(n, dtype=bool),
        }
    )


def test_one_or_two_locations_make_a_place_ranked_apart_from_areas() -> None:
    # label 0: one shopping centre with 300 incidents; 1: a street of 5 points; 2: a station pair
    street = [(546000.0 + 40 * i, 185000.0, 30, f"On or near Street {i}") for i in range(5)]
    frame = _frame(
        [
            (545000.0, 185000.0, 300, "On or near Shopping Area"),
            *street,
            (547000.0, 185000.0, 80, "On or near Station"),
            (547030.0, 185000.0, 20, "On or near Further/Higher Educational Building"),
        ]
    )
    labels = np.repeat([0, 1, 2], [300, 150, 100])
    area = shapely.box(540000, 180000, 550000, 190000)
    hs = build_hotspots(frame, labels, months=["2020-01"], study_area=area)
    assert hs["hotspot_id"].tolist() == [1, 2, 3]  # stable: the rank over every cluster
    assert hs["locations"].tolist() == [1, 5, 2]
    assert hs["kind"].tolist() == ["place", "area", "place"]
    assert hs["rank"].tolist() == [1, 1, 2]
    assert hs["location_text"].tolist() == [
        "On or near Shopping Area",
        None,
        "On or near Station; On or near Further/Higher Educational Building",
    ]
    # min_locations sets the rule: 2 makes the pair an area
    hs2 = build_hotspots(frame, labels, months=["2020-01"], study_area=area, min_locations=2)
    assert hs2["kind"].tolist() == ["place", "area", "area"]
    assert hs2["rank"].tolist() == [1, 1, 2]
    # an area is one contiguous street-scale shape
    assert hs.geometry.iloc[1].geom_type == "Polygon"


def test_min_locations_is_in_the_parameter_contract() -> None:
    spec = SPECS["min_locations"]
    assert spec.default == 3 and spec.flag == "--min-locations"
    AnalysisParams(min_locations=1).validate()
    with pytest.raises(InvalidInput, match="min_locations"):
        AnalysisParams(min_locations=0).validate()


def test_outline_is_contiguous_and_street_scale() -> None:
    rng = np.random.default_rng(5)
    x = np.cumsum(rng.uniform(30, 90, 12)) + 545000.0
    y = 185000.0 + rng.normal(0, 20, 12)
    shape = hotspot_outline(x, y, 15.0, 100.0)
    assert shape.geom_type == "Polygon" and shape.is_valid
    circles = shapely.union_all(shapely.buffer(shapely.points(x, y), 15.0, quad_segs=8))
    assert shape.contains(circles.buffer(-1e-6))
    assert shape.area < shapely.union_all(shapely.buffer(shapely.points(x, y), 30.0)).area
    # places farther apart than the longest link stay apart
    apart = hotspot_outline(np.array([0.0, 500.0]) + 545000, np.array([185000.0, 185000.0]), 15.0, 100.0)
    assert shapely.get_num_geometries(apart) == 2


@pytest.fixture(scope="module")
def bd_result(bd: pd.DataFrame, boundary_sets: dict[str, BoundarySet]) -> Any:
    return analyse(bd, boundary_sets, AnalysisParams(), statistics=False)


def test_shipped_places_carry_their_location_text(bd_result: Any) -> None:
    hs = bd_result.hotspots
    places = hs[hs["kind"] == "place"]
    areas = hs[hs["kind"] == "area"]
    assert len(places) and len(areas)
    assert (places["locations"] < 3).all() and (areas["locations"] >= 3).all()
    named = places["location_text"].dropna()
    assert len(named) and named.str.match(r"On or near \S").all()
    # police.uk's "On or near " with no street name names nothing: never shown as a place's text
    assert not places["location_text"].fillna("").str.contains(r"On or near(?:;|$)").any()
    assert places["location_text"].isna().any()  # the shipped month has nameless snap points
    assert areas["location_text"].isna().all()
    assert sorted(places["rank"]) == list(range(1, len(places) + 1))
    assert sorted(areas["rank"]) == list(range(1, len(areas) + 1))
    props = hotspots_geojson(bd_result)["features"][0]["properties"]
    assert {"kind", "rank", "location_text", "locations"} <= set(props)
    lines = hotspots_csv(bd_result).splitlines()
    kinds = [line.split(",")[1] for line in lines[1:]]
    assert kinds == sorted(kinds)  # areas first, then places
    assert bd_result.meta["hotspot_kinds"]["place"] == len(places)


def test_pai_curve_of_the_shipped_points(points: pd.DataFrame, boundary_sets: dict[str, BoundarySet]) -> None:
    from hotspots.geo.stats.assessment import evaluate_hotspots
    from hotspots.geo.stats.evaluation import CURVE_SHARES, pai_curve_png

    recent = points[points["month"].astype(str) >= "2020-01"]
    report = evaluate_hotspots(recent, boundary_sets, AnalysisParams(), test_month="2020-12")
    curve = report["curve"]
    assert curve["shares"] == list(CURVE_SHARES)
    for name in ("grid", "kde", "wards", "best"):
        assert len(curve[name]) == len(CURVE_SHARES)
        assert all(v is not None and v > 0 for v in curve[name])
    # the best cells bound every ranking of cells; PAI falls as the area grows
    assert all(b >= g - 1e-9 for b, g in zip(curve["best"], curve["grid"], strict=True))
    assert curve["grid"][0] > curve["grid"][-1]
    hs = curve["hotspots"]
    assert len(hs["area_share"]) == report["parameters_by_fit_period_end"]["2020-11"]["hotspots"]
    assert hs["area_share"] == sorted(hs["area_share"])
    row = report["rows"][-1]
    assert hs["area_share"][-1] == pytest.approx(row["area_share"], rel=1e-3)
    assert hs["pai"][-1] == pytest.approx(row["pai"], rel=1e-3)
    # the fix: at the same area share the default hotspots reach 0.9x the 50 m grid
    assert row["pai"] >= 0.9 * row["grid_pai"]
    png = pai_curve_png(curve, "test")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_spanning_links_are_the_minimum_spanning_tree() -> None:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import minimum_spanning_tree
    from scipy.spatial import cKDTree

    from hotspots.geo.clusters.shapes import minimum_spanning_links

    rng = np.random.default_rng(11)
    for _ in range(20):
        n = int(rng.integers(2, 300))
        x = np.round(rng.normal(545000, rng.uniform(20, 300), n), int(rng.integers(0, 3)))
        y = np.round(rng.normal(185000, 100, n))
        a, b = minimum_spanning_links(x, y, 100.0)
        p = cKDTree(np.column_stack([x, y])).query_pairs(100.0, output_type="ndarray")
        d = np.hypot(x[p[:, 0]] - x[p[:, 1]], y[p[:, 0]] - y[p[:, 1]]) + 1e-9
        ref = minimum_spanning_tree(coo_matrix((d, (p[:, 0], p[:, 1])), shape=(n, n)).tocsr())
        assert len(a) == ref.nnz
        assert np.hypot(x[a] - x[b], y[a] - y[b]).sum() == pytest.approx(ref.sum() - 1e-9 * ref.nnz, abs=1e-6)
    # on one line (no triangulation): still the chain
    a, b = minimum_spanning_links(np.arange(6) * 50.0, np.zeros(6), 100.0)
    assert a.tolist() == [0, 1, 2, 3, 4] and b.tolist() == [1, 2, 3, 4, 5]
