"""Hostile and oversized boundary uploads (issue #12): only GeoJSON, GeoPackage and zipped
Shapefiles, checked by content before GDAL sees them; no VRT, no /vsi* paths, no links followed;
bounded size and feature count; real months; a known CRS. Also: the Essex ONS file with a
population CSV, lazy loading of stored sets, and deleting a set."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import threading
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.boundaries import BoundarySet, read_boundary_file
from hotspots.boundaries.model import StoredBoundarySet
from hotspots.errors import InvalidInput, PayloadTooLarge
from hotspots.service import HotspotService
from hotspots.settings import Settings

CODES = ["ward_code", "ward_name", "borough_code", "borough_name"]
ESSEX = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "areas" / "essex" / "boundaries"


@pytest.fixture(scope="module")
def wards(boundary_sets: dict[str, BoundarySet]) -> gpd.GeoDataFrame:
    """Six 2022 wards from two boroughs (EPSG:27700), with population."""
    w = boundary_sets["wards-2022"].wards
    return w.groupby("borough_code", group_keys=False).head(3).head(6).reset_index(drop=True).copy()


@pytest.fixture(scope="module")
def geojson(wards: gpd.GeoDataFrame) -> bytes:
    return wards.to_crs(4326).to_json().encode()


def rejected(data: bytes, filename: str, **kw: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        read_boundary_file(data, filename, "mine", **kw)  # type: ignore[arg-type]
    return info.value


# --------------------------------------------------------------------------- VRT and other formats


def secret_vrt(tmp_path: Path) -> bytes:
    """An OGR VRT that GDAL opens as one 'ward' whose name is a line of a server file."""
    secret = tmp_path / "secret.csv"
    secret.write_text(
        'ward_code,ward_name,WKT\nX1,root:x:0:0:the server secret,"POLYGON((0 51,0.01 51,0.01 51.01,0 51))"\n'
    )
    vrt = (
        f'<OGRVRTDataSource><OGRVRTLayer name="secret"><SrcDataSource>{secret}</SrcDataSource>'
        '<GeometryField encoding="WKT" field="WKT"/><LayerSRS>EPSG:4326</LayerSRS>'
        "</OGRVRTLayer></OGRVRTDataSource>"
    )
    path = tmp_path / "w.vrt"
    path.write_text(vrt)
    # The attack is real: GDAL left to itself reads the server file through the VRT.
    assert pyogrio.read_dataframe(path)["ward_name"].iloc[0] == "root:x:0:0:the server secret"
    return vrt.encode()


@pytest.mark.parametrize(
    "filename, kind",
    [("wards.gpkg", "GeoPackage"), ("wards.geojson", "GeoJSON"), ("wards.zip", "a zipped Shapefile")],
)
def test_vrt_pointing_at_a_server_file_is_refused(tmp_path: Path, filename: str, kind: str) -> None:
    err = rejected(secret_vrt(tmp_path), filename)
    assert err.message.startswith(f"{filename}: cannot be read as {kind}: it is XML")
    assert "not accepted" in err.message and "secret" not in err.message


def test_vrt_pointing_at_etc_passwd_is_refused() -> None:
    vrt = (
        b'<OGRVRTDataSource><OGRVRTLayer name="passwd"><SrcDataSource>CSV:/etc/passwd</SrcDataSource>'
        b"</OGRVRTLayer></OGRVRTDataSource>"
    )
    for filename in ("wards.gpkg", "wards.geojson", "wards.json"):
        assert "it is XML (an OGR VRT or KML file?)" in rejected(vrt, filename).message
    assert "boundary files must be" in rejected(vrt, "wards.vrt").message


def test_vsi_path_as_the_whole_file_is_refused() -> None:
    for data in (b"/vsicurl/http://127.0.0.1:9/wards.geojson", b'"/etc/passwd"', b"/etc/passwd"):
        err = rejected(data, "wards.geojson")
        assert err.message.startswith("wards.geojson: cannot be read as GeoJSON")


def square(lon: float, lat: float, d: float = 0.01) -> dict:
    ring = [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def collection(props: list[dict], **extra: object) -> bytes:
    feats = [
        {"type": "Feature", "properties": p, "geometry": square(0.07 + 0.02 * i, 51.53)}
        for i, p in enumerate(props)
    ]
    return json.dumps({"type": "FeatureCollection", "features": feats, **extra}).encode()


def test_paths_inside_geojson_are_data_not_followed() -> None:
    names = ["/vsicurl/http://127.0.0.1:9/x.csv", "/etc/passwd", "/vsizip//etc/x.zip/a.shp"]
    data = collection([{"ward_code": f"W{i}", "ward_name": n} for i, n in enumerate(names)])
    result = read_boundary_file(data, "w.geojson", "paths")
    assert result.wards["ward_name"].tolist() == names


@pytest.mark.parametrize(
    "crs, message",
    [
        ({"type": "link", "properties": {"href": "/vsicurl/http://127.0.0.1:9/crs"}}, "links"),
        ({"type": "link", "properties": {"href": "/etc/passwd"}}, "links"),
        ({"type": "name", "properties": {"name": "/etc/passwd"}}, "unknown coordinate reference system"),
        (
            {"type": "name", "properties": {"name": "EPSG:999999"}},
            "unknown coordinate reference system EPSG:999999",
        ),
        (
            {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::999999"}},
            "unknown coordinate reference system EPSG:999999",
        ),
    ],
)
def test_geojson_crs_member_is_checked_not_followed(crs: dict, message: str) -> None:
    err = rejected(collection([{"ward_code": "A", "ward_name": "a"}], crs=crs), "w.geojson")
    assert message in err.message


@pytest.mark.parametrize("name", ["EPSG:27700", "urn:ogc:def:crs:EPSG::27700"])
def test_geojson_crs_names_that_are_accepted(wards: gpd.GeoDataFrame, name: str) -> None:
    doc = json.loads(wards.to_json())
    doc["crs"] = {"type": "name", "properties": {"name": name}}
    result = read_boundary_file(json.dumps(doc).encode(), "w.geojson", "bng")
    assert result.wards.geometry.iloc[0].equals_exact(wards.geometry.iloc[0], 1e-6)


def test_crs84_is_wgs84() -> None:
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    result = read_boundary_file(collection([{"ward_code": "A", "ward_name": "a"}], crs=crs), "a.geojson", "a")
    x, y = shapely.get_coordinates(result.wards.geometry.iloc[0])[0]
    assert 540_000 < x < 550_000 and 180_000 < y < 190_000


def test_geojson_that_is_not_a_feature_collection() -> None:
    topo = json.dumps({"type": "Topology", "objects": {}}).encode()
    assert "type must be FeatureCollection or Feature" in rejected(topo, "w.json").message
    assert (
        "feature 1 is not a GeoJSON Feature"
        in rejected(b'{"type":"FeatureCollection","features":[1]}', "w.json").message
    )


def test_single_feature_is_accepted() -> None:
    feat = {
        "type": "Feature",
        "properties": {"ward_code": "A", "ward_name": "a"},
        "geometry": square(0.07, 51.53),
    }
    assert len(read_boundary_file(json.dumps(feat).encode(), "a.geojson", "a").wards) == 1


def test_format_must_match_the_name(wards: gpd.GeoDataFrame, geojson: bytes, tmp_path: Path) -> None:
    path = tmp_path / "w.gpkg"
    wards.to_file(path, driver="GPKG", engine="pyogrio")
    assert rejected(geojson, "w.gpkg").message == "w.gpkg: cannot be read as GeoPackage: it is JSON"
    assert rejected(path.read_bytes(), "w.geojson").message == (
        "w.geojson: cannot be read as GeoJSON: it is a SQLite database"
    )


# --------------------------------------------------------------------------- GeoPackage


def test_plain_sqlite_database_is_not_a_geopackage(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE t (a TEXT)")
    con.close()
    err = rejected(path.read_bytes(), "wards.gpkg")
    assert err.message == (
        "wards.gpkg: cannot be read as GeoPackage: it is a SQLite database but not a GeoPackage "
        "(no GPKG application id)"
    )


def test_attribute_only_geopackage_is_a_clear_422(tmp_path: Path) -> None:
    path = tmp_path / "table.gpkg"
    pyogrio.write_dataframe(pd.DataFrame({"ward_code": ["A"], "ward_name": ["a"]}), path, driver="GPKG")
    err = rejected(path.read_bytes(), "table.gpkg")
    assert err.message == (
        "table.gpkg: the GeoPackage has no features layer with geometry (its layers: table (attributes)); "
        "boundary files need ward polygons"
    )
    settings = Settings(data_dir=tmp_path / "var", tiles="none", seed_sample_data=False)
    with TestClient(create_app(settings)) as client:
        _, secret = client.app.state.service.security.create_key("a", "admin")  # type: ignore[attr-defined]
        client.headers.update({"X-API-Key": secret})
        r = client.post("/boundaries", data={"name": "t"}, files={"file": ("table.gpkg", path.read_bytes())})
        assert r.status_code == 422, r.text
        assert "no features layer" in r.json()["message"]


def test_features_layer_without_a_geometry_column(tmp_path: Path) -> None:
    path = tmp_path / "nogeom.gpkg"
    pyogrio.write_dataframe(pd.DataFrame({"ward_code": ["A"], "ward_name": ["a"]}), path, driver="GPKG")
    with sqlite3.connect(path) as con:
        con.execute("UPDATE gpkg_contents SET data_type = 'features'")
    con.close()
    assert rejected(path.read_bytes(), "nogeom.gpkg").message == (
        "nogeom.gpkg: the GeoPackage has no features layer with geometry (its layers: nogeom (features)); "
        "boundary files need ward polygons"
    )


def test_geopackage_with_a_virtual_table_is_refused(wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = tmp_path / "v.gpkg"
    wards.to_file(path, driver="GPKG", engine="pyogrio")
    with sqlite3.connect(path) as con:
        con.execute("CREATE VIRTUAL TABLE sneaky USING fts4(x)")
    con.close()
    assert "virtual tables are not accepted (sneaky" in rejected(path.read_bytes(), "v.gpkg").message


def test_geopackage_with_several_layers_reads_the_first(wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = tmp_path / "two.gpkg"
    wards.to_file(path, layer="first", driver="GPKG", engine="pyogrio")
    wards.head(2).to_file(path, layer="second", driver="GPKG", engine="pyogrio")
    result = read_boundary_file(path.read_bytes(), "two.gpkg", "two")
    assert len(result.wards) == len(wards)
    assert result.notes == ["the GeoPackage has 2 feature layers; read 'first'"]


# --------------------------------------------------------------------------- zipped Shapefile


def shapefile_zip(
    wards: gpd.GeoDataFrame,
    tmp_path: Path,
    folder: str = "",
    extra: dict[str, bytes] | None = None,
    prj: bool = True,
) -> bytes:
    out = tmp_path / "shp"
    out.mkdir(exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # field names are cut to 10 characters
        wards.to_file(out / "wards.shp", driver="ESRI Shapefile", engine="pyogrio")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for part in sorted(out.iterdir()):
            if part.suffix == ".prj" and not prj:
                continue
            z.write(part, f"{folder}{part.name}")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


def test_zipped_shapefile_of_real_wards_is_accepted(wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    result = read_boundary_file(shapefile_zip(wards, tmp_path), "Wards_2022.zip", "shp-wards")
    assert result.wards.crs.to_epsg() == 27700
    assert result.wards[CODES].astype(str).values.tolist() == wards[CODES].astype(str).values.tolist()
    for got, want in zip(result.wards.geometry, wards.geometry, strict=True):
        assert got.area == pytest.approx(want.area, rel=1e-6)
    assert result.wards["population"].tolist() == pytest.approx(wards["population"].tolist())


def test_zipped_shapefile_in_a_folder_with_metadata(wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    data = shapefile_zip(
        wards, tmp_path, "Wards_2022/", {"Wards_2022/wards.shp.xml": b"<metadata/>", "__MACOSX/._x": b""}
    )
    assert len(read_boundary_file(data, "w.zip", "w").wards) == len(wards)


@pytest.mark.parametrize(
    "member, message",
    [
        ("../evil.txt", "has an unsafe path"),
        ("/etc/cron.d/x.dbf", "has an unsafe path"),
        ("a/../../x.prj", "has an unsafe path"),
        ("wards.vrt", "is not part of a Shapefile"),
        ("wards.geojson", "is not part of a Shapefile"),
        ("other.shp", "more than one .shp"),
    ],
)
def test_zip_with_hostile_members_is_refused(
    wards: gpd.GeoDataFrame, tmp_path: Path, member: str, message: str
) -> None:
    err = rejected(shapefile_zip(wards, tmp_path, extra={member: b"<OGRVRTDataSource/>"}), "w.zip")
    assert err.message.startswith("w.zip: cannot be read as a zipped Shapefile: ")
    assert message in err.message


def test_zip_without_shx_or_prj(wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    err = rejected(shapefile_zip(wards, tmp_path, prj=False), "w.zip")
    assert err.message == "w.zip: the Shapefile has no .prj file (coordinate reference system)"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("w.shp", b"x")
    assert "the zip has no .shx, .dbf file" in rejected(buf.getvalue(), "w.zip").message


def test_zip_bomb_is_refused(wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    bomb = b"\0" * (9 * 2**20)  # compresses to a few KB
    data = shapefile_zip(wards, tmp_path, prj=False, extra={"wards.prj": bomb})
    assert len(data) < 2**20
    err = rejected(data, "w.zip", max_bytes=2**20)
    assert "it expands to more than 8 MiB" in err.message


def test_zip_with_too_many_members(wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    extra = {f"notes/n{i}.txt": b"" for i in range(40)}
    assert "entries; at most 32" in rejected(shapefile_zip(wards, tmp_path, extra=extra), "w.zip").message


def test_shp_member_that_is_not_a_shapefile(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for ext in (".shp", ".shx", ".dbf", ".prj"):
            z.writestr(f"w{ext}", b"<OGRVRTDataSource/>")
    assert "the .shp member is not a Shapefile" in rejected(buf.getvalue(), "w.zip").message


# --------------------------------------------------------------------------- bounds and months


def test_feature_limit(geojson: bytes, wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    err = rejected(geojson, "w.geojson", max_features=5)
    assert (
        err.message == "w.geojson: the file has 6 features; the limit is 5 (HOTSPOTS_MAX_BOUNDARY_FEATURES)"
    )
    path = tmp_path / "w.gpkg"
    wards.to_file(path, driver="GPKG", engine="pyogrio")
    assert "has 6 features; the limit is 5" in rejected(path.read_bytes(), "w.gpkg", max_features=5).message
    assert (
        "has 6 features; the limit is 5"
        in rejected(shapefile_zip(wards, tmp_path), "w.zip", max_features=5).message
    )
    assert len(read_boundary_file(geojson, "w.geojson", "ok", max_features=6).wards) == 6


@pytest.mark.parametrize(
    "valid_from, valid_to, message",
    [
        ("zzz", None, "valid_from must be a month written YYYY-MM (month 01 to 12), got 'zzz'"),
        (None, "2020-13", "valid_to must be a month written YYYY-MM (month 01 to 12), got '2020-13'"),
        ("2020-00", None, "valid_from must be a month"),
        ("2020-1", None, "valid_from must be a month"),
        ("2022-05", "2021-04", "valid_from 2022-05 is after valid_to 2021-04"),
    ],
)
def test_bad_months(geojson: bytes, valid_from: str | None, valid_to: str | None, message: str) -> None:
    err = rejected(geojson, "w.geojson", valid_from=valid_from, valid_to=valid_to)
    assert message in err.message


def test_good_months_and_blanks(geojson: bytes) -> None:
    b = read_boundary_file(geojson, "w.geojson", "m", valid_from="2022-05", valid_to="2022-05")
    assert (b.valid_from, b.valid_to) == ("2022-05", "2022-05")
    b = read_boundary_file(geojson, "w.geojson", "m", valid_from="", valid_to=" ")
    assert (b.valid_from, b.valid_to) == (None, None)


# --------------------------------------------------------------------------- ONS fields, population CSV


@pytest.mark.skipif(not ESSEX.exists(), reason="../shared/data/areas/essex is not beside the repository")
def test_essex_ons_2013_wards_with_a_population_csv() -> None:
    data = (ESSEX / "essex_wards_2013.geojson").read_bytes()
    pop = (ESSEX / "essex_ward2013_pop2021_approx.csv").read_bytes()
    result = read_boundary_file(data, "essex_wards_2013.geojson", "essex-2013", population=(pop, "pop.csv"))
    w = result.wards
    assert len(w) == 304 and w["ward_code"].is_unique
    assert w["ward_code"].str.startswith("E05").all()
    assert "Belfairs" in set(w["ward_name"])  # WD13NM, not the Welsh-name column WD13NMW
    assert result.boroughs["borough_name"].nunique() == 14  # LAD13NM
    assert set(result.boroughs["borough_code"].str[:3]) <= {"E06", "E07"}  # LAD13CD
    table = pd.read_csv(io.BytesIO(pop)).set_index("WD13CD")["usual_residents_2021_approx"]
    assert w.set_index("ward_code")["population"].to_dict() == pytest.approx(
        table.reindex(w["ward_code"]).to_dict(), nan_ok=True
    )
    assert result.population_source == "uploaded file pop.csv"
    assert result.describe()["has_population"] is True


def test_lad13_spellings_are_recognised(wards: gpd.GeoDataFrame) -> None:
    ons = wards.rename(
        columns={
            "ward_code": "WD13CD",
            "ward_name": "WD13NM",
            "borough_code": "LAD13CD",
            "borough_name": "LAD13NM",
        }
    )
    ons["WD13NMW"] = "Welsh"
    ons["WD13CDO"] = "00AB"
    result = read_boundary_file(ons.to_crs(4326).to_json().encode(), "w.geojson", "ons")
    assert result.wards[CODES].astype(str).values.tolist() == wards[CODES].astype(str).values.tolist()


def test_population_csv_problems(geojson: bytes, wards: gpd.GeoDataFrame) -> None:
    codes = wards["ward_code"].tolist()
    bad = f"WD22CD,population\n{codes[0]},100\n{codes[0]},100\nE05999999,5\n{codes[1]},-3\n{codes[2]},many\n"
    err = rejected(geojson, "w.geojson", population=(bad.encode(), "pop.csv"))
    assert err.message == "pop.csv: 4 problem(s) in the population file"
    assert [str(e) for e in err.errors] == [
        f"line 3, column 'WD22CD': ward code given more than once (value '{codes[0]}')",
        "line 4, column 'WD22CD': no ward with this code in the boundary file (value 'E05999999')",
        "line 5, column 'population': population must be a non-negative number (value '-3')",
        "line 6, column 'population': population must be a non-negative number (value 'many')",
    ]
    err = rejected(geojson, "w.geojson", population=(b"code,colour\nA,red\n", "pop.csv"))
    assert err.message == "pop.csv: missing fields" and err.errors[0].message.startswith(
        "no population column"
    )
    assert "at most 2 MiB" in rejected(geojson, "w.geojson", population=(b"x" * (3 * 2**20), "p.csv")).message
    assert "not UTF-8" in rejected(geojson, "w.geojson", population=(b"\xff\xfe", "p.csv")).message


def test_population_csv_replaces_the_field(geojson: bytes, wards: gpd.GeoDataFrame) -> None:
    codes = wards["ward_code"].tolist()
    csv = "ward_code,Persons_All-Ages\n" + "".join(f'{c},"1,{i}00"\n' for i, c in enumerate(codes[:5]))
    result = read_boundary_file(geojson, "w.geojson", "p", population=(csv.encode(), "p.csv"))
    assert result.wards["population"].tolist()[:5] == [1000, 1100, 1200, 1300, 1400]
    assert pd.isna(result.wards["population"].iloc[5])
    assert result.notes == [
        "the population field was replaced by p.csv",
        "1 ward(s) have no population in p.csv",
    ]


# --------------------------------------------------------------------------- service and API


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "var",
        tiles="none",
        seed_sample_data=False,
        max_boundary_upload_mb=1,
        max_boundary_features=50,
    )
    with TestClient(create_app(settings)) as c:
        _, secret = c.app.state.service.security.create_key("tests-admin", "admin")  # type: ignore[attr-defined]
        c.headers.update({"X-API-Key": secret})
        yield c


def test_api_refuses_vrt_and_stores_nothing(client: TestClient, tmp_path: Path) -> None:
    before = client.get("/boundaries").json()
    r = client.post(
        "/boundaries", data={"name": "leak"}, files={"file": ("wards.gpkg", secret_vrt(tmp_path))}
    )
    assert r.status_code == 422
    assert "it is XML" in r.json()["message"] and "secret" not in r.text
    assert client.get("/boundaries").json() == before
    assert not list((tmp_path / "var" / "boundaries").iterdir())
    service = client.app.state.service  # type: ignore[attr-defined]
    assert service.security.audit_log(limit=1)[0]["action"] == "boundary upload rejected"


def test_api_size_feature_and_month_limits(client: TestClient, wards: gpd.GeoDataFrame) -> None:
    big = json.dumps({"type": "FeatureCollection", "features": [], "pad": "x" * (2**20)}).encode()
    r = client.post("/boundaries", data={"name": "big"}, files={"file": ("big.geojson", big)})
    assert r.status_code == 413 and "larger than the limit of 1.0 MiB" in r.json()["message"]
    many = collection([{"ward_code": f"W{i}", "ward_name": str(i)} for i in range(51)])
    r = client.post("/boundaries", data={"name": "many"}, files={"file": ("many.geojson", many)})
    assert r.status_code == 422 and "has 51 features; the limit is 50" in r.json()["message"]
    ok = wards.to_crs(4326).to_json().encode()
    for form, message in [
        ({"valid_from": "zzz"}, "valid_from must be a month"),
        ({"valid_to": "2020-13"}, "valid_to must be a month"),
        ({"valid_from": "2021-01", "valid_to": "2020-12"}, "is after valid_to"),
    ]:
        r = client.post("/boundaries", data={"name": "m", **form}, files={"file": ("w.geojson", ok)})
        assert r.status_code == 422 and message in r.json()["message"]
    assert client.get("/boundaries").json() and all(b["shipped"] for b in client.get("/boundaries").json())


def test_service_refuses_oversized_data_directly(tmp_path: Path, geojson: bytes) -> None:
    service = HotspotService(Settings(data_dir=tmp_path / "var", max_boundary_upload_mb=0.001))
    with pytest.raises(PayloadTooLarge, match="at most 0.001 MiB"):
        service.add_boundary_file(geojson, "w.geojson", "w")


def test_upload_is_parsed_off_the_event_loop(
    client: TestClient, geojson: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = client.app.state.service  # type: ignore[attr-defined]
    seen: list[bool] = []
    original = service.add_boundary_file

    def spy(*args: object, **kwargs: object) -> BoundarySet:
        try:
            asyncio.get_running_loop()
            seen.append(True)
        except RuntimeError:
            seen.append(False)
        return original(*args, **kwargs)

    monkeypatch.setattr(service, "add_boundary_file", spy)
    r = client.post("/boundaries", data={"name": "thread"}, files={"file": ("w.geojson", geojson)})
    assert r.status_code == 201, r.text
    assert seen == [False], "the boundary file must be parsed in a worker thread"


def test_upload_with_population_csv_over_the_api(
    client: TestClient, geojson: bytes, wards: gpd.GeoDataFrame
) -> None:
    csv = "WD22CD,population\n" + "".join(f"{c},{100 + i}\n" for i, c in enumerate(wards["ward_code"]))
    r = client.post(
        "/boundaries",
        data={"name": "withpop"},
        files={"file": ("w.geojson", geojson), "population": ("pop.csv", csv.encode(), "text/csv")},
    )
    assert r.status_code == 201, r.text
    assert r.json()["has_population"] is True
    bset = client.app.state.service.boundary_sets["withpop"]  # type: ignore[attr-defined]
    assert bset.wards["population"].tolist() == [100, 101, 102, 103, 104, 105]


def test_stored_sets_load_lazily_once(
    tmp_path: Path, geojson: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path / "var", seed_sample_data=False)
    HotspotService(settings).add_boundary_file(geojson, "w.geojson", "lazy", valid_from="2022-05")
    reads: list[str] = []
    real = gpd.read_parquet

    def counting(path: object, *a: object, **k: object) -> gpd.GeoDataFrame:
        reads.append(str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(gpd, "read_parquet", counting)
    restarted = HotspotService(settings)  # a restart reads only the metadata rows
    listing = {b["name"]: b for b in (s.describe() for s in restarted.boundary_sets.values())}
    assert listing["lazy"]["wards"] == 6 and listing["lazy"]["valid_from"] == "2022-05"
    assert listing["lazy"]["has_population"] is True and listing["lazy"]["area_km2"] > 0
    lazy = restarted.boundary_sets["lazy"]
    assert isinstance(lazy, StoredBoundarySet) and not lazy.loaded
    assert not [r for r in reads if "lazy" in r]
    barrier = threading.Barrier(8)

    def use() -> None:
        barrier.wait()
        assert len(lazy.wards) == 6

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([r for r in reads if "lazy" in r]) == 1
    assert lazy.describe() == listing["lazy"]
    # Another upload lists the sets again but keeps the loaded one.
    restarted.add_boundary_file(geojson, "w.geojson", "other")
    assert restarted.boundary_sets["lazy"] is lazy
    assert len([r for r in reads if "lazy" in r]) == 1


def test_old_database_without_summary_column(tmp_path: Path, geojson: bytes) -> None:
    settings = Settings(data_dir=tmp_path / "var", seed_sample_data=False)
    HotspotService(settings).add_boundary_file(geojson, "w.geojson", "old")
    with sqlite3.connect(tmp_path / "var" / "hotspots.db") as con:
        con.execute("ALTER TABLE boundary_sets DROP COLUMN summary")
    con.close()
    restarted = HotspotService(settings)
    assert restarted.boundary_sets["old"].describe()["wards"] == 6  # read from the file instead


def test_delete_boundary_set(client: TestClient, geojson: bytes) -> None:
    service = client.app.state.service  # type: ignore[attr-defined]
    assert (
        client.post("/boundaries", data={"name": "gone"}, files={"file": ("w.geojson", geojson)}).status_code
        == 201
    )
    path = service.settings.data_dir / "boundaries" / "gone.parquet"
    assert path.exists()
    assert client.delete("/boundaries/wards-2018").status_code == 409
    assert "shipped" in client.delete("/boundaries/wards-2018").json()["message"]
    assert client.delete("/boundaries/nope").status_code == 404
    r = client.delete("/boundaries/gone")
    assert r.status_code == 200 and r.json() == {"deleted": "gone"}
    assert not path.exists()
    assert "gone" not in {b["name"] for b in client.get("/boundaries").json()}
    entry = service.security.audit_log(limit=1)[0]
    assert entry["action"] == "boundary set deleted" and entry["target"] == "gone"
    assert client.delete("/boundaries/gone").status_code == 404
    # The name can be used again, for different wards.
    again = collection([{"ward_code": "A", "ward_name": "a"}])
    r = client.post("/boundaries", data={"name": "gone"}, files={"file": ("a.geojson", again)})
    assert r.status_code == 201 and r.json()["wards"] == 1
    assert len(service.boundary_sets["gone"].wards) == 1


def test_delete_needs_admin(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", tiles="none", seed_sample_data=False, auth_required=True)
    with TestClient(create_app(settings)) as client:
        _, viewer = client.app.state.service.security.create_key("v", "viewer")  # type: ignore[attr-defined]
        assert client.delete("/boundaries/x").status_code == 401
        assert client.delete("/boundaries/x", headers={"X-API-Key": viewer}).status_code == 403


def test_cli_boundaries_delete(tmp_path: Path, geojson: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from hotspots.cli import app as cli

    monkeypatch.setenv("HOTSPOTS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HOTSPOTS_SEED_SAMPLE_DATA", "false")
    settings = Settings()
    HotspotService(settings).add_boundary_file(geojson, "w.geojson", "cli-set")
    runner = CliRunner()
    result = runner.invoke(cli, ["boundaries", "delete", "cli-set"])
    assert result.exit_code == 0, result.output
    assert "Deleted boundary set cli-set" in result.output
    service = HotspotService(settings)
    assert "cli-set" not in service.boundary_sets
    assert service.security.audit_log(limit=1)[0]["action"] == "boundary set deleted"
    refused = runner.invoke(cli, ["boundaries", "delete", "wards-2022"])
    assert refused.exit_code != 0 and "cannot be deleted" in refused.output


def test_geojson_with_a_byte_order_mark() -> None:
    data = b"\xef\xbb\xbf" + collection([{"ward_code": "A", "ward_name": "a"}])
    assert len(read_boundary_file(data, "a.geojson", "bom").wards) == 1


def test_gdal_is_kept_off_the_network(geojson: bytes) -> None:
    read_boundary_file(geojson, "w.geojson", "net")
    assert pyogrio.get_gdal_config_option("CPL_VSIL_CURL_ALLOWED_EXTENSIONS") == ".hotspots-no-network"
    assert pyogrio.get_gdal_config_option("OGR_SQLITE_ALLOW_EXTERNAL_ACCESS") in ("NO", False)
