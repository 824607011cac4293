"""Interventions in a real headless Chromium: drawn on the interventions page, drawn on the app map.

Served by our own app (tiles off); every other host is blocked and recorded, console errors fail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import shapely

from hotspots.geo.stats import interventions as iv
from hotspots.settings import Settings
from tests.browser import chromium_or_skip, headless_chromium, watched_page
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.browser

CHROMIUM = chromium_or_skip()

from playwright.sync_api import Browser, Page  # noqa: E402

YEAR = "/app?from=2020-01&to=2020-12&dataset=tri-borough-2018-2020"
# Corners (lon, lat) in Romford, Havering, clicked on the drawing map (clockwise, as a user might).
CORNERS = [(0.176, 51.573), (0.176, 51.58), (0.19, 51.58), (0.19, 51.573)]
ROMFORD = {"type": "Polygon", "coordinates": [[*map(list, CORNERS), list(CORNERS[0])]]}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(
        Settings(data_dir=tmp_path_factory.mktemp("iv-browser") / "var", tiles="none")
    ) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium(CHROMIUM) as b:
        yield b


def _sign_in(page: Page, live: LiveServer, role: str, next_page: str) -> None:
    page.goto(f"{live.url}/app/login?next={next_page}", wait_until="load")
    page.fill("#hs-key", live.key(role))
    with page.expect_navigation():
        page.click("button.hs-submit")


def _screen_point(page: Page, lon: float, lat: float) -> dict[str, float]:
    """Where (lon, lat) is drawn on the drawing map, in page pixels (inside the map's border)."""
    point: dict[str, float] = page.evaluate(
        """([lat, lon]) => {
            const box = hsDrawMap.getContainer(), r = box.getBoundingClientRect();
            const p = hsDrawMap.latLngToContainerPoint([lat, lon]);
            return {x: r.left + box.clientLeft + p.x, y: r.top + box.clientTop + p.y};
        }""",
        [lat, lon],
    )
    return point


def _click_lonlat(page: Page, lon: float, lat: float) -> None:
    point = _screen_point(page, lon, lat)
    page.mouse.click(point["x"], point["y"])


def _hover_lonlat(page: Page, lon: float, lat: float) -> None:
    point = _screen_point(page, lon, lat)
    page.mouse.move(point["x"], point["y"])


def test_draw_a_polygon_by_clicking_and_record_it(browser: Browser, live: LiveServer) -> None:
    watched = watched_page(browser, (live.url,))
    page = watched.page
    _sign_in(page, live, "police", "/app/interventions")
    page.wait_for_selector("#hs-draw-map[data-draw-ready]", state="attached", timeout=30_000)
    assert page.locator("#hs-draw-close").is_disabled()
    page.locator("#hs-draw-map").scroll_into_view_if_needed()
    # zoomed in on Romford, as a user would before clicking corners (a pixel is about 6 m at zoom
    # 14; the corners clear of the zoom buttons)
    page.evaluate("hsDrawMap.setView([51.5765, 0.183], 14, {animate: false})")
    for lon, lat in CORNERS:
        _click_lonlat(page, lon, lat)
    _click_lonlat(page, 0.183, 51.577)  # a slip ...
    assert page.locator("path.hs-draw-vertex").count() == 5
    page.click("#hs-draw-undo")  # ... undone
    assert page.locator("path.hs-draw-vertex").count() == 4
    assert page.input_value("#hs-iv-polygon-text") == ""  # nothing written until it is closed
    page.click("#hs-draw-close")
    assert "closed: 4 points" in page.inner_text("#hs-draw-status")
    written = json.loads(page.input_value("#hs-iv-polygon-text"))
    assert written["type"] == "Polygon" and len(written["coordinates"][0]) == 5
    assert written["coordinates"][0][0] == written["coordinates"][0][-1]
    page.fill("#hs-iv-name", "Romford drawn CCTV")
    page.select_option("#hs-iv-type", "cctv")
    page.fill("#hs-iv-partner", "Havering Council")
    page.fill("#hs-iv-start", "2019-06")
    page.fill("#hs-iv-end", "2019-11")
    with page.expect_navigation():
        page.click("#hs-record-form button.hs-submit")
    assert "/app/interventions?open=" in page.url
    ident = page.url.split("open=")[1].split("&")[0]
    record = live.app.state.service.interventions.get(ident)  # type: ignore[attr-defined]
    assert record.where_kind == "polygon" and record.name == "Romford drawn CCTV"
    ring = list(iv.to_wgs84(record.geometry).exterior.coords)
    # stored as written (through EPSG:27700 and back: well under a metre)
    assert len(ring) == 5
    for (x, y), (wx, wy) in zip(ring, written["coordinates"][0], strict=True):
        assert abs(x - wx) < 2e-6 and abs(y - wy) < 2e-6
    # and written where the corners were clicked, within about a pixel at zoom 14 (some 10 m)
    for lon, lat in CORNERS:
        assert min(abs(lon - x) + abs(lat - y) for x, y in ring) < 2e-4
    drawn, want = shapely.Polygon(ring), shapely.Polygon(CORNERS)
    assert drawn.symmetric_difference(want).area / want.area < 0.02
    assert drawn.exterior.is_ccw  # RFC 7946 winding, though the corners were clicked clockwise
    assert watched.errors == [] and watched.outside == []
    page.close()


def _layer_box(page: Page, name: str) -> Any:
    label = page.locator(".leaflet-control-layers-overlays label", has_text=name)
    assert label.count() == 1, f"{name!r} is not in the layer list"
    return label.locator("input[type=checkbox]")


def test_a_recorded_intervention_is_drawn_on_the_app_map(browser: Browser, live: LiveServer) -> None:
    headers = {"X-API-Key": live.key("council")}
    body = {
        "name": "Romford <b>lighting</b>",
        "type": "lighting",
        "partner": "Havering Council",
        "start": "2020-03",
        "end": "2020-08",
        "polygon": ROMFORD,
    }
    r = httpx.post(f"{live.url}/interventions", json=body, headers=headers, timeout=60)
    assert r.status_code == 201, r.text
    ident = r.json()["id"]
    watched = watched_page(browser, (live.url,))
    page = watched.page  # not signed in: a viewer, who may see interventions
    page.goto(live.url + YEAR, wait_until="load")
    page.wait_for_selector("body[data-map-ready]", state="attached", timeout=30_000)
    box = _layer_box(page, "Interventions (")
    assert box.is_checked()  # in view, so shown on opening
    outline = page.locator("path.hs-intervention")
    assert outline.count() >= 1
    # the outline sits where it was recorded: its screen box matches the corners' screen points
    config = page.evaluate("JSON.parse(document.getElementById('hs-config').textContent)")
    corners = page.evaluate(
        "([name, pts]) => pts.map(p => window[name].latLngToContainerPoint([p[1], p[0]]))",
        [config["map"], CORNERS],
    )
    map_box = page.locator(f"#{config['map']}").bounding_box()
    shapes = [outline.nth(i).bounding_box() for i in range(outline.count())]
    xs = [map_box["x"] + c["x"] for c in corners]
    ys = [map_box["y"] + c["y"] for c in corners]
    assert any(
        abs(s["x"] - min(xs)) < 3 and abs(s["x"] + s["width"] - max(xs)) < 3 and abs(s["y"] - min(ys)) < 3
        for s in shapes
        if s is not None
    ), (shapes, xs, ys)
    # its popup: name (escaped), type, partner, months and a link to its evaluation
    page.evaluate(
        "([name, id]) => { window[name].eachLayer(l => { if (l.feature && l.feature.id === id) "
        "{ l.fire('click', {latlng: l.getBounds().getCenter()}, true); } }); }",
        [config["map"], ident],
    )
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=10_000)
    text = popup.inner_text()
    assert "Romford <b>lighting</b>" in text and "Havering Council" in text
    assert "2020-03 to 2020-08" in text and "lighting" in text
    assert popup.locator(f"a[href='/app/interventions?open={ident}']").count() == 1
    # the legend names the outline, and the form's layer box follows the map's layer list
    assert "a recorded intervention" in (page.locator(".hs-legend").text_content() or "")  # folded
    form_box = page.locator("input[name=layer][value=interventions]")
    assert form_box.count() == 1 and form_box.is_checked()
    # the toggle is in the shareable URL: untick it, reopen the URL, it stays off
    form_box.uncheck()  # the form's box moves the map's layer list (folded) with it
    page.wait_for_function("() => !location.search.includes('layer=interventions')")
    assert "layers_set=true" in page.url and not form_box.is_checked()
    page.goto(page.url, wait_until="load")
    page.wait_for_selector("body[data-map-ready]", state="attached", timeout=30_000)
    assert not _layer_box(page, "Interventions (").is_checked()
    page.locator("input[name=layer][value=interventions]").check()
    page.wait_for_function("() => location.search.includes('layer=interventions')")
    page.goto(page.url, wait_until="load")
    page.wait_for_selector("body[data-map-ready]", state="attached", timeout=30_000)
    assert _layer_box(page, "Interventions (").is_checked()
    # a view of a district it is not in lists the layer, unticked
    page.goto(live.url + YEAR + "&borough=Redbridge", wait_until="load")
    page.wait_for_selector("body[data-map-ready]", state="attached", timeout=30_000)
    assert not _layer_box(page, "Interventions (").is_checked()
    assert watched.errors == [] and watched.outside == []
    page.close()


