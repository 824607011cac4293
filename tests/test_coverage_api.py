"""Coverage, concentration and stability through the API (issue #13 points 3, 5, 6)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.settings import Settings

PERIOD = {"from": "2020-01", "to": "2020-06"}


@pytest.fixture(scope="module")
def clients(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("coverage") / "var", tiles="none")
    with TestClient(create_app(settings)) as c:
        security = c.app.state.service.security  # type: ignore[attr-defined]
        _, admin = security.create_key("tests-admin", "admin")
        _, viewer = security.create_key("tests-viewer", "viewer")
        yield c, {"X-API-Key": admin}, {"X-API-Key": viewer}


def test_hotspots_json_has_coverage(clients) -> None:  # type: ignore[no-untyped-def]
    client, admin, _ = clients
    body = client.get("/hotspots", params=PERIOD, headers=admin).json()
    cov = body["meta"]["coverage"]
    assert cov["months"][0] == "2020-01" and cov["missing"] == [] and cov["complete"]
    assert body["metadata"]["coverage"] == cov
    assert all("missing_months" in h for h in body["hotspots"])
    assert "months_hot" not in body["hotspots"][0]


def test_concentration_json_and_png(clients) -> None:  # type: ignore[no-untyped-def]
    client, admin, viewer = clients
    exact = client.get("/concentration", params=PERIOD, headers=admin).json()
    assert exact["places"] > 0 and 0 < exact["incidents_share"]["places_for_half"] < 0.5
    assert exact["sentence"].startswith("Half of the incidents are at")
    assert len(exact["incidents_share"]["curve"]) == 101
    assert {r["measure"] for r in exact["literature"]} == {"incidents", "harm"}
    shown = client.get("/concentration", params=PERIOD, headers=viewer).json()
    assert shown["protected"] and shown["places"] is None
    assert all(v == round(v, 2) for v in shown["incidents_share"]["curve"])
    png = client.get("/concentration.png", params=PERIOD, headers=viewer)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    from PIL import Image

    assert Image.open(io.BytesIO(png.content)).size[0] > 300


def test_stability_endpoint_and_table_field(clients) -> None:  # type: ignore[no-untyped-def]
    client, admin, viewer = clients
    body = client.get("/stability", params=PERIOD, headers=admin).json()
    assert len(body["months"]) == 12 and body["months"][-1] == "2020-06"
    assert body["hotspots"] and all(0 <= h["months_hot"] <= 12 for h in body["hotspots"])
    assert max(h["months_hot"] for h in body["hotspots"]) >= 6  # the busiest places are hot most months
    assert 0 <= body["persistence_share"] <= 1
    assert body["previous_period"]["from"] == "2019-07"
    table = client.get("/hotspots", params={**PERIOD, "stability": True}, headers=viewer).json()
    assert all(0 <= h["months_hot"] <= 12 for h in table["hotspots"])
    assert table["meta"]["stability"]["persistence_share"] is not None
