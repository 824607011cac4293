"""The app page (/app) in a real headless Chromium: filters, table and map linked, briefings, phone width.

Every request that does not go to our own loopback server is aborted and recorded;
the tests fail on any such request and on any console error. The desktop and phone
screenshots shown in the README are written to docs/screenshots by these tests.
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

from playwright.sync_api import Browser, Page  # noqa: E402

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
YEAR = "/app?from=2020-01&to=2020-12&dataset=tri-borough-2018-2020"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(Settings(data_dir=tmp_path_factory.mktemp("app") / "var", tiles="none")) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium(CHROMIUM) as b:
        yield b


class Tab:
    """A page of our server with console errors and off-host requests recorded."""

    def __init__(self, browser: Browser, base: str, viewport: dict[str, int] = DESKTOP) -> None:
        self.base = base
        self.watched = watched_page(browser, (base,), viewport)
        self.page: Page = self.watched.page

    def open(self, path: str, ready: str = "body[data-map-ready]") -> Page:
        self.page.goto(self.base + path, wait_until="load")
        self.page.wait_for_selector(ready, state="attached", timeout=30000)
        return self.page

    def clean(self) -> None:
        assert self.watched.errors == [], self.watched.errors
        assert self.watched.outside == [], self.watched.outside
        self.page.close()


def map_view(page: Page) -> dict[str, float]:
    return page.evaluate(
        """() => { const cfg = JSON.parse(document.getElementById('hs-config').textContent);
                   const m = window[cfg.map]; const c = m.getCenter();
                   return {lat: c.lat, lng: c.lng, zoom: m.getZoom()}; }"""
    )


def table_ranks(page: Page) -> list[int]:
    return [
        int(r)
        for r in page.eval_on_selector_all("#hs-table tbody tr", "rows => rows.map(r => r.dataset.rank)")
    ]


def test_page_loads_with_map_table_legend_and_no_network(browser: Browser, live: LiveServer) -> None:
    tab = Tab(browser, live.url)
    page = tab.open(YEAR)
    ranks = table_ranks(page)
    assert ranks and ranks == sorted(ranks) and ranks[0] == 1
    assert page.locator("path.hs-hotspot").count() == len(ranks)
    assert page.locator(".hs-legend").is_visible()
    # The page's own styles do not leak into the map's legend (its notes are plain text lines).
    assert (
        page.evaluate("getComputedStyle(document.querySelector('.hs-legend .hs-note')).borderTopWidth")
        == "0px"
    )
    assert "DBSCAN (fixed radius): radius 100 m, at least" in page.locator(".hs-method").inner_text()
    assert page.locator(".leaflet-control-scale").is_visible()
    assert "OGL" in page.locator(".leaflet-control-attribution").inner_text()
    # Every form control has a label a screen reader can announce.
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('#hs-form select, #hs-form input:not([type=hidden])')]
                 .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
                 .map(el => el.name)"""
    )
    assert unlabelled == []
    tab.clean()


def test_changing_filters_updates_map_and_table(browser: Browser, live: LiveServer) -> None:
    tab = Tab(browser, live.url)
    page = tab.open(YEAR)
    before = table_ranks(page)
    page.check("input[name=category][value='Burglary']")
    page.select_option("#hs-from", "2020-07")
    page.fill("#hs-eps", "150")
    with page.expect_navigation():
        page.click("button.hs-submit")
    page.wait_for_selector("body[data-map-ready]", state="attached")
    assert "category=Burglary" in page.url and "from=2020-07" in page.url
    assert "min_samples" not in page.url  # left empty: chosen from the data, not sent
    after = table_ranks(page)
    assert after != before
    assert page.locator("path.hs-hotspot").count() == len(after)
    assert page.locator("input[name=category][value='Burglary']").is_checked()
    assert page.input_value("#hs-eps") == "150"
    assert "DBSCAN (fixed radius): radius 150 m" in page.locator(".hs-method").inner_text()
    assert "2020-07 to 2020-12" in page.locator("#hs-status").inner_text()

    # Borough filter: only hotspots that touch Havering, cross-border ones included whole.
    page.check("input[name=borough][value='Havering']")
    with page.expect_navigation():
        page.click("button.hs-submit")
    page.wait_for_selector("body[data-map-ready]", state="attached")
    wheres = page.eval_on_selector_all(
        "#hs-table tbody tr td:nth-child(2)", "cells => cells.map(c => c.innerText)"
    )
    assert wheres and all("Havering" in w for w in wheres)
    tab.clean()


