"""Areas: any partnership in England and Wales, whole-force files, hotspots that belong to the area."""

from __future__ import annotations

import csv
import io
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from hotspots.boundaries.catalogue import national_catalogue
from hotspots.boundaries.essex import ESSEX_DATA, INCIDENT_FILES
from hotspots.errors import Conflict, InvalidInput, NotFound
from hotspots.geo.analysis import AnalysisParams
from hotspots.geo.inputs.ingest import Source
from hotspots.maps import MapOptions, render_page
from hotspots.service import HotspotService
from hotspots.settings import Settings

TO_WGS84 = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
POLICE_UK_HEADER = [
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
]


def police_uk_csv(x: np.ndarray, y: np.ndarray, month: str = "2022-06", crime: str = "Burglary") -> bytes:
    """A police.uk street-level file of incidents at BNG points ``x``, ``y``."""
    lon, lat = TO_WGS84.transform(x, y)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(POLICE_UK_HEADER)
    for lo, la in zip(lon, lat, strict=True):
        writer.writerow(
            ["", month, "Test", "Test", f"{lo:.6f}", f"{la:.6f}", "On or near X", "", "", crime, "", ""]
        )
    return out.getvalue().encode()


def essex_sources() -> list[Source]:
    sources = []
    for name in INCIDENT_FILES:
        with resources.as_file(ESSEX_DATA / name) as path:
            sources.append(Source.from_path(path))
    return sources


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> HotspotService:
    data = tmp_path_factory.mktemp("areas") / "var"
    return HotspotService(Settings(data_dir=Path(data), seed_sample_data=False))


@pytest.fixture(scope="module")
def essex(service: HotspotService) -> str:
    service.add_area("essex", police_force="Essex")
    version, _ = service.ingest("essex-2018", essex_sources(), area="essex", size_limited=False)
    return version.ref


def test_catalogue_area_by_force_and_by_districts(service: HotspotService) -> None:
    area = service.add_area("south-essex", districts=["basildon", "E07000069"])
    assert area.kind == "catalogue"
    assert set(area.districts["borough_name"]) == {"Basildon", "Castle Point"}
    assert area.title == "Basildon and Castle Point"
    assert service.area("south-essex") is area  # built once
    listed = {a.name for a in service.areas()}
    assert {"tri-borough", "south-essex"} <= listed
    with pytest.raises(Conflict):
        service.add_area("south-essex", districts=["Basildon"])
    with pytest.raises(InvalidInput, match="Basildon"):
        service.add_area("typo", districts=["Basildn"])
    with pytest.raises(InvalidInput, match="exactly one"):
        service.add_area("both", districts=["Basildon"], police_force="Essex")
    service.delete_area("south-essex")
    with pytest.raises(NotFound):
        service.area("south-essex")
    with pytest.raises(Conflict):
        service.delete_area("tri-borough")


def test_whole_force_file_is_accepted_with_outside_rows_counted(service: HotspotService, essex: str) -> None:
    version = service.store.get_dataset(essex)
    report = version.report
    assert report["area"] == "essex"
    assert report["rows_accepted"] == report["rows_read"] == 115_065
    outside = report["outside_area"]
    assert report["rows_outside_area"] == outside["rows"] > 0
    # Essex Police's file reaches into London and the neighbouring counties
    assert {"Havering", "East Hertfordshire"} <= set(outside["districts"])
    assert any("lie outside the area" in w for w in report["warnings"])


def test_essex_ward_join_agrees_with_the_lsoa_district(service: HotspotService, essex: str) -> None:
    _, result = service.analyse(essex, AnalysisParams())
    inc = result.incidents
    inside = inc[inc["has_location"] & ~inc["outside_area"]]
    raw = pd.concat([pd.read_csv(io.BytesIO(s.data), usecols=["LSOA name"]) for s in essex_sources()])
    named = raw["LSOA name"].reset_index(drop=True).str.replace(r" \d{3}[A-Z]$", "", regex=True)
    named = named.loc[inside.index]
    known = named.notna()
    agree = (inside["borough_name"].astype(str)[known] == named[known]).mean()
    assert agree >= 0.99, agree
    assert len(inside) > 100_000


