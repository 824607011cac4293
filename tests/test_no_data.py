"""'No data' is not 0 (issue #14, point 8): districts a selected source does not cover are shaded,
labelled and explained as no data on the maps, slide and briefings; areas name their own districts.

Shipped Essex (2013 wards, 14 districts, two months of its police.uk files) with a planted
partner source (an A&E department's assaults) that covers Chelmsford only; and the shipped
tri-borough Barking and Dagenham file, which covers one borough of three.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.boundaries import BoundarySet, essex_boundary_set
from hotspots.boundaries.area import district_word
from hotspots.boundaries.essex import ESSEX_DATA, INCIDENT_FILES
from hotspots.geo.analysis import AnalysisParams, AnalysisResult, analyse
from hotspots.geo.inputs.ingest import Source, read_incidents
from hotspots.geo.stats.coverage import districts_without_data, no_data_note
from hotspots.maps import MapOptions, render_page
from hotspots.maps.static_map import map_figure
from hotspots.settings import Settings
from tests.planting import planted_incidents, to_csv_source

CHELMSFORD = "E07000070"
MONTHS = ("2018-01", "2018-02")


@pytest.fixture(scope="module")
def essex() -> tuple[pd.DataFrame, dict[str, BoundarySet]]:
    """Essex Police's Jan-Feb 2018 incidents (source ``essex-police@1``) and 300 planted A&E
    assaults in Chelmsford only (``ae-chelmsford@1``), with their source types."""
    bset = essex_boundary_set()
    sources = []
    for name in INCIDENT_FILES[: len(MONTHS)]:
        with resources.as_file(ESSEX_DATA / name) as path:
            sources.append(Source.from_path(path))
    police = read_incidents(sources).incidents.assign(dataset="essex-police@1", source_type="police")
    chelmsford = bset.wards[bset.wards["borough_code"] == CHELMSFORD].geometry.union_all()
    centre = chelmsford.representative_point()
    frames = [
        planted_incidents(
            [(centre.x, centre.y)],
            per_cluster=100,
            spread_m=20,
            background=50,
            area=chelmsford,
            seed=7 + i,
            month=m,
        )[0]
        for i, m in enumerate(MONTHS)
    ]
    ae = read_incidents([to_csv_source(pd.concat(frames, ignore_index=True))]).incidents
    ae = ae.assign(dataset="ae-chelmsford@1", source_type="health")
    incidents = pd.concat([police, ae], ignore_index=True)
    for column in ("dataset", "source_type"):
        incidents[column] = incidents[column].astype("category")
    return incidents, {bset.name: bset}


def _run(essex: tuple[pd.DataFrame, dict[str, BoundarySet]], **kw: object) -> AnalysisResult:
    incidents, sets = essex
    return analyse(incidents, sets, AnalysisParams(eps_m=100, min_samples=30, **kw), statistics=False)  # type: ignore[arg-type]


def test_district_word_from_codes() -> None:
    assert district_word(["E09000002", "E09000016"]) == "borough"
    assert district_word(["E07000070", "E06000033"]) == "district"  # Essex: shire districts and unitaries
    assert district_word(["E06000033", "W06000015"]) == "council area"
    assert district_word(["E08000003"]) == "district"
    assert district_word(["X1", "X2"]) == "district"  # an uploaded file's own codes


def test_a_source_covering_one_district_has_no_data_elsewhere(essex) -> None:  # type: ignore[no-untyped-def]
    both = _run(essex)
    report = both.meta["no_data"]
    assert set(report["sources"]) == {"essex-police@1", "ae-chelmsford@1"}
    assert report["no_data"] == [], "the police cover every district"
    lacking = {r["code"]: r["sources_without_data"] for r in report["districts"]}
    assert len(lacking) == 13 and CHELMSFORD not in lacking
    assert all(v == ["ae-chelmsford@1"] for v in lacking.values())
    assert not both.wards["no_data"].any() and both.meta["district_word"] == "district"
    assert (no_data_note(both.meta) or "").startswith("ae-chelmsford@1 has data for Chelmsford only")

    health = _run(essex, sources=("health",))
    nd = health.wards.set_index("ward_code")["no_data"]
    in_chelmsford = health.wards.set_index("ward_code")["borough_code"] == CHELMSFORD
    assert not nd[in_chelmsford].any() and nd[~in_chelmsford].all()
    assert len(health.meta["no_data"]["no_data"]) == 13
    assert health.boroughs.set_index("borough_code")["no_data"].sum() == 13
    note = no_data_note(health.meta) or ""
    assert note.startswith("No data for ") and "Uttlesford" in note and "districts and their wards" in note


def test_no_data_is_judged_on_all_crime_types(essex) -> None:  # type: ignore[no-untyped-def]
    """A crime type the police hardly record leaves districts at zero, not 'no data'; a partner
    source covering one district still has no data in the others under the same filter."""
    incidents, _ = essex
    police = incidents[incidents["dataset"] == "essex-police@1"]
    inside = _run(essex, sources=("police",))
    joined = inside.incidents
    rare = joined[~joined["outside_area"].astype(bool)].groupby("crime_type", observed=True)["borough_code"]
    zero_somewhere = [
        str(t) for t, codes in rare.nunique().items() if codes < 14 and str(t) in set(police["crime_type"])
    ]
    assert zero_somewhere, "some crime type has districts without a single incident"
    filtered = _run(essex, sources=("police",), crime_types=(zero_somewhere[0],))
    assert filtered.meta["no_data"]["districts"] == [] and not filtered.wards["no_data"].any()
    counts = filtered.wards.groupby("borough_code")["count"].sum()
    assert (counts == 0).any(), "the empty district reads 0: a real zero of that crime type"
    assault = _run(essex, sources=("health",), crime_types=("Robbery",))
    assert len(assault.meta["no_data"]["no_data"]) == 13


def test_maps_and_slide_show_no_data_and_say_district(essex) -> None:  # type: ignore[no-untyped-def]
    health = _run(essex, sources=("health",))
    page = render_page(health, MapOptions(tiles="none", title="Essex A&E"))
    page = page.replace("\\u003c", "<").replace("\\u003e", ">")  # the legend is a JSON string
    n = int(health.wards["no_data"].sum())
    assert f"no data ({n:,} wards)" in page and "their district; not 0" in page
    assert "<h4>Districts</h4>" in page and "District boundaries" in page and "district border" in page
    for london in ('"Borough"', "Boroughs", "borough border", "borough boundary", "Borough boundaries"):
        assert london not in page
    features = [
        f["properties"]
        for data in re.findall(r"geo_json_\w+_add\((\{.*?\})\);", page)
        for f in json.loads(data).get("features", [])
        if "rate" in f["properties"] and "ward" in f["properties"]
    ]
    assert len(features) == len(health.wards)
    flagged = [f for f in features if f["nodata"]]
    assert len(flagged) == n and all(f["incidents"] == "no data" == f["rate"] for f in flagged)
    assert all(f["incidents"] != "no data" for f in features if not f["nodata"])
    assert "hs-nodata" in page
    fig = map_figure(health, title="Essex A&E")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"no data ({n} wards; not 0)" in labels and any("district border" in t for t in labels)
    both = render_page(_run(essex), MapOptions(tiles="none"))
    assert "no data (" not in both  # the police cover every ward


def test_districts_without_data_counts_weighted_rows() -> None:
    frame = pd.DataFrame(
        {
            "borough_code": ["A", "B", "A", "B"],
            "outside_area": [False, False, False, True],
            "dataset": ["p", "p", "h", "h"],
            "n": [5000, 4000, 300, 90],
        }
    )
    report = districts_without_data(frame, {"A": "Ay", "B": "Bee"}, weights="n")
    assert report["districts"] == [
        {"code": "B", "name": "Bee", "sources_without_data": ["h"], "no_data": False}
    ]  # h's 90 in B lie outside the area
    only_h = districts_without_data(frame[frame["dataset"] == "h"], {"A": "Ay", "B": "Bee"}, weights="n")
    assert only_h["no_data"] == ["B"]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("nodata") / "var", tiles="none")
    with TestClient(create_app(settings)) as c:
        _, secret = c.app.state.service.security.create_key("nd-police", "police")  # type: ignore[attr-defined]
        c.headers.update({"X-API-Key": secret})
        yield c


def test_app_page_and_briefing_say_no_data_for_boroughs_the_file_lacks(client: TestClient) -> None:
    """The shipped Barking and Dagenham file: Havering and Redbridge are no data, in the page's
    notes, its map, the slide PNG and a briefing on Havering; the words are London's ("borough")."""
    html = client.get("/app", params={"dataset": "bd-2023-01"}).text
    assert 'class="note no-data-note">No data for Havering, Redbridge' in html
    legend = html.replace("\\u003c", "<").replace("\\u003e", ">")
    assert (
        "<h4>Boroughs</h4>" in legend
        and "no data (42 wards): no analysed source covers their borough" in legend
    )
    brief = client.get("/app/briefing", params={"dataset": "bd-2023-01", "borough": "Havering"}).text
    assert "No data for Havering, Redbridge" in brief and "hotspots touch the borough" in brief
    png = client.get("/app/map.png", params={"dataset": "bd-2023-01"})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    full = client.get("/app", params={"dataset": "tri-borough-2022"}).text
    assert "no-data-note" not in full and "no data (" not in full