def test_row_click_moves_map_opens_popup_and_highlights(browser: Browser, live: LiveServer) -> None:
    tab = Tab(browser, live.url)
    page = tab.open(YEAR)
    start = map_view(page)
    rank = table_ranks(page)[2]
    page.click(f".hs-go[data-rank='{rank}']")
    popup = page.wait_for_selector(".leaflet-popup-content", timeout=5000)
    assert f"#{rank} of" in popup.inner_text()
    moved = map_view(page)
    assert moved["zoom"] > start["zoom"]
    assert (moved["lat"], moved["lng"]) != (start["lat"], start["lng"])
    assert "hs-active" in (page.locator(f"#hs-row-{rank}").get_attribute("class") or "")
    assert "Showing hotspot" in page.locator("#hs-status").inner_text()

    # Keyboard: focus another row's button and press Enter.
    other = table_ranks(page)[0]
    page.focus(f".hs-go[data-rank='{other}']")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "r => (document.querySelector('.leaflet-popup-content') || {}).innerText.includes('#' + r + ' of')",
        arg=other,
    )
    assert "hs-active" in (page.locator(f"#hs-row-{other}").get_attribute("class") or "")
    tab.clean()


def test_clicking_a_hotspot_highlights_its_row(browser: Browser, live: LiveServer) -> None:
    tab = Tab(browser, live.url)
    page = tab.open(YEAR)
    rank = table_ranks(page)[0]
    page.click(f".hs-go[data-rank='{rank}']")  # zoom in so the shape is large enough to click
    page.click(".leaflet-popup-close-button")
    page.wait_for_selector(".leaflet-popup", state="detached")
    page.evaluate("document.querySelectorAll('tr.hs-active').forEach(r => r.classList.remove('hs-active'))")
    # A point of the screen where the topmost element is a hotspot shape (shapes can be concave).
    point = page.evaluate(
        """() => { for (const path of document.querySelectorAll('path.hs-hotspot')) {
                     const b = path.getBoundingClientRect();
                     for (let i = 1; i < 12; i++) for (let j = 1; j < 12; j++) {
                       const x = b.left + b.width * i / 12, y = b.top + b.height * j / 12;
                       if (x > 0 && y > 0 && x < innerWidth && y < innerHeight
                           && document.elementFromPoint(x, y) === path) return {x, y}; } }
                   return null; }"""
    )
    assert point is not None
    page.mouse.click(point["x"], point["y"])
    popup = page.wait_for_selector(".leaflet-popup-content", timeout=5000)
    shown = int(re.search(r"#(\d+) of", popup.inner_text()).group(1))  # type: ignore[union-attr]
    active = page.eval_on_selector_all("tr.hs-active", "rows => rows.map(r => Number(r.dataset.rank))")
    assert active == [shown]
    tab.clean()


def test_print_view_pdf_and_png(browser: Browser, live: LiveServer) -> None:
    tab = Tab(browser, live.url)
    page = tab.page
    page.goto(live.url + "/app/briefing?from=2020-01&to=2020-12&hotspot=1", wait_until="load")
    assert page.locator("h1").inner_text() == "Patrol briefing: hotspot #1"
    assert page.evaluate("document.querySelector('img.snapshot').naturalWidth") > 400
    for heading in ("Where", "What", "How much", "When", "Trend", "Significance"):
        assert page.locator(f"th:text-is('{heading}')").count() == 1
    page.emulate_media(media="print")
    assert not page.locator(".tools").is_visible()  # links and buttons are not printed
    pdf = page.request.get(live.url + "/app/briefing.pdf?from=2020-01&to=2020-12&hotspot=1")
    assert pdf.status == 200 and pdf.body()[:5] == b"%PDF-"
    png = page.request.get(live.url + "/app/map.png?from=2020-01&to=2020-12")
    assert png.status == 200 and png.body()[:8] == b"\x89PNG\r\n\x1a\n"
    page.emulate_media(media="screen")
    page.goto(live.url + "/app/briefing?from=2020-01&to=2020-12&borough=Havering", wait_until="load")
    assert page.locator("h1").inner_text() == "Patrol briefing: Havering"
    assert page.locator("section.card").count() >= 1
    tab.clean()


def test_compare_view(browser: Browser, live: LiveServer) -> None:
    tab = Tab(browser, live.url)
    page = tab.open("/app/compare?a_from=2019-01&a_to=2019-12&b_from=2020-01&b_to=2020-12", "path.hs-change")
    assert page.locator("path.hs-change").count() > 0
    text = page.locator("#hs-status").inner_text()
    assert re.search(r"\d+ new, \d+ persistent and \d+ gone hotspots", text)
    assert page.locator("#hs-ward-table tbody tr").count() > 10
    tab.clean()


