"""Map pages: layers, legend, offline assets, escaping of hostile text, size."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from html import escape
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hotspots.boundaries import BoundarySet
from hotspots.errors import InvalidInput
from hotspots.geo.analysis import AnalysisParams, AnalysisResult, analyse
from hotspots.geo.stats.assessment import emerging_layer
from hotspots.geo.stats.emerging import NO_PATTERN
from hotspots.maps import (
    ASSET_DIRS,
    ATTRIBUTION_LINKS,
    BOROUGH_CLASS,
    EMERGING_CLASS,
    EMERGING_LAYER_NAME,
    EMERGING_STYLES,
    GI_CLASS,
    GI_COLOURS,
    GI_LAYER_NAME,
    GI_WORDS,
    HOTSPOT_CLASS,
    NO_POPULATION_CLASS,
    WARD_CLASS,
    AssetNotFound,
    MapOptions,
    class_breaks,
    heat_surface,
    inline_assets,
    render_page,
    render_standalone,
)
from hotspots.maps.statistics import time_profile_html, trend_text
from hotspots.maps.style import NO_POPULATION_FILL, OSM_TILES

URL = re.compile(r"https?://[^\s\"'<>\\)]+")
IMG_PAYLOAD = "<img src=x onerror=alert(1)>"
SCRIPT_PAYLOAD = "</script><script>alert(1)</script>"
MAX_PAGE_BYTES = 1_000_000
MAX_FULL_PAGE_BYTES = 2_000_000


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


def test_heat_surface_on_many_snapped_incidents_is_bounded() -> None:
    """150k incidents at 6,000 sites: a grid no larger than asked (its speed is in bench/kernels.py)."""
    rng = np.random.default_rng(7)
    sites = np.column_stack([rng.uniform(540_000, 560_000, 6_000), rng.uniform(180_000, 195_000, 6_000)])
    pick = rng.integers(0, len(sites), 150_000)
    surface = heat_surface(sites[pick, 0], sites[pick, 1], (540_000, 180_000, 560_000, 195_000))
    assert surface is not None
    rows, cols, _ = surface.rgba.shape
    assert max(rows, cols) <= 480
    assert (surface.rgba[..., 3] > 0).mean() > 0.5  # 6,000 sites over the extent: mostly covered


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


# --- statistics layers, rates and popups -------------------------------------------------------------

YEAR = [f"2020-{m:02d}" for m in range(1, 13)]


@pytest.fixture(scope="module")
def year(points: pd.DataFrame, boundary_sets: dict[str, BoundarySet]) -> AnalysisResult:
    """Twelve months (2020) of the tri-borough sample."""
    return analyse(points, boundary_sets, AnalysisParams(month_from="2020-01", month_to="2020-12"))


@pytest.fixture(scope="module")
def emerging_year(year: AnalysisResult) -> Any:
    return emerging_layer(year)


def geojson_layers(html: str) -> dict[str, list[dict[str, Any]]]:
    """The features embedded for each GeoJSON layer, by the layer's JavaScript variable."""
    found = re.finditer(r"^\s*(geo_json_[0-9a-f]+)_add\((\{.*\})\);$", html, re.MULTILINE)
    return {m.group(1): json.loads(m.group(2))["features"] for m in found}


def layer_with(html: str, key: str) -> tuple[str, list[dict[str, Any]]]:
    """The one layer whose features carry property ``key``: (JS variable, features)."""
    hits = [
        (name, feats)
        for name, feats in geojson_layers(html).items()
        if feats and key in feats[0]["properties"]
    ]
    assert len(hits) == 1, f"{len(hits)} layers with property {key!r}"
    return hits[0]


def has_layer_with(html: str, key: str) -> bool:
    return any(feats and key in feats[0]["properties"] for feats in geojson_layers(html).values())


def shown(html: str, variable: str) -> bool:
    """Whether a layer is on the map when the page opens (not only listed in the layer control)."""
    return f"{variable}.addTo(" in html


def legend_of(html: str) -> str:
    """The legend's HTML as the browser gets it (decoded from its JSON string)."""
    match = re.search(r'div\.innerHTML = ("(?:[^"\\]|\\.)*");', html)
    assert match, "no legend"
    text: str = json.loads(match.group(1))
    return text


