"""Ward join: agrees with the precomputed police.uk ward codes, one ward per point, nothing dropped."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hotspots.boundaries import BoundarySet
from hotspots.geo.inputs.join import join_wards


def test_agrees_with_precomputed_ward_codes(
    points: pd.DataFrame, points_raw: pd.DataFrame, boundary_sets: dict[str, BoundarySet]
) -> None:
    joined = join_wards(points, boundary_sets["wards-2018"])
    inside = points_raw["in_tri_borough"].to_numpy(dtype=bool)
    ours = joined["ward_code"].to_numpy(dtype=object)[inside]
    theirs = points_raw["ward2018_code"].to_numpy(dtype=object)[inside]
    agreement = float(np.mean(ours == theirs))
    assert agreement >= 0.999, agreement
    # Margin points in neighbouring boroughs are kept and flagged, not dropped.
    assert len(joined) == len(points_raw)
    assert joined["outside_area"].to_numpy(dtype=bool)[~inside].mean() > 0.99
    assert not joined["outside_area"].to_numpy(dtype=bool)[inside].any()


def test_point_on_shared_edge_gets_exactly_one_ward(boundary_sets: dict[str, BoundarySet]) -> None:
    bset = boundary_sets["wards-2018"]
    a, b = bset.wards.iloc[0], None
    for _, other in bset.wards.iloc[1:].iterrows():
        if a.geometry.touches(other.geometry) and a.geometry.intersection(other.geometry).length > 10:
            b = other
            break
    assert b is not None
    edge = a.geometry.intersection(b.geometry)
    parts = list(getattr(edge, "geoms", [edge]))
    coords = np.asarray(max(parts, key=lambda g: g.length).coords)
    vertex = coords[len(coords) // 2]  # a vertex in the middle of the shared edge, not a triple junction
    frame = pd.DataFrame({"x": [vertex[0]], "y": [vertex[1]], "month": ["2019-01"]})
    joined = join_wards(frame, bset)
    assert joined["ward_code"].iloc[0] == min(a.ward_code, b.ward_code)
    assert not joined["outside_area"].iloc[0]


def test_unlocated_and_outside_points_are_kept(boundary_sets: dict[str, BoundarySet]) -> None:
    frame = pd.DataFrame(
        {"x": [np.nan, 530000.0, 547813.0], "y": [np.nan, 180000.0, 184494.0], "month": ["2019-01"] * 3}
    )
    joined = join_wards(frame, boundary_sets["wards-2018"])
    assert joined["outside_area"].tolist() == [True, True, False]
    assert joined["ward_code"].isna().tolist() == [True, True, False]
    assert joined["borough_name"].iloc[2] == "Barking and Dagenham"


def test_set_in_force_for_each_month(boundary_sets: dict[str, BoundarySet]) -> None:
    frame = pd.DataFrame(
        {"x": [545500.0, 545500.0], "y": [185500.0, 185500.0], "month": ["2021-06", "2023-01"]}
    )
    joined = join_wards(frame, list(boundary_sets.values()))
    assert joined["boundary_set"].tolist() == ["wards-2018", "wards-2022"]
    codes = joined["ward_code"].tolist()
    assert codes[0] in set(boundary_sets["wards-2018"].wards["ward_code"])
    assert codes[1] in set(boundary_sets["wards-2022"].wards["ward_code"])