def boxes_overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_nothing_the_page_opens_on_hides_the_strongest_hotspots(
    browser: Browser, live: LiveServer, viewport: dict[str, int]
) -> None:
    """The app's own default (newest data with violence): the top 10 stand out, numbered, and no
    control (legend, layer button, zoom, scale, attribution) covers any of them."""
    tab = Tab(browser, live.url, viewport)
    page = tab.open("/app")
    assert "tri-borough-2022" in page.locator(".hs-dataset").inner_text()
    assert page.locator("path.hs-top").count() == 10
    assert page.locator(".hs-rank").count() == 10
    assert page.locator(".leaflet-image-layer.hs-heat").count() == 0  # competing layers start off
    assert page.locator("path.hs-gi").count() == 0
    controls = [
        b for b in (el.bounding_box() for el in page.locator(".leaflet-control").all()) if b and b["width"]
    ]
    legend = page.locator(".hs-legend-control").bounding_box()
    assert legend is not None and legend in controls
    map_box = page.locator(".hs-map-wrap").bounding_box()
    assert map_box is not None
    for rank in range(1, 11):
        spot = page.locator(f".hs-rank[data-rank='{rank}']").bounding_box()
        shape = page.locator("path.hs-top").nth(rank - 1).bounding_box()
        for box in (spot, shape):
            assert box is not None
            assert not any(boxes_overlap(box, c) for c in controls), (rank, box)
            assert map_box["y"] <= box["y"] and box["y"] + box["height"] <= map_box["y"] + map_box["height"]
    tab.clean()


def test_popup_is_opaque_and_fits_the_phone_map(browser: Browser, live: LiveServer) -> None:
    for viewport in (DESKTOP, PHONE):
        tab = Tab(browser, live.url, viewport)
        page = tab.open("/app")
        page.locator(".hs-go[data-rank='1']").click()
        page.wait_for_selector(".leaflet-popup-content")
        colour = page.evaluate(
            "getComputedStyle(document.querySelector('.leaflet-popup-content-wrapper')).backgroundColor"
        )
        assert colour in ("rgb(255, 255, 255)", "rgba(255, 255, 255, 1)"), colour
        opacity = page.evaluate("getComputedStyle(document.querySelector('.leaflet-popup')).opacity")
        assert float(opacity) == 1.0
        # Leaflet pans the map (animated) so the popup fits: wait for the pan to end.
        page.wait_for_function(
            """() => {
                 const p = document.querySelector('.leaflet-popup-content-wrapper').getBoundingClientRect();
                 const m = document.querySelector('.hs-map-wrap').getBoundingClientRect();
                 return p.top >= m.top && p.bottom <= m.bottom
                        && p.left >= m.left && p.right <= m.right; }""",
            timeout=5000,
        )
        popup = page.locator(".leaflet-popup-content-wrapper").bounding_box()
        map_box = page.locator(".hs-map-wrap").bounding_box()
        zoom = page.locator(".leaflet-control-zoom").bounding_box()
        assert popup and map_box and zoom
        assert map_box["x"] <= popup["x"] and popup["x"] + popup["width"] <= map_box["x"] + map_box["width"]
        assert map_box["y"] <= popup["y"] and popup["y"] + popup["height"] <= map_box["y"] + map_box["height"]
        assert not boxes_overlap(popup, zoom)
        # The attribution leaves the scale bar readable.
        scale = page.locator(".leaflet-control-scale").bounding_box()
        attribution = page.locator(".leaflet-control-attribution").bounding_box()
        assert scale and attribution and not boxes_overlap(scale, attribution)
        tab.clean()


def test_row_click_on_a_phone_brings_the_map_into_view_and_marks_the_hotspot(
    browser: Browser, live: LiveServer
) -> None:
    tab = Tab(browser, live.url, PHONE)
    page = tab.open("/app")
    button = page.locator(".hs-go[data-rank='4']")
    button.scroll_into_view_if_needed()
    assert page.locator(".hs-map-wrap").bounding_box()["y"] < 0  # type: ignore[index]
    button.click()
    page.wait_for_selector(".leaflet-popup-content")
    box = page.locator(".hs-map-wrap").bounding_box()
    assert box is not None and box["y"] >= -1 and box["y"] + box["height"] <= PHONE["height"] + 1
    assert page.locator("path.hs-chosen").count() == 1
    stroke = page.evaluate("document.querySelector('path.hs-chosen').getAttribute('stroke')")
    assert stroke == "#ff8c00"
    tab.clean()