def synthetic_cells(result: AnalysisResult, categories: list[str]) -> Any:
    """Emerging-style cells on the first hexagons of the Gi* grid, with the given categories."""
    cells = result.gi_grid.iloc[: len(categories)][["geometry"]].copy()
    cells["category"] = categories
    cells["trend_z"] = 1.25
    cells["trend_p"] = 0.21
    cells["n_months_hot"] = 3
    cells["n_months_cold"] = 0
    cells.attrs.update(months=YEAR, cell_size_m=result.gi_grid.attrs.get("cell_size_m"))
    return cells


def test_gi_layer_has_only_significant_cells_and_starts_off(page: str, result: AnalysisResult) -> None:
    variable, feats = layer_with(page, "bin")
    significant = result.gi_grid[result.gi_grid["gi_bin"] != 0]
    assert len(feats) == len(significant) > 0, "only significant cells are drawn"
    bins = {f["properties"]["bin"] for f in feats}
    assert 0 not in bins and bins == set(significant["gi_bin"].astype(int))
    assert not shown(page, variable), "the Gi* layer is off until ticked (there are hotspots)"
    assert f'"{GI_LAYER_NAME}" : {variable}' in page, "listed in the layer control"
    assert f'"className": "{GI_CLASS}"' in page
    props = feats[0]["properties"]
    assert {"label", "n", "z", "p"} <= set(props)
    assert "p (FDR-adjusted)" in page and "z-score" in page
    legend = legend_of(page)
    for b in bins:
        assert GI_WORDS[b] in legend and GI_COLOURS[b] in legend
    assert 'data-hs-layer="gi"' in legend and f'follow("gi", {variable})' in page
    assert EMERGING_LAYER_NAME not in page and EMERGING_CLASS not in page


def test_gi_layer_is_on_when_there_are_no_hotspots(result: AnalysisResult) -> None:
    empty = dataclasses.replace(result, hotspots=result.hotspots.iloc[0:0])
    html = render_page(empty, MapOptions(tiles="none", heat=False))
    variable, _ = layer_with(html, "bin")
    assert shown(html, variable)


def test_gi_layer_absent_when_turned_off_or_not_computed(result: AnalysisResult) -> None:
    off = render_page(result, MapOptions(tiles="none", heat=False, significance=False))
    assert not has_layer_with(off, "bin")
    assert GI_LAYER_NAME not in off and GI_CLASS not in off
    uncomputed = dataclasses.replace(result, gi_grid=result.gi_grid.iloc[0:0])
    html = render_page(uncomputed, MapOptions(tiles="none", heat=False))
    assert not has_layer_with(html, "bin") and GI_CLASS not in html


def test_gi_layer_without_significant_cells_says_so(result: AnalysisResult) -> None:
    grid = result.gi_grid.copy()
    grid["gi_bin"] = 0
    html = render_page(dataclasses.replace(result, gi_grid=grid), MapOptions(tiles="none", heat=False))
    assert not has_layer_with(html, "bin")
    assert f"{GI_LAYER_NAME}: no significant cells" in html
    assert "No cell is a significant hot or cold spot" in legend_of(html)


def test_emerging_layer_and_legend_list_only_present_categories(result: AnalysisResult) -> None:
    categories = (
        ["new hot spot"] * 3 + ["persistent hot spot"] * 2 + ["sporadic cold spot"] + [NO_PATTERN] * 4
    )
    html = render_page(result, MapOptions(tiles="none", heat=False), synthetic_cells(result, categories))
    variable, feats = layer_with(html, "cat")
    assert len(feats) == 6, "cells with no pattern are not drawn"
    assert not shown(html, variable), "the emerging layer is off until ticked"
    assert f'"{EMERGING_LAYER_NAME}" : {variable}' in html
    assert f'"className": "{EMERGING_CLASS}"' in html
    assert feats[0]["properties"]["hot"] == "hot in 3 of 12"
    assert feats[0]["properties"]["trend"] == "z = 1.25, p = 0.21 (Mann-Kendall)"
    legend = legend_of(html)
    present = {"new hot spot", "persistent hot spot", "sporadic cold spot"}
    for category, style in EMERGING_STYLES.items():
        _, _, meaning = style.meaning.partition(":")
        assert (meaning in legend) == (category in present), category
        assert (style.colour in legend) == (category in present), category
    assert "<b>New</b>: significant hot spot for the first time in the final month (3 cells)" in legend
    assert "(1 cell)" in legend and "over 12 months (2020-01 to 2020-12)" in legend
    assert 'data-hs-layer="emerging"' in legend


