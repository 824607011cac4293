"""Map pages: layers, legend, offline assets, escaping of hostile text, size."""

from __future__ import annotations

import copy
import dataclasses
import re
import time

import numpy as np
import pandas as pd
import pytest

from hotspots.boundaries import BoundarySet
from hotspots.errors import InvalidInput
from hotspots.geo.analysis import AnalysisParams, AnalysisResult, analyse
from hotspots.maps import (
    ASSET_DIRS,
    ATTRIBUTION_LINKS,
    BOROUGH_CLASS,
    HOTSPOT_CLASS,
    WARD_CLASS,
    AssetNotFound,
    MapOptions,
    class_breaks,
    heat_surface,
    inline_assets,
    render_page,
    render_standalone,
)
from hotspots.maps.render import OSM_TILES

URL = re.compile(r"https?://[^\s\"'<>\\)]+")
IMG_PAYLOAD = "<img src=x onerror=alert(1)>"
SCRIPT_PAYLOAD = "</script><script>alert(1)</script>"
MAX_PAGE_BYTES = 1_000_000


@pytest.fixture(scope="module")
def result(points: pd.DataFrame, boundary_sets: dict[str, BoundarySet]) -> AnalysisResult:
    """One month (2020-12) of the tri-borough sample: about 3,900 incidents."""
    return analyse(points, boundary_sets, AnalysisParams(month_from="2020-12", month_to="2020-12"))


@pytest.fixture(scope="module")
def page(result: AnalysisResult) -> str:
    return render_page(result, MapOptions(tiles="none"))


@pytest.fixture(scope="module")
def standalone(result: AnalysisResult) -> str:
    return render_standalone(result, MapOptions(tiles="none"))


def hostile_copy(result: AnalysisResult) -> AnalysisResult:
    """The result with hostile text in ward, borough and boundary set names, crime types and wards lists."""
    wards = result.wards.copy()
    wards.loc[wards.index[0], "ward_name"] = IMG_PAYLOAD
    wards.loc[wards.index[1], "ward_name"] = SCRIPT_PAYLOAD
    boroughs = result.boroughs.copy()
    boroughs.loc[boroughs.index[0], "borough_name"] = SCRIPT_PAYLOAD
    hotspots = result.hotspots.copy()
    first = hotspots.index[0]
    hotspots.at[first, "top_categories"] = [
        {"crime_type": IMG_PAYLOAD, "count": 3},
        {"crime_type": SCRIPT_PAYLOAD, "count": 2},
    ]
    hotspots.at[first, "wards"] = [SCRIPT_PAYLOAD, IMG_PAYLOAD]
    hotspots.at[first, "boroughs"] = [IMG_PAYLOAD]
    hotspots.at[first, "peak_month"] = SCRIPT_PAYLOAD
    # A second, hostile boundary set name makes the layer names carry it.
    extra = wards.copy()
    extra["boundary_set"] = SCRIPT_PAYLOAD
    wards = pd.concat([wards, extra], ignore_index=True)
    meta = copy.deepcopy(result.meta)
    meta["boundary_sets"] = [*meta["boundary_sets"], SCRIPT_PAYLOAD]
    meta["boundary_notes"] = [IMG_PAYLOAD]
    meta["crime_types"] = [IMG_PAYLOAD, SCRIPT_PAYLOAD]
    return dataclasses.replace(
        result,
        wards=type(result.wards)(wards, crs=result.wards.crs),
        boroughs=boroughs,
        hotspots=hotspots,
        meta=meta,
    )


def script_srcs(html: str) -> list[str]:
    return re.findall(r"<script\b[^>]*\bsrc=[\"']([^\"']+)", html, re.IGNORECASE)


def link_hrefs(html: str) -> list[str]:
    return re.findall(r"<link\b[^>]*\bhref=[\"']([^\"']+)", html, re.IGNORECASE)


def leaflet_file_urls() -> set[str]:
    """URLs written inside the installed Leaflet files (SVG namespace, Leaflet's own credit link)."""
    found: set[str] = set()
    for name in ("leaflet.js", "leaflet.css"):
        found |= set(URL.findall((ASSET_DIRS["leaflet"] / name).read_text(encoding="utf-8")))
    return found


