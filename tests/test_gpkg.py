"""GeoPackage exports: British National Grid layers that pyogrio and GDAL's ogrinfo open."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import pytest
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.geo.analysis import AnalysisParams
from hotspots.geo.outputs.export import GI_PROPERTIES, HOTSPOT_PROPERTIES
from hotspots.geo.outputs.gpkg import GPKG_LAYERS, GPKG_MEDIA_TYPE, flatten_attributes
from hotspots.settings import Settings

BD = "bd-2023-01"
WARD_FIELDS = [
    "ward_code",
    "ward_name",
    "borough_code",
    "borough_name",
    "boundary_set",
    "count",
    "population",
    "rate_per_1000",
    "gi_z",
    "gi_p",
    "gi_bin",
    "gi_label",
    "no_data",
]
FIELDS = {
    "wards": WARD_FIELDS,
    "boroughs": ["borough_code", "borough_name", "count", "no_data"],
    "hotspots": HOTSPOT_PROPERTIES,
    "significance": GI_PROPERTIES,
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("gpkg") / "var", tiles="none")
    with TestClient(create_app(settings)) as c:
        _, secret = c.app.state.service.security.create_key("gis", "admin")  # type: ignore[attr-defined]
        c.headers.update({"X-API-Key": secret})
        yield c


def _download(client: TestClient, layer: str, tmp_path: Path, **params: Any) -> tuple[Path, str]:
    r = client.get(f"/exports/{layer}.gpkg", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == GPKG_MEDIA_TYPE
    match = re.fullmatch(r'attachment; filename="([^"]+)"', r.headers["content-disposition"])
    assert match is not None
    path = tmp_path / match.group(1)
    path.write_bytes(r.content)
    return path, match.group(1)


def _expected_count(client: TestClient, layer: str, dataset: str) -> int:
    _, result = client.app.state.service.analyse(dataset, AnalysisParams())  # type: ignore[attr-defined]
    frames = {
        "wards": result.wards,
        "boroughs": result.boroughs,
        "hotspots": result.hotspots,
        "significance": result.gi_grid[result.gi_grid["gi_bin"] != 0],
    }
    return len(frames[layer])


@pytest.mark.parametrize("layer", GPKG_LAYERS)
def test_layer_opens_with_pyogrio(client: TestClient, layer: str, tmp_path: Path) -> None:
    path, name = _download(client, layer, tmp_path, dataset=BD)
    assert name.startswith(f"bd-2023-01-v1_{layer}_2023-01_2023-01_eps100m-min") and name.endswith(".gpkg")
    assert [row[0] for row in pyogrio.list_layers(path)] == [layer]
    info = pyogrio.read_info(path, layer=layer)
    assert info["crs"] == "EPSG:27700"
    assert info["geometry_type"] == "MultiPolygon"
    assert info["features"] == _expected_count(client, layer, BD) > 0
    assert list(info["fields"]) == FIELDS[layer]
    assert "HOTSPOTS_METADATA" in info["layer_metadata"]
    meta = json.loads(info["layer_metadata"]["HOTSPOTS_METADATA"])
    assert meta["layer"] == layer and meta["crs"].startswith("EPSG:27700")


def test_wards_of_the_default_dataset(client: TestClient, tmp_path: Path) -> None:
    path, _ = _download(client, "wards", tmp_path)
    wards = pyogrio.read_dataframe(path)
    assert len(wards) == 57 and wards.crs.to_epsg() == 27700
    minx, miny, maxx, maxy = wards.total_bounds
    assert 520_000 < minx < maxx < 580_000 and 170_000 < miny < maxy < 200_000, "metres on the National Grid"
    geojson = client.get("/exports/wards.geojson").json()
    counts = {f["properties"]["ward_code"]: f["properties"]["count"] for f in geojson["features"]}
    assert dict(zip(wards["ward_code"], wards["count"], strict=True)) == counts


def test_hotspot_lists_and_records_are_flattened(client: TestClient, tmp_path: Path) -> None:
    path, _ = _download(client, "hotspots", tmp_path, dataset=BD)
    table = pyogrio.read_dataframe(path)
    info = pyogrio.read_info(path)
    fields = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert fields["count"] == "int64" and fields["pai"] == "float64" and fields["cross_border"] == "bool"
    assert fields["wards"] == fields["top_categories"] == "object"
    features = client.get("/exports/hotspots.geojson", params={"dataset": BD}).json()["features"]
    assert len(table) == len(features)
    for row, feature in zip(table.to_dict("records"), features, strict=True):
        props = feature["properties"]
        assert row["hotspot_id"] == props["hotspot_id"]
        assert row["wards"] == "; ".join(props["wards"])
        assert row["borough_codes"] == "; ".join(props["borough_codes"])
        assert json.loads(row["top_categories"]) == props["top_categories"]
        assert json.loads(row["monthly_counts"]) == props["monthly_counts"]
        assert json.loads(row["time_profile"]) == props["time_profile"]


def test_unknown_layer_is_refused(client: TestClient) -> None:
    assert client.get("/exports/incidents.gpkg").status_code == 422
    assert client.get("/exports/wards.gpkg", params={"dataset": "nope"}).status_code == 404


def test_flatten_attributes() -> None:
    df = pd.DataFrame(
        {
            "names": [["a", "b"], [], None],
            "records": [{"x": 1}, None, {"y": [1, 2]}],
            "listed_records": [[{"c": "Robbery", "n": 2}], [], None],
            "numbers": pd.Series([1.5, None, 3], dtype=object),
            "mixed": pd.Series(["x", 2, None], dtype=object),
            "text": pd.Series(["p", None, "q"], dtype="string"),
            "flag": [True, False, True],
            "ints": np.array([1, 2, 3]),
        }
    )
    flat = flatten_attributes(df)
    assert flat["names"].tolist() == ["a; b", "", None]
    assert flat["records"].tolist() == ['{"x":1}', None, '{"y":[1,2]}']
    assert flat["listed_records"].tolist() == ['[{"c":"Robbery","n":2}]', "[]", None]
    assert flat["numbers"].dtype == float and flat["numbers"].isna().tolist() == [False, True, False]
    assert flat["mixed"].tolist() == ["x", "2", None]
    assert flat["text"].tolist() == ["p", None, "q"]
    assert flat["flag"].dtype == bool and flat["ints"].dtype == np.int64


def test_ogrinfo_reads_the_geopackage(client: TestClient, tmp_path: Path) -> None:
    if shutil.which("ogrinfo") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but GDAL's ogrinfo is not installed: .ci/run should install gdal-bin")
        pytest.skip("GDAL command line tools are not installed (apt-get install gdal-bin)")
    path, _ = _download(client, "hotspots", tmp_path, dataset=BD)
    done = subprocess.run(
        ["ogrinfo", "-ro", "-so", str(path), "hotspots"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"Feature Count: {_expected_count(client, 'hotspots', BD)}" in out
    assert "Geometry: Multi Polygon" in out
    assert "British National Grid" in out
    assert re.search(r"^wards: String", out, flags=re.M)
    assert re.search(r"^cross_border: Integer\(Boolean\)", out, flags=re.M)
