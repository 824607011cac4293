"""Patrol plans (#15 part 4): every dosage constraint, seeds, units needed, CLI, API, page and PDF."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hotspots.api.app import create_app
from hotspots.cli import app as cli
from hotspots.errors import InvalidInput, NotFound
from hotspots.geo.inputs.ingest import Source
from hotspots.geo.params import SPECS, check_patrol, parse_hotspot_ids
from hotspots.geo.plans.patrol import (
    MAX_GAP_MIN,
    NO_TIMES_NOTE,
    TIMES_NOTE,
    Shift,
    Site,
    plan_patrol,
    sites_from_hotspots,
)
from hotspots.settings import Settings

runner = CliRunner()
CENTRE = (545_000.0, 185_000.0)  # Barking, British National Grid metres


def _sites(n: int, spread_m: float, seed: int, hours: bool = False) -> list[Site]:
    rng = np.random.default_rng(seed)
    return [
        Site(
            i + 1,
            CENTRE[0] + float(rng.uniform(-spread_m, spread_m)),
            CENTRE[1] + float(rng.uniform(-spread_m, spread_m)),
            hours=tuple(int(c) for c in rng.integers(0, 30, 24)) if hours else None,
        )
        for i in range(n)
    ]


def _clock(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 60 + int(m)


def assert_meets_dosage(
    body: dict[str, Any], sites: list[Site], shift: Shift, visit_min: int, speed_kmh: float, detour: float
) -> None:
    """Every constraint, checked from the plan's JSON alone (HH:MM strings), independently of the planner."""
    by_id = {s.hotspot_id: s for s in sites}
    visits = body["visits"]
    assert {"hotspot_id", "unit", "start", "end"} <= set(visits[0])

    def minute(text: str, at_or_after: int) -> int:
        """Minutes from the shift start of an HH:MM, the first such time not before ``at_or_after``."""
        clock = _clock(text)
        offset = (clock - shift.start) % 1440
        while offset < at_or_after:
            offset += 1440
        return offset

    timed = []
    for v in visits:
        s = minute(v["start"], 0)
        assert s == v["start_min"], v
        e = s + (_clock(v["end"]) - _clock(v["start"])) % 1440
        timed.append((v["unit"], v["hotspot_id"], s, e))
        # visit length 10-16 min, the one asked for, inside the shift
        assert e - s == visit_min and 10 <= e - s <= 16, v
        assert 0 <= s and e <= shift.minutes, v
    # one unit per hotspot
    for hid in by_id:
        assert len({u for u, h, _, _ in timed if h == hid}) == 1, hid
    # per unit: no overlap, travel time between consecutive visits respected
    per_metre = 1 / (speed_kmh * 1000 / 60)
    for unit in {u for u, *_ in timed}:
        mine = sorted((t for t in timed if t[0] == unit), key=lambda t: t[2])
        for (_, a, _, a_end), (_, b, b_start, _) in zip(mine, mine[1:], strict=False):
            sa, sb = by_id[a], by_id[b]
            need = math.ceil(math.hypot(sa.x - sb.x, sa.y - sb.y) * detour * per_metre - 1e-9)
            assert b_start >= a_end + need, (unit, a, b)
    # every hotspot visited; no more than 2 hours without a visit, from the start and to the end too
    for hid in by_id:
        mine = sorted((s, e) for _, h, s, e in timed if h == hid)
        assert mine, f"hotspot {hid} never visited"
        assert mine[0][0] <= MAX_GAP_MIN
        for (_, e1), (s2, _) in zip(mine, mine[1:], strict=False):
            assert s2 - e1 <= MAX_GAP_MIN
        assert shift.minutes - mine[-1][1] <= MAX_GAP_MIN


CASES = [
    (1, 1000, "18:00-02:00", 15),
    (3, 2000, "18:00-02:00", 10),
    (8, 4000, "22:00-06:00", 15),
    (12, 6000, "07:00-15:00", 16),
    (20, 8000, "23:30-05:45", 12),
    (6, 3000, "23:00-00:30", 15),
]