def test_page_has_every_layer_legend_and_control(page: str, result: AnalysisResult) -> None:
    assert result.meta["boundary_sets"] == ["wards-2018"]
    assert "Wards: incidents" in page
    assert "Borough boundaries" in page
    assert f"Hotspots ({len(result.hotspots)})" in page
    assert "Heat (kernel density)" in page and "L.imageOverlay(" in page
    assert "data:image/png;base64," in page
    assert "L.control.layers(" in page
    assert "L.control.scale(" in page
    assert "Legend" in page and "hs-legend" in page
    for css_class in (WARD_CLASS, BOROUGH_CLASS, HOTSPOT_CLASS):
        assert f'"className": "{css_class}"' in page
    assert "fitBounds(" in page
    assert "Crown copyright" in page and "police.uk" in page  # attribution


def test_page_links_only_our_leaflet_and_no_cdn(page: str) -> None:
    assert script_srcs(page) == ["/static/leaflet/leaflet.js"]
    assert link_hrefs(page) == ["/static/leaflet/leaflet.css"]
    lowered = page.lower()
    for cdn in ("cdn.", "jsdelivr", "cdnjs", "unpkg", "jquery", "bootstrap", "font-awesome", "fontawesome"):
        assert cdn not in lowered, cdn
    assert "$(" not in page, "folium code that needs jQuery slipped in"


def test_no_url_except_attribution_links_without_tiles(page: str) -> None:
    """tiles='none': every http(s) URL is an attribution anchor's href, nothing that is fetched."""
    urls = URL.findall(page)
    assert urls, "the OGL licence link is expected in the attribution"
    assert set(urls) <= ATTRIBUTION_LINKS
    # each occurrence is the href of an anchor (inside a JSON string in the script, hence \")
    assert len(re.findall(r'<a href=\\?"https?://', page.replace("\\u003c", "<"))) == len(urls)


def test_openstreetmap_tiles_add_only_tile_template_and_attribution(result: AnalysisResult) -> None:
    html = render_page(result, MapOptions(tiles="openstreetmap"))
    assert set(URL.findall(html)) <= ATTRIBUTION_LINKS | {OSM_TILES}
    assert OSM_TILES in html and "OpenStreetMap" in html


def test_custom_tiles_and_attribution_escaped(result: AnalysisResult) -> None:
    url = "https://tiles.example.gov.uk/{z}/{x}/{y}.png"
    html = render_page(result, MapOptions(tiles=url, tiles_attribution=IMG_PAYLOAD, heat=False))
    assert url in html
    assert IMG_PAYLOAD not in html and "L.imageOverlay(" not in html
    with pytest.raises(InvalidInput):
        MapOptions(tiles="javascript:alert(1)").validate()
    with pytest.raises(InvalidInput):
        render_page(result, MapOptions(tiles="https://tiles.example.gov.uk/no-placeholders.png"))


def test_standalone_inlines_everything(standalone: str) -> None:
    assert not re.search(r"<script\b[^>]*\bsrc=", standalone, re.IGNORECASE)
    assert not re.search(r"<link\b[^>]*\bhref=", standalone, re.IGNORECASE)
    assert "/static/" not in standalone
    assert "sourceMappingURL" not in standalone
    assert 'url("data:image/png;base64,' in standalone  # Leaflet's control images
    assert "L.map(" in standalone and ".leaflet-container" in standalone
    # URLs: attribution links, and what Leaflet's own code holds (an XML namespace, its credit link)
    assert set(URL.findall(standalone)) <= ATTRIBUTION_LINKS | leaflet_file_urls()


def test_hostile_text_is_escaped(result: AnalysisResult, page: str, standalone: str) -> None:
    hostile = hostile_copy(result)
    options = MapOptions(tiles="none", title=f"Title {SCRIPT_PAYLOAD}{IMG_PAYLOAD}")
    for html, clean in (
        (render_page(hostile, options), page),
        (render_standalone(hostile, options), standalone),
    ):
        for payload in (IMG_PAYLOAD, SCRIPT_PAYLOAD, "<script>alert", "onerror=alert(1)>"):
            assert payload not in html
        # the data added no element: as many script tags as a clean page, each one closed
        assert html.lower().count("<script") == clean.lower().count("<script")
        assert html.lower().count("</script") == clean.lower().count("</script")
        # what the browser gets after decoding the JSON strings is escaped text
        assert "\\u0026lt;img src=x onerror=alert(1)\\u0026gt;" in html
        assert "\\u0026lt;/script\\u0026gt;\\u0026lt;script\\u0026gt;alert(1)" in html
        assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html  # <title> and the title box


