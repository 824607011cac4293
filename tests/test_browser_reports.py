"""The compare view, the evaluation page and the briefings in a real headless Chromium.

Every request that does not go to our own loopback server is aborted and recorded; the tests
fail on any such request and on any console error (CSP violations included).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotspots.settings import Settings
from tests.browser import chromium_or_skip, headless_chromium, watched_page
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.browser

CHROMIUM = chromium_or_skip()

from playwright.sync_api import Browser  # noqa: E402

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(Settings(data_dir=tmp_path_factory.mktemp("reports") / "var", tiles="none")) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium(CHROMIUM) as b:
        yield b


APP_2020_ROBBERY = "/app?dataset=tri-borough-2018-2020&from=2020-01&to=2020-12&category=Robbery"


def test_app_links_to_compare_and_evaluation_with_its_filters(
    browser: Browser, live: LiveServer, tmp_path: Path
) -> None:
    watched = watched_page(browser, (live.url,), DESKTOP)
    page = watched.page
    page.goto(
        live.url + "/app?dataset=tri-borough-2018-2020&from=2020-01&to=2020-12&category=Robbery",
        wait_until="load",
    )
    page.wait_for_selector("body[data-map-ready]", state="attached", timeout=30000)
    with page.expect_navigation():
        page.click("text=Compare periods")
    page.wait_for_selector("path.hs-change", state="attached", timeout=30000)
    assert page.is_checked("input[name=category][value=Robbery]")
    assert page.input_value("#hs-b-from") == "2020-01" and page.input_value("#hs-a-from") == "2019-01"
    status = page.locator("#hs-status").inner_text()
    assert "Robbery only" in status and not re.search(r"\d{4,} incidents", status)
    page.check("input[name=category][value=Burglary]")
    with page.expect_navigation():
        page.click("button.hs-submit")
    page.wait_for_selector("path.hs-change", state="attached", timeout=30000)
    assert page.is_checked("input[name=category][value=Burglary]")
    assert page.is_checked("input[name=category][value=Robbery]")
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=False)

    page.goto(
        live.url + "/app?dataset=tri-borough-2018-2020&from=2020-01&to=2020-12&category=Robbery",
        wait_until="load",
    )
    page.wait_for_selector("body[data-map-ready]", state="attached", timeout=30000)
    with page.expect_navigation():
        page.click("text=How good are these hotspots?")
    headline = page.locator("#hs-eval-headline").inner_text()
    assert headline.startswith("The hotspots cover") and "December 2020" in headline
    assert "Robbery" in page.locator("header").inner_text()
    assert page.locator("#hs-eval-table tbody tr").count() == 5
    page.screenshot(path=str(tmp_path / "evaluation.png"), full_page=True)
    assert watched.outside == [], watched.outside
    assert watched.errors == [], watched.errors
    page.close()


def test_briefing_maps_are_street_scale_pictures(browser: Browser, live: LiveServer, tmp_path: Path) -> None:
    watched = watched_page(browser, (live.url,), DESKTOP)
    page = watched.page
    page.goto(live.url + "/app/briefing?from=2020-01&to=2020-12&borough=Havering", wait_until="load")
    cards = page.locator("section.card").count()
    assert cards >= 2
    assert page.locator("section.card img.snapshot").count() == cards  # a map per hotspot
    page.emulate_media(media="print")
    page.screenshot(path=str(tmp_path / "briefing.png"), full_page=True)
    assert watched.outside == [], watched.outside
    assert watched.errors == [], watched.errors
    page.close()


def test_compare_map_keeps_its_zoom_buttons_clear_on_a_phone(browser: Browser, live: LiveServer) -> None:
    """On a phone the compare map's layer list starts folded (it covered the zoom buttons); on a
    desktop it is open."""
    path = (
        "/app/compare?dataset=tri-borough-2018-2020&a_from=2019-01&a_to=2019-06&b_from=2020-01&b_to=2020-06"
    )
    for viewport, folded in ((PHONE, True), (DESKTOP, False)):
        watched = watched_page(browser, (live.url,), viewport)
        page = watched.page
        page.goto(live.url + path, wait_until="load")
        page.wait_for_selector("path.hs-change", state="attached", timeout=60000)
        layers = page.locator(".leaflet-control-layers")
        assert ("leaflet-control-layers-expanded" not in (layers.get_attribute("class") or "")) == folded
        zoom, box = page.locator(".leaflet-control-zoom").bounding_box(), layers.bounding_box()
        assert zoom is not None and box is not None
        assert box["x"] >= zoom["x"] + zoom["width"] or box["y"] >= zoom["y"] + zoom["height"], (box, zoom)
        assert watched.errors == [] and watched.outside == []
        page.close()
