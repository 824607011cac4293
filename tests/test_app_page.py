"""The app page, briefings, slide PNG and compare view through the HTTP API (no browser)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from hotspots.api.app import create_app
from hotspots.boundaries import shipped_boundary_sets
from hotspots.maps import EMERGING_LAYER_NAME, GI_LAYER_NAME, class_breaks
from hotspots.maps.compare import change_breaks, change_colour
from hotspots.maps.fmt import distinct_names
from hotspots.maps.panel import method_in_words
from hotspots.settings import Settings
from tests.planting import border_point, planted_incidents

BD, REDBRIDGE = "E09000002", "E09000026"
YEAR = {"from": "2020-01", "to": "2020-12", "dataset": "tri-borough-2018-2020"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("app") / "var", tiles="none")
    with TestClient(create_app(settings)) as c:
        _, secret = c.app.state.service.security.create_key("tests-police", "police")  # type: ignore[attr-defined]
        c.headers.update({"X-API-Key": secret})
        yield c


@pytest.fixture(scope="module")
def planted(client: TestClient) -> str:
    """A dataset with one dense cluster planted across the Barking and Dagenham / Redbridge border."""
    bset = shipped_boundary_sets()["wards-2022"]
    frame, _ = planted_incidents(
        [border_point(bset, BD, REDBRIDGE)],
        per_cluster=60,
        spread_m=25,
        background=200,
        area=bset.outline,
        seed=11,
        month="2024-03",
    )
    files = {"files": ("planted.csv", frame.to_csv(index=False).encode(), "text/csv")}
    admin = client.app.state.service.security.create_key("tests-admin-app", "admin")[1]  # type: ignore[attr-defined]
    r = client.post("/datasets", data={"name": "app-planted"}, files=files, headers={"X-API-Key": admin})
    assert r.status_code == 201, r.text
    return "app-planted"


def ranks(page: str) -> list[int]:
    return [int(r) for r in re.findall(r'<tr id="hs-row-(\d+)"', page)]


def test_app_page_table_matches_the_hotspots(client: TestClient) -> None:
    page = client.get("/app", params=YEAR)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    hotspots = client.get("/hotspots", params={**YEAR}).json()["hotspots"]
    assert ranks(html) == [h["hotspot_id"] for h in hotspots]
    assert f"{len(hotspots)} of {len(hotspots)} hotspots" in html
    assert "DBSCAN (fixed radius): radius 100 m, at least" in html and "(chosen from the data)" in html
    # The map is embedded, with the page's own script and the Leaflet assets from our server only.
    assert 'id="hs-config"' in html and "/static/app/app.js" in html
    assert "/static/leaflet/leaflet.js" in html
    assert not re.search(r'(src|href)="https?://', html)
    # Filters offer the data's months, crime types and boroughs, with the period selected.
    assert '<option value="2020-01" selected>' in html and '<option value="2018-02"' in html
    assert 'name="category" value="Robbery"' in html
    assert 'name="borough" value="Havering"' in html


def test_default_period_is_the_latest_twelve_months(client: TestClient) -> None:
    html = client.get("/app", params={"dataset": "tri-borough-2018-2020"}).text
    assert '<option value="2020-01" selected>' in html and '<option value="2020-12" selected>' in html
    assert "2020-01 to 2020-12" in html


def test_app_opens_on_the_newest_data_with_violence_and_says_what_each_holds(client: TestClient) -> None:
    """The API's default stays the 2018-2020 sample; the app opens on the newest data with violence."""
    assert client.get("/hotspots").json()["dataset"].startswith("tri-borough-2018-2020")
    html = client.get("/app").text
    assert "Data: tri-borough-2022@1" in html
    assert '<option value="tri-borough-2022" selected>' in html
    assert "2022-01 to 2022-09 (9 months)" in html
    assert 'value="Violence and sexual offences"' in html
    assert "no anti-social behaviour" in html  # what it lacks
    older = client.get("/app", params={"dataset": "bd-havering-2016-2018"}).text
    assert 'value="Anti-social behaviour"' in older and 'value="Violence and sexual offences"' in older
    assert "Missing months (no data, not zero)" not in older  # each borough misses one, not both
    assert "no Redbridge" in older
    sample = client.get("/app", params={"dataset": "tri-borough-2018-2020"}).text
    assert "no violence and sexual offences" in sample


