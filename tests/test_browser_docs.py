"""The API documentation (/docs) in a real headless Chromium with the network blocked.

Swagger UI comes from an installed package under our own static path: the page renders
its operations with every off-host request aborted (and recorded: there must be none), no
console errors (CSP violations included) and a policy that names no other host.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hotspots.settings import Settings
from tests.browser import chromium_or_skip, headless_chromium, watched_page
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.browser

CHROMIUM = chromium_or_skip()

from playwright.sync_api import Browser  # noqa: E402


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    var = tmp_path_factory.mktemp("docs") / "var"
    settings = Settings(data_dir=var, tiles="none", seed_sample_data=False)
    with live_server(settings) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium(CHROMIUM) as b:
        yield b


def test_swagger_ui_renders_offline(browser: Browser, live: LiveServer, tmp_path: Path) -> None:
    watched = watched_page(browser, (live.url,))
    page = watched.page
    response = page.goto(live.url + "/docs", wait_until="load")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "http" not in csp, csp  # no other host, not even the old CDN
    page.wait_for_selector(".opblock-summary", timeout=30000)
    operations = page.locator(".opblock").count()
    assert operations >= 20, operations
    assert page.locator(".opblock-summary-path[data-path='/healthz']").count() == 1
    scripts = page.eval_on_selector_all("script[src], link[href]", "els => els.map(e => e.src || e.href)")
    assert scripts and all(s.startswith(live.url + "/static/docs/") for s in scripts), scripts
    page.screenshot(path=str(tmp_path / "docs.png"))
    assert watched.outside == [], watched.outside
    assert watched.errors == [], watched.errors
    page.close()