@pytest.mark.parametrize(("n", "spread", "shift_text", "visit_min"), CASES)
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_plans_meet_every_constraint(
    n: int, spread: float, shift_text: str, visit_min: int, seed: int
) -> None:
    sites = _sites(n, spread, seed=n, hours=seed == 7)
    shift = Shift.parse(shift_text)
    plan = plan_patrol(sites, shift, visit_min=visit_min, seed=seed)
    body = plan.as_dict()
    assert body["meets_dosage"] and body["violations"] == []
    assert body["units_needed"] == body["units"]
    assert_meets_dosage(body, sites, shift, visit_min, 30.0, 1.3)


def test_many_random_plans_meet_every_constraint() -> None:
    rng = np.random.default_rng(2024)
    shifts = ["18:00-02:00", "22:00-06:00", "07:00-19:00", "20:00-23:00", "23:45-01:15"]
    for trial in range(25):
        n = int(rng.integers(1, 14))
        sites = _sites(n, float(rng.uniform(300, 9000)), seed=trial, hours=bool(trial % 2))
        shift = Shift.parse(shifts[trial % len(shifts)])
        visit_min = int(rng.integers(10, 17))
        speed, detour = float(rng.uniform(15, 50)), float(rng.uniform(1.0, 1.6))
        plan = plan_patrol(sites, shift, visit_min=visit_min, seed=trial, speed_kmh=speed, detour=detour)
        assert plan.meets_dosage, (trial, plan.violations)
        assert_meets_dosage(plan.as_dict(), sites, shift, visit_min, speed, detour)


def test_units_needed_does_not_depend_on_the_seed() -> None:
    sites = _sites(24, 7000, seed=8)
    shift = Shift.parse("22:00-06:00")
    needed = {plan_patrol(sites, shift, seed=seed).units_needed for seed in range(6)}
    assert len(needed) == 1, needed


def test_midnight_crossing_shift() -> None:
    shift = Shift.parse("18:00-02:00")
    assert (shift.start, shift.end, shift.minutes) == (1080, 1560, 480)
    plan = plan_patrol(_sites(4, 2000, seed=3), shift, seed=11).as_dict()
    late = [v for v in plan["visits"] if v["next_day"]]
    assert late and all(v["start_min"] >= 360 for v in late)
    assert all(_clock(v["start"]) < 120 for v in late)
    assert max(v["end_min"] for v in plan["visits"]) <= 480
    assert plan["shift"] == "18:00-02:00"


def test_same_seed_same_plan_other_seed_other_plan() -> None:
    sites = _sites(6, 3000, seed=5)
    shift = Shift.parse("18:00-02:00")
    a = plan_patrol(sites, shift, seed=42).as_dict()
    b = plan_patrol(sites, shift, seed=42).as_dict()
    c = plan_patrol(sites, shift, seed=43).as_dict()
    assert a["visits"] == b["visits"]
    assert [v["start"] for v in a["visits"]] != [v["start"] for v in c["visits"]]


def test_units_needed_is_minimal() -> None:
    sites = _sites(16, 9000, seed=2)
    shift = Shift.parse("18:00-02:00")
    plan = plan_patrol(sites, shift, seed=3)
    needed = plan.units_needed
    assert needed is not None and needed >= 2
    assert_meets_dosage(plan.as_dict(), sites, shift, 15, 30.0, 1.3)
    fewer = plan_patrol(sites, shift, seed=3, units=needed - 1)
    assert not fewer.meets_dosage and fewer.units_needed == needed
    with pytest.raises(AssertionError):  # the independent check finds the gaps too
        assert_meets_dosage(fewer.as_dict(), sites, shift, 15, 30.0, 1.3)
    assert any(f"{needed} unit(s) are needed" in n for n in fewer.notes)
    assert any("min without a visit" in v for v in fewer.violations)
    more = plan_patrol(sites, shift, seed=3, units=needed + 2)
    assert more.meets_dosage and more.units == needed + 2