def test_emerging_layer_of_a_year_matches_the_cells(result: AnalysisResult, emerging_year: Any) -> None:
    html = render_page(result, MapOptions(tiles="none", heat=False), emerging_year)
    _, feats = layer_with(html, "cat")
    patterned = emerging_year[emerging_year["category"] != NO_PATTERN]
    assert len(feats) == len(patterned) > 0
    legend = legend_of(html)
    for category, n in patterned["category"].value_counts().items():
        assert f"{n:,} cell" in legend
        assert EMERGING_STYLES[str(category)].meaning.partition(":")[2] in legend
    # coordinates rounded to 5 decimals: about a metre
    ring = feats[0]["geometry"]["coordinates"][0]
    assert all(len(str(c).split(".")[-1]) <= 5 for point in ring for c in point)


def test_rate_mode_marks_wards_without_population(result: AnalysisResult) -> None:
    wards = result.wards.copy()
    target = wards.index[0]
    name = str(wards.at[target, "ward_name"])
    wards.loc[target, ["population", "rate_per_1000"]] = np.nan
    partial = dataclasses.replace(result, wards=wards)
    html = render_page(partial, MapOptions(tiles="none", heat=False, measure="rate"))
    _, feats = layer_with(html, "ward")
    props = {f["properties"]["ward"]: f["properties"] for f in feats}
    unknown = props[escape(name)]
    assert unknown["rate"] == "population unknown"
    assert unknown["nopop"] is True and unknown["fill"] == NO_POPULATION_FILL
    for ward, p in props.items():
        if ward != escape(name):
            assert not p["nopop"] and re.match(r"^[\d,]+\.\d\d \(population [\d,]+\)$", p["rate"]), p
    assert f'"className": "{WARD_CLASS} {NO_POPULATION_CLASS}"' in html
    assert "0.0 per 1,000" not in html and not unknown["rate"][0].isdigit()
    assert 'id="hs-hatch"' in html and f"path.{NO_POPULATION_CLASS}" in html
    legend = legend_of(html)
    assert "Wards: incidents per 1,000 residents" in legend
    assert "population unknown (1 ward): no rate" in legend
    source = result.meta["population_sources"]["wards-2018"]
    assert "2020" in source  # the year of the estimates
    assert f"Population: {escape(source)}" in legend
    assert "Wards: incidents per 1,000 residents" in html  # layer name
    # rate classes: the colours follow the rates, not the counts
    rates = wards["rate_per_1000"].dropna().to_numpy(dtype=float)
    breaks = class_breaks(rates, 5)
    assert all(label in legend for label in breaks.labels)
    # count mode: the same ward is shaded by its count and still says "population unknown"
    counted = render_page(partial, MapOptions(tiles="none", heat=False))
    _, feats = layer_with(counted, "ward")
    p = next(f["properties"] for f in feats if f["properties"]["ward"] == escape(name))
    assert p["rate"] == "population unknown" and p["nopop"] is False and p["fill"] != NO_POPULATION_FILL
    assert NO_POPULATION_CLASS not in re.sub(r"\.hs-nopop", "", counted).replace("hs-nopop {", "")


def test_ward_tooltip_has_count_rate_and_gi(page: str, result: AnalysisResult) -> None:
    _, feats = layer_with(page, "ward")
    assert len(feats) == len(result.wards)
    labels = {escape(str(v)) for v in result.wards["gi_label"]}
    assert {f["properties"]["gi"] for f in feats} <= labels
    assert all(f["properties"]["rate"] for f in feats)
    assert '"Gi* (wards)"' in page and '"Per 1,000 residents"' in page


def test_measure_is_validated() -> None:
    with pytest.raises(InvalidInput):
        MapOptions(measure="density").validate()  # type: ignore[arg-type]