def test_essex_hotspots_belong_to_the_area(service: HotspotService, essex: str) -> None:
    _, result = service.analyse(essex, AnalysisParams())
    hot = result.hotspots
    assert 20 <= len(hot) <= 2_000
    inside = ~result.incidents["outside_area"].to_numpy(bool)
    ids = result.incidents["hotspot_id"].to_numpy()
    # every listed hotspot holds incidents inside the area; ranks run 1..n
    held = pd.Series(ids[inside & (ids > 0)]).unique()
    assert sorted(held) == list(range(1, len(hot) + 1))
    assert hot["hotspot_id"].tolist() == list(range(1, len(hot) + 1))
    districts = {name for names in hot["boroughs"] for name in names}
    assert {"Colchester", "Southend-on-Sea", "Chelmsford", "Basildon"} <= districts
    assert result.meta["area"]["name"] == "essex"
    # the default threshold follows the data's own density, not the county's farmland
    assert result.meta["min_samples"] > 10


def test_file_for_another_area_is_refused(service: HotspotService, essex: str, bd_source: Source) -> None:
    with pytest.raises(InvalidInput) as info:
        service.ingest("wrong-area", [bd_source], area="essex", size_limited=False)
    message = info.value.message
    assert re.search(r"none of the [\d,]+ located incidents lies inside the area", message)
    assert "another area" in message
    assert all(v.name != "wrong-area" for v in service.store.list_datasets())


def test_planted_cluster_on_the_basildon_castle_point_border(service: HotspotService) -> None:
    area = service.add_area("basildon-castle-point", districts=["Basildon", "Castle Point"])
    boroughs = area.sets[0].boroughs.set_index("borough_name")
    border = shapely.intersection(
        boroughs.loc["Basildon", "geometry"].boundary, boroughs.loc["Castle Point", "geometry"].boundary
    )
    centre = shapely.line_interpolate_point(shapely.line_merge(border), 0.5, normalized=True)
    rng = np.random.default_rng(20260611)
    # 15 snap points within 70 m of a point on the border, 8 incidents at each
    angle = rng.uniform(0, 2 * np.pi, 15)
    radius = 70 * np.sqrt(rng.uniform(0, 1, 15))
    px = np.repeat(centre.x + radius * np.cos(angle), 8)
    py = np.repeat(centre.y + radius * np.sin(angle), 8)
    # sparse background over the two districts
    outline = area.outline
    minx, miny, maxx, maxy = outline.bounds
    bx, by = rng.uniform(minx, maxx, 4000), rng.uniform(miny, maxy, 4000)
    keep = shapely.contains_xy(outline, bx, by)
    x, y = np.concatenate([px, bx[keep][:600]]), np.concatenate([py, by[keep][:600]])
    version, _ = service.ingest(
        "planted-border", [Source("planted.csv", police_uk_csv(x, y))], area=area.name, size_limited=False
    )
    _, result = service.analyse(version.ref, AnalysisParams(eps_m=100, min_samples=40))
    hot = result.hotspots
    assert len(hot) == 1
    one = hot.iloc[0]
    assert one["count"] >= 120
    assert one["cross_border"]
    assert set(one["boroughs"]) == {"Basildon", "Castle Point"}
    assert set(one["borough_codes"]) == {"E07000066", "E07000069"}


