"""Every polygon we write is valid after its coordinates are rounded (GeoJSON, GeoPackage, OGC API)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.boundaries import BoundarySet
from hotspots.geo.analysis import AnalysisParams, analyse
from hotspots.geo.outputs.export import (
    boroughs_geojson,
    gi_grid_geojson,
    hotspots_geojson,
    rfc7946_geometry,
    rounded_geometry,
    wards_geojson,
)
from hotspots.geo.outputs.gpkg import GPKG_LAYERS, write_gpkg
from hotspots.settings import Settings


def _naive(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda c: np.round(c, 6))


def _invalid_features(fc: dict[str, Any]) -> list[Any]:
    bad = []
    for f in fc["features"]:
        if f["geometry"] is not None and not shapely.geometry.shape(f["geometry"]).is_valid:
            bad.append(f.get("id"))
    return bad


def test_planted_polygons_stay_valid_after_rounding() -> None:
    # a hole 0.4e-6 degrees inside the outer ring: rounding each vertex puts it on the ring
    outer = [(0.1, 51.5), (0.1001, 51.5), (0.1001, 51.5001), (0.1, 51.5001)]
    hole = [(0.1000004, 51.50002), (0.10005, 51.50002), (0.10005, 51.50005), (0.1000004, 51.50005)]
    holed = shapely.Polygon(outer, [hole])
    # two parts 0.3e-6 degrees apart: rounding makes them share an edge
    left = shapely.box(0.2, 51.5, 0.2000106, 51.50001)
    right = shapely.box(0.2000109, 51.500004, 0.20002, 51.50002)
    parts = shapely.MultiPolygon([left, right])
    for geom in (holed, parts):
        assert geom.is_valid
        assert not _naive(geom).is_valid  # what writing rounded coordinates did before
        out = shapely.geometry.shape(rfc7946_geometry(geom))
        assert out.is_valid, shapely.is_valid_reason(out)
        assert abs(out.area - geom.area) < 0.05 * geom.area
        coords = shapely.get_coordinates(out)
        assert np.array_equal(coords, np.round(coords, 6))
    # BNG metres for GeoPackages: millimetres
    bng = shapely.MultiPolygon([shapely.box(0, 0, 10, 10), shapely.box(10.0004, 0, 20, 10)])
    assert rounded_geometry(bng, 3).is_valid


@pytest.fixture(scope="module")
def shipped(points: Any, bd: Any, boundary_sets: dict[str, BoundarySet]) -> list[Any]:
    return [
        analyse(points, boundary_sets, AnalysisParams()),
        analyse(points, boundary_sets, AnalysisParams(min_samples=20)),
        analyse(bd, boundary_sets, AnalysisParams()),
    ]


def test_every_geojson_export_of_the_shipped_data_is_valid(shipped: list[Any]) -> None:
    for result in shipped:
        for fc in (hotspots_geojson(result), wards_geojson(result), boroughs_geojson(result)):
            assert _invalid_features(fc) == []
        assert _invalid_features(gi_grid_geojson(result, all_cells=True)) == []


def test_every_geopackage_layer_of_the_shipped_data_is_valid(shipped: list[Any], tmp_path: Path) -> None:
    for n, result in enumerate(shipped):
        for layer in GPKG_LAYERS:
            path = tmp_path / f"{n}-{layer}.gpkg"
            write_gpkg(result, layer, path)
            frame = pyogrio.read_dataframe(path)
            geoms = frame.geometry.to_numpy()
            assert shapely.is_valid(geoms[~shapely.is_missing(geoms)]).all(), (n, layer)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("validity") / "var", tiles="none")
    with TestClient(create_app(settings)) as c:
        _, secret = c.app.state.service.security.create_key("validity", "police")  # type: ignore[attr-defined]
        c.headers.update({"X-API-Key": secret})
        yield c


@pytest.mark.parametrize("collection", ["hotspots", "wards", "boroughs"])
def test_every_ogc_feature_is_valid(client: TestClient, collection: str) -> None:
    r = client.get(f"/ogc/collections/{collection}/items", params={"limit": 10000})
    assert r.status_code == 200, r.text
    assert r.json()["features"]
    assert _invalid_features(r.json()) == []