def test_one_unit_per_hotspot_at_most() -> None:
    plan = plan_patrol(_sites(2, 500, seed=1), Shift.parse("18:00-02:00"), units=4, seed=1)
    assert plan.meets_dosage and plan.as_dict()["units_used"] <= 2
    assert any("have no hotspot" in n for n in plan.notes)


def test_visits_follow_the_busy_hours() -> None:
    """A hotspot whose incidents come at 20:00-22:00 gets more visits in those hours than one with none."""
    shift = Shift.parse("18:00-02:00")
    busy = tuple(100 if h in (20, 21) else 0 for h in range(24))
    in_busy = {"timed": 0, "untimed": 0}
    for seed in range(40):
        for key, hours in (("timed", busy), ("untimed", None)):
            plan = plan_patrol([Site(1, *CENTRE, hours=hours)], shift, seed=seed)
            assert plan.meets_dosage
            in_busy[key] += sum(1 for v in plan.visits if 20 * 60 <= _clock(v["start"]) < 22 * 60)
    assert in_busy["timed"] > 1.3 * in_busy["untimed"], in_busy
    timed = plan_patrol([Site(1, *CENTRE, hours=busy)], shift, seed=1).as_dict()
    assert timed["times_of_day"] and timed["times_note"] == TIMES_NOTE
    assert timed["hotspots"][0]["busy_hours"] == ["20:00", "21:00"]
    untimed = plan_patrol([Site(1, *CENTRE)], shift, seed=1).as_dict()
    assert untimed["times_note"] == NO_TIMES_NOTE == "the data has no times of day; visits are spread evenly"


def test_travel_and_order_stated() -> None:
    sites = [Site(i + 1, CENTRE[0] + 1000 * i, CENTRE[1]) for i in range(4)]
    plan = plan_patrol(sites, Shift.parse("18:00-02:00"), seed=0, speed_kmh=30, detour=1.3)
    body = plan.as_dict()
    # 1 km x 1.3 at 30 km/h (500 m/min) = 2.6 minutes, rounded up: 3 between neighbours
    hops = {(leg["from_hotspot"], leg["to_hotspot"]): leg["travel_min"] for leg in body["legs"]}
    assert hops and all(t == math.ceil(2.6 * abs(a - b) - 1e-9) for (a, b), t in hops.items())
    # the round goes along the line and back (the shortest order), not criss-cross
    r = body["rounds"][0]["hotspots"]
    loops = [[1, 2, 3, 4][i:] + [1, 2, 3, 4][:i] for i in range(4)]
    assert r in loops or r[::-1] in loops
    assert "30 km/h" in body["travel_rule"] and "1.3" in body["travel_rule"]
    assert "Koper (1995)" in body["evidence"] and "Telep" in body["evidence"]


def test_bad_parameters_refused_with_the_contract() -> None:
    for text in ("25:00-02:00", "18:00", "18-02", "18:00-18:00", ""):
        with pytest.raises(InvalidInput):
            Shift.parse(text)
    with pytest.raises(InvalidInput, match="between 10 and 16 minutes"):
        check_patrol(17, None, None, 30.0, 1.3)
    with pytest.raises(InvalidInput, match="between 1 and 50"):
        check_patrol(15, 51, None, 30.0, 1.3)
    with pytest.raises(InvalidInput):
        parse_hotspot_ids("1,x")
    assert parse_hotspot_ids("3, 1,3") == (3, 1)
    assert SPECS["visit_min"].default == 15 and SPECS["shift"].default == "18:00-02:00"
    with pytest.raises(InvalidInput, match="shorter than one visit"):
        plan_patrol(_sites(1, 10, 1), Shift.parse("18:00-18:05"))


