"""Recorded interventions on the app map, the bare map page and in briefings (HTTP, no browser)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.crs import BNG
from hotspots.geo.analysis import AnalysisParams
from hotspots.geo.stats import interventions as iv
from hotspots.maps.static_map import focus_figure
from hotspots.settings import Settings

YEAR = {"from": "2020-01", "to": "2020-12", "dataset": "tri-borough-2018-2020"}
# Romford town centre, Havering (WGS84)
ROMFORD = {
    "type": "Polygon",
    "coordinates": [[[0.176, 51.573], [0.19, 51.573], [0.19, 51.58], [0.176, 51.58], [0.176, 51.573]]],
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("iv-map") / "var", tiles="none")
    with TestClient(create_app(settings)) as client:
        security = client.app.state.service.security  # type: ignore[attr-defined]
        keys = {
            role: {"X-API-Key": security.create_key(f"iv-map-{role}", role)[1]}
            for role in ("police", "council", "viewer")
        }
        yield client, keys


def _record(client: TestClient, key: dict[str, str], **body: Any) -> dict[str, Any]:
    r = client.post("/interventions", json={"type": "cctv", "start": "2020-03", **body}, headers=key)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _layer_count(html: str) -> int:
    found = re.search(r'"Interventions \((\d+)\)"', html)
    return int(found.group(1)) if found else 0


def test_app_map_and_map_page_draw_recorded_interventions_for_every_role(api: Any) -> None:
    client, keys = api
    before = client.get("/app", params=YEAR, headers=keys["viewer"]).text
    bare_before = client.get(
        "/maps/hotspots", params={"dataset": YEAR["dataset"]}, headers=keys["viewer"]
    ).text
    n = _layer_count(before)
    assert _layer_count(bare_before) == n
    feature = _record(
        client,
        keys["police"],
        name="Romford <img src=x onerror=alert(1)> CCTV",
        partner="Havering & Met",
        end="2020-08",
        polygon=ROMFORD,
    )
    for role in ("viewer", "council", "police"):
        page = client.get("/app", params=YEAR, headers=keys[role]).text  # the cached page is rebuilt
        assert _layer_count(page) == n + 1, role
        assert "hs-intervention" in page
        # HTML-escaped for Leaflet's innerHTML, then JSON-encoded into the script (& < > as \u escapes)
        assert "<img src=x" not in page
        assert "Romford \\u0026lt;img src=x onerror=alert(1)\\u0026gt; CCTV" in page
        assert "Havering \\u0026amp; Met" in page and "2020-03 to 2020-08" in page
        assert f"/app/interventions?open={feature['id']}" in page
    bare = client.get("/maps/hotspots", params={"dataset": YEAR["dataset"]}, headers=keys["viewer"]).text
    assert _layer_count(bare) == n + 1 and "hs-intervention" in bare
    # the outline is drawn where it was recorded: the layer's coordinates are the polygon's
    corners = {(x, y) for x, y in ROMFORD["coordinates"][0]}
    drawn = re.findall(r"\[(0\.1[0-9]+), (51\.5[0-9]+)\]", page)
    assert corners <= {(float(x), float(y)) for x, y in drawn}


def test_borough_and_hotspot_briefings_list_and_outline_the_interventions_there(api: Any) -> None:
    client, keys = api
    havering = client.get("/app/briefing", params={**YEAR, "borough": "Havering"}, headers=keys["viewer"])
    snapshot_before = re.search(r'<img class="snapshot overview" src="([^"]+)"', havering.text)
    _record(
        client,
        keys["council"],
        name="Romford lighting upgrade",
        type="lighting",
        partner="Havering Council",
        start="2020-02",
        polygon=ROMFORD,
    )
    after = client.get("/app/briefing", params={**YEAR, "borough": "Havering"}, headers=keys["viewer"]).text
    section = re.search(r'<section class="interventions" id="interventions">(.*?)</section>', after, re.S)
    assert section, "no interventions section in the Havering briefing"
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", section.group(1))
    assert ("Romford lighting upgrade", "lighting", "Havering Council", "from 2020-02") in rows
    # drawn on the briefing's map: the overview picture changed
    snapshot_after = re.search(r'<img class="snapshot overview" src="([^"]+)"', after)
    assert snapshot_before and snapshot_after and snapshot_before.group(1) != snapshot_after.group(1)
    # Redbridge holds none of them
    redbridge = client.get(
        "/app/briefing", params={**YEAR, "borough": "Redbridge"}, headers=keys["viewer"]
    ).text
    assert 'id="interventions"' not in redbridge and "Romford lighting upgrade" not in redbridge
    # a hotspot's own: recorded from hotspot #1 of the same analysis (its shape frozen in)
    service = client.app.state.service  # type: ignore[attr-defined]
    _, result = service.analyse(YEAR["dataset"], AnalysisParams(month_from="2020-01", month_to="2020-12"))
    hot = result.hotspots.set_index(result.hotspots["hotspot_id"].astype(int))
    _record(
        client,
        keys["police"],
        name="Hotspot one patrols",
        type="patrol",
        partner="Met Police",
        start="2020-06",
        end="2020-09",
        hotspot_ids=[1],
        dataset=YEAR["dataset"],
        analysis={"from": "2020-01", "to": "2020-12"},
    )
    one = client.get("/app/briefing", params={**YEAR, "hotspot": 1}, headers=keys["viewer"]).text
    assert re.search(
        r"<tr><td>Hotspot one patrols</td><td>patrol</td><td>Met Police</td><td>2020-06 to 2020-09", one
    )
    apart = next(r for r in hot.index if r > 1 and not hot.geometry[r].intersects(hot.geometry[1]))
    if not hot.geometry[apart].intersects(iv.parse_geojson_polygon(ROMFORD)):
        other = client.get(
            "/app/briefing", params={**YEAR, "hotspot": int(apart)}, headers=keys["viewer"]
        ).text
        assert "Hotspot one patrols" not in other


def test_briefing_map_outlines_interventions_in_view(api: Any) -> None:
    client, _ = api
    service = client.app.state.service  # type: ignore[attr-defined]
    _, result = service.analyse(YEAR["dataset"], AnalysisParams(month_from="2020-01", month_to="2020-12"))
    target = iv.parse_geojson_polygon(ROMFORD)
    shapes = gpd.GeoSeries([target, shapely.box(520_000, 170_000, 520_100, 170_100)], crs=BNG)
    fig = focus_figure(result, target, interventions=shapes)
    drawn = [c for c in fig.axes[0].collections if c.get_gid() == "intervention-outline"]
    assert len(drawn) == 1
    # only the one in view (the other is 30 km west), along the target's own outline
    paths = drawn[0].get_paths()
    assert len(paths) == 1
    xs, ys = paths[0].vertices[:, 0], paths[0].vertices[:, 1]
    minx, miny, maxx, maxy = target.bounds
    assert abs(xs.min() - minx) < 1 and abs(xs.max() - maxx) < 1 and abs(ys.min() - miny) < 1
    plain = focus_figure(result, target)
    assert not [c for c in plain.axes[0].collections if c.get_gid() == "intervention-outline"]