def test_the_drawing_map_shows_what_is_recorded_there(browser: Browser, live: LiveServer) -> None:
    """An intervention recorded east of Romford is outlined on the drawing map, its name shown as
    text (not markup) on hover; a click inside it still adds a corner of the new polygon."""
    body = {
        "name": "Romford <i>wardens</i>",
        "type": "patrol",
        "partner": "Havering Council",
        "start": "2021-01",
        "polygon": {
            "type": "Polygon",
            "coordinates": [
                [[0.195, 51.573], [0.205, 51.573], [0.205, 51.58], [0.195, 51.58], [0.195, 51.573]]
            ],
        },
    }
    headers = {"X-API-Key": live.key("council")}
    r = httpx.post(f"{live.url}/interventions", json=body, headers=headers, timeout=60)
    assert r.status_code == 201, r.text
    watched = watched_page(browser, (live.url,))
    page = watched.page
    _sign_in(page, live, "police", "/app/interventions")
    page.wait_for_selector("#hs-draw-map[data-draw-ready]", state="attached", timeout=30_000)
    page.locator("#hs-draw-map").scroll_into_view_if_needed()
    page.evaluate("hsDrawMap.setView([51.5765, 0.19], 14, {animate: false})")
    existing = page.locator("path.hs-draw-existing")
    assert existing.count() >= 1
    assert "already recorded here" in page.inner_text("#hs-draw-existing")
    _click_lonlat(page, 0.2, 51.5765)  # inside the recorded shape
    assert page.locator("path.hs-draw-vertex").count() == 1
    page.mouse.move(0, 0)
    _hover_lonlat(page, 0.198, 51.575)
    tip = page.locator(".leaflet-tooltip", has_text="Romford <i>wardens</i>")
    tip.wait_for(timeout=10_000)
    assert "from 2021-01" in tip.inner_text() and tip.locator("i").count() == 0
    assert watched.errors == [] and watched.outside == []
    page.close()