def test_sites_from_an_analysis_use_its_ranks_and_hours() -> None:
    import geopandas as gpd
    import shapely

    profile = {"hours": {"available": True, "counts": [1] * 20 + [9] * 4}}
    frame = gpd.GeoDataFrame(
        {
            "hotspot_id": [1, 2],
            "centroid_lon": [0.1, 0.2],
            "centroid_lat": [51.5, 51.6],
            "wards": [["Abbey"], ["Gascoigne", "Thames"]],
            "time_profile": [profile, {"hours": {"available": False, "counts": None}}],
        },
        geometry=[shapely.box(0, 0, 10, 10), shapely.box(100, 100, 120, 120)],
        crs=27700,
    )
    sites = sites_from_hotspots(frame, "2,1")
    assert [s.hotspot_id for s in sites] == [2, 1]
    assert (sites[0].x, sites[0].y, sites[0].label) == (110.0, 110.0, "Gascoigne, Thames")
    assert sites[0].hours is None and sites[1].hours is not None and sites[1].hours[23] == 9
    with pytest.raises(NotFound, match="no hotspot #3"):
        sites_from_hotspots(frame, [3])


# ---- CLI -------------------------------------------------------------------------------------


@pytest.fixture
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSPOTS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HOTSPOTS_TILES", "none")


ANALYSIS = ["--eps-m", "150", "--min-samples", "20"]


@pytest.mark.usefixtures("_env")
def test_cli_patrol_plan_json_and_csv(tmp_path: Path, bd_source: Source) -> None:
    src = tmp_path / "bd.csv"
    src.write_bytes(bd_source.data)
    out, table = tmp_path / "plan.json", tmp_path / "plan.csv"
    args = ["patrol-plan", str(src), *ANALYSIS, "--hotspots", "1,2,5", "--shift", "18:00-02:00"]
    result = runner.invoke(cli, [*args, "--seed", "9", "--json", str(out), "--csv", str(table)])
    assert result.exit_code == 0, result.output
    body = json.loads(out.read_text())
    assert body["units_needed"] >= 1 and body["meets_dosage"]
    assert {v["hotspot_id"] for v in body["visits"]} == {1, 2, 5}
    for v in body["visits"]:
        assert {"hotspot_id", "unit", "start", "end"} <= set(v)
        assert re.fullmatch(r"\d\d:\d\d", v["start"]) and re.fullmatch(r"\d\d:\d\d", v["end"])
    assert body["times_note"] == NO_TIMES_NOTE  # police.uk: month only
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert len(rows) == len(body["visits"]) and rows[0]["start"] == body["visits"][0]["start"]
    # the ids are the ranks 'analyse' gives with the same options
    folder = tmp_path / "out"
    analysed = runner.invoke(cli, ["analyse", str(src), *ANALYSIS, "--out", str(folder)])
    assert analysed.exit_code == 0, analysed.output
    features = json.loads((folder / "hotspots.geojson").read_text())["features"]
    ranks = {f["properties"]["hotspot_id"]: f["properties"] for f in features}
    for h in body["hotspots"]:
        assert h["centroid_lon"] == ranks[h["hotspot_id"]]["centroid_lon"]
    runner.invoke(cli, [*args, "--seed", "9", "--json", str(tmp_path / "again.json")])
    assert json.loads((tmp_path / "again.json").read_text())["visits"] == body["visits"]
    bad = runner.invoke(cli, [*args, "--visit-min", "20"])
    assert bad.exit_code == 2 and "between 10 and 16" in bad.output
    missing = runner.invoke(cli, ["patrol-plan", str(src), *ANALYSIS, "--hotspots", "999"])
    assert missing.exit_code == 2 and "no hotspot #999" in missing.output