def test_the_view_is_in_the_url_and_opens_again_as_it_was(browser: Browser, live: LiveServer) -> None:
    tab = Tab(browser, live.url)
    page = tab.open("/app")
    page.click(".hs-go[data-rank='3']")
    page.wait_for_selector(".leaflet-popup-content")
    page.check("input[name=layer][value=heat]")  # the form's box toggles the map layer at once
    page.wait_for_selector(".leaflet-image-layer.hs-heat", state="attached")
    url = page.url
    assert "hotspot=3" in url and "zoom=" in url and "layer=heat" in url
    view = map_view(page)
    tab.clean()
    again = Tab(browser, live.url)
    page = again.open(url.replace(live.url, ""))
    page.wait_for_selector(".leaflet-popup-content")
    assert "#3 of" in page.locator(".leaflet-popup-content").inner_text()
    assert page.locator(".leaflet-image-layer.hs-heat").count() == 1
    assert page.locator("input[name=layer][value=heat]").is_checked()
    assert abs(map_view(page)["zoom"] - view["zoom"]) < 0.01
    again.clean()


def test_labels_name_the_method_and_weight_used(browser: Browser, live: LiveServer) -> None:
    tab = Tab(browser, live.url)
    page = tab.open("/app?method=hdbscan&weight=harm")
    method = page.locator(".hs-method").inner_text()
    assert "HDBSCAN" in method and "ranked by harm" in method and "eps" not in method
    page.click(".hs-legend summary")
    legend = page.locator(".hs-legend").inner_text()
    assert "HDBSCAN" in legend and "DBSCAN (fixed" not in legend and "eps" not in legend
    assert page.locator("#hs-table th:has-text('Harm')").count() == 1
    tab.clean()


def test_a_ticked_district_zooms_the_map_to_it(browser: Browser, live: LiveServer) -> None:
    tab = Tab(browser, live.url)
    whole = map_view(tab.open("/app"))
    page = tab.open("/app?borough=Havering")
    focused = map_view(page)
    # Havering is the eastern third, about as tall as the whole area: the view moves east, no wider.
    assert focused["zoom"] >= whole["zoom"] and focused["lng"] > whole["lng"] + 0.03
    assert page.locator("#hs-status").inner_text().startswith("Havering:")
    tab.clean()


def test_screenshots_desktop_and_phone(browser: Browser, live: LiveServer) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    desktop = Tab(browser, live.url, DESKTOP)
    page = desktop.open("/app")
    page.click(".hs-go[data-rank='1']")
    page.wait_for_selector(".leaflet-popup-content")
    page.evaluate("window.scrollTo(0, 0)")
    page.mouse.move(1, 1)  # no ward tooltip under a stray pointer
    page.screenshot(path=str(SCREENSHOTS / "app-desktop.png"))
    desktop.clean()

    phone = Tab(browser, live.url, PHONE)
    page = phone.open("/app")
    # One column, nothing wider than the screen, the map visible and tall enough to use.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    box = page.locator(".hs-map-wrap").bounding_box()
    assert box is not None and box["height"] >= 300 and box["width"] >= PHONE["width"] - 40
    assert not page.locator("#hs-form").is_visible()  # filters start folded on a phone
    assert not page.locator(".leaflet-control-layers-list").is_visible()  # and the layer list
    page.screenshot(path=str(SCREENSHOTS / "app-phone.png"), full_page=False)
    # The table fits the screen: its last columns (months hot, briefing) need no sideways scroll.
    table = page.evaluate(
        """() => { const s = document.querySelector('.hs-scroll');
                   return {scroll: s.scrollWidth, client: s.clientWidth}; }"""
    )
    assert table["scroll"] <= table["client"] + 1, table
    stab = page.locator("#hs-table th", has_text="Months hot").bounding_box()
    assert stab is not None and stab["x"] + stab["width"] <= PHONE["width"]
    # No rank disc covers another (a weaker one gives way until the user zooms in).
    discs = page.eval_on_selector_all(
        ".hs-rank[data-rank]",
        """els => els.filter(e => getComputedStyle(e).visibility !== 'hidden')
                     .map(e => { const r = e.getBoundingClientRect();
                                 return [Number(e.dataset.rank), r.left, r.top, r.right, r.bottom]; })""",
    )
    assert discs and min(d[0] for d in discs) == 1, discs
    # and the district names are drawn under them (a name across "1" hid it at this width)
    layers = page.evaluate(
        """() => [...document.querySelectorAll('.hs-rank-icon, .hs-label-icon')].map(
               e => [e.classList.contains('hs-rank-icon'), Number(e.style.zIndex)])"""
    )
    lowest_disc = min(z for disc, z in layers if disc)
    assert all(z < lowest_disc for disc, z in layers if not disc), layers
    for i, a in enumerate(discs):
        for b in discs[i + 1 :]:
            apart = a[3] <= b[1] or b[3] <= a[1] or a[4] <= b[2] or b[4] <= a[2]
            assert apart, (a, b)
    phone.clean()


