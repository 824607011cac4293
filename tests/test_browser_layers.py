"""The statistics layers (Gi*, emerging hot spots) and ward rates in a real headless Chromium.

The default map page is served by our own app; a page with every layer (the
API route does not draw emerging hot spots yet) is rendered with
:func:`render_standalone` and opened from disk. Every other host is blocked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hotspots.boundaries import BoundarySet
from hotspots.geo.analysis import AnalysisParams, analyse
from hotspots.geo.stats.assessment import emerging_layer
from hotspots.geo.stats.emerging import NO_PATTERN
from hotspots.maps import EMERGING_LAYER_NAME, GI_LAYER_NAME, GI_WORDS, MapOptions, render_standalone
from hotspots.settings import Settings
from tests.browser import chromium_or_skip, headless_chromium, watched_page
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.browser

CHROMIUM = chromium_or_skip()

from playwright.sync_api import Browser, Page  # noqa: E402

YEAR_PATH = "/maps/hotspots?dataset=tri-borough-2018-2020&from=2020-01&to=2020-12"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(
        Settings(data_dir=tmp_path_factory.mktemp("browser-layers") / "var", tiles="none")
    ) as server:
        yield server


@pytest.fixture(scope="module")
def server(live: LiveServer) -> str:
    return live.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium(CHROMIUM) as b:
        yield b


def open_map(browser: Browser, url: str, allowed: tuple[str, ...]) -> tuple[Page, list[str], list[str]]:
    """Load a page; every request to anything but ``allowed`` prefixes (and data:) is aborted and recorded."""
    watched = watched_page(browser, allowed)
    watched.page.goto(url, wait_until="load", timeout=60_000)
    watched.page.wait_for_selector("path.hs-ward", state="attached", timeout=30_000)
    return watched.page, watched.errors, watched.outside


def layer_checkbox(page: Page, name: str) -> Any:
    label = page.locator(".leaflet-control-layers-overlays label", has_text=name)
    assert label.count() == 1, f"{name!r} is not in the layer control"
    return label.locator("input[type=checkbox]")


def test_gi_layer_is_listed_off_and_draws_when_ticked(browser: Browser, server: str, tmp_path: Path) -> None:
    page, errors, outside = open_map(browser, server + YEAR_PATH, (server,))
    box = layer_checkbox(page, GI_LAYER_NAME)
    assert not box.is_checked(), "Gi* starts off when there are hotspots"
    assert page.locator("path.hs-hotspot").count() > 0
    assert page.locator("path.hs-gi").count() == 0
    section = page.locator('.hs-legend [data-hs-layer="gi"]')
    assert section.count() == 1 and not section.is_visible(), "its legend shows only with the layer"

    box.check()
    page.wait_for_selector("path.hs-gi", state="attached", timeout=10_000)
    drawn = page.locator("path.hs-gi").count()
    assert drawn > 0
    assert section.is_visible() and GI_WORDS[3] in section.inner_text()
    # every drawn cell is a significant one: its fill is one of the six RdBu colours
    fills = page.locator("path.hs-gi").evaluate_all(
        "els => [...new Set(els.map(e => e.getAttribute('fill')))]"
    )
    assert fills and set(fills) <= {"#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0", "#67a9cf", "#2166ac"}
    page.locator("path.hs-gi").first.dispatch_event("mouseover")
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for(timeout=5000)
    assert "p (FDR-adjusted)" in tooltip.inner_text()
    page.screenshot(path=str(tmp_path / "gi.png"))

    box.uncheck()
    assert page.locator("path.hs-gi").count() == 0 and not section.is_visible()
    assert errors == [], errors
    assert outside == [], outside
    page.close()


@pytest.fixture(scope="module")
def full_file(
    points: pd.DataFrame, boundary_sets: dict[str, BoundarySet], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int, int]:
    """A standalone page of 2020 with every layer, rates, and one ward without population.

    Returns the file, the number of emerging cells with a pattern and of significant Gi* cells.
    """
    year = analyse(points, boundary_sets, AnalysisParams(month_from="2020-01", month_to="2020-12"))
    cells = emerging_layer(year)
    wards = year.wards.copy()
    wards.loc[wards.index[0], ["population", "rate_per_1000"]] = np.nan
    partial = dataclasses.replace(year, wards=wards)
    html = render_standalone(partial, MapOptions(tiles="none", measure="rate"), cells)
    path = tmp_path_factory.mktemp("standalone") / "map.html"
    path.write_text(html, encoding="utf-8")
    patterned = int((cells["category"] != NO_PATTERN).sum())
    significant = int((year.gi_grid["gi_bin"] != 0).sum())
    return path, patterned, significant


def test_standalone_emerging_layer_and_rates(
    browser: Browser, full_file: tuple[Path, int, int], tmp_path: Path
) -> None:
    path, patterned, significant = full_file
    assert patterned > 0
    page, errors, outside = open_map(browser, path.as_uri(), ("file://",))
    # rates: the ward without population is hatched, not shaded as 0
    nopop = page.locator("path.hs-nopop")
    assert nopop.count() == 1
    assert "url(" in nopop.first.evaluate("el => getComputedStyle(el).fill")
    nopop.first.dispatch_event("mouseover")
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for(timeout=5000)
    assert "population unknown" in tooltip.inner_text()
    nopop.first.dispatch_event("mouseout")

    box = layer_checkbox(page, EMERGING_LAYER_NAME)
    assert not box.is_checked() and page.locator("path.hs-emerging").count() == 0
    section = page.locator('.hs-legend [data-hs-layer="emerging"]')
    assert not section.is_visible()
    box.check()
    page.wait_for_selector("path.hs-emerging", state="attached", timeout=10_000)
    assert page.locator("path.hs-emerging").count() == patterned
    assert section.is_visible() and "final month" in section.inner_text()
    layer_checkbox(page, GI_LAYER_NAME).check()
    page.wait_for_selector("path.hs-gi", state="attached", timeout=10_000)
    assert page.locator("path.hs-gi").count() == significant
    page.screenshot(path=str(tmp_path / "all-layers.png"))
    assert errors == [], errors
    assert outside == [], outside
    page.close()