@pytest.mark.usefixtures("_env")
def test_cli_says_how_many_units_are_needed(tmp_path: Path) -> None:
    from hotspots.boundaries import shipped_boundary_sets
    from tests.planting import planted_incidents

    bset = shipped_boundary_sets()["wards-2022"]
    points = bset.wards.geometry.representative_point()
    centres = [(float(p.x), float(p.y)) for p in points.iloc[:: max(1, len(points) // 6)].iloc[:6]]
    frame, _ = planted_incidents(
        centres, per_cluster=40, spread_m=15, background=50, area=bset.outline, seed=4, month="2023-02"
    )
    src = tmp_path / "planted.csv"
    frame.to_csv(src, index=False)
    out = tmp_path / "plan.json"
    args = ["patrol-plan", str(src), "--eps-m", "60", "--min-samples", "15", "--hotspots", "1,2,3,4,5,6"]
    result = runner.invoke(cli, [*args, "--units", "1", "--seed", "2", "--json", str(out)])
    body = json.loads(out.read_text())
    assert body["units_needed"] > 1, body["rounds"]
    assert result.exit_code == 1 and not body["meets_dosage"]
    assert f"{body['units_needed']} unit(s) are needed" in result.output


# ---- API -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, bd_source: Source
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("patrol") / "var", tiles="none", seed_sample_data=False
    )
    with TestClient(create_app(settings)) as c:
        service = c.app.state.service  # type: ignore[attr-defined]
        service.ingest("bd", [bd_source])
        keys = {
            role: service.security.create_key(f"t-{role}", role)[1]
            for role in ("viewer", "police", "council", "admin")
        }
        yield c, keys


QUERY = {
    "dataset": "bd",
    "eps_m": 150,
    "min_samples": 20,
    "hotspots": "1,2,3",
    "shift": "22:00-06:00",
    "seed": 5,
}


def _get(api: tuple[TestClient, dict[str, str]], path: str, role: str = "police", **extra: Any) -> Any:
    client, keys = api
    params = {k: v for k, v in {**QUERY, **extra}.items() if v is not None}
    return client.get(path, params=params, headers={"X-API-Key": keys[role]})


def test_api_json_meets_the_dosage(api: tuple[TestClient, dict[str, str]]) -> None:
    r = _get(api, "/patrol-plan")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["seed"] == 5 and body["units_needed"] == body["units"] and body["meets_dosage"]
    assert body["dataset"] == "bd@1" and body["times_note"] == NO_TIMES_NOTE
    assert {v["hotspot_id"] for v in body["visits"]} == {1, 2, 3}
    assert _get(api, "/patrol-plan").json()["visits"] == body["visits"]  # the seed reproduces it
    drawn = _get(api, "/patrol-plan", seed=None).json()
    assert isinstance(drawn["seed"], int)  # without a seed, one is drawn and reported
    assert _get(api, "/patrol-plan", role="admin").status_code == 200


def test_api_roles(api: tuple[TestClient, dict[str, str]]) -> None:
    for role in ("viewer", "council"):
        for path in ("/patrol-plan", "/app/patrol-plan"):
            assert _get(api, path, role=role).status_code == 403, (role, path)


def test_api_bad_input(api: tuple[TestClient, dict[str, str]]) -> None:
    assert _get(api, "/patrol-plan", visit_min=9).status_code == 422
    assert _get(api, "/patrol-plan", units=51).status_code == 422
    assert _get(api, "/patrol-plan", shift="late").status_code == 422
    assert _get(api, "/patrol-plan", hotspots="1,a").status_code == 422
    r = _get(api, "/patrol-plan", hotspots="999")
    assert r.status_code == 404 and "no hotspot #999" in r.text


def test_api_csv_is_formula_safe(api: tuple[TestClient, dict[str, str]]) -> None:
    r = _get(api, "/patrol-plan", format="csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    body = _get(api, "/patrol-plan").json()
    assert [(int(x["unit"]), int(x["hotspot_id"]), x["start"], x["end"]) for x in rows] == [
        (v["unit"], v["hotspot_id"], v["start"], v["end"]) for v in body["visits"]
    ]
    assert not any(c[:1] in "=+-@" for row in rows for k, c in row.items() if k == "where" and c)


def test_formula_in_a_ward_name_is_neutralised() -> None:
    from hotspots.geo.outputs.export import write_csv
    from hotspots.geo.plans.patrol import PLAN_CSV_COLUMNS, PLAN_CSV_NUMERIC, plan_table

    plan = plan_patrol([Site(1, *CENTRE, label='=HYPERLINK("x")')], Shift.parse("18:00-20:00"), seed=1)
    text = write_csv(pd.DataFrame(plan_table(plan), columns=PLAN_CSV_COLUMNS, dtype=object), PLAN_CSV_NUMERIC)
    assert "\n1,1," in text and ",'=HYPERLINK" in text.replace('"', "")


def test_printable_page_and_app_link(api: tuple[TestClient, dict[str, str]]) -> None:
    r = _get(api, "/patrol-plan", format="html")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    body = _get(api, "/patrol-plan").json()
    for unit in {v["unit"] for v in body["visits"]}:
        assert f"Unit {unit}: round" in page
    for v in body["visits"]:
        assert v["start"] in page
    assert "By hotspot" in page and "Koper (1995)" in page and NO_TIMES_NOTE in page
    assert "seed=5" in page and "format=pdf" in page
    app = _get(api, "/app/patrol-plan", **{"from": "2023-01", "to": "2023-01"})
    assert app.status_code == 200 and "Patrol plan 22:00-06:00" in app.text
    for v in body["visits"]:
        assert v["start"] in app.text


def test_pdf_fits_its_pages_without_blank_ones(api: tuple[TestClient, dict[str, str]]) -> None:
    weasyprint = pytest.importorskip("weasyprint")
    html = _get(api, "/patrol-plan", format="html").text
    r = _get(api, "/patrol-plan", format="pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    pages = len(weasyprint.HTML(string=html).render().pages)
    assert pages == 1  # three hotspots, one unit: one A4 page
    # a larger plan: several pages, none blank
    many = ",".join(str(i) for i in range(1, 10))
    big = _get(api, "/patrol-plan", format="pdf", hotspots=many, shift="18:00-06:00")
    assert big.status_code == 200 and big.content.startswith(b"%PDF")
    if shutil.which("pdftotext") and shutil.which("pdfinfo"):
        for pdf in (r.content, big.content):
            info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout
            n = int(re.search(rb"Pages:\s+(\d+)", info).group(1))  # type: ignore[union-attr]
            for p in range(1, n + 1):
                text = subprocess.run(
                    ["pdftotext", "-f", str(p), "-l", str(p), "-", "-"],
                    input=pdf,
                    capture_output=True,
                    check=True,
                ).stdout
                assert len(text.strip()) > 100, f"page {p} of {n} is (nearly) blank"
        info = subprocess.run(["pdfinfo", "-"], input=r.content, capture_output=True, check=True).stdout
        assert b"Pages:           1" in info


@pytest.mark.usefixtures("_env")
def test_cli_weights_toward_busy_hours_when_the_data_has_times(tmp_path: Path) -> None:
    from hotspots.boundaries import shipped_boundary_sets
    from tests.planting import planted_incidents

    bset = shipped_boundary_sets()["wards-2022"]
    point = bset.wards.geometry.representative_point().iloc[5]
    frame, _ = planted_incidents(
        [(float(point.x), float(point.y))],
        per_cluster=60,
        spread_m=15,
        background=30,
        area=bset.outline,
        seed=6,
    )
    rng = np.random.default_rng(6)
    hours = np.where(rng.random(len(frame)) < 0.8, 23, rng.integers(0, 24, len(frame)))
    frame["When"] = [f"2024-01-{1 + i % 28:02d} {h:02d}:{i % 60:02d}" for i, h in enumerate(hours)]
    src = tmp_path / "timed.csv"
    frame.to_csv(src, index=False)
    mapping = json.dumps(
        {"longitude": "Longitude", "latitude": "Latitude", "date": "When", "category": "Crime type"}
    )
    out = tmp_path / "plan.json"
    args = ["patrol-plan", str(src), "--format", "generic", "--mapping", mapping, "--eps-m", "60"]
    result = runner.invoke(
        cli, [*args, "--min-samples", "15", "--hotspots", "1", "--seed", "3", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(out.read_text())
    assert body["times_of_day"] and body["times_note"] == TIMES_NOTE
    assert body["hotspots"][0]["busy_hours"][0] == "23:00"
    assert "busy hours" in result.output
