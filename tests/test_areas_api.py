"""Areas through the HTTP API: make one from the catalogue or a file, upload into it, analyse, delete."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.boundaries.catalogue import national_catalogue
from hotspots.geo.inputs.ingest import Source
from hotspots.settings import Settings
from tests.test_areas import police_uk_csv


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("areas-api") / "var"
    with TestClient(create_app(Settings(data_dir=data_dir, tiles="none"))) as c:
        _, secret = c.app.state.service.security.create_key("tests-admin", "admin")  # type: ignore[attr-defined]
        c.headers.update({"X-API-Key": secret})
        yield c


def test_catalogue_lists_districts_and_forces(client: TestClient) -> None:
    districts = {d["name"]: d for d in client.get("/catalogue/districts").json()}
    assert districts["Basildon"]["code"] == "E07000066"
    assert districts["Basildon"]["police_force"] == "Essex"
    forces = {f["name"]: f for f in client.get("/catalogue/police-forces").json()}
    assert forces["Essex"]["districts"] == 14


def test_make_an_area_upload_into_it_and_analyse(client: TestClient, bd_source: Source) -> None:
    assert [a["name"] for a in client.get("/areas").json()][0] == "tri-borough"
    r = client.post("/areas", data={"name": "south-essex", "districts": "Basildon, Castle Point"})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["kind"] == "catalogue"
    assert {d["name"] for d in made["districts"]} == {"Basildon", "Castle Point"}
    assert made["wards"] == 30 and made["has_population"]
    # an anonymous demo viewer may look but not make
    anonymous = TestClient(client.app)
    assert anonymous.post("/areas", data={"name": "x", "districts": "Basildon"}).status_code == 403
    assert anonymous.get("/areas/south-essex").status_code == 200

    area = client.app.state.service.area("south-essex")  # type: ignore[attr-defined]
    rng = np.random.default_rng(3)
    minx, miny, maxx, maxy = area.outline.bounds
    x, y = rng.uniform(minx, maxx, 3000), rng.uniform(miny, maxy, 3000)
    keep = shapely.contains_xy(area.outline, x, y)
    # a few rows beyond the area, as in a whole-force file
    x = np.concatenate([x[keep][:500], [maxx + 3000, maxx + 4000]])
    y = np.concatenate([y[keep][:500], [maxy, maxy]])
    files = {"files": ("2022-06-essex-street.csv", police_uk_csv(x, y), "text/csv")}
    r = client.post("/datasets", data={"name": "se-2022-06", "area": "south-essex"}, files=files)
    assert r.status_code == 201, r.text
    report = r.json()["report"]
    assert report["area"] == "south-essex" and report["rows_outside_area"] == 2
    body = client.get("/hotspots", params={"dataset": "se-2022-06", "min_samples": 5}).json()
    assert body["meta"]["area"]["name"] == "south-essex"
    assert set(client.get("/areas/south-essex").json()["datasets"]) == {"se-2022-06@1"}

    # the tri-borough file is for another area: refused, with the counts
    files = {"files": (bd_source.name, bd_source.data, "text/csv")}
    r = client.post("/datasets", data={"name": "wrong", "area": "south-essex"}, files=files)
    assert r.status_code == 422
    assert "lies inside the area" in r.json()["message"]

    assert client.delete("/areas/south-essex").status_code == 200
    assert client.get("/areas/south-essex").status_code == 404
    # the dataset stays; it can be analysed in another area by name
    assert client.get("/hotspots", params={"dataset": "se-2022-06"}).status_code == 404
    audit = [e["action"] for e in client.get("/audit").json()]
    assert "area created" in audit and "area deleted" in audit


def test_area_from_a_boundary_file(client: TestClient) -> None:
    wards = national_catalogue().boundary_set(["Rochford"]).wards.to_crs(4326)
    geojson = json.loads(wards.rename(columns={"ward_code": "WD22CD", "ward_name": "WD22NM"}).to_json())
    for feature in geojson["features"]:
        props = feature["properties"]
        props["LAD22CD"], props["LAD22NM"] = props.pop("borough_code"), props.pop("borough_name")
    data = json.dumps(geojson).encode()
    r = client.post("/areas", data={"name": "rochford"}, files={"file": ("rochford.geojson", data)})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["kind"] == "file" and [d["name"] for d in made["districts"]] == ["Rochford"]
    assert made["wards"] == len(wards)
    both = {"name": "both", "districts": "Rochford"}
    assert client.post("/areas", data=both, files={"file": ("x.geojson", data)}).status_code == 422
    assert client.post("/areas", data={"name": "rochford", "districts": "Rochford"}).status_code == 409
    # a boundary set an area uses cannot be deleted under it
    assert client.delete("/boundaries/rochford").status_code == 409
