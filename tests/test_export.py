"""GeoJSON (RFC 7946) and CSV exports."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest
import shapely

from hotspots.boundaries import BoundarySet
from hotspots.geo.analysis import AnalysisParams, AnalysisResult, analyse
from hotspots.geo.outputs.export import (
    boroughs_geojson,
    dumps,
    hotspots_geojson,
    incidents_csv,
    rfc7946_geometry,
    safe_cell,
    wards_geojson,
)
from tests.geojson_checks import assert_rfc7946


@pytest.fixture(scope="module")
def result(bd: pd.DataFrame, boundary_sets: dict[str, BoundarySet]) -> AnalysisResult:
    return analyse(bd, boundary_sets, AnalysisParams())


def test_layers_are_rfc7946(result: AnalysisResult) -> None:
    for fc in (hotspots_geojson(result), wards_geojson(result), boroughs_geojson(result)):
        text = dumps(fc)
        assert "NaN" not in text
        assert_rfc7946(json.loads(text))


def test_hotspot_properties(result: AnalysisResult) -> None:
    fc = hotspots_geojson(result)
    assert len(fc["features"]) == len(result.hotspots) > 0
    props = fc["features"][0]["properties"]
    for key in ("hotspot_id", "count", "area_m2", "wards", "boroughs", "cross_border"):
        assert key in props
    assert isinstance(props["wards"], list) and isinstance(props["wards"][0], str)
    assert fc["features"][0]["id"] == 1
    assert fc["metadata"]["dbscan"]["eps_m"] == 100.0
    assert fc["metadata"]["method"]["name"] == "dbscan" and fc["metadata"]["method"]["weight"] == "count"


def test_wards_layer_has_counts(result: AnalysisResult) -> None:
    fc = wards_geojson(result)
    props = [f["properties"] for f in fc["features"]]
    assert {"ward_code", "ward_name", "borough_name", "count"} <= set(props[0])
    assert sum(p["count"] or 0 for p in props) == result.wards["count"].sum()
    # the Barking and Dagenham file covers one borough of three: the others' wards are no data, not 0
    lacking = [p for p in props if p["no_data"]]
    assert lacking and all(p["borough_name"] != "Barking and Dagenham" for p in lacking)
    assert all(p["count"] is None and p["rate_per_1000"] is None and p["gi_z"] is None for p in lacking)
    assert all(isinstance(p["count"], int) for p in props if not p["no_data"])


def test_orientation_is_fixed_for_clockwise_input() -> None:
    cw = shapely.Polygon([(0, 0), (0, 1), (1, 1), (1, 0)], holes=[[(0.2, 0.2), (0.4, 0.2), (0.4, 0.4)]])
    geom = rfc7946_geometry(cw)
    assert geom is not None
    assert shapely.LinearRing(geom["coordinates"][0]).is_ccw
    assert not shapely.LinearRing(geom["coordinates"][1]).is_ccw


def test_coordinates_rounded_to_six_decimals() -> None:
    geom = rfc7946_geometry(shapely.Point(0.123456789, 51.987654321))
    assert geom == {"type": "Point", "coordinates": [0.123457, 51.987654]}


@pytest.mark.parametrize("text", ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=x"])
def test_formula_cells_neutralised(text: str) -> None:
    assert safe_cell(text) == "'" + text
    assert safe_cell("On or near High Street") == "On or near High Street"


def test_incidents_csv(result: AnalysisResult) -> None:
    rows = list(csv.DictReader(io.StringIO(incidents_csv(result))))
    assert len(rows) == len(result.incidents)
    assert {"crime_id", "ward_code", "borough_name", "hotspot_id"} <= set(rows[0])
    assert {r["hotspot_id"] for r in rows} >= {"-1", "1"}
    assert float(rows[0]["longitude"]) > 0  # numbers stay numbers