def test_sign_in_and_out_through_the_forms(browser: Browser, tmp_path: Path) -> None:
    """The real forms carry their CSRF tokens (the cached app page's sign-out form gets it from
    the cookie), under the security headers, with no console errors (CSP violations included)."""
    settings = Settings(data_dir=tmp_path / "var", tiles="none", auth_required=True)
    with live_server(settings) as server:
        tab = Tab(browser, server.url)
        page = tab.page
        page.goto(server.url + YEAR, wait_until="load")
        assert "/app/login" in page.url
        page.fill("#hs-key", server.key("police"))
        with page.expect_navigation():
            page.click("button.hs-submit")
        page.wait_for_selector("body[data-map-ready]", state="attached", timeout=30000)
        assert YEAR.split("?")[1] in page.url and table_ranks(page)
        assert page.input_value("input[data-hs-csrf]")  # filled in from this browser's cookie
        with page.expect_navigation():
            page.click("form[action='/app/logout'] button")
        assert page.url.endswith("/app/login") and page.locator("#hs-key").is_visible()
        page.goto(server.url + YEAR, wait_until="load")
        assert "/app/login" in page.url  # signed out: the key is gone
        tab.clean()


def test_an_admin_loads_a_file_from_the_data_page(browser: Browser, live: LiveServer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "Month,Longitude,Latitude,Crime type\n2022-01,0.10,51.55,Burglary\n2022-13,0.10,51.55,Burglary\n"
    )
    tab = Tab(browser, live.url)
    page = tab.page
    page.goto(live.url + "/app/data", wait_until="load")
    assert page.locator("#hs-upload").count() == 0  # not signed in: the datasets only
    page.goto(live.url + "/app/login?next=/app/data", wait_until="load")
    page.fill("#hs-key", live.key("admin"))
    with page.expect_navigation():
        page.click("button.hs-submit")
    page.set_input_files("#hs-files", str(bad))
    page.fill("#hs-name", "bad-file")
    with page.expect_navigation():
        page.click("#hs-upload button.hs-submit")
    cells = page.eval_on_selector_all("#hs-errors tbody tr td", "tds => tds.map(td => td.innerText)")
    assert cells[:2] == ["3", "Month"]
    # The rejected upload answered 422 (the browser logs that status); nothing else went wrong.
    tab.watched.errors = [e for e in tab.watched.errors if "status of 422" not in e]
    tab.clean()


def test_stability_column_fills_in_after_the_page(browser: Browser, live: LiveServer) -> None:
    """The app's default view (shipped 2022 data): the months-hot column shows numbers once the
    page's script has them, and the set's persistence is said in words above the table."""
    tab = Tab(browser, live.url)
    page = tab.open("/app")
    page.wait_for_selector("body[data-stability=ready]", state="attached", timeout=120000)
    header = page.locator("#hs-table th", has_text="Months hot")
    assert header.is_visible()
    cells = page.locator("#hs-table td.hs-stab")
    assert cells.count() == len(table_ranks(page)) > 0
    assert cells.first.is_visible()
    texts = cells.all_inner_texts()
    assert all(re.fullmatch(r"\d+ of \d+", t) for t in texts), texts
    assert "no previous period" in page.locator("#hs-stability").inner_text()
    tab.clean()


def test_wards_without_data_are_hatched_not_zero(browser: Browser, live: LiveServer) -> None:
    """The shipped Barking and Dagenham file: Havering's and Redbridge's 42 wards are drawn
    hatched ("no data"), the legend says so, and the note names the boroughs."""
    tab = Tab(browser, live.url)
    page = tab.open("/app?dataset=bd-2023-01")
    assert page.locator("path.hs-nodata").count() == 42
    fill = page.evaluate("getComputedStyle(document.querySelector('path.hs-nodata')).fill")
    assert "hs-hatch" in fill, fill
    page.locator(".hs-legend summary").click()
    assert page.locator(".hs-legend", has_text="no data (42 wards)").is_visible()
    assert "No data for Havering, Redbridge" in page.locator(".no-data-note").inner_text()
    tab.clean()
