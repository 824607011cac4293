"""Interventions through the HTTP API: record (roles, audit), list, show, evaluate (exact and protected)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.crs import to_wgs84_point
from hotspots.geo.stats import interventions as iv
from hotspots.settings import Settings

ROMFORD = {
    "type": "Polygon",
    "coordinates": [[[0.176, 51.573], [0.19, 51.573], [0.19, 51.58], [0.176, 51.58], [0.176, 51.573]]],
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    data_dir = tmp_path_factory.mktemp("interventions-api") / "var"
    with TestClient(create_app(Settings(data_dir=data_dir, tiles="none"))) as c:
        service = c.app.state.service  # type: ignore[attr-defined]
        keys = {}
        for role in ("admin", "police", "council", "viewer"):
            _, secret = service.security.create_key(f"tests-{role}", role)
            keys[role] = {"X-API-Key": secret}
        yield c, keys


def _record(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/interventions", json={"type": "patrol", "start": "2019-06", **body}, headers=headers)


def _square(x: float, y: float, half: float) -> dict[str, Any]:
    corners = [(x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half)]
    ring = [list(to_wgs84_point(a, b)) for a, b in corners]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def test_roles_record_list_show_delete_and_audit(api: Any) -> None:
    client, keys = api
    assert _record(client, keys["viewer"], name="x", polygon=ROMFORD).status_code == 403
    assert _record(TestClient(client.app), {}, name="x", polygon=ROMFORD).status_code == 403
    r = _record(client, keys["police"], name="Romford patrols", partner="MPS", end="2019-11", polygon=ROMFORD)
    assert r.status_code == 201, r.text
    feature = r.json()
    ident = feature["id"]
    assert feature["properties"]["type"] == "patrol" and feature["properties"]["partner"] == "MPS"
    lon, lat = np.asarray(feature["geometry"]["coordinates"][0]).T
    assert lon.min() == pytest.approx(0.176, abs=1e-5) and lat.max() == pytest.approx(51.58, abs=1e-5)
    r = _record(client, keys["council"], name="Lighting", type="Lighting", wards=["E05000320"])
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["where"] == {"kind": "wards", "wards": ["E05000320"]}
    listed = client.get("/interventions", headers=keys["viewer"]).json()
    assert {i["name"] for i in listed} >= {"Romford patrols", "Lighting"}
    shown = client.get(f"/interventions/{ident}", headers=keys["viewer"]).json()
    assert shown["properties"]["name"] == "Romford patrols"
    fc = client.get("/interventions.geojson", headers=keys["viewer"])
    assert fc.headers["content-type"].startswith("application/geo+json")
    assert len(fc.json()["features"]) >= 2
    lighting = r.json()["id"]
    assert client.delete(f"/interventions/{lighting}", headers=keys["viewer"]).status_code == 403
    assert client.delete(f"/interventions/{lighting}", headers=keys["council"]).status_code == 200
    assert client.get(f"/interventions/{lighting}", headers=keys["viewer"]).status_code == 404
    audit = [(e["action"], e["role"]) for e in client.get("/audit", headers=keys["admin"]).json()]
    assert ("intervention recorded", "police") in audit
    assert ("intervention recorded", "council") in audit and ("intervention deleted", "council") in audit


def test_hotspot_shapes_are_frozen_into_the_record(api: Any) -> None:
    client, keys = api
    params = {"from": "2019-01", "to": "2019-06", "eps_m": 100, "min_samples": 40}
    hotspots = client.get("/hotspots.geojson", params=params, headers=keys["police"]).json()["features"]
    assert len(hotspots) >= 2
    r = _record(
        client,
        keys["police"],
        name="Top two",
        hotspot_ids=[1, 2],
        dataset="tri-borough-2018-2020",
        analysis={**params},
    )
    assert r.status_code == 201, r.text
    got = shapely.geometry.shape(r.json()["geometry"])
    want = shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in hotspots[:2]])
    assert got.symmetric_difference(want).area < 0.01 * want.area
    where = r.json()["properties"]["where"]
    assert where["kind"] == "hotspots" and where["hotspot_ids"] == [1, 2]
    assert _record(client, keys["police"], name="x", hotspot_ids=[9999], analysis=params).status_code == 422


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "x", "polygon": {"type": "Point", "coordinates": [0.1, 51.5]}}, "Polygon"),
        ({"name": "x", "polygon": _square(300_000, 400_000, 100)}, "outside the area"),
        ({"name": "x", "polygon": ROMFORD, "type": "street party"}, "type must be one of"),
        ({"name": "x", "polygon": ROMFORD, "start": "June 2019"}, "YYYY-MM"),
        ({"name": "x", "polygon": ROMFORD, "wards": ["E05000320"]}, "exactly one"),
        ({"name": "", "polygon": ROMFORD}, "needs a name"),
        ({"name": "x", "wards": ["E05999999"]}, "not in area"),
    ],
)
def test_bad_records_are_refused(api: Any, body: dict[str, Any], message: str) -> None:
    client, keys = api
    r = _record(client, keys["police"], **body)
    assert r.status_code == 422, r.text
    assert message in r.json()["message"]


def test_evaluation_fields_exact_for_police(api: Any) -> None:
    client, keys = api
    ident = _record(client, keys["police"], name="Eval", end="2019-11", polygon=ROMFORD).json()["id"]
    r = client.get(f"/interventions/{ident}/evaluation", headers=keys["police"])
    assert r.status_code == 200, r.text
    body = r.json()
    for key in ("target", "buffer", "control", "wdd", "wdq", "synthetic", "periods", "parameters", "sources"):
        assert key in body, key
    for area in ("target", "buffer", "control"):
        assert {"before", "after", "months"} <= set(body[area])
    for key in ("local", "displacement", "total", "se", "z", "p"):
        assert isinstance(body["wdd"][key], float)
    assert {"value", "reading"} <= set(body["wdq"])
    assert {"effect", "p", "weights"} <= set(body["synthetic"])
    assert body["periods"]["before"] == {"from": "2018-12", "to": "2019-05", "months": 6}
    assert body["parameters"]["buffer_m"] == 250 and "auto" in body["control"]["rule"]
    assert body["sources"][0]["dataset"].startswith("tri-borough-2018-2020")
    assert "disclosure" not in body
    # the counts are the incidents inside the polygon (exact, recounted here)
    service = client.app.state.service  # type: ignore[attr-defined]
    inc = service.load(service.dataset(None))
    target = iv.parse_geojson_polygon(ROMFORD)
    inside = shapely.contains_xy(target, inc["x"].to_numpy(), inc["y"].to_numpy())
    months = inc["month"].astype(str).to_numpy()
    before = inside & (months >= "2018-12") & (months <= "2019-05") & inc["has_location"].to_numpy(bool)
    assert body["target"]["before"] == int(before.sum())
    png = client.get(f"/interventions/{ident}/evaluation.png", headers=keys["viewer"])
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get(f"/interventions/{ident}/evaluation", params={"buffer_m": 5}).status_code == 422
    assert client.get(f"/interventions/{ident}/evaluation", params={"category": "Nope"}).status_code == 422
    wards = client.get(
        f"/interventions/{ident}/evaluation",
        params={"control": "wards", "control_ward": ["E05000320", "E05000321"]},
        headers=keys["police"],
    ).json()
    assert wards["control"]["rule"].startswith("wards: E05000320, E05000321")


def test_viewer_gets_protected_counts_and_figures_from_them(api: Any) -> None:
    client, keys = api
    ident = _record(client, keys["police"], name="Protected", end="2019-11", polygon=ROMFORD).json()["id"]
    exact = client.get(f"/interventions/{ident}/evaluation", headers=keys["police"]).json()
    for role in ("viewer", "council"):
        shown = client.get(f"/interventions/{ident}/evaluation", headers=keys[role]).json()
        assert shown["disclosure"]["k"] == 5
        assert abs(shown["control"]["before"] - exact["control"]["before"]) <= 2
        t = (shown["target"]["before"], shown["target"]["after"])
        c = (shown["control"]["before"], shown["control"]["after"])
        wc = shown["wdd_scaled"]["control_weight"]
        assert wc == pytest.approx(t[0] / c[0])
        assert shown["wdd_scaled"]["local"] == pytest.approx((t[1] - t[0]) - wc * (c[1] - c[0]))
        assert shown["wdd"]["formula"] == "plain"
        assert shown["wdd"]["local"] == pytest.approx((t[1] - t[0]) - (c[1] - c[0]))
    chosen = client.get(
        f"/interventions/{ident}/evaluation?scale_control=true", headers=keys["police"]
    ).json()
    assert chosen["wdd"] == chosen["wdd_scaled"] and chosen["wdd"]["formula"] == "scaled"
    assert chosen["wdd_plain"] == exact["wdd"] and exact["wdd"]["formula"] == "plain"


def _small_location(client: TestClient) -> tuple[float, float]:
    """A police.uk map point with 1 to 4 incidents in 2019-03..2019-05 and none within 60 m of it."""
    service = client.app.state.service  # type: ignore[attr-defined]
    inc = service.load(service.dataset(None))
    inc = inc[inc["has_location"].to_numpy(bool)]
    x, y = inc["x"].to_numpy(), inc["y"].to_numpy()
    months = inc["month"].astype(str).to_numpy()
    points = np.unique(np.column_stack([x, y]), axis=0)
    tree = shapely.STRtree(shapely.points(points))
    period = (months >= "2019-03") & (months <= "2019-05")
    for px, py in points[:: max(1, len(points) // 3000)]:
        if len(tree.query(shapely.Point(px, py).buffer(60))) != 1:
            continue
        here = (x == px) & (y == py)
        if 1 <= int((here & period).sum()) <= 4:
            return float(px), float(py)
    raise AssertionError("no isolated small location in the sample")


def test_a_viewer_cannot_recover_a_small_target_count(api: Any) -> None:
    client, keys = api
    px, py = _small_location(client)
    poly = _square(px, py, 20)
    ident = _record(client, keys["police"], name="Tiny", start="2019-06", end="2019-08", polygon=poly).json()[
        "id"
    ]
    exact = client.get(f"/interventions/{ident}/evaluation", headers=keys["police"]).json()
    assert 1 <= exact["target"]["before"] <= 4
    for buffer_m in (100, 250, 400):
        for weight in ("count", "harm"):
            params = {"buffer_m": buffer_m, "weight": weight}
            shown = client.get(
                f"/interventions/{ident}/evaluation", params=params, headers=keys["viewer"]
            ).json()
            assert shown["target"]["before"] is None
            assert all(v in (None, 0) or v >= 5 for v in shown["target"]["monthly"].values())
            assert all(v in (None, 0) or v >= 5 for v in shown["chart"]["target"])
            assert shown["wdd"]["total"] is None and shown["wdq"]["value"] is None
            assert "withheld" in shown["wdd"]["reading"]