def test_a_period_outside_the_data_is_cut_to_fit(client: TestClient) -> None:
    html = client.get("/app", params={"dataset": "tri-borough-2018-2020", "from": "2020-06", "to": "2024-01"})
    assert html.status_code == 200
    assert "was cut to fit" in html.text and '<option value="2020-12" selected>' in html.text
    assert 'name="borough" value="Havering"' in html.text  # the district list is kept


def test_borough_filter_keeps_cross_border_hotspots_whole(client: TestClient, planted: str) -> None:
    q = {"dataset": planted, "eps_m": 60, "min_samples": 12}
    hs = client.get("/hotspots", params=q).json()["hotspots"]
    assert len(hs) == 1 and hs[0]["cross_border"]
    for borough in ("Barking and Dagenham", "Redbridge"):
        html = client.get("/app", params={**q, "borough": borough}).text
        assert ranks(html) == [1], borough
        assert "cross-border" in html
    html = client.get("/app", params={**q, "borough": "Havering"}).text
    assert ranks(html) == [] and "No hotspot with these filters" in html


def test_filters_change_the_table(client: TestClient) -> None:
    all_types = ranks(client.get("/app", params=YEAR).text)
    robbery = client.get("/app", params={**YEAR, "category": "Robbery", "eps_m": 150, "min_samples": 10}).text
    assert ranks(robbery) and ranks(robbery) != all_types
    assert "DBSCAN (fixed radius): radius 150 m, at least 10 incidents within it;" in robbery
    assert 'value="Robbery" checked' in robbery


