"""The map page in a real headless Chromium, served by our own app, with every other host blocked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hotspots.settings import Settings
from tests.browser import chromium_or_skip, headless_chromium, watched_page
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.browser

CHROMIUM = chromium_or_skip()

from playwright.sync_api import Browser  # noqa: E402


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(Settings(data_dir=tmp_path_factory.mktemp("browser") / "var", tiles="none")) as server:
        yield server


@pytest.fixture(scope="module")
def server(live: LiveServer) -> str:
    return live.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium(CHROMIUM) as b:
        yield b


def open_map(browser: Browser, base: str, path: str) -> tuple[Any, list[str], list[str]]:
    """Load a page; every request to another host is aborted and recorded."""
    watched = watched_page(browser, (base,))
    watched.page.goto(base + path, wait_until="load")
    watched.page.wait_for_selector("path.hs-ward", state="attached", timeout=20000)
    return watched.page, watched.errors, watched.outside


def test_map_draws_layers_without_errors_or_network(browser: Browser, server: str, tmp_path: Path) -> None:
    page, errors, outside = open_map(browser, server, "/maps/hotspots?dataset=bd-2023-01")
    wards = page.locator("path.hs-ward").count()
    hotspots = page.locator("path.hs-hotspot").count()
    boroughs = page.locator("path.hs-borough").count()
    assert wards == 61, "every 2022 ward is drawn"
    assert hotspots >= 5
    assert boroughs == 3
    assert page.locator(".leaflet-control-layers").count() == 1
    assert page.locator("img.leaflet-image-layer").count() == 1, "heat layer drawn"
    assert page.get_by_text("Legend", exact=False).count() >= 1
    page.screenshot(path=str(tmp_path / "map.png"))
    assert errors == [], errors
    assert outside == [], outside
    page.close()


def test_hotspot_popup_opens_with_summary(browser: Browser, server: str) -> None:
    page, errors, outside = open_map(
        browser, server, "/maps/hotspots?dataset=bd-2023-01&eps_m=150&min_samples=20"
    )
    page.locator("path.hs-hotspot").first.dispatch_event("click")
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=5000)
    text = popup.inner_text()
    assert "incidents" in text.lower() and "Barking and Dagenham" in text
    assert errors == [] and outside == []
    page.close()


def test_hostile_text_is_shown_not_run(browser: Browser, server: str, live: LiveServer) -> None:
    import httpx

    payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    header = (
        "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,"
        "Last outcome category,Context\n"
    )
    quoted = '"' + payload.replace('"', '""') + '"'
    row = f",2023-01,MPS,MPS,0.081,51.539,{quoted},E01,x,{quoted},,\n"
    body = (header + row * 30).encode()
    r = httpx.post(
        f"{server}/datasets",
        data={"name": "hostile"},
        files={"files": ("h.csv", body, "text/csv")},
        headers={"X-API-Key": live.key("admin")},
    )
    assert r.status_code == 201, r.text
    page, errors, outside = open_map(browser, server, "/maps/hotspots?dataset=hostile&min_samples=5")
    page.locator("path.hs-hotspot").first.dispatch_event("click")
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=5000)
    assert "<script>" in popup.inner_text()  # shown as text
    assert page.evaluate("window.__pwned === undefined")
    assert outside == [], outside  # the <img src=x> never loaded
    page.close()