def test_ward_gi_star_leaves_no_data_wards_out(essex) -> None:  # type: ignore[no-untyped-def]
    """Wards no source covers are not tested and are nobody's neighbours: the A&E source's
    Chelmsford wards get the z-scores of Chelmsford's wards alone, not of Chelmsford among 0s."""
    from hotspots.geo.stats.significance import NO_DATA as NOT_TESTED
    from hotspots.geo.stats.significance import gi_star_polygons

    incidents, sets = essex
    health = analyse(incidents, sets, AnalysisParams(eps_m=100, min_samples=30, sources=("health",)))
    wards = health.wards
    lacking = wards["no_data"].to_numpy(dtype=bool)
    assert lacking.sum() > 200 and (~lacking).sum() > 10
    assert wards.loc[lacking, "gi_z"].isna().all() and (wards.loc[lacking, "gi_label"] == NOT_TESTED).all()
    own = wards[~lacking]
    alone = gi_star_polygons(own, "count")["z"].round(3).to_numpy()
    assert np.allclose(own["gi_z"].to_numpy(dtype=float), alone)
    among_zeros = gi_star_polygons(wards, "count")["z"].round(3).to_numpy()[~lacking]
    assert not np.allclose(alone, among_zeros), "zeros around Chelmsford would change its z-scores"