def test_bad_filters_are_shown_in_the_page(client: TestClient) -> None:
    r = client.get("/app", params={"from": "2020-06", "to": "2020-01", "dataset": "tri-borough-2018-2020"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "is after" in r.text and 'role="alert"' in r.text
    hostile = client.get("/app", params={**YEAR, "category": "<script>alert(1)</script>"})
    assert hostile.status_code == 422
    assert "<script>alert(1)" not in hostile.text and "&lt;script&gt;" in hostile.text
    assert client.get("/app", params={"layer": "lasers"}).status_code == 422


def test_hotspot_briefing_html_and_pdf(client: TestClient) -> None:
    html = client.get("/app/briefing", params={**YEAR, "hotspot": 2}).text
    assert "<h1>Patrol briefing: hotspot #2</h1>" in html
    for words in ("Where", "What", "How much", "When", "Trend", "PAI", "British National Grid"):
        assert words in html
    assert html.count("data:image/png;base64,") == 2  # map snapshot and monthly chart, embedded
    assert "@page" in html and "@media print" in html
    pdf = client.get("/app/briefing.pdf", params={**YEAR, "hotspot": 2})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content[:5] == b"%PDF-" and len(pdf.content) > 20_000
    assert 'filename="briefing-hotspot-2.pdf"' in pdf.headers["content-disposition"]


def test_borough_briefing_and_errors(client: TestClient) -> None:
    html = client.get("/app/briefing", params={**YEAR, "borough": "Havering"}).text
    assert "<h1>Patrol briefing: Havering</h1>" in html
    cards = re.findall(r"<h2>Hotspot #(\d+)", html)
    assert cards and len(cards) <= 12
    assert client.get("/app/briefing", params={**YEAR, "borough": "Atlantis"}).status_code == 404
    assert client.get("/app/briefing", params={**YEAR, "hotspot": 99999}).status_code == 404
    assert client.get("/app/briefing", params=YEAR).status_code == 422
    assert (
        client.get("/app/briefing", params={**YEAR, "hotspot": 1, "borough": "Havering"}).status_code == 422
    )


def test_map_png_is_a_slide(client: TestClient) -> None:
    r = client.get("/app/map.png", params={**YEAR, "measure": "rate", "breaks": "natural"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(r.content))
    width, height = image.size
    assert width >= 1200 and 1.4 < width / height < 2.2
    colours = {c for _, c in image.convert("RGB").getcolors(maxcolors=1_000_000) or []}
    assert (255, 255, 178) in colours or (189, 0, 38) in colours  # ColorBrewer YlOrRd classes drawn


def test_compare_view(client: TestClient) -> None:
    q = {"a_from": "2019-01", "a_to": "2019-12", "b_from": "2020-01", "b_to": "2020-12"}
    html = client.get("/app/compare", params=q).text
    assert re.search(r"\d+ new, \d+ persistent and \d+ gone hotspots", html)
    assert "about the same" in html and "hs-change" in html
    default = client.get("/app/compare").text  # latest 12 months against the 12 before
    assert '<option value="2019-01" selected>' in default and '<option value="2020-12" selected>' in default
    bad = client.get("/app/compare", params={**q, "a_from": "2019-12", "a_to": "2019-01"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text


def test_natural_breaks_separate_groups_that_quantiles_split() -> None:
    values = np.array([1, 2, 2, 3, 3, 3, 4, 50, 52, 55, 300, 310])
    natural = class_breaks(values, 3, "natural")
    quantile = class_breaks(values, 3, "quantile")
    assert natural.upper == [4.0, 55.0, 310.0]
    assert quantile.upper != natural.upper


def test_change_palette_is_symmetric_and_diverging() -> None:
    bounds = change_breaks(np.array([-90.0, 0.0, 30.0, 60.0]))
    assert bounds == [-60.5, -30.5, -0.5, 0.5, 30.5, 60.5]
    assert change_colour(0.0, bounds) == "#f7f7f7" and change_colour(0.4, bounds) == "#f7f7f7"
    assert change_colour(30.0, bounds) == "#fddbc7" and change_colour(31.0, bounds) == "#ef8a62"
    assert change_colour(100.0, bounds) == "#b2182b" and change_colour(-100.0, bounds) == "#2166ac"
    assert change_colour(float("nan"), bounds) == "#cccccc"


def test_method_in_words() -> None:
    given = {"method": "dbscan", "eps_m": 150.0, "min_samples": 20, "min_samples_rule": None}
    assert method_in_words(given) == (
        "DBSCAN (fixed radius): radius 150 m, at least 20 incidents within it; ranked by number of incidents"
    )
    chosen = {**given, "min_samples_rule": "6 x incidents expected"}
    assert "(chosen from the data)" in method_in_words(chosen)
    hdb = {"method": "hdbscan", "min_cluster_size": 15, "weight": "count"}
    assert method_in_words(hdb) == (
        "HDBSCAN (varying density): each hotspot at least 15 incidents; ranked by number of incidents"
    )
    harm = {"method": "hdbscan", "min_cluster_size": 15, "min_samples": 300, "weight": "harm"}
    assert "HDBSCAN" in method_in_words(harm) and "ranked by harm" in method_in_words(harm)
    assert "DBSCAN (fixed radius)" not in method_in_words(harm)


def test_browsers_sign_in_with_a_cookie_that_only_reads(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", tiles="none", auth_required=True)
    with TestClient(create_app(settings)) as c:
        security = c.app.state.service.security  # type: ignore[attr-defined]
        _, police = security.create_key("pc-browser", "police")
        _, admin = security.create_key("admin-browser", "admin")
        first = c.get("/app", params=YEAR, follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"].startswith("/app/login?next=%2Fapp%3Ffrom%3D2020-01")
        form = c.get(first.headers["location"])
        assert form.status_code == 200 and 'name="key" type="password"' in form.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        wrong = c.post(
            "/app/login", data={"key": "hs_not-a-key", "next": "/app", "csrf": csrf}, follow_redirects=False
        )
        assert wrong.status_code == 401 and "not valid" in wrong.text
        offsite = c.post(
            "/app/login",
            data={"key": police, "next": "https://evil.example/", "csrf": csrf},
            follow_redirects=False,
        )
        assert offsite.status_code == 303 and offsite.headers["location"] == "/app"
        cookie = next(
            h for h in offsite.headers.get_list("set-cookie") if h.startswith("hotspots_key=")
        ).lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        page = c.get("/app", params=YEAR)  # the cookie now stands for the key
        assert page.status_code == 200 and "Sign out" in page.text and ranks(page.text)
        assert c.get("/app/briefing", params={**YEAR, "hotspot": 1}).status_code == 200
        assert any(e["action"] == "sign-in" for e in security.audit_log())
        # Reads only: an admin's cookie cannot make the browser upload or delete.
        c.post("/app/login", data={"key": admin, "next": "/app", "csrf": csrf})
        assert c.delete("/datasets/bd-2023-01").status_code == 401
        assert c.delete("/datasets/bd-2023-01", headers={"X-API-Key": admin}).status_code == 200
        # Page errors are pages; signing out forgets the key.
        missing = c.get("/app/briefing", params={**YEAR, "hotspot": 99999})
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
        c.post("/app/logout", data={"csrf": csrf})
        assert c.get("/app", params=YEAR, follow_redirects=False).status_code == 303


def test_base_map_can_be_switched_off(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", tiles="openstreetmap")
    with TestClient(create_app(settings)) as c:
        with_tiles = c.get("/app", params=YEAR).text
        assert "tile.openstreetmap.org" in with_tiles and "openstreetmap.org/copyright" in with_tiles
        without = c.get("/app", params={**YEAR, "tiles": "none"}).text
        assert "tile.openstreetmap.org" not in without
        assert '"hs-label-icon"' in without  # borough names still label the map
        assert '<option value="none" selected>' in without


def test_ward_measure_and_optional_layers_follow_the_form(client: TestClient) -> None:
    counts = client.get("/app", params=YEAR).text
    assert "Wards: incidents" in counts and "incidents per 1,000 residents" not in counts
    assert GI_LAYER_NAME in counts and EMERGING_LAYER_NAME not in counts  # in the layer list
    assert 'value="heat" checked' not in counts and 'value="significance" checked' not in counts  # off
    rates = client.get(
        "/app", params={**YEAR, "measure": "rate", "layer": ["emerging"], "layers_set": "true"}
    ).text
    assert "Wards: incidents per 1,000 residents" in rates
    assert EMERGING_LAYER_NAME in rates and 'value="heat" checked' not in rates
    assert 'value="rate" checked' in rates and 'value="emerging" checked' in rates


def _texts(html: str) -> str:
    """The text a browser shows for ``html`` (entities decoded once, tags dropped)."""
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    parser = Text()
    parser.feed(html)
    return "".join(parser.parts)


def test_tiny_shares_are_escaped_once(client: TestClient, planted: str) -> None:
    """A share under 0.01% reads "<0.01%" in the page and the briefing, never "&lt;0.01%"."""
    q = {"dataset": planted, "eps_m": 60, "min_samples": 12}
    for path, extra in (("/app", {}), ("/app/briefing", {"hotspot": 1})):
        html = client.get(path, params={**q, **extra}).text
        assert "&amp;lt;" not in html, path
        text = _texts(html)
        assert "<0.01% of the area" in text, path
        assert "&lt;" not in text, path


def test_map_png_legend_names_withheld_wards(client: TestClient) -> None:
    """For a viewer, wards with 1 to k-1 incidents are hatched and have their own legend entry."""
    from hotspots.geo.analysis import AnalysisParams
    from hotspots.maps.static_map import map_figure

    service = client.app.state.service  # type: ignore[attr-defined]
    params = AnalysisParams(crime_types=("Robbery",))
    _, viewer = service.analyse("bd-2023-01", params, view=service.disclosure_for("viewer"))
    counts = viewer.wards["count"]
    assert counts.isna().any(), "the viewer's ward counts of this filter have withheld small counts"
    for measure in ("count", "rate"):
        fig = map_figure(viewer, measure=measure)
        labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        withheld = [label for label in labels if label.startswith("fewer than 5 incidents: not shown")]
        assert len(withheld) == 1, labels
    _, police = service.analyse("bd-2023-01", params, view=service.disclosure_for("police"))
    labels = [t.get_text() for t in map_figure(police).axes[0].get_legend().get_texts()]
    assert not any("fewer than" in label for label in labels)
    r = client.get("/app/map.png", params={"dataset": "bd-2023-01", "category": "Robbery"})
    assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"


# --- slides and briefings (issue 14, points 9 and 11) ---------------------------------------------


def test_map_png_is_16_9_and_its_title_names_the_filters(client: TestClient) -> None:
    from hotspots.api.routes.app_page import slide_title
    from hotspots.geo.analysis import AnalysisParams

    q = {**YEAR, "category": ["Robbery", "Burglary"], "borough": "Havering", "measure": "rate"}
    r = client.get("/app/map.png", params=q)
    assert r.status_code == 200
    width, height = Image.open(io.BytesIO(r.content)).size
    assert (width, height) == (1600, 900) and width * 9 == height * 16
    meta = {"month_from": "2020-01", "month_to": "2020-12", "eps_m": 100, "min_samples": 9}
    params = AnalysisParams(crime_types=("Robbery", "Burglary"), weight="harm")
    title = slide_title(meta, params, ["Havering"], "rate", "tri@1")
    for words in ("2020-01 to 2020-12", "Robbery, Burglary", "Havering", "harm", "rate per 1,000", "tri@1"):
        assert words in title, (words, title)
    assert "all crime types" in slide_title(meta, AnalysisParams(), [], "count", "tri@1")


def _pages(html: str) -> int:
    import weasyprint

    offline = weasyprint.URLFetcher(allowed_protocols={"data"})
    return len(weasyprint.HTML(string=html, url_fetcher=offline).render().pages)


def test_hotspot_briefing_is_one_page_and_borough_briefing_one_page_per_hotspot(client: TestClient) -> None:
    one = client.get("/app/briefing", params={**YEAR, "hotspot": 1}).text
    assert _pages(one) == 1
    borough = client.get("/app/briefing", params={**YEAR, "borough": "Havering"}).text
    cards = len(re.findall(r"<h2>Hotspot #(\d+)", borough))
    assert cards >= 2 and _pages(borough) == 1 + cards  # the overview, then a page per hotspot
    assert borough.count("Street-scale map of hotspot") == cards


def _text_boxes(fig: object, gid: str) -> list[object]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()  # type: ignore[arg-type]
    return [t.get_window_extent(renderer) for t in fig.findobj(lambda a: a.get_gid() == gid)]  # type: ignore[attr-defined]


def test_focus_map_outlines_the_hotspot_and_ward_labels_do_not_overlap(client: TestClient) -> None:
    from hotspots.maps.static_map import focus_figure, overlaps

    service = client.app.state.service  # type: ignore[attr-defined]
    _, result = service.analyse(None, _year_params())
    hot = result.hotspots
    first = hot[hot["hotspot_id"] == 1].geometry.iloc[0]
    fig = focus_figure(result, first, highlight=1)
    outline = fig.findobj(lambda a: a.get_gid() == "hotspot-outline")
    assert len(outline) == 1 and outline[0].get_linewidth()[0] >= 2.5  # type: ignore[attr-defined]
    xmin, xmax = fig.axes[0].get_xlim()
    assert 800 <= xmax - xmin <= 2500  # street scale
    borough = result.boroughs[result.boroughs["borough_name"] == "Havering"].geometry.iloc[0]
    overview = focus_figure(result, borough, pad_m=300, min_width_m=0, dots=False)
    for figure in (fig, overview):
        wards = _text_boxes(figure, "ward-label")
        labels = wards + _text_boxes(figure, "hotspot-label")
        assert len(wards) >= 2 and not overlaps(labels)  # type: ignore[arg-type]
    # The whole borough is in view (nothing cut at any edge).
    x0, x1 = overview.axes[0].get_xlim()
    y0, y1 = overview.axes[0].get_ylim()
    bx0, by0, bx1, by1 = borough.bounds
    assert x0 < bx0 and x1 > bx1 and y0 < by0 and y1 > by1
    assert not _dots(overview)  # no incident dots at borough scale
    own = focus_figure(result, borough, pad_m=300, min_width_m=0, dots=False, numbered={1})
    assert len(_text_boxes(own, "hotspot-label")) <= 1  # only the borough's own hotspots numbered
    assert _dots(fig)  # at street scale, for an exact view
    _, protected = service.analyse(None, _year_params(), view=service.disclosure_for("viewer"))
    assert not _dots(focus_figure(protected, first, highlight=1))  # never for a protected view


def _dots(fig: object) -> bool:
    from matplotlib.collections import PathCollection

    return any(type(c) is PathCollection for c in fig.axes[0].collections)  # type: ignore[attr-defined]


def test_monthly_chart_labels_do_not_run_together() -> None:
    from hotspots.maps.static_map import monthly_figure, overlaps

    for n in (3, 12, 36, 60):
        months = {f"{2018 + i // 12}-{i % 12 + 1:02d}": float(i % 7) for i in range(n)}
        fig = monthly_figure(months)
        boxes = [t.get_window_extent() for t in fig.axes[0].get_xticklabels() if t.get_text()]
        assert len(boxes) >= min(n, 5) and not overlaps(boxes), n
        assert "Jan\n2018" in [t.get_text() for t in fig.axes[0].get_xticklabels()]


def _year_params() -> object:
    from hotspots.geo.analysis import AnalysisParams

    return AnalysisParams(month_from="2020-01", month_to="2020-12")


# --- compare (issue 14, point 12) -------------------------------------------------------------------


def test_compare_class_limits_are_not_shared() -> None:
    from hotspots.maps.compare import _class_labels

    labels = _class_labels(change_breaks(np.array([-90.0, 0.0, 30.0, 60.0])))
    assert labels == [
        "-61 or fewer", "-60 to -31", "-30 to -1", "about the same", "+1 to +30", "+31 to +60", "+61 or more",
    ]  # fmt: skip
    limits = [int(n) for label in labels for n in re.findall(r"[-+]?\d+", label)]
    assert len(limits) == len(set(limits))  # no limit appears in two classes
    small = _class_labels(change_breaks(np.array([-2.0, 1.0])))
    assert small[:3] == ["-3 or fewer", "-2", "-1"]


def test_compare_keeps_the_crime_type_filter_and_formats_numbers(client: TestClient) -> None:
    q = {"a_from": "2019-01", "a_to": "2019-12", "b_from": "2020-01", "b_to": "2020-12"}
    everything = client.get("/app/compare", params=q).text
    status = re.search(r'id="hs-status"[^>]*>(.*?)</p>', everything, re.S)
    assert status and re.search(r"\(\d{1,3}(,\d{3})+ incidents\)", status.group(1)), status
    assert not re.search(r"\b\d{4,}\b incidents", status.group(1))  # "51,610", never "51610"
    cells = re.findall(r'<td class="hs-num">([^<]*)</td>', everything)
    assert cells and all(re.fullmatch(r"[-+]?\d{1,3}(,\d{3})*|fewer than \d+|n/a", c) for c in cells)
    robbery = client.get("/app/compare", params={**q, "category": "Robbery", "eps_m": "120"}).text
    assert 'name="category" value="Robbery" checked' in robbery
    assert 'name="category" value="Burglary">' in robbery  # offered, not ticked
    assert '<input type="hidden" name="eps_m" value="120">' in robbery  # the app's other filters kept
    assert "Robbery only" in robbery

    def incidents(page: str) -> int:
        found = re.search(r"Period A [^(]*\(([\d,]+) incidents\)", page)
        assert found
        return int(found.group(1).replace(",", ""))

    assert incidents(robbery) < incidents(everything)
    back = re.search(r'href="(/app\?[^"]*)">Back to the map', robbery)
    assert back and "category=Robbery" in back.group(1) and "eps_m=120" in back.group(1)


def test_app_links_to_compare_with_its_filters(client: TestClient) -> None:
    html = client.get("/app", params={**YEAR, "category": "Robbery", "eps_m": "120"}).text
    link = re.search(r'href="(/app/compare\?[^"]*)">Compare periods', html)
    assert link, "no compare link"
    href = link.group(1).replace("&amp;", "&")
    assert "category=Robbery" in href and "eps_m=120" in href and "from=2020-01" in href
    page = client.get(href).text
    assert 'name="category" value="Robbery" checked' in page
    assert '<option value="2020-01" selected>' in page  # period B is the app's period
    assert '<option value="2019-01" selected>' in page  # against as long a period before it


def test_hdbscan_and_harm_are_named_in_the_page_geojson_and_cli(client: TestClient) -> None:
    q = {"dataset": "tri-borough-2022", "method": "hdbscan", "weight": "harm"}
    html = client.get("/app", params=q).text
    assert "HDBSCAN (varying density)" in html and "ranked by harm" in html
    assert "DBSCAN (fixed radius)" not in html and "eps " not in html
    assert '<abbr title="Crime Severity Score: days of custody, summed">Harm</abbr>' in html
    meta = client.get("/hotspots.geojson", params=q).json()["metadata"]
    assert meta["method"]["name"] == "hdbscan" and meta["method"]["weight"] == "harm"
    assert "dbscan" not in meta and "eps_m" not in meta["method"]

    from hotspots.cli import _print_summary, console

    summary = {
        "incidents": 10, "incidents_without_location": 0, "incidents_outside_area": 0,
        "month_from": "2022-01", "month_to": "2022-09", "eps_m": 100.0, "min_samples": 40,
        "method": "hdbscan", "min_cluster_size": 20, "weight": "harm", "hotspots": 0,
        "incidents_in_hotspots": 0, "hit_rate": None,
    }  # fmt: skip
    with console.capture() as captured:
        _print_summary(summary, [])
    text = captured.get()
    assert "HDBSCAN" in text and "ranked by harm" in text and "eps" not in text


def test_partner_data_credits_every_source_keeps_their_types_apart_and_filters(client: TestClient) -> None:
    rows = "".join(
        f"2022-0{m},0.07{i % 9},51.54{i % 8},Assault injury (A&E)\n" for m in (1, 2, 3) for i in range(30)
    )
    files = {"files": ("ae.csv", f"Month,Longitude,Latitude,Crime type\n{rows}".encode(), "text/csv")}
    form = {"name": "ae-assaults", "owner": "Queen's Hospital A&E", "source_type": "health"}
    admin = client.app.state.service.security.create_key("tests-admin-partner", "admin")[1]  # type: ignore[attr-defined]
    r = client.post("/datasets", data=form, files=files, headers={"X-API-Key": admin})
    assert r.status_code == 201, r.text
    q = {"dataset": "tri-borough-2022,ae-assaults", "from": "2022-01", "to": "2022-03"}
    html = client.get("/app", params=q).text
    footer = html[html.index('<footer class="hs-footer">') :]
    assert "Queen&#39;s Hospital A&amp;E (health)" in footer and "Metropolitan Police Service" in footer
    assert "Queen&#39;s Hospital A&amp;E (health) types" in html  # each source's own types
    # and so do the compare page, the evaluation page and a briefing of the same data
    other = {"a_from": "2022-01", "a_to": "2022-01", "b_from": "2022-02", "b_to": "2022-03"}
    for path, extra in (("/app/compare", other), ("/app/evaluation", {}), ("/app/briefing", {"hotspot": 1})):
        page = client.get(path, params={**q, **extra})
        assert page.status_code == 200, (path, page.text[:300])
        assert "Queen&#39;s Hospital A&amp;E (health)" in page.text, path
        assert "Metropolitan Police Service" in page.text and "Open Government Licence" in page.text, path
        if path == "/app/briefing":
            assert _pages(page.text) == 1, "the longer credit still leaves a one-hotspot briefing one page"
    assert '<option value="tri-borough-2022,ae-assaults" selected>' in html  # the form keeps both
    assert 'name="source" value="health"' in html and 'name="source" value="police"' in html
    health = client.get("/app", params={**q, "source": "health"}).text
    assert 'name="source" value="health" checked' in health
    assert "source=health" in health  # the links carry the filter on
    wards = client.get("/app", params={"dataset": "tri-borough-2022"}).text
    assert "/exports/wards.geojson" not in wards  # the police role may not download wards: no link


def test_a_radius_outside_the_usable_range_is_refused_with_the_range(client: TestClient) -> None:
    r = client.get("/app", params={"eps_m": 5})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "25" in r.text and "1,000" in r.text
    page = client.get("/app").text
    assert 'name="eps_m" type="number" min="25" max="1000"' in page


def test_a_district_focus_gives_the_districts_own_figures(client: TestClient) -> None:
    whole = client.get("/app", params={"dataset": "tri-borough-2022"}).text
    assert "the top 10, numbered by rank (DBSCAN)" in whole
    html = client.get("/app", params={"dataset": "tri-borough-2022", "borough": "Havering"}).text
    status = html[html.index('id="hs-status"') :]
    assert status.split(">", 1)[1].startswith("Havering: ")
    assert "incidents in Havering" in status.split("</p>")[0] and "PAI" not in status.split("</p>")[0]
    assert "of the top 10, numbered by rank" in html  # only those touching Havering


def test_app_page_and_briefing_name_the_missing_months(client: TestClient) -> None:
    """The shipped 2016-2018 file has no Barking and Dagenham data for 2016-04: a gap, named."""
    q = {"dataset": "bd-havering-2016-2018", "from": "2016-01", "to": "2016-12"}
    page = client.get("/app", params=q)
    assert page.status_code == 200
    notes = re.search(r'<p class="note coverage-note">([^<]*)</p>', page.text)
    assert notes is not None, "the app page states the missing months"
    assert "Barking and Dagenham 2016-04" in notes.group(1) and "Havering 2016-03" in notes.group(1)
    briefing = client.get("/app/briefing", params={**q, "borough": "Barking and Dagenham"})
    assert briefing.status_code == 200 and "Barking and Dagenham 2016-04" in briefing.text
    assert 'class="note concentration-note"' in page.text  # the "power few" sentence


def test_police_tick_hotspots_for_a_patrol_plan_viewers_do_not(client: TestClient) -> None:
    page = client.get("/app", params={"dataset": "tri-borough-2018-2020", "from": "2020-01", "to": "2020-12"})
    assert 'id="hs-patrol-form"' in page.text
    assert len(re.findall(r'class="hs-pick" form="hs-patrol-form" value="\d+"', page.text)) >= 5
    query = re.search(r'id="hs-patrol-form"[^>]*data-query="([^"]*)"', page.text)
    assert query is not None and "dataset=tri-borough-2018-2020" in query.group(1).replace("%40", "@")
    # the plan the form asks for is served for police (hotspot ids as the table ranks them)
    plan = client.get(
        "/app/patrol-plan",
        params={
            "dataset": "tri-borough-2018-2020",
            "from": "2020-01",
            "to": "2020-12",
            "hotspots": "1,2",
            "shift": "18:00-22:00",
        },
    )
    assert plan.status_code == 200 and "Hotspot 1" in plan.text or "#1" in plan.text
    viewer = TestClient(client.app)  # anonymous demo viewer
    assert 'id="hs-patrol-form"' not in viewer.get("/app", params={"dataset": "tri-borough-2018-2020"}).text


# --- stability in the table and the briefings (issue #13, point 6) ---------------------------------


def test_app_table_stability_column_is_filled_from_its_route(client: TestClient) -> None:
    """The app's default (the shipped 2022 data): the column is pending in the page and its route
    gives every ranked hotspot its months hot, as /stability counts them."""
    html = client.get("/app").text
    shown = ranks(html)
    assert shown and ">Months hot</abbr></th>" in html
    cells = re.findall(r'<td class="hs-num hs-stab" data-stab="(\d+)">&hellip;</td>', html)
    assert [int(c) for c in cells] == shown
    src = re.search(r'id="hs-stability" class="hs-hint" data-src="([^"]+)"', html)
    assert src is not None
    body = client.get(src.group(1).replace("&amp;", "&")).json()
    assert body["dataset"] == "tri-borough-2022@1"
    reference = client.get(
        "/stability", params={"dataset": "tri-borough-2022", "from": "2022-01", "to": "2022-09"}
    ).json()
    expected = {
        str(h["hotspot_id"]): f"{h['months_hot']} of {h['months_checked']}" for h in reference["hotspots"]
    }
    assert body["months_hot"] == expected and set(expected) == {str(r) for r in shown}
    assert all(re.fullmatch(r"\d of 9", v) for v in expected.values()), "nine months of 2022 are checked"
    assert len(set(expected.values())) > 1, "hotspots differ in how many months they were hot"
    assert reference["persistence_share"] is None and "no previous period" in body["note"]


def test_stability_persistence_in_words_and_in_the_briefings(client: TestClient) -> None:
    """2020 against 2019: the share of 2019's hotspots persisting, in words for the table and
    in both briefings (the hotspot's own months hot on its card)."""
    body = client.get("/app/stability", params=YEAR).json()
    share = body["persistence_share"]
    assert 0 < share <= 1
    assert f"{share:.0%} of the previous period's hotspots (2019-01 to 2019-12) persist" in body["note"]
    one = client.get("/app/briefing", params={**YEAR, "hotspot": 2}).text
    assert f"hot in {body['months_hot']['2']} months" in one
    assert f"{share:.0%} of last period&#39;s hotspots persist" in one
    borough = client.get("/app/briefing", params={**YEAR, "borough": "Havering"}).text
    assert 'class="note stability-note"' in borough and f"{share:.0%} of the previous" in borough
    cards = re.findall(r"<h2>Hotspot #(\d+)", borough)
    assert cards and all(f"hot in {body['months_hot'][c]} months" in borough for c in cards[:3])


def test_a_ward_renamed_by_a_boundary_change_is_named_once(client: TestClient) -> None:
    """2022-01..09 spans London's May 2022 ward change: a hotspot in Barking holds the old and the
    new 'Abbey' (two codes, both kept in the API), but the table and popups name it once."""
    api = client.get("/hotspots", params={"dataset": "tri-borough-2022", "limit": 50}).json()["hotspots"]
    doubled = [h for h in api if len(set(h["wards"])) < len(h["wards"])]
    assert doubled, "the shipped 2022 data should hold a hotspot across the ward change"
    assert all(len(set(h["ward_codes"])) == len(h["ward_codes"]) for h in doubled)
    page = client.get("/app", params={"dataset": "tri-borough-2022"}).text
    for h in doubled[:3]:
        names = distinct_names(h["wards"])
        assert len(names) < len(h["wards"]) and ", ".join(names) in page
        assert ", ".join(h["wards"]) not in page


def test_one_ward_spelt_two_ways_is_named_once() -> None:
    """London's 2022 ward set respells some wards of the 2018 set; they are one place to a reader."""
    assert distinct_names(["St. Andrew's", "St Andrew's", "Abbey"]) == ["St. Andrew's", "Abbey"]
    assert distinct_names(["Rainham & Wennington", "Rainham and Wennington"]) == ["Rainham & Wennington"]
    assert distinct_names(["Chadwell", "Chadwell Heath", "chadwell"]) == ["Chadwell", "Chadwell Heath"]