def test_hotspots_wholly_outside_are_context_and_reaching_ones_name_the_district(
    service: HotspotService,
) -> None:
    """Tri-borough demo area: one cluster in Newham only (outside), one across the Newham border."""
    demo = service.area(None)
    newham = national_catalogue().boundary_set(["Newham"]).outline
    bd = demo.sets[-1].boroughs.set_index("borough_name").loc["Barking and Dagenham", "geometry"]
    inner = newham.buffer(-300)  # well inside Newham, whatever the generalisation
    on_border = shapely.shortest_line(bd.boundary, inner).interpolate(0.0)
    toward = shapely.shortest_line(on_border, inner.buffer(-1200))
    deep = toward.interpolate(toward.length)  # about 1.5 km into Newham
    assert newham.contains(deep) and not demo.outline.contains(deep)
    rng = np.random.default_rng(7)

    def cluster(cx: float, cy: float, n: int) -> tuple[np.ndarray, np.ndarray]:
        a = rng.uniform(0, 2 * np.pi, 12)
        r = 60 * np.sqrt(rng.uniform(0, 1, 12))
        return np.repeat(cx + r * np.cos(a), n), np.repeat(cy + r * np.sin(a), n)

    x1, y1 = cluster(on_border.x, on_border.y, 10)
    x2, y2 = cluster(deep.x, deep.y, 10)
    minx, miny, maxx, maxy = demo.outline.bounds
    bx, by = rng.uniform(minx, maxx, 3000), rng.uniform(miny, maxy, 3000)
    keep = shapely.contains_xy(demo.outline, bx, by)
    x = np.concatenate([x1, x2, bx[keep][:800]])
    y = np.concatenate([y1, y2, by[keep][:800]])
    version, _ = service.ingest("newham-edge", [Source("edge.csv", police_uk_csv(x, y))], size_limited=False)
    _, result = service.analyse(version.ref, AnalysisParams(eps_m=100, min_samples=40))
    hot = result.hotspots
    assert len(hot) == 1, hot[["count", "boroughs"]]
    edge = hot.iloc[0]
    assert edge["cross_border"] and edge["extends_outside_area"]
    assert edge["outside_districts"] == ["Newham"]
    assert edge["boroughs"] == ["Barking and Dagenham"]
    assert len(result.context_hotspots) == 1
    assert result.context_hotspots.geometry.iloc[0].distance(deep) < 100
    assert result.meta["hotspots_outside_area"] == 1
    # the wholly outside cluster's incidents are not in any ranked hotspot
    near_deep = np.hypot(result.incidents["x"] - deep.x, result.incidents["y"] - deep.y) < 100
    assert (result.incidents.loc[near_deep, "hotspot_id"] == -1).all()
    # the map draws it faintly, labelled as outside, with no count
    page = render_page(result, MapOptions(tiles="none"))
    assert page.count('"label": "Cluster outside the area (not ranked or counted)"') == 1
    assert "a cluster wholly outside the area" in page


def test_no_tri_borough_constant_outside_the_demo_definition() -> None:
    """The tri-borough is named only where the shipped demo area is defined."""
    root = Path(__file__).resolve().parents[1] / "hotspots"
    allowed = {root / "demo.py", root / "boundaries" / "shipped.py"}
    pattern = re.compile(
        r"barking|dagenham|havering|redbridge|tri[-_ ]?borough|E09000002|E09000016|E09000026", re.IGNORECASE
    )
    found = []
    for path in sorted(root.rglob("*")):
        if path.suffix not in {".py", ".html", ".js", ".css"} or path in allowed:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if pattern.search(line):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_incidents_off_a_generalised_coast_join_the_nearest_ward(service: HotspotService) -> None:
    """Southend's seafront: the catalogue's ~200 m generalised outline cuts off the beach and pier."""
    from hotspots.boundaries.area import district_names_at

    area = service.add_area("southend", districts=["Southend-on-Sea"])
    outline = area.outline
    ring = shapely.get_exterior_ring(max(getattr(outline, "geoms", [outline]), key=lambda g: g.area))
    coast, sea, far = None, None, None
    for t in np.linspace(0, 1, 400, endpoint=False):
        p = shapely.line_interpolate_point(ring, t, normalized=True)
        q = shapely.line_interpolate_point(ring, t + 0.001, normalized=True)
        dx, dy = q.x - p.x, q.y - p.y
        norm = float(np.hypot(dx, dy)) or 1.0
        for sign in (1, -1):  # the outward normal is whichever side is not in the area
            nx, ny = sign * dy / norm, -sign * dx / norm
            near = shapely.Point(p.x + 100 * nx, p.y + 100 * ny)
            out = shapely.Point(p.x + 600 * nx, p.y + 600 * ny)
            if outline.contains(near) or outline.distance(out) < 500:
                continue
            named = district_names_at(np.array([near.x, out.x]), np.array([near.y, out.y]))
            if named[0] is None and named[1] is None:
                coast, sea, far = p, near, out
                break
        if coast is not None:
            break
    assert coast is not None, "no stretch of open coast found"
    inland = shapely.Point(shapely.get_coordinates(outline.representative_point())[0])
    xs = np.array([sea.x, far.x] + [inland.x] * 20)
    ys = np.array([sea.y, far.y] + [inland.y] * 20)
    version, _ = service.ingest("seafront", [Source("sea.csv", police_uk_csv(xs, ys))], area="southend")
    _, result = service.analyse(version.ref, AnalysisParams(min_samples=5))
    inc = result.incidents
    assert not inc["outside_area"].iloc[0], "100 m off the generalised coast: joined to the nearest ward"
    assert inc["borough_name"].iloc[0] == "Southend-on-Sea"
    assert inc["outside_area"].iloc[1], "600 m out to sea stays outside"
