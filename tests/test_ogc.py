"""OGC API - Features under /ogc: the protocol through TestClient, and real clients (GDAL's OAPIF driver)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.api.routes.ogc.layers import CRS84
from hotspots.api.routes.ogc.query import parse_bbox, parse_datetime
from hotspots.api.routes.ogc.routes import CONFORMANCE, OPENAPI_30
from hotspots.settings import Settings
from tests.geojson_checks import assert_rfc7946
from tests.live import LiveServer, live_server

BD = "bd-2023-01"
COLLECTION_IDS = {"wards", "boroughs", "hotspots", "incidents"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("ogc") / "var", tiles="none")
    with TestClient(create_app(settings)) as c:
        _, secret = c.app.state.service.security.create_key("ogc-police", "police")  # type: ignore[attr-defined]
        c.headers.update({"X-API-Key": secret})
        yield c


def test_viewers_see_aggregates_but_not_incidents(client: TestClient) -> None:
    anonymous = {"X-API-Key": ""}
    ids = {c["id"] for c in client.get("/ogc/collections", headers=anonymous).json()["collections"]}
    assert ids == COLLECTION_IDS - {"incidents"}
    assert client.get("/ogc/collections/incidents/items", headers=anonymous).status_code == 403
    assert client.get("/ogc/collections/wards/items", headers=anonymous).status_code == 200


def _links(doc: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {link["rel"]: link for link in doc["links"]}


def _all_items(client: TestClient, collection: str, **params: Any) -> list[dict[str, Any]]:
    """Every feature of a query, following next links; checks the paging invariants on the way."""
    r = client.get(f"/ogc/collections/{collection}/items", params=params)
    assert r.status_code == 200, r.text
    features: list[dict[str, Any]] = []
    matched = r.json()["numberMatched"]
    while True:
        page = r.json()
        assert page["numberMatched"] == matched
        assert page["numberReturned"] == len(page["features"])
        features += page["features"]
        links = _links(page)
        assert links["self"]["type"] == "application/geo+json"
        if "next" not in links:
            break
        assert links["next"]["type"] == "application/geo+json"
        r = client.get(links["next"]["href"])
        assert r.status_code == 200, r.text
    assert len(features) == matched
    return features


# ---- landing page, conformance, collections --------------------------------------------------


def test_landing_page_links(client: TestClient) -> None:
    r = client.get("/ogc")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    links = _links(r.json())
    assert {"self", "service-desc", "conformance", "data"} <= set(links)
    assert links["service-desc"]["type"] == OPENAPI_30
    assert links["service-desc"]["href"].endswith("/openapi.json")
    assert links["conformance"]["href"].endswith("/ogc/conformance")
    assert links["data"]["href"].endswith("/ogc/collections")
    assert all(link["type"] for link in links.values())
    api = client.get(links["service-desc"]["href"]).json()
    for path in ("/ogc", "/ogc/conformance", "/ogc/collections", "/ogc/collections/{collectionId}/items"):
        assert path in api["paths"]
    limit = next(
        p
        for p in api["paths"]["/ogc/collections/{collectionId}/items"]["get"]["parameters"]
        if p["name"] == "limit"
    )
    assert limit["schema"]["minimum"] == 1 and limit["schema"]["maximum"] == 10000
    assert limit["schema"]["default"] == 10


def test_conformance(client: TestClient) -> None:
    body = client.get("/ogc/conformance").json()
    assert set(body["conformsTo"]) == set(CONFORMANCE)
    for cls in ("core", "geojson", "oas30"):
        assert f"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{cls}" in body["conformsTo"]


def test_collections_list_extents_and_links(client: TestClient) -> None:
    body = client.get("/ogc/collections").json()
    assert _links(body)["self"]["href"].endswith("/ogc/collections")
    by_id = {c["id"]: c for c in body["collections"]}
    assert set(by_id) == COLLECTION_IDS
    for c in by_id.values():
        assert c["itemType"] == "feature" and c["crs"] == [CRS84]
        [bbox] = c["extent"]["spatial"]["bbox"]
        assert c["extent"]["spatial"]["crs"] == CRS84
        minx, miny, maxx, maxy = bbox
        assert -0.3 < minx < maxx < 0.5 and 51.3 < miny < maxy < 51.8, "east London"
        assert c["extent"]["temporal"]["interval"] == [["2018-02-01T00:00:00Z", "2020-12-31T23:59:59Z"]]
        items = _links(c)["items"]
        assert items["type"] == "application/geo+json"
        assert items["href"].endswith(f"/ogc/collections/{c['id']}/items")
    wards = _all_items(client, "wards", limit=100)
    union = shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in wards])
    assert shapely.box(*by_id["wards"]["extent"]["spatial"]["bbox"][0]).covers(union)
    one = client.get("/ogc/collections/wards").json()
    assert one["id"] == "wards" and one["extent"] == by_id["wards"]["extent"]


def test_collection_of_another_dataset(client: TestClient) -> None:
    body = client.get("/ogc/collections/hotspots", params={"dataset": BD}).json()
    assert body["extent"]["temporal"]["interval"] == [["2023-01-01T00:00:00Z", "2023-01-31T23:59:59Z"]]
    assert "dataset=bd-2023-01" in _links(body)["items"]["href"]


def test_collections_of_an_empty_store(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", tiles="none", seed_sample_data=False)
    with TestClient(create_app(settings)) as empty:
        _, secret = empty.app.state.service.security.create_key("p", "police")  # type: ignore[attr-defined]
        empty.headers.update({"X-API-Key": secret})
        body = empty.get("/ogc/collections").json()
        assert {c["id"] for c in body["collections"]} == COLLECTION_IDS
        assert all("extent" not in c for c in body["collections"])
        assert empty.get("/ogc/collections/wards/items").status_code == 404


def test_collection_allowed_hook_hides_and_refuses(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hotspots.api.routes.ogc import layers as ogc

    monkeypatch.setattr(ogc, "collection_allowed", lambda request, cid: cid != "incidents")
    listed = {c["id"] for c in client.get("/ogc/collections").json()["collections"]}
    assert listed == COLLECTION_IDS - {"incidents"}
    for path in ("", "/items", "/items/0"):
        r = client.get(f"/ogc/collections/incidents{path}")
        assert r.status_code == 403 and r.json()["code"] == "Forbidden"
    assert client.get("/ogc/collections/wards/items").status_code == 200


# ---- items: paging ------------------------------------------------------------------------------


def test_items_page_shape(client: TestClient) -> None:
    r = client.get("/ogc/collections/wards/items")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    page = r.json()
    assert_rfc7946(page)
    assert page["numberReturned"] == 10 == len(page["features"]), "default limit is 10"
    assert page["numberMatched"] == 57
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", page["timeStamp"])
    links = _links(page)
    assert "next" in links and "prev" not in links
    assert all(f["geometry"]["type"] == "MultiPolygon" for f in page["features"])
    ward = page["features"][0]
    assert ward["id"] == ward["properties"]["ward_code"]
    for key in ("ward_name", "borough_name", "count", "rate_per_1000", "gi_z", "gi_bin", "gi_label"):
        assert key in ward["properties"]


def test_paging_hotspots_until_exhausted(client: TestClient) -> None:
    features = _all_items(client, "hotspots", limit=50)
    expected = client.get("/hotspots").json()["hotspots"]
    assert [f["id"] for f in features] == [h["hotspot_id"] for h in expected]
    assert [f["properties"]["count"] for f in features] == [h["count"] for h in expected]


def test_paging_incidents_ids_are_row_numbers(client: TestClient) -> None:
    features = _all_items(client, "incidents", limit=500, dataset=BD)
    assert [f["id"] for f in features] == list(range(2002))
    props = features[0]["properties"]
    assert set(props) == {"month", "crime_type", "location", "ward_name", "borough_name", "hotspot_id"}
    assert features[0]["geometry"]["type"] == "Point"


def test_prev_and_next_links(client: TestClient) -> None:
    page = client.get("/ogc/collections/wards/items", params={"limit": 20, "offset": 20}).json()
    links = _links(page)
    assert "offset=0" in links["prev"]["href"] and "offset=40" in links["next"]["href"]
    last = client.get(links["next"]["href"]).json()
    assert last["numberReturned"] == 17 and "next" not in _links(last)
    beyond = client.get("/ogc/collections/wards/items", params={"offset": 100}).json()
    assert beyond["numberReturned"] == 0 and beyond["numberMatched"] == 57


def test_limit_above_maximum_is_capped(client: TestClient) -> None:
    page = client.get("/ogc/collections/incidents/items", params={"limit": 20000}).json()
    assert page["numberReturned"] == 10000 and page["numberMatched"] > 10000


# ---- items: filters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("collection", "bbox", "params"),
    [
        ("wards", (0.05, 51.52, 0.12, 51.56), {}),
        ("hotspots", (0.0, 51.5, 0.1, 51.6), {}),
        ("incidents", (0.1, 51.53, 0.13, 51.56), {"dataset": BD}),
        ("boroughs", (0.2, 51.5, 0.25, 51.6), {}),
    ],
)
def test_bbox_matches_shapely(
    client: TestClient, collection: str, bbox: tuple[float, ...], params: dict[str, str]
) -> None:
    everything = _all_items(client, collection, limit=10000, **params)
    box = shapely.box(*bbox)
    expected = {
        f["id"] for f in everything if f["geometry"] and shapely.geometry.shape(f["geometry"]).intersects(box)
    }
    assert 0 < len(expected) < len(everything)
    got = _all_items(client, collection, bbox=",".join(map(str, bbox)), limit=37, **params)
    assert {f["id"] for f in got} == expected


def test_bbox_across_antimeridian_and_with_heights(client: TestClient) -> None:
    everything = _all_items(client, "wards", limit=100)
    west = shapely.box(-180, 51.0, 0.1, 52.0)
    expected = {f["id"] for f in everything if shapely.geometry.shape(f["geometry"]).intersects(west)}
    got = _all_items(client, "wards", bbox="170,51,0.1,52", limit=100)
    assert {f["id"] for f in got} == expected and 0 < len(expected) < 57
    six = _all_items(client, "wards", bbox="-180,51,0,0.1,52,100", limit=100)
    assert {f["id"] for f in six} == expected


def _matched(client: TestClient, collection: str, **params: Any) -> int:
    r = client.get(f"/ogc/collections/{collection}/items", params={"limit": 1, **params})
    assert r.status_code == 200, r.text
    n: int = r.json()["numberMatched"]
    return n


def test_datetime_filters_incidents_by_month(client: TestClient) -> None:
    march = client.get(
        "/ogc/collections/incidents/items", params={"datetime": "2019-03-15T12:00:00Z", "limit": 10000}
    ).json()
    assert march["numberMatched"] == march["numberReturned"] > 1000
    assert {f["properties"]["month"] for f in march["features"]} == {"2019-03"}
    n_march = march["numberMatched"]
    n_april = _matched(client, "incidents", datetime="2019-04-01")
    assert (
        _matched(client, "incidents", datetime="2019-03-01T00:00:00Z/2019-04-30T23:59:59Z")
        == n_march + n_april
    )
    assert _matched(client, "incidents", datetime="2019-03-31/2019-04-01") == n_march + n_april
    # 01:00 on 1 April at UTC+2 is still 31 March in UTC
    assert _matched(client, "incidents", datetime="2019-04-01T01:00:00+02:00") == n_march
    first = _matched(client, "incidents", datetime="2018-02-10")
    assert _matched(client, "incidents", datetime="../2018-02-28T00:00:00Z") == first
    assert _matched(client, "incidents", datetime="/2018-02-28T00:00:00Z") == first
    last = _matched(client, "incidents", datetime="2020-12-31")
    assert _matched(client, "incidents", datetime="2020-12-01T00:00:00Z/..") == last
    total = _matched(client, "incidents")
    assert _matched(client, "incidents", datetime="2018-01-01/2021-01-01") == total
    assert _matched(client, "incidents", datetime="2021-01-01T00:00:00Z/..") == 0


def test_datetime_on_aggregate_layers(client: TestClient) -> None:
    assert _matched(client, "wards", datetime="2019-06-01") == 57, "wards cover the analysis period"
    assert _matched(client, "wards", datetime="2030-01-01T00:00:00Z/..") == 0
    assert _matched(client, "boroughs", datetime="../2018-01-31") == 0
    hotspots = _all_items(client, "hotspots", limit=1000)
    early = {h["id"] for h in hotspots if h["properties"]["first_month"] <= "2018-03"}
    got = _all_items(client, "hotspots", datetime="../2018-03-31T23:59:59Z", limit=1000)
    assert {h["id"] for h in got} == early


# ---- single items and errors ------------------------------------------------------------------


def test_single_items(client: TestClient) -> None:
    page = client.get("/ogc/collections/wards/items", params={"offset": 3, "limit": 1}).json()
    ward = page["features"][0]
    r = client.get(f"/ogc/collections/wards/items/{ward['id']}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    one = r.json()
    assert one["type"] == "Feature" and one["id"] == ward["id"]
    assert one["properties"] == ward["properties"] and one["geometry"] == ward["geometry"]
    assert {"self", "collection"} <= set(_links(one))
    incident = client.get("/ogc/collections/incidents/items/1234", params={"dataset": BD}).json()
    listed = client.get(
        "/ogc/collections/incidents/items", params={"dataset": BD, "offset": 1234, "limit": 1}
    )
    assert incident["id"] == 1234
    assert incident["properties"] == listed.json()["features"][0]["properties"]
    hotspot = client.get("/ogc/collections/hotspots/items/1").json()
    assert hotspot["properties"]["hotspot_id"] == 1


@pytest.mark.parametrize(
    "path",
    [
        "/ogc/collections/streets",
        "/ogc/collections/streets/items",
        "/ogc/collections/streets/items/1",
        "/ogc/collections/wards/items/E99999999",
        "/ogc/collections/hotspots/items/0",
        "/ogc/collections/incidents/items/99999999",
    ],
)
def test_not_found(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.json()["code"] == "NotFound"


def test_unknown_dataset_is_404(client: TestClient) -> None:
    assert client.get("/ogc/collections/wards/items", params={"dataset": "nope"}).status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "1,2,3"},
        {"bbox": "0,51,1,52,3"},
        {"bbox": "a,b,c,d"},
        {"bbox": "0,52,1,51"},
        {"bbox": "0,89,1,91"},
        {"bbox": "-181,51,0,52"},
        {"bbox": "nan,51,0,52"},
        {"bbox": ""},
        {"limit": 0},
        {"limit": -5},
        {"limit": "ten"},
        {"offset": -1},
        {"datetime": "2020-13-01"},
        {"datetime": "yesterday"},
        {"datetime": "2020-01-01T00:00:00"},
        {"datetime": "2020-02-01/2020-01-01"},
        {"datetime": "../.."},
        {"datetime": "2020-01-01/2020-02-01/2020-03-01"},
        {"f": "html"},
        {"colour": "red"},
    ],
)
def test_bad_parameters_are_400(client: TestClient, params: dict[str, Any]) -> None:
    r = client.get("/ogc/collections/wards/items", params=params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "InvalidParameterValue" and body["description"]


def test_unknown_parameter_on_metadata_resources_is_400(client: TestClient) -> None:
    for path in ("/ogc", "/ogc/conformance", "/ogc/collections", "/ogc/collections/wards"):
        assert client.get(path, params={"limit": 5}).status_code == 400
        assert client.get(path, params={"f": "json", "dataset": BD}).status_code == 200


def test_parsers() -> None:
    assert [b.bounds for b in parse_bbox("1,2,3,4")] == [(1, 2, 3, 4)]
    assert len(parse_bbox("179,0,-179,1")) == 2
    lo, hi = parse_datetime("2020-01-05")
    assert str(lo) == "2020-01-05T00:00:00.000000" and str(hi) == "2020-01-05T23:59:59.999999"
    lo, hi = parse_datetime("2020-01-05T10:00:00.123456789-01:30/..")
    assert str(lo) == "2020-01-05T11:30:00.123456" and hi is None


# ---- real clients: GDAL's OGC API - Features driver ----------------------------------------------


@pytest.fixture(scope="module")
def gdal() -> None:
    if shutil.which("ogrinfo") is None or shutil.which("ogr2ogr") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but GDAL's ogrinfo is not installed: .ci/run should install gdal-bin")
        pytest.skip("GDAL command line tools are not installed (apt-get install gdal-bin)")


@pytest.fixture(scope="module")
def live(gdal: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(Settings(data_dir=tmp_path_factory.mktemp("ogc-live") / "var", tiles="none")) as srv:
        yield srv


@pytest.fixture(scope="module")
def server(live: LiveServer) -> str:
    return live.url


@pytest.fixture(scope="module")
def police_key(live: LiveServer) -> str:
    return live.key("police")


def _gdal(*args: str, key: str | None = None) -> str:
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    if key is not None:
        env["GDAL_HTTP_HEADERS"] = f"X-API-Key: {key}"
    env["CPL_DEBUG"] = "OFF"
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_ogrinfo_lists_the_layers(server: str, police_key: str) -> None:
    viewer = _gdal("ogrinfo", "-ro", "-so", f"OAPIF:{server}/ogc")
    assert "incidents" not in viewer, "anonymous (viewer) access lists only the aggregated layers"
    out = _gdal("ogrinfo", "-ro", "-so", f"OAPIF:{server}/ogc", key=police_key)
    layers = dict(re.findall(r"^\d+: (\w+) \(title: [^)]*\) \(([^)]*)\)", out, flags=re.M))
    assert set(layers) == COLLECTION_IDS, out
    assert layers["incidents"] == "Point"
    assert layers["wards"] == layers["boroughs"] == layers["hotspots"] == "Multi Polygon"


@pytest.mark.parametrize(("query", "wards"), [("", 57), (f"?dataset={BD}", 61)])
def test_ogrinfo_reads_wards(server: str, query: str, wards: int) -> None:
    out = _gdal("ogrinfo", "-ro", "-al", "-so", f"OAPIF:{server}/ogc{query}", "wards")
    assert f"Feature Count: {wards}" in out, out
    assert "Geometry: Multi Polygon" in out
    fields = dict(re.findall(r"^(\w+): (\w+)", out, flags=re.M))
    for name, kind in (
        ("ward_code", "String"),
        ("ward_name", "String"),
        ("borough_name", "String"),
        ("count", "Integer"),
        ("rate_per_1000", "Real"),
        ("gi_z", "Real"),
        ("gi_bin", "Integer"),
        ("gi_label", "String"),
    ):
        assert fields.get(name) == kind, (name, out)


def test_ogr2ogr_copies_every_hotspot(server: str, tmp_path: Path) -> None:
    import httpx

    out = tmp_path / "hotspots.geojson"
    _gdal("ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{server}/ogc", "hotspots")
    copied = json.loads(out.read_text())["features"]
    expected = httpx.get(f"{server}/hotspots", timeout=120).json()["hotspots"]
    assert len(copied) == len(expected) > 10
    assert sorted(f["properties"]["hotspot_id"] for f in copied) == [h["hotspot_id"] for h in expected]


def test_ogr2ogr_bbox_filter_reaches_the_server(server: str, tmp_path: Path, police_key: str) -> None:
    out = tmp_path / "incidents.geojson"
    spat = ["-spat", "0.1", "51.53", "0.13", "51.56"]
    source = f"OAPIF:{server}/ogc?dataset={BD}"
    _gdal("ogr2ogr", "-f", "GeoJSON", str(out), source, "incidents", *spat, key=police_key)
    copied = json.loads(out.read_text())["features"]
    import httpx

    page = httpx.get(
        f"{server}/ogc/collections/incidents/items",
        params={"dataset": BD, "bbox": "0.1,51.53,0.13,51.56", "limit": 1},
        headers={"X-API-Key": police_key},
        timeout=60,
    ).json()
    assert len(copied) == page["numberMatched"] > 0
