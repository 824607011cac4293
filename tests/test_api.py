"""End to end through the HTTP API (FastAPI TestClient) on the shipped data and uploads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.geo.inputs.ingest import Source
from hotspots.settings import Settings
from tests.geojson_checks import assert_rfc7946
from tests.planting import border_point, planted_incidents

BD, REDBRIDGE = "E09000002", "E09000026"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("api") / "var"
    settings = Settings(data_dir=data_dir, tiles="none", max_upload_mb=5)
    with TestClient(create_app(settings)) as c:
        _, secret = c.app.state.service.security.create_key("tests-admin", "admin")  # type: ignore[attr-defined]
        c.headers.update({"X-API-Key": secret})
        yield c


def test_health_and_seeded_datasets(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["datasets"] == 4
    names = {d["dataset"] for d in client.get("/datasets").json()}
    assert names == {"tri-borough-2018-2020", "bd-2023-01", "tri-borough-2022", "bd-havering-2016-2018"}
    # Violence and anti-social behaviour are in the demo now (the 2018-2020 sample has neither).
    types = {d["dataset"]: set(d["crime_types"]) for d in client.get("/datasets").json()}
    assert "Violence and sexual offences" in types["tri-borough-2022"]
    assert {"Violence and sexual offences", "Anti-social behaviour"} <= types["bd-havering-2016-2018"]


def test_boundaries_listed(client: TestClient) -> None:
    sets = {b["name"]: b for b in client.get("/boundaries").json()}
    assert sets["wards-2018"]["wards"] == 57
    assert sets["wards-2022"]["wards"] == 61 and sets["wards-2022"]["approximate"] is True


def test_hotspots_json_and_geojson(client: TestClient) -> None:
    q = {
        "dataset": "tri-borough-2018-2020",
        "from": "2020-12",
        "to": "2020-12",
        "eps_m": 100,
        "min_samples": 8,
    }
    body = client.get("/hotspots", params=q).json()
    assert body["dataset"] == "tri-borough-2018-2020@1"
    assert body["meta"]["min_samples"] == 8 and body["meta"]["months"] == ["2020-12"]
    hotspots = body["hotspots"]
    assert len(hotspots) > 10
    assert [h["hotspot_id"] for h in hotspots] == list(range(1, len(hotspots) + 1))
    r = client.get("/hotspots.geojson", params=q)
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert_rfc7946(fc)
    assert [f["properties"]["count"] for f in fc["features"]] == [h["count"] for h in hotspots]


def test_filters_by_category(client: TestClient) -> None:
    body = client.get("/hotspots", params={"category": ["Robbery", "Drugs"], "min_samples": 30}).json()
    cats = {c["crime_type"] for h in body["hotspots"] for c in h["top_categories"]}
    assert cats <= {"Robbery", "Drugs"} and cats


def test_bad_parameters_are_4xx(client: TestClient) -> None:
    assert client.get("/hotspots", params={"from": "2020-13"}).status_code == 422
    assert client.get("/hotspots", params={"eps_m": -5}).status_code == 422
    assert client.get("/hotspots", params={"dataset": "nope"}).status_code == 404
    r = client.get("/hotspots", params={"category": "Jaywalking"})
    assert r.status_code == 422 and "unknown crime type" in r.json()["message"]


def test_exports(client: TestClient) -> None:
    for layer in ("wards", "boroughs", "hotspots"):
        r = client.get(f"/exports/{layer}.geojson", params={"dataset": "bd-2023-01"})
        assert r.status_code == 200
        assert "bd-2023-01-v1" in r.headers["content-disposition"]
        assert_rfc7946(r.json())
    wards = client.get("/exports/wards.geojson", params={"dataset": "bd-2023-01"}).json()
    assert sum(f["properties"]["count"] or 0 for f in wards["features"]) == 2002
    r = client.get("/exports/incidents.csv", params={"dataset": "bd-2023-01"})
    assert r.status_code == 200 and r.text.count("\n") == 2003
    assert client.get("/exports/streets.geojson").status_code == 422


def test_map_page_links_local_assets_only(client: TestClient) -> None:
    r = client.get("/maps/hotspots", params={"dataset": "bd-2023-01"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "/static/leaflet/leaflet.js" in html
    assert "cdn" not in html.lower()
    assert client.get("/static/leaflet/leaflet.js").status_code == 200
    assert client.get("/static/leaflet/leaflet.css").status_code == 200
    assert client.get("/", follow_redirects=False).status_code in (302, 307)


def _planted_csv(tmp_path: Path) -> tuple[bytes, tuple[float, float]]:
    from hotspots.boundaries import shipped_boundary_sets

    bset = shipped_boundary_sets()["wards-2022"]
    straddle = border_point(bset, BD, REDBRIDGE)
    frame, _ = planted_incidents(
        [straddle], per_cluster=50, spread_m=25, background=200, area=bset.outline, seed=3, month="2024-02"
    )
    return frame.to_csv(index=False).encode(), straddle


def test_upload_then_hotspots_and_map(client: TestClient, tmp_path: Path) -> None:
    data, _ = _planted_csv(tmp_path)
    r = client.post("/datasets", data={"name": "planted"}, files={"files": ("planted.csv", data, "text/csv")})
    assert r.status_code == 201, r.text
    assert r.json()["ref"] == "planted@1" and r.json()["report"]["rows_accepted"] == 250
    hs = client.get("/hotspots", params={"dataset": "planted", "eps_m": 60, "min_samples": 12}).json()[
        "hotspots"
    ]
    assert len(hs) == 1
    assert hs[0]["cross_border"] is True
    assert set(hs[0]["boroughs"]) == {"Barking and Dagenham", "Redbridge"}
    assert client.get("/maps/hotspots", params={"dataset": "planted"}).status_code == 200
    again = client.post(
        "/datasets", data={"name": "planted"}, files={"files": ("planted.csv", data, "text/csv")}
    )
    assert again.json()["ref"] == "planted@2"


def test_rejected_upload_writes_nothing(client: TestClient, bd_source: Source) -> None:
    before = client.get("/datasets").json()
    lines = bd_source.data.decode().splitlines()
    fields = lines[5].split(",")
    fields[4] = "east"
    lines[5] = ",".join(fields)
    bad = ("\n".join(lines) + "\n").encode()
    r = client.post("/datasets", data={"name": "broken"}, files={"files": ("bad.csv", bad, "text/csv")})
    assert r.status_code == 422
    body = r.json()
    assert body["errors"][0]["line"] == 6 and body["errors"][0]["column"] == "Longitude"
    assert client.get("/datasets").json() == before
    assert client.get("/datasets/broken").status_code == 404


def test_upload_limits_and_names(client: TestClient) -> None:
    big = b"Month,Longitude,Latitude\n" + b"2024-01,0.1,51.5\n" * 400_000
    r = client.post("/datasets", data={"name": "big"}, files={"files": ("big.csv", big, "text/csv")})
    assert r.status_code == 413
    r = client.post("/datasets", data={"name": "../etc"}, files={"files": ("a.csv", b"x", "text/csv")})
    assert r.status_code == 422
    r = client.post("/datasets", data={"name": "empty"}, files={"files": ("../../e.csv", b"", "text/csv")})
    assert r.status_code == 422 and "empty" in r.json()["message"]
    r = client.post(
        "/datasets", data={"name": "latin"}, files={"files": ("l.csv", "Month,Lo\né".encode("latin-1"))}
    )
    assert r.status_code == 422


def test_generic_upload_with_mapping(client: TestClient) -> None:
    csv = "ref,easting,northing,when,offence\n" + "1,545500,185500,03/02/2024 22:15,Assault\n" * 3
    mapping = {"x": "easting", "y": "northing", "date": "when", "category": "offence", "id": "ref"}
    r = client.post(
        "/datasets",
        data={"name": "ae-assaults", "mapping": json.dumps(mapping)},
        files={"files": ("ae.csv", csv.encode(), "text/csv")},
    )
    assert r.status_code == 201, r.text
    report = r.json()["report"]
    assert report["months"] == ["2024-02"] and report["has_time_of_day"] is True
    r = client.post(
        "/datasets",
        data={"name": "ae2", "mapping": json.dumps({"x": "nope", "y": "northing", "date": "when"})},
        files={"files": ("ae.csv", csv.encode(), "text/csv")},
    )
    assert r.status_code == 422 and "nope" in r.text


def test_boundary_upload(client: TestClient) -> None:
    from hotspots.boundaries import shipped_boundary_sets

    wards = shipped_boundary_sets()["wards-2018"].wards.head(5).to_crs(4326)
    r = client.post(
        "/boundaries",
        data={"name": "five-wards"},
        files={"file": ("five.geojson", wards.to_json().encode(), "application/geo+json")},
    )
    assert r.status_code == 201, r.text
    assert r.json()["wards"] == 5
    r = client.get(
        "/hotspots",
        params={
            "dataset": "tri-borough-2018-2020",
            "boundaries": "five-wards",
            "from": "2020-12",
            "to": "2020-12",
        },
    )
    assert r.status_code == 200
    assert set(r.json()["meta"]["boundary_sets"]) == {"five-wards"}
    dup = client.post(
        "/boundaries", data={"name": "five-wards"}, files={"file": ("five.geojson", wards.to_json().encode())}
    )
    assert dup.status_code == 409
    bad = client.post("/boundaries", data={"name": "junk"}, files={"file": ("junk.geojson", b"{not json")})
    assert bad.status_code == 422