def test_hostile_labels_and_categories_are_escaped(
    result: AnalysisResult, page: str, standalone: str
) -> None:
    grid = result.gi_grid.copy()
    significant = grid.index[grid["gi_bin"] != 0]
    grid.loc[significant[0], "label"] = IMG_PAYLOAD
    grid.loc[significant[1], "label"] = SCRIPT_PAYLOAD
    wards = result.wards.copy()
    wards.loc[wards.index[0], "gi_label"] = SCRIPT_PAYLOAD
    hotspots = result.hotspots.copy()
    hotspots.at[hotspots.index[0], "time_profile"] = {"available": False, "reason": SCRIPT_PAYLOAD}
    hotspots.at[hotspots.index[1], "trend"] = IMG_PAYLOAD
    meta = copy.deepcopy(result.meta)
    meta["gi_star"] = {**meta["gi_star"], "multiple_testing": IMG_PAYLOAD}
    meta["population_sources"] = {"wards-2018": SCRIPT_PAYLOAD}
    hostile = dataclasses.replace(result, gi_grid=grid, wards=wards, hotspots=hotspots, meta=meta)
    cells = synthetic_cells(result, [IMG_PAYLOAD, SCRIPT_PAYLOAD, "new hot spot"])
    cells.attrs["months"] = [SCRIPT_PAYLOAD]
    options = MapOptions(tiles="none", measure="rate")
    for html, clean in (
        (render_page(hostile, options, cells), page),
        (render_standalone(hostile, options, cells), standalone),
    ):
        for payload in (IMG_PAYLOAD, SCRIPT_PAYLOAD, "<script>alert", "onerror=alert(1)>"):
            assert payload not in html
        assert html.lower().count("<script") == clean.lower().count("<script")
        assert html.lower().count("</script") == clean.lower().count("</script")
        legend = legend_of(html)
        assert "<b>&lt;img src=x onerror=alert(1)&gt;</b>: category without a description" in legend
        assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in legend
        _, cats = layer_with(html, "cat")
        assert {f["properties"]["category"] for f in cats} == {
            escape(IMG_PAYLOAD),
            escape(SCRIPT_PAYLOAD),
            "New hot spot",
        }
        _, gi = layer_with(html, "bin")
        assert {escape(IMG_PAYLOAD), escape(SCRIPT_PAYLOAD)} <= {f["properties"]["label"] for f in gi}
        _, hot = layer_with(html, "hotspot")
        assert hot[0]["properties"]["profile"] == f"<i>{escape(SCRIPT_PAYLOAD)}</i>"
        assert hot[1]["properties"]["trend"] == "n/a"


def test_hotspot_popup_has_pai_gi_share_trend_and_time_profile(year: AnalysisResult) -> None:
    html = render_page(year, MapOptions(tiles="none", heat=False, significance=False))
    _, feats = layer_with(html, "hotspot")
    assert len(feats) == len(year.hotspots)
    for feature, row in zip(feats, year.hotspots.to_dict("records"), strict=True):
        props = feature["properties"]
        if row["extends_outside_area"] and not row["share_of_area"]:  # wholly outside the boroughs
            assert props["pai"] == "n/a (outside the study area)"
            assert props["hot_share"] == "not tested (outside the study area)"
            assert "outside the study area" in props["incidents"]
        else:
            assert props["pai"].endswith("(share of incidents / share of area)")
            assert props["hot_share"].endswith("of its area in significant hot cells (Gi*, 90%+)")
            assert "of located incidents in the study area" in props["incidents"]
        assert props["trend"] == trend_text(row["trend"], row["trend_p"], row["slope_per_month"])
        # police.uk: month only, so the profile is the reason, in italics
        assert props["profile"].startswith("<i>") and "police.uk" in props["profile"]
    trends = [f["properties"]["trend"] for f in feats]
    assert any(
        re.match(r"^(rising|falling) by about [\d.]+ incidents? a month \(Mann-Kendall p", t) for t in trends
    )
    assert any(t.startswith("no clear trend (Mann-Kendall p = ") for t in trends)
    for alias in ('"Gi*"', '"Trend"', '"When"', '"PAI"'):
        assert alias in html


def test_one_month_trend_is_too_short(page: str) -> None:
    _, feats = layer_with(page, "hotspot")
    assert {f["properties"]["trend"] for f in feats} == {"too few months to test"}


def test_trend_in_words() -> None:
    assert (
        trend_text("increasing", 0.010985, 1.3333)
        == "rising by about 1.3 incidents a month (Mann-Kendall p = 0.011)"
    )
    assert (
        trend_text("decreasing", 0.0004, -12.4)
        == "falling by about 12 incidents a month (Mann-Kendall p &lt; 0.001)"
    )
    assert (
        trend_text("increasing", 0.02, 1.0) == "rising by about 1.0 incident a month (Mann-Kendall p = 0.02)"
    )
    assert trend_text("increasing", 0.03, 0.0).startswith("rising, by less than 0.1 incidents a month")
    assert trend_text("no trend", 0.3025, 2.0) == "no clear trend (Mann-Kendall p = 0.3)"
    assert trend_text("too short", None, None) == "too few months to test"
    assert trend_text(None, None, None) == "n/a"


