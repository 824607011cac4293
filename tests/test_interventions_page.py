"""The interventions page: list, record from the form (CSRF token, recording roles), open an evaluation."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.api.auth import KEY_COOKIE
from hotspots.settings import Settings

ROMFORD = {
    "type": "Polygon",
    "coordinates": [[[0.176, 51.573], [0.19, 51.573], [0.19, 51.58], [0.176, 51.58], [0.176, 51.573]]],
}


@pytest.fixture(scope="module")
def app_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("interventions-page") / "var"
    app = create_app(Settings(data_dir=data_dir, tiles="none"))
    with TestClient(app):
        service = app.state.service
        keys = {role: service.security.create_key(f"page-{role}", role)[1] for role in ("police", "viewer")}
        yield app, keys


def _browser(app: Any, key: str | None) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    if key:
        client.cookies.set(KEY_COOKIE, key)
    return client


def _token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the form"
    return found.group(1)


def _post(client: TestClient, token: str | None, name: str) -> Any:
    data = {"name": name, "type": "cctv", "partner": "Havering Council", "start": "2019-06", "end": "2019-11"}
    if token is not None:
        data["csrf"] = token
    files = {"polygon": ("romford.geojson", json.dumps(ROMFORD), "application/geo+json")}
    return client.post("/app/interventions", data=data, files=files)


def test_record_from_the_page_and_open_the_evaluation(app_keys: Any) -> None:
    app, keys = app_keys
    police = _browser(app, keys["police"])
    page = police.get("/app/interventions")
    assert page.status_code == 200 and 'id="hs-record-form"' in page.text
    r = _post(police, _token(page.text), "Romford <script>alert(1)</script> CCTV")
    assert r.status_code == 303, r.text
    where = r.headers["location"]
    assert where.startswith("/app/interventions?open=")
    opened = police.get(where)
    assert opened.status_code == 200, opened.text
    html = opened.text
    assert 'id="hs-verdict"' in html and "Weighted displacement difference" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    src = re.search(r'<img class="hs-chart" src="([^"]+)"', html)
    assert src
    png = police.get(src.group(1).replace("&amp;", "&"))
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    assert "Regression to the mean" in html
    # both WDD variants, the plain formula chosen by default; the box makes the scaled one the headline
    plain = re.search(r'<tr id="hs-wdd-plain">(.*?)</tr>', html, re.S)
    scaled = re.search(r'<tr id="hs-wdd-scaled">(.*?)</tr>', html, re.S)
    assert plain and scaled and "(chosen)" in plain.group(1) and "(chosen)" not in scaled.group(1)
    assert "plain formula: " in plain.group(1) and "control scaled to the target" in scaled.group(1)
    swapped = police.get(where + "&scale_control=true").text
    assert "(chosen)" in re.search(r'<tr id="hs-wdd-scaled">(.*?)</tr>', swapped, re.S).group(1)  # type: ignore[union-attr]
    # a viewer sees the list and the evaluation (protected), but no form
    viewer = _browser(app, keys["viewer"])
    listed = viewer.get("/app/interventions")
    assert "Romford &lt;script&gt;" in listed.text and 'id="hs-record-form"' not in listed.text
    shown = viewer.get(where)
    assert shown.status_code == 200 and 'id="hs-verdict"' in shown.text


def test_the_form_needs_a_genuine_token_and_a_recording_role(app_keys: Any) -> None:
    app, keys = app_keys
    police = _browser(app, keys["police"])
    assert _post(police, None, "No token").status_code == 403
    assert _post(police, "forged-token", "Forged").status_code == 403
    viewer = _browser(app, keys["viewer"])
    token = _token(_browser(app, keys["police"]).get("/app/interventions").text)
    viewer.cookies.set("hotspots_csrf", token, path="/app")
    r = _post(viewer, token, "By a viewer")
    assert r.status_code == 403 and "may not record" in r.text
    names = [i.name for i in app.state.service.interventions.all()]
    assert not {"No token", "Forged", "By a viewer"} & set(names)


def test_a_bad_evaluation_is_shown_in_the_page(app_keys: Any) -> None:
    app, keys = app_keys
    police = _browser(app, keys["police"])
    r = police.get("/app/interventions", params={"open": "0" * 32})
    assert r.status_code == 404 and 'id="hs-error"' in r.text


def test_the_drawing_map_shows_the_area_asked_for(app_keys: Any) -> None:
    """``?area=`` puts the drawing map on that area (here Basildon, in Essex), not the default's;
    an unknown area is a clear error on the page."""
    app, keys = app_keys
    app.state.service.add_area("basildon-draw", districts=["Basildon"])
    police = _browser(app, keys["police"])

    def bounds(html: str) -> list[list[float]]:
        found = re.search(r'"bounds":\s*(\[\[[^\]]+\],\s*\[[^\]]+\]\])', html)
        assert found, "no drawing map bounds on the page"
        return json.loads(found.group(1))

    (south, west), (north, east) = bounds(police.get("/app/interventions?area=basildon-draw").text)
    assert 51.5 < south < north < 51.7 and 0.35 < west < east < 0.6  # Basildon, about 0.4-0.55 E
    (d_south, d_west), _ = bounds(police.get("/app/interventions").text)
    assert d_west < 0.2  # the default (east London) area lies further west
    missing = police.get("/app/interventions?area=nowhere-at-all")
    assert missing.status_code == 404 and "nowhere-at-all" in missing.text
