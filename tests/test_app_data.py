"""The app's data page: a dataset picker for every role, uploads and areas for a signed-in admin.

Its forms post to CSRF-checked routes under /app; the JSON API never takes the cookie for a POST.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.settings import Settings

GOOD = (
    "Month,Longitude,Latitude,Crime type\n"
    + "".join(
        f"2022-0{m},0.1{i % 10}2,51.55{i % 7},Violence and sexual offences\n"
        for m in (1, 2, 3)
        for i in range(20)
    )
).encode()
BAD = (
    b"Month,Longitude,Latitude,Crime type\n2022-01,0.10,51.55,Burglary\n"
    b"2022-13,0.10,51.55,Burglary\n2022-02,abc,51.55,Burglary\n"
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data") / "var", tiles="none")
    with TestClient(create_app(settings)) as c:
        yield c


def sign_in(c: TestClient, role: str) -> str:
    _, key = c.app.state.service.security.create_key(f"{role}-{time.monotonic_ns()}", role)  # type: ignore[attr-defined]
    page = c.get("/app/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert c.post("/app/login", data={"key": key, "next": "/app/data", "csrf": csrf}).status_code == 200
    return str(key)


def token(c: TestClient) -> str:
    """This browser's CSRF token (the data page sets it; the forms carry it)."""
    c.get("/app/data")
    return str(c.cookies.get("hotspots_csrf"))


def test_everyone_sees_the_datasets_only_an_admin_the_forms(client: TestClient) -> None:
    client.cookies.clear()
    page = client.get("/app/data")
    assert page.status_code == 200
    assert "tri-borough-2022@1" in page.text and "bd-havering-2016-2018@1" in page.text
    assert 'href="/app?dataset=tri-borough-2022"' in page.text
    assert "/app/data/upload" not in page.text
    sign_in(client, "admin")
    page = client.get("/app/data")
    assert 'action="/app/data/upload"' in page.text and 'action="/app/data/area"' in page.text
    client.cookies.clear()


def test_an_admin_uploads_from_the_page_and_sees_the_report(client: TestClient) -> None:
    client.cookies.clear()
    sign_in(client, "admin")
    csrf = token(client)
    files = {"files": ("assaults.csv", GOOD, "text/csv")}
    r = client.post("/app/data/upload", data={"name": "page-upload", "csrf": csrf}, files=files)
    assert r.status_code == 201 and r.headers["content-type"].startswith("text/html")
    assert "Loaded page-upload@1" in r.text and "60 accepted" in r.text
    assert 'href="/app?dataset=page-upload"' in r.text
    assert client.get("/app", params={"dataset": "page-upload"}).status_code == 200

    bad = client.post(
        "/app/data/upload",
        data={"name": "bad-upload", "csrf": csrf},
        files={"files": ("bad.csv", BAD, "text/csv")},
    )
    assert bad.status_code == 422 and 'id="hs-errors"' in bad.text
    cells = re.findall(r"<tr><td class=\"hs-num\">(\d+)</td><td>([^<]*)</td>", bad.text)
    assert ("3", "Month") in cells and ("4", "Longitude") in cells  # line and column of each row error
    assert "bad-upload" not in client.get("/app/data").text  # nothing stored
    client.cookies.clear()


def test_the_forms_need_the_token_and_an_admin(client: TestClient, tmp_path: Path) -> None:
    client.cookies.clear()
    files = {"files": ("assaults.csv", GOOD, "text/csv")}
    key = sign_in(client, "admin")
    assert client.post("/app/data/upload", data={"name": "forged"}, files=files).status_code == 403
    csrf = token(client)
    other_site = client.post(
        "/app/data/upload",
        data={"name": "forged", "csrf": csrf},
        files=files,
        headers={"Origin": "https://evil.example"},
    )
    assert other_site.status_code == 403
    # The JSON API does not take the cookie for a POST: only the key itself.
    assert client.post("/datasets", data={"name": "via-cookie"}, files=files).status_code in (401, 403)
    assert (
        client.post(
            "/datasets", data={"name": "via-key"}, files=files, headers={"X-API-Key": key}
        ).status_code
        == 201
    )
    client.cookies.clear()
    sign_in(client, "police")
    csrf = token(client)
    assert "/app/data/upload" not in client.get("/app/data").text
    assert (
        client.post("/app/data/upload", data={"name": "police-try", "csrf": csrf}, files=files).status_code
        == 403
    )
    client.cookies.clear()


def test_an_admin_makes_an_area_from_the_catalogue(client: TestClient) -> None:
    client.cookies.clear()
    sign_in(client, "admin")
    csrf = token(client)
    r = client.post(
        "/app/data/area", data={"name": "south-essex", "districts": "Basildon, Thurrock", "csrf": csrf}
    )
    assert r.status_code == 201 and "Area &#39;south-essex&#39; made" in r.text
    assert '<option value="south-essex">' in client.get("/app/data").text
    bad = client.post("/app/data/area", data={"name": "nowhere", "districts": "Atlantis", "csrf": csrf})
    assert bad.status_code in (404, 422) and 'role="alert"' in bad.text
    client.cookies.clear()


def test_an_admin_makes_an_area_from_a_boundary_file(client: TestClient) -> None:
    import json

    from hotspots.boundaries.catalogue import national_catalogue

    wards = national_catalogue().boundary_set(["Maldon"]).wards.to_crs(4326)
    data = wards.rename(columns={"ward_code": "WD22CD", "ward_name": "WD22NM"}).to_json().encode()
    client.cookies.clear()
    sign_in(client, "admin")
    csrf = token(client)
    r = client.post(
        "/app/data/area",
        data={"name": "maldon-file", "csrf": csrf},
        files={"file": ("maldon.geojson", data, "application/geo+json")},
    )
    assert r.status_code == 201, r.text
    assert "Area &#39;maldon-file&#39; made" in r.text
    assert client.app.state.service.area("maldon-file").kind == "file"  # type: ignore[attr-defined]
    # a file that is not a boundary file: the validation problem comes back as the page
    bad = client.post(
        "/app/data/area",
        data={"name": "not-wards", "csrf": csrf},
        files={"file": ("wards.geojson", json.dumps({"type": "Point"}).encode(), "application/geo+json")},
    )
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    client.cookies.clear()
