"""Boundary upload: GeoJSON and GeoPackage files built from the shipped wards are accepted and
come back in EPSG:27700; broken files are rejected with a message naming the feature and field."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from hotspots.boundaries import BoundarySet, read_boundary_file
from hotspots.errors import InvalidInput

CODES = ["ward_code", "ward_name", "borough_code", "borough_name"]


@pytest.fixture(scope="module")
def wards(boundary_sets: dict[str, BoundarySet]) -> gpd.GeoDataFrame:
    """Six 2022 wards from two boroughs (EPSG:27700), with population."""
    w = boundary_sets["wards-2022"].wards
    picked = w.groupby("borough_code", group_keys=False).head(3).head(6).reset_index(drop=True)
    assert picked["borough_code"].nunique() == 2
    return picked.copy()


@pytest.fixture(scope="module")
def geojson(wards: gpd.GeoDataFrame) -> bytes:
    return wards.to_crs(4326).to_json().encode()


def rejected(data: bytes, filename: str = "wards.geojson", name: str = "mine") -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        read_boundary_file(data, filename, name)
    return info.value


def feature_collection(features: list[dict]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def square(lon: float, lat: float, d: float = 0.01) -> dict:
    ring = [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(props: dict, geometry: dict | None) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def assert_same_wards(result: BoundarySet, wards: gpd.GeoDataFrame, tol_m: float = 0.01) -> None:
    assert result.wards.crs.to_epsg() == 27700
    assert result.wards[CODES].astype(str).values.tolist() == wards[CODES].astype(str).values.tolist()
    for got, want in zip(result.wards.geometry, wards.geometry, strict=True):
        assert got.geom_type in ("Polygon", "MultiPolygon")
        assert got.area == pytest.approx(want.area, rel=1e-6)
        assert shapely.hausdorff_distance(got, want) < tol_m


# --------------------------------------------------------------------------- accepted files


def test_geojson_in_wgs84(wards: gpd.GeoDataFrame, geojson: bytes) -> None:
    result = read_boundary_file(geojson, "wards.geojson", "my-wards", valid_from="2022-05", title="Mine")
    assert isinstance(result, BoundarySet)
    assert result.name == "my-wards"
    assert result.title == "Mine"
    assert result.valid_from == "2022-05" and result.valid_to is None
    assert result.shipped is False
    assert result.notes == []
    assert "wards.geojson" in result.source
    assert_same_wards(result, wards)
    assert result.wards["population"].tolist() == pytest.approx(wards["population"].tolist())
    assert result.wards.is_valid.all()
    # Boroughs are dissolved from the wards.
    assert result.boroughs.crs.to_epsg() == 27700
    assert sorted(result.boroughs["borough_code"]) == sorted(wards["borough_code"].unique())
    assert result.boroughs.geometry.area.sum() == pytest.approx(wards.geometry.area.sum(), rel=1e-6)
    assert result.describe()["wards"] == 6


def test_default_title_names_the_file(geojson: bytes) -> None:
    result = read_boundary_file(geojson, "Wards 2024.json", "w")
    assert result.title == "Uploaded boundaries: Wards 2024.json"


def test_geojson_in_british_national_grid(wards: gpd.GeoDataFrame) -> None:
    data = wards.to_json().encode()
    assert b"27700" in data  # geopandas writes the legacy "crs" member
    result = read_boundary_file(data, "wards.geojson", "bng")
    assert_same_wards(result, wards, tol_m=1e-6)


def test_geopackage_round_trip(wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = tmp_path / "wards.gpkg"
    wards.to_file(path, driver="GPKG", engine="pyogrio")
    result = read_boundary_file(path.read_bytes(), "Wards.GPKG", "gpkg-wards")
    assert_same_wards(result, wards, tol_m=1e-6)
    assert result.wards["population"].tolist() == pytest.approx(wards["population"].tolist())


def test_geopackage_in_wgs84(wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = tmp_path / "wards.gpkg"
    wards.to_crs(4326).to_file(path, driver="GPKG", engine="pyogrio")
    assert_same_wards(read_boundary_file(path.read_bytes(), "wards.gpkg", "w"), wards)


def test_ons_column_names_are_recognised(wards: gpd.GeoDataFrame) -> None:
    ons = wards.rename(
        columns={
            "ward_code": "WD22CD",
            "ward_name": "WD22NM",
            "borough_code": "LAD22CD",
            "borough_name": "LAD22NM",
        }
    )
    ons["WD22NMW"] = "Welsh name"  # a near-miss column must not be picked
    ons["FID"] = range(len(ons))
    result = read_boundary_file(ons.to_crs(4326).to_json().encode(), "Wards_December_2022.geojson", "ons")
    assert_same_wards(result, wards)
    assert list(result.wards.columns) == [*CODES, "population", "geometry"]


@pytest.mark.parametrize(
    "props, expected",
    [
        (
            {"GSS_CODE": "E05000026", "NAME": "Abbey", "LAGSSCODE": "E09000002", "DISTRICT": "Barking"},
            ["E05000026", "Abbey", "E09000002", "Barking"],
        ),
        (
            {"code": "E05000026", "name": "Abbey", "la_code": "E09000002", "la_name": "Barking"},
            ["E05000026", "Abbey", "E09000002", "Barking"],
        ),
        ({"Ward_Code": " E05000026 ", "Ward_Name": "Abbey "}, ["E05000026", "Abbey", "mine", "mine"]),
    ],
)
def test_other_column_spellings(props: dict, expected: list[str]) -> None:
    result = read_boundary_file(
        feature_collection([feature(props, square(0.07, 51.53))]), "a.geojson", "mine"
    )
    assert result.wards[CODES].iloc[0].tolist() == expected
    assert "population" not in result.wards.columns


def test_population_that_is_not_a_number_becomes_missing() -> None:
    feats = [
        feature({"ward_code": "A", "ward_name": "a", "population": "12,000"}, square(0.07, 51.53)),
        feature({"ward_code": "B", "ward_name": "b", "population": "9000"}, square(0.09, 51.53)),
    ]
    pop = read_boundary_file(feature_collection(feats), "a.geojson", "p").wards["population"]
    assert pop.isna().tolist() == [True, False]
    assert pop.iloc[1] == 9000


def test_self_intersecting_polygon_is_repaired() -> None:
    # A bow-tie: two triangles touching at (0.11, 51.51).
    bow = {
        "type": "Polygon",
        "coordinates": [[[0.10, 51.50], [0.12, 51.52], [0.12, 51.50], [0.10, 51.52], [0.10, 51.50]]],
    }
    assert not shapely.geometry.shape(bow).is_valid
    feats = [
        feature({"ward_code": "BOW", "ward_name": "Bow"}, bow),
        feature({"ward_code": "OK", "ward_name": "Fine"}, square(0.15, 51.50)),
    ]
    result = read_boundary_file(feature_collection(feats), "bow.geojson", "bow")
    assert len(result.notes) == 1
    assert "repaired" in result.notes[0] and result.notes[0].startswith("1 ")
    assert result.wards.is_valid.all()
    repaired = result.wards.geometry.iloc[0]
    assert repaired.geom_type == "MultiPolygon"
    assert len(repaired.geoms) == 2
    # Nothing lost: the area is that of the two triangles, projected independently.
    triangles = gpd.GeoSeries(
        [
            shapely.Polygon([(0.10, 51.50), (0.11, 51.51), (0.10, 51.52)]),
            shapely.Polygon([(0.12, 51.50), (0.11, 51.51), (0.12, 51.52)]),
        ],
        crs=4326,
    ).to_crs(27700)
    assert repaired.area == pytest.approx(triangles.area.sum(), rel=1e-3)
    assert repaired.area > 1_000_000
    assert result.wards.geometry.iloc[1].geom_type == "Polygon"


# --------------------------------------------------------------------------- rejected files


def test_point_geometries_are_rejected(wards: gpd.GeoDataFrame) -> None:
    pts = wards.copy()
    pts["geometry"] = wards.representative_point()
    err = rejected(pts.to_crs(4326).to_json().encode())
    assert err.total_errors == len(wards)
    assert err.message == f"wards.geojson: {len(wards)} problem(s) in the boundary file"
    first = err.errors[0]
    assert first.column == "geometry"
    assert first.message == f"feature 1 ({wards['ward_code'].iloc[0]}) is a Point, not a polygon"


def test_one_line_among_polygons_is_named(wards: gpd.GeoDataFrame) -> None:
    mixed = wards.copy()
    mixed.loc[2, "geometry"] = shapely.LineString(shapely.get_coordinates(wards.geometry.iloc[2])[:3])
    err = rejected(mixed.to_crs(4326).to_json().encode())
    assert err.total_errors == 1
    assert err.errors[0].message == f"feature 3 ({wards['ward_code'].iloc[2]}) is a LineString, not a polygon"
    assert "feature 3" in str(err) and "column 'geometry'" in str(err)


def test_feature_without_geometry_is_rejected() -> None:
    feats = [
        feature({"ward_code": "A", "ward_name": "a"}, square(0.07, 51.53)),
        feature({"ward_code": "B", "ward_name": "b"}, None),
    ]
    err = rejected(feature_collection(feats))
    assert [str(e) for e in err.errors] == ["column 'geometry': feature 2 (B) has no geometry"]


def test_duplicate_ward_codes(wards: gpd.GeoDataFrame) -> None:
    dup = wards.copy()
    code = dup.loc[0, "ward_code"]
    dup.loc[4, "ward_code"] = code
    err = rejected(dup.to_crs(4326).to_json().encode())
    assert err.total_errors == 1
    e = err.errors[0]
    assert e.column == "ward_code"
    assert e.message == f"ward code {code} is used by more than one feature"


def test_empty_ward_code() -> None:
    feats = [
        feature({"ward_code": "A", "ward_name": "a"}, square(0.07, 51.53)),
        feature({"ward_code": None, "ward_name": "b"}, square(0.09, 51.53)),
        feature({"ward_code": "  ", "ward_name": "c"}, square(0.11, 51.53)),
    ]
    err = rejected(feature_collection(feats))
    messages = [e.message for e in err.errors if e.column == "ward_code"]
    assert "feature 2 has an empty ward code" in messages
    assert "feature 3 has an empty ward code" in messages


@pytest.mark.parametrize(
    "drop, missing", [("ward_code", "no ward code field"), ("ward_name", "no ward name field")]
)
def test_missing_code_or_name_field(wards: gpd.GeoDataFrame, drop: str, missing: str) -> None:
    data = wards.drop(columns=[drop]).to_crs(4326).to_json().encode()
    err = rejected(data)
    assert err.message == "wards.geojson: missing fields"
    assert len(err.errors) == 1
    assert err.errors[0].message.startswith(missing)


def test_file_with_only_unrelated_properties() -> None:
    err = rejected(feature_collection([feature({"colour": "red"}, square(0.07, 51.53))]))
    assert [e.message.split(" (")[0] for e in err.errors] == ["no ward code field", "no ward name field"]


@pytest.mark.parametrize("filename", ["wards.geojson", "wards.gpkg"])
def test_empty_file(filename: str) -> None:
    assert rejected(b"", filename).message == f"{filename}: the file is empty"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # GDAL warns about the bad GeoPackage header
@pytest.mark.parametrize(
    "data, filename",
    [
        (b"this is not json at all", "wards.geojson"),
        (b'{"type": "FeatureCollection", "features": [', "wards.json"),
        (b"SQLite format 3\x00" + bytes(200), "wards.gpkg"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "wards.gpkg"),
    ],
)
def test_unreadable_bytes(data: bytes, filename: str) -> None:
    err = rejected(data, filename)
    assert err.message.startswith(f"{filename}: cannot be read as")
    # The server's temporary path must not leak into the message.
    assert "/tmp" not in err.message and "upload." not in err.message


def test_no_features() -> None:
    err = rejected(feature_collection([]))
    assert err.message == "wards.geojson: the file has no features"


@pytest.mark.parametrize("filename", ["wards.shp", "wards.csv", "wards", "wards.vrt", "wards.kml"])
def test_unsupported_file_type(geojson: bytes, filename: str) -> None:
    message = rejected(geojson, filename).message
    assert "must be GeoJSON (.geojson), GeoPackage (.gpkg) or a zipped Shapefile (.zip)" in message


def test_geojson_named_zip_is_not_a_zip(geojson: bytes) -> None:
    assert rejected(geojson, "wards.geojson.zip").message == (
        "wards.geojson.zip: cannot be read as a zipped Shapefile: it is JSON"
    )


@pytest.mark.parametrize(
    "name", ["", "My Wards", "UPPER", "-leading-dash", "_x", "a" * 65, "wards/2022", "wards.2022", "é"]
)
def test_bad_boundary_set_names(geojson: bytes, name: str) -> None:
    err = rejected(geojson, name=name)
    assert "boundary set name must be 1-64 lower-case letters" in err.message


@pytest.mark.parametrize("name", ["a", "0", "wards-2024", "my_wards_v2", "a" * 64])
def test_good_boundary_set_names(geojson: bytes, name: str) -> None:
    assert read_boundary_file(geojson, "w.geojson", name).name == name


def test_coordinates_that_cannot_be_placed_in_bng() -> None:
    err = rejected(feature_collection([feature({"ward_code": "A", "ward_name": "a"}, square(0.1, 95.0))]))
    assert "could not be placed in British National Grid" in err.message


def test_geopackage_without_crs_is_rejected(wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = tmp_path / "nocrs.gpkg"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pyogrio warns that no CRS is written
        wards.set_crs(None, allow_override=True).to_file(path, driver="GPKG", engine="pyogrio")
    assert gpd.read_file(path).crs is None
    err = rejected(path.read_bytes(), "nocrs.gpkg")
    assert err.message == "nocrs.gpkg: the layer has no coordinate reference system"


def test_geojson_without_crs_member_is_taken_as_wgs84() -> None:
    data = feature_collection([feature({"ward_code": "A", "ward_name": "a"}, square(0.07, 51.53))])
    result = read_boundary_file(data, "a.geojson", "a")
    x, y = shapely.get_coordinates(result.wards.geometry.iloc[0])[0]
    assert 540_000 < x < 550_000 and 180_000 < y < 190_000