def test_time_profile_bars_are_plain_html() -> None:
    from hotspots.geo.stats.trend import time_profile

    stamps = pd.Series(pd.date_range("2023-01-02 00:30", periods=24 * 7 * 2, freq="h"))
    bars = time_profile_html(time_profile(stamps))
    assert bars.count('<div class="hs-bars hs-bars-h">') == 1
    assert bars.count('<div class="hs-bars hs-bars-d">') == 1
    assert bars.count('<i style="height:') == 24 + 7
    assert 'title="00: 14"' in bars and 'title="Monday: 48"' in bars
    assert "<span>Mon</span>" in bars and "<span>18</span>" in bars
    assert "<script" not in bars
    dates_only = time_profile(pd.Series(pd.date_range("2023-01-02", periods=30, freq="D")))
    html = time_profile_html(dates_only)
    assert "Hour of day: <i>" in html and html.count('<i style="height:') == 7
    assert time_profile_html({"available": False, "reason": "month only"}) == "<i>month only</i>"
    assert time_profile_html(None) == "<i>not available</i>"


def test_full_pages_stay_under_two_megabytes(
    result: AnalysisResult, year: AnalysisResult, emerging_year: Any
) -> None:
    """One month and twelve months, every layer on: Gi*, emerging (12 months), rates, heat."""
    full = MapOptions(tiles="none", measure="rate", significance=True, heat=True)
    for res, cells in ((result, emerging_layer(result)), (result, emerging_year), (year, emerging_year)):
        page_html = render_page(res, full, cells)
        assert has_layer_with(page_html, "cat") and has_layer_with(page_html, "bin")
        assert len(page_html.encode()) < MAX_FULL_PAGE_BYTES
        assert len(render_standalone(res, full, cells).encode()) < MAX_FULL_PAGE_BYTES


def test_counts_withheld_by_disclosure_control_render_as_fewer_than_k(result: AnalysisResult) -> None:
    """A result whose small counts were suppressed (None) renders them as "fewer than k", not 0."""
    wards = result.wards.copy()
    wards["count"] = wards["count"].astype(object)
    wards["rate_per_1000"] = wards["rate_per_1000"].astype(object)
    small = wards.index[:2]
    wards.loc[small, ["count", "rate_per_1000"]] = None
    hotspots = result.hotspots.copy()
    first = hotspots.index[0]
    hotspots["count"] = hotspots["count"].astype(object)
    hotspots.at[first, "count"] = None
    hotspots.at[first, "top_categories"] = [{"crime_type": "Robbery", "count": None}]
    profile = {
        "available": True,
        "reason": None,
        "hours": {"available": False, "reason": "dates only", "labels": [], "counts": None},
        "weekdays": {
            "available": True,
            "reason": None,
            "labels": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
            "counts": [None, 12, 0, 7, None, 30, 9],
        },
    }
    hotspots.at[first, "time_profile"] = profile
    grid = result.gi_grid.copy()
    grid["count"] = grid["count"].astype(object)
    grid.loc[grid.index[grid["gi_bin"] != 0][0], "count"] = None
    meta = copy.deepcopy(result.meta)
    meta["incidents_outside_area"] = None
    meta["disclosure"] = {"k": 5, "rule": "Counts from 1 to 4 are suppressed", "suppressed": True}
    suppressed = dataclasses.replace(result, wards=wards, hotspots=hotspots, gi_grid=grid, meta=meta)
    html = render_page(suppressed, MapOptions(tiles="none", heat=False, measure="rate"))
    _, feats = layer_with(html, "ward")
    props = {f["id"]: f["properties"] for f in feats}
    for i in (0, 1):
        assert props[i]["incidents"] == "fewer than 5"
        assert props[i]["rate"] == "withheld (fewer than 5 incidents)"
        assert props[i]["nopop"] is True
    _, hot = layer_with(html, "hotspot")
    first_props = next(f["properties"] for f in hot if f["id"] == int(hotspots.at[first, "hotspot_id"]))
    assert first_props["incidents"].startswith("fewer than 5 (")
    assert first_props["categories"] == "Robbery (fewer than 5)"
    assert first_props["profile"].count('class="hs-sup"') == 2
    assert 'title="Monday: fewer than 5"' in first_props["profile"]
    _, gi = layer_with(html, "bin")
    assert "fewer than 5" in {f["properties"]["n"] for f in gi}
    legend = legend_of(html)
    assert "rate withheld: fewer than 5 incidents (2 wards)" in legend
    assert "Disclosure control: Counts from 1 to 4 are suppressed" in legend
    assert "fewer than 5 outside the boundaries" in legend