def test_exports_write_no_data_as_null_not_zero(client: TestClient, tmp_path: Path) -> None:
    """GeoJSON, GeoPackage and OGC API layers of the Barking and Dagenham file: Havering's and
    Redbridge's wards and boroughs have null counts, rates and Gi*, with no_data true."""
    import pyogrio

    _, secret = client.app.state.service.security.create_key("nd-council", "council")  # type: ignore[attr-defined]
    council = {"X-API-Key": secret}
    query = {"dataset": "bd-2023-01"}
    for layer in ("wards", "boroughs"):
        props = [
            f["properties"]
            for f in client.get(f"/exports/{layer}.geojson", params=query, headers=council).json()["features"]
        ]
        lacking = [p for p in props if p["no_data"]]
        assert {p["borough_name"] for p in lacking} == {"Havering", "Redbridge"}
        assert all(p["count"] is None for p in lacking)
        assert all(isinstance(p["count"], int) and p["count"] >= 0 for p in props if not p["no_data"])
        if layer == "wards":
            assert all(
                p["rate_per_1000"] is None and p["gi_z"] is None and p["gi_bin"] is None for p in lacking
            )
            assert any(p["gi_z"] is not None for p in props if not p["no_data"])
        gpkg = client.get(f"/exports/{layer}.gpkg", params=query, headers=council)
        assert gpkg.status_code == 200, gpkg.text
        path = tmp_path / f"{layer}.gpkg"
        path.write_bytes(gpkg.content)
        info = pyogrio.read_info(path)
        assert dict(zip(info["fields"], info["dtypes"], strict=True))["count"] == "int64"
        frame = pyogrio.read_dataframe(path)
        assert frame["borough_name"].notna().all(), "every row keeps its attributes, whatever its index"
        assert frame.loc[frame["no_data"].astype(bool), "count"].isna().all()
        assert frame.loc[~frame["no_data"].astype(bool), "count"].notna().all()
    page = client.get(
        "/ogc/collections/wards/items", params={**query, "limit": 1000}, headers=council
    ).json()["features"]
    flags = [f["properties"]["no_data"] for f in page]
    assert flags == sorted(flags) and any(flags), "wards with data first (clients type fields from them)"
    assert all(f["properties"]["count"] is None for f in page if f["properties"]["no_data"])


def test_compare_does_not_read_no_data_as_zero(client: TestClient) -> None:
    """The Barking and Dagenham and Havering file has no Redbridge: its wards are not compared
    ("no change" from 0 to 0 would be a claim about data nobody has), on the page and the API."""
    periods = {"a_from": "2016-01", "a_to": "2016-06", "b_from": "2017-01", "b_to": "2017-06"}
    query = {"dataset": "bd-havering-2016-2018", **periods}
    _, secret = client.app.state.service.security.create_key("nd-viewer", "viewer")  # type: ignore[attr-defined]
    viewer = {"X-API-Key": secret}  # protected counts: the ward change is recomputed from them
    body = client.get("/compare", params=query).json()
    for shown in (body, client.get("/compare", params=query, headers=viewer).json()):
        rows = shown["wards"]
        assert rows and {r["borough_name"] for r in rows} == {"Barking and Dagenham", "Havering"}
        assert shown["no_data"]["districts"] == ["Redbridge"] and shown["no_data"]["wards"] > 15
    html = client.get("/app/compare", params=query, headers=viewer).text
    assert "No data for Redbridge: no selected source covers this borough" in html
    # this server runs without tiles: the page offers no street map and credits none
    assert 'value="osm"' not in html and "This server runs without base map tiles." in html
    assert "OpenStreetMap contributors" not in html[html.index('<footer class="hs-footer">') :]
    assert f"their {body['no_data']['wards']:,} wards are not compared" not in html  # one borough: "its"
    assert f"its {body['no_data']['wards']:,} wards are not compared" in html
    legend = html.replace("\\u003c", "<").replace("\\u003e", ">")
    assert f"no data ({body['no_data']['wards']} wards)" in legend and "hs-cmp-hatch" in html
    table = html[html.index('id="hs-ward-table"') :]
    assert "Redbridge" not in table[: table.index("</table>")]
    features = [
        f["properties"]
        for data in re.findall(r"geo_json_\w+_add\((\{.*?\})\);", html)
        for f in json.loads(data).get("features", [])
        if "change" in f["properties"]
    ]
    flagged = [f for f in features if f["nodata"]]
    assert len(flagged) == body["no_data"]["wards"]
    assert all(f["a"] == f["b"] == f["change"] == "no data" for f in flagged)
    assert all(f["borough"] == "Redbridge" for f in flagged)