def test_one_month_page_is_small(page: str, standalone: str) -> None:
    assert len(page.encode()) < MAX_PAGE_BYTES
    assert len(standalone.encode()) < MAX_PAGE_BYTES


def test_map_without_hotspots_renders(result: AnalysisResult) -> None:
    empty = dataclasses.replace(result, hotspots=result.hotspots.iloc[0:0])
    html = render_page(empty, MapOptions(tiles="none"))
    assert "Hotspots (none found)" in html and "Legend" in html


def test_class_breaks_quantiles_and_ties() -> None:
    breaks = class_breaks(np.arange(1, 101), 5)
    assert breaks.upper == [20, 40, 60, 80, 100]
    assert breaks.labels[0] == "1 to 20" and breaks.labels[-1] == "81 to 100"
    assert breaks.colour(1) == breaks.colours[0] and breaks.colour(100) == breaks.colours[-1]
    tied = class_breaks([0] * 50 + [3, 7, 9], 5)
    assert len(tied.upper) == len(set(tied.upper)) == len(tied.colours) == len(tied.labels)
    assert tied.labels[0] == "0"
    assert class_breaks([], 5).upper == [0.0]


def test_heat_surface_conserves_mass_and_peaks_at_the_point() -> None:
    x = np.full(40, 545_000.0)
    y = np.full(40, 185_000.0)
    surface = heat_surface(x, y, (540_000.0, 180_000.0, 550_000.0, 190_000.0), bandwidth_m=150)
    assert surface is not None
    rows, cols, bands = surface.rgba.shape
    assert bands == 4 and surface.rgba.dtype == np.uint8
    assert surface.rgba[0, 0, 3] == 0, "transparent where there is nothing"
    # 40 incidents under a 150 m Gaussian: peak density 40 / (2 pi 0.15^2 km2), about 283 per km2
    assert surface.peak_per_km2 == pytest.approx(40 / (2 * np.pi * 0.15**2), rel=0.15)
    (lat0, lon0), (lat1, lon1) = surface.bounds
    assert lat0 < 51.55 < lat1 and lon0 < 0.07 < lon1
    assert heat_surface(np.array([np.nan]), np.array([np.nan]), (0, 0, 1, 1)) is None


def test_heat_surface_is_fast_on_many_snapped_incidents() -> None:
    rng = np.random.default_rng(7)
    sites = np.column_stack([rng.uniform(540_000, 560_000, 6_000), rng.uniform(180_000, 195_000, 6_000)])
    pick = rng.integers(0, len(sites), 150_000)
    start = time.perf_counter()
    surface = heat_surface(sites[pick, 0], sites[pick, 1], (540_000, 180_000, 560_000, 195_000))
    elapsed = time.perf_counter() - start
    assert surface is not None
    assert elapsed < 1.0, f"{elapsed:.2f} s (target 0.3 s)"


def test_inline_assets_refuses_unknown_or_escaping_paths() -> None:
    with pytest.raises(AssetNotFound):
        inline_assets('<script src="/static/leaflet/../../../etc/passwd"></script>', "/static")
    with pytest.raises(AssetNotFound):
        inline_assets('<script src="/static/nothing/x.js"></script>', "/static")
    untouched = '<script src="/elsewhere/x.js"></script>'
    assert inline_assets(untouched, "/static") == untouched


def test_ward_tooltip_shows_rates_when_population_is_known(result: AnalysisResult) -> None:
    wards = result.wards.copy()
    wards["population"] = 10_000
    wards["rate_per_1000"] = (wards["count"] / 10).round(2)
    html = render_page(dataclasses.replace(result, wards=wards), MapOptions(tiles="none", heat=False))
    assert "Per 1,000 residents" in html and "(population 10,000)" in html
