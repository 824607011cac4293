"""Intervention evaluation on planted data with a known answer (fixed seeds), and the arithmetic by hand."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from hotspots.errors import InvalidInput
from hotspots.geo.disclosure import Disclosure, record_keys
from hotspots.geo.stats import interventions as iv

X0, Y0 = 540_000.0, 185_000.0  # east London, EPSG:27700
WARD_M = 1000.0
GRID = 6
MONTHS = iv.month_span("2022-01", "2023-12")
START = "2023-01"
TARGET = box(X0 + 2300, Y0 + 2300, X0 + 2700, Y0 + 2700)


def wards() -> gpd.GeoDataFrame:
    rows = []
    for i in range(GRID):
        for j in range(GRID):
            rows.append(
                {
                    "ward_code": f"E0500{i}{j:02d}",
                    "ward_name": f"Ward {i}-{j}",
                    "geometry": box(
                        X0 + i * WARD_M, Y0 + j * WARD_M, X0 + (i + 1) * WARD_M, Y0 + (j + 1) * WARD_M
                    ),
                }
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=27700)


def _points_in(geom: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    minx, miny, maxx, maxy = geom.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        cand = rng.uniform([minx, miny], [maxx, maxy], size=(max(4 * n, 16), 2))
        out = np.vstack([out, cand[shapely.contains_xy(geom, cand[:, 0], cand[:, 1])]])
    return out[:n]


def planted(
    *, target: tuple[float, float] = (100, 50), buffer: tuple[float, float] = (100, 80), seed: int = 7
) -> pd.DataFrame:
    """Monthly Poisson incidents: target and buffer rates before/after the start; a steady control
    spread over the rest of the area (300 a month), with a common seasonal swing."""
    rng = np.random.default_rng(seed)
    outline = shapely.union_all(wards().geometry.to_numpy())
    ring = TARGET.buffer(250).difference(TARGET)
    rest = outline.difference(TARGET.buffer(250))
    rows = []
    for k, month in enumerate(MONTHS):
        season = 1.0 + 0.2 * math.sin(2 * math.pi * k / 12)
        after = month >= START
        for geom, rate in ((TARGET, target[after]), (ring, buffer[after]), (rest, 300.0)):
            n = int(rng.poisson(rate * season))
            for x, y in _points_in(geom, n, rng):
                rows.append((month, x, y))
    frame = pd.DataFrame(rows, columns=["month", "x", "y"])
    frame["has_location"] = True
    frame["crime_type"] = "Burglary"
    return frame


def run(frame: pd.DataFrame, view: Disclosure = iv.EXACT, **kw: object) -> dict:
    w = wards()
    outline = shapely.union_all(w.geometry.to_numpy())
    areas = iv.build_areas(TARGET, outline, w, 250.0, **kw)  # type: ignore[arg-type]
    periods = iv.choose_periods(MONTHS, START)
    return iv.evaluate(frame, areas, w, periods, view=view)


def within(estimate: float, truth: float, se: float) -> bool:
    return abs(estimate - truth) <= iv.Z90 * se


# ---- the arithmetic by hand ----------------------------------------------------------------------


def test_wdd_by_hand() -> None:
    # T = (20, 10), C = (20, 20), D = (30, 20), CD = (30, 30): local (10-20)-(20-20) = -10 with variance
    # 10+20+20+20 = 70; displacement (20-30)-(30-30) = -10 with variance 20+30+30+30 = 110.
    out = iv.wdd((20, 10), (20, 20), (30, 20), (30, 30))
    assert out["local"] == -10 and out["displacement"] == -10 and out["total"] == -20
    assert out["local_se"] == pytest.approx(math.sqrt(70))
    assert out["displacement_se"] == pytest.approx(math.sqrt(110))
    assert out["variance"] == 180
    assert out["z"] == pytest.approx(-20 / math.sqrt(180))
    assert out["p"] == pytest.approx(math.erfc(20 / math.sqrt(180) / math.sqrt(2)))
    assert out["p"] == pytest.approx(0.1360, abs=1e-4)
    assert out["ci90"] == pytest.approx(
        [-20 - 1.6449 * math.sqrt(180), -20 + 1.6449 * math.sqrt(180)], abs=1e-3
    )


def test_wdd_without_buffer_control_uses_the_control_again() -> None:
    out = iv.wdd((20, 10), (20, 20), (30, 20))
    # displacement (20-30)-(20-20) = -10, variance 20+30+20+20 = 90
    assert out["displacement"] == -10
    assert out["variance"] == 70 + 90


def test_wdd_control_weights() -> None:
    # a control ten times the target's size, weighted down to it: its change counts a tenth, its
    # variance a hundredth (ptools' area weights c(10, 1, ...), as multipliers)
    out = iv.wdd((20, 10), (200, 180), control_weight=0.1)
    assert out["local"] == pytest.approx((10 - 20) - 0.1 * (180 - 200))
    assert out["local_se"] ** 2 == pytest.approx(30 + 0.01 * 380)


def test_wdd_time_weights_when_periods_differ() -> None:
    # 2 before months, 1 after: before counts halved, their variance quartered (as ptools'
    # time_weights = c(2, 1)): local (10 - 20/2) - (20 - 20/2) = -10, variance 10 + 20/4 + 20 + 20/4 = 40.
    out = iv.wdd((20, 10), (20, 20), time_weight=0.5)
    assert out["local"] == pytest.approx(-10)
    assert out["local_se"] ** 2 == pytest.approx(40)


def _tiny(counts: dict[tuple[float, float], tuple[int, int, int]]) -> pd.DataFrame:
    """Incidents at fixed points: for each (x, y), how many in 2022-11, 2022-12 and 2023-01."""
    rows = []
    for (x, y), per_month in counts.items():
        for month, n in zip(("2022-11", "2022-12", "2023-01"), per_month, strict=True):
            rows += [(month, X0 + x, Y0 + y)] * n
    frame = pd.DataFrame(rows, columns=["month", "x", "y"])
    frame["has_location"] = True
    frame["crime_type"] = "Burglary"
    return frame


def test_evaluation_wdd_is_the_plain_formula_by_hand_with_both_variants() -> None:
    # two before months, one after (time weight 1/2). Target T0 = 20, T1 = 10; buffer D0 = 30,
    # D1 = 20; control C0 = 40, C1 = 24 (no buffer control: CD is C again).
    frame = _tiny({(2500, 2500): (12, 8, 10), (2500, 2820): (10, 20, 20), (500, 500): (25, 15, 24)})
    w = wards()
    outline = shapely.union_all(w.geometry.to_numpy())
    areas = iv.build_areas(TARGET, outline, w, 250.0)
    periods = iv.choose_periods(["2022-11", "2022-12", "2023-01"], "2023-01", None, 2)
    assert periods.time_weight == 0.5
    report = iv.evaluate(frame, areas, w, periods)
    assert (report["target"]["before"], report["target"]["after"]) == (20, 10)
    assert (report["buffer"]["before"], report["buffer"]["after"]) == (30, 20)
    assert (report["control"]["before"], report["control"]["after"]) == (40, 24)
    plain = report["wdd"]
    # local (10 - 20/2) - (24 - 40/2) = -4; displacement (20 - 30/2) - (24 - 40/2) = 1; total -3
    assert plain["formula"] == "plain" and report["wdd_plain"] == plain
    assert plain["local"] == -4 and plain["displacement"] == 1 and plain["total"] == -3
    # variance: each after count plus each before count times (1/2)^2, the control in both terms
    var = (10 + 20 / 4) + (24 + 40 / 4) + (20 + 30 / 4) + (24 + 40 / 4)
    assert var == 110.5 and plain["variance"] == var
    assert plain["se"] == pytest.approx(math.sqrt(var))
    assert plain["z"] == pytest.approx(-3 / math.sqrt(var))
    assert plain["p"] == pytest.approx(math.erfc(3 / math.sqrt(var) / math.sqrt(2)))
    assert plain["ci90"] == pytest.approx([-3 - iv.Z90 * math.sqrt(var), -3 + iv.Z90 * math.sqrt(var)])
    assert plain["reading"].startswith("plain formula: ")
    # scaled alongside: w_C = T0/C0 = 0.5, w_CD = D0/C0 = 0.75; local 0 - 0.5*4 = -2, displacement
    # 5 - 0.75*4 = 2; variance 15 + 0.25*34 + 27.5 + 0.5625*34 = 70.125
    scaled = report["wdd_scaled"]
    assert scaled["formula"] == "scaled" and scaled["control_weight"] == 0.5
    assert scaled["local"] == pytest.approx(-2) and scaled["displacement"] == pytest.approx(2)
    assert scaled["variance"] == pytest.approx(70.125)
    assert scaled["reading"].startswith("control scaled to the target's size: ")
    words = iv.verdict(report)
    assert "plain formula" in words and "control scaled" in words
    # the option makes the scaled one the headline; both are still given
    chosen = iv.evaluate(frame, areas, w, periods, scale_control=True)
    assert chosen["wdd"] == chosen["wdd_scaled"] == scaled and chosen["wdd_plain"] == plain
    # WDQ by hand: success 10/24 - 20/40; buffer 20/24 - 30/40
    assert report["wdq"]["value"] == pytest.approx((20 / 24 - 30 / 40) / (10 / 24 - 20 / 40))


def test_wdq_by_hand() -> None:
    # success (10/20 - 20/20) = -0.5; buffer (24/20 - 30/20) = -0.3; WDQ 0.6: diffusion smaller than effect
    out = iv.wdq((20, 10), (20, 20), (30, 24))
    assert out["value"] == pytest.approx(0.6)
    assert "between 0 and 1" in out["reading"]
    assert iv.wdq((20, 10), (20, 20), (30, 40))["value"] == pytest.approx(-1.0)
    assert "displacement" in iv.wdq((20, 10), (20, 20), (30, 40))["reading"]
    assert iv.wdq((20, 10), (20, 20), (30, 0))["value"] == pytest.approx(3.0)
    assert "above 1" in iv.wdq((20, 10), (20, 20), (30, 0))["reading"]


def test_wdq_null_with_reason() -> None:
    zero = iv.wdq((20, 20), (20, 20), (30, 20))
    assert zero["value"] is None and "target term is zero" in zero["reading"]
    small = iv.wdq((3, 1), (20, 20), (30, 20))
    assert small["value"] is None and "fewer than" in small["reading"]
    empty = iv.wdq((20, 10), (20, 0), (30, 20))
    assert empty["value"] is None and "control has no incidents" in empty["reading"]


# ---- planted effects -------------------------------------------------------------------------------


def test_planted_reduction_with_diffusion_is_recovered() -> None:
    report = run(planted(target=(100, 50), buffer=(100, 80)))
    w = report["wdd"]
    t0, t1 = report["target"]["before"], report["target"]["after"]
    assert 1000 < t0 < 1400 and 500 < t1 < 700
    # truth: local = (600 - 1200) - 0 = -600; displacement = (960 - 1200) - 0 = -240
    assert within(w["local"], -600, w["local_se"])
    assert within(w["displacement"], -240, w["displacement_se"])
    assert within(w["total"], -840, w["se"])
    assert w["ci90"][1] < 0 and w["p"] < 0.01 and w["z"] < 0
    q = report["wdq"]
    assert q["value"] == pytest.approx(0.4, abs=0.15)
    assert "between 0 and 1" in q["reading"]
    s = report["synthetic"]
    assert s["effect"] == pytest.approx(-600, rel=0.25)
    assert s["p"] <= 0.1
    assert sum(d["weight"] for d in s["weights"]) == pytest.approx(1.0, abs=0.01)
    assert all(d["weight"] >= 0 for d in s["weights"])


def test_planted_displacement_is_recovered() -> None:
    report = run(planted(target=(100, 50), buffer=(100, 130), seed=11))
    w = report["wdd"]
    assert within(w["displacement"], 360, w["displacement_se"])
    assert w["displacement"] > 0
    assert within(w["local"], -600, w["local_se"])
    q = report["wdq"]
    assert q["value"] == pytest.approx(-0.6, abs=0.2)
    assert "displacement" in q["reading"]


def test_nothing_planted_gives_no_effect() -> None:
    report = run(planted(target=(100, 100), buffer=(100, 100), seed=3))
    w = report["wdd"]
    assert w["ci90"][0] < 0 < w["ci90"][1] or abs(w["z"]) < 2.58
    s = report["synthetic"]
    assert s["p"] > 0.1
    assert abs(s["effect"]) < 0.15 * 1200


def test_synthetic_control_recovers_a_planted_effect_exactly_when_the_target_is_a_donor_mix() -> None:
    rng = np.random.default_rng(5)
    donors = rng.poisson(50, size=(24, 12)).astype(float)
    target = 0.5 * donors[:, 0] + 0.5 * donors[:, 1]
    target[12:] -= 25.0  # planted: 25 fewer each month after the start (half)
    out = iv.synthetic_control(target, donors, 12, [f"w{i}" for i in range(12)])
    assert out["effect"] == pytest.approx(-300, abs=40)
    assert out["p"] <= 1 / 13 + 1e-9
    top = {d["ward"] for d in out["weights"][:2]}
    assert top == {"w0", "w1"}


def test_synthetic_control_placebo_p_without_effect() -> None:
    rng = np.random.default_rng(21)
    donors = rng.poisson(50, size=(24, 20)).astype(float)
    target = rng.poisson(50, size=24).astype(float)
    out = iv.synthetic_control(target, donors, 12)
    assert out["p"] > 0.1
    assert iv.synthetic_control(target, donors, 2)["effect"] is None  # too few months before


def test_time_weights_follow_unequal_periods() -> None:
    periods = iv.choose_periods(MONTHS, START, before_months=6)
    assert len(periods.before) == 6 and len(periods.after) == 12
    assert periods.time_weight == 2.0
    # missing months are left out of both periods
    gap = [m for m in MONTHS if m != "2022-10"]
    p = iv.choose_periods(gap, START, end="2023-03")
    assert p.after == ["2023-01", "2023-02", "2023-03"]
    assert p.before == ["2022-11", "2022-12"] and p.missing == ["2022-10"]
    with pytest.raises(InvalidInput):
        iv.choose_periods(MONTHS, "2021-01")
    with pytest.raises(InvalidInput):
        iv.choose_periods(MONTHS, "2024-06")


def test_areas_and_control_rule() -> None:
    w = wards()
    outline = shapely.union_all(w.geometry.to_numpy())
    areas = iv.build_areas(TARGET, outline, w, 250.0)
    assert areas.buffer.intersection(TARGET).area < 1
    assert areas.control.distance(TARGET) == pytest.approx(500, abs=1)
    assert "auto" in areas.control_rule
    chosen = iv.build_areas(TARGET, outline, w, 250.0, iv.Control("wards", wards=("E0500000", "E0500505")))
    assert chosen.control.area == pytest.approx(2e6, rel=1e-6)
    with pytest.raises(InvalidInput, match="not in the area"):
        iv.build_areas(TARGET, outline, w, 250.0, iv.Control("wards", wards=("E05999999",)))
    with pytest.raises(InvalidInput, match="buffer_m"):
        iv.build_areas(TARGET, outline, w, 5.0)


def test_report_fields_and_chart() -> None:
    report = run(planted())
    for key in ("target", "buffer", "control", "wdd", "wdq", "synthetic", "periods"):
        assert key in report
    for key in ("before", "after", "months"):
        assert key in report["target"] and key in report["control"]
    chart = report["chart"]
    assert chart["months"] == MONTHS and chart["start"] == START
    assert len(chart["target"]) == len(chart["synthetic"]) == len(chart["control_scaled"]) == 24
    assert sum(report["target"]["monthly"][m] for m in MONTHS[:12]) == report["target"]["before"]
    assert any("Regression to the mean" in c for c in report["caveats"])
    assert any("Month-only" in c for c in report["caveats"])
    json.dumps(report)  # JSON-ready


def test_protected_view_hides_a_small_target_count() -> None:
    frame = planted(target=(0.25, 0.1), buffer=(20, 20), seed=3)
    frame["record_key"] = record_keys(b"secret", "planted", len(frame))
    exact = run(frame)
    assert 0 < exact["target"]["before"] < 5
    view = Disclosure(exact=False, k=5, secret=b"secret")
    shown = run(frame, view)
    assert shown["target"]["before"] is None
    assert all(v is None or v == 0 or v >= 5 for v in shown["target"]["monthly"].values())
    assert shown["wdd"]["total"] is None and "withheld" in shown["wdd"]["reading"]
    assert shown["wdq"]["value"] is None
    # the buffer and control counts are perturbed cells, and the same request gives the same values
    again = run(frame, view)
    assert again["control"]["before"] == shown["control"]["before"]
    assert abs(shown["control"]["before"] - exact["control"]["before"]) <= 2


def test_protected_figures_come_from_protected_counts() -> None:
    frame = planted(seed=9)
    frame["record_key"] = record_keys(b"s", "planted", len(frame))
    view = Disclosure(exact=False, k=5, secret=b"s")
    shown = run(frame, view)
    t = (shown["target"]["before"], shown["target"]["after"])
    c = (shown["control"]["before"], shown["control"]["after"])
    d = (shown["buffer"]["before"], shown["buffer"]["after"])
    wc, wd = t[0] / c[0], d[0] / c[0]  # the control scaled to the target's, then the buffer's, before count
    scaled = shown["wdd_scaled"]
    assert scaled["control_weight"] == pytest.approx(wc)
    assert scaled["local"] == pytest.approx((t[1] - t[0]) - wc * (c[1] - c[0]))
    assert scaled["displacement"] == pytest.approx((d[1] - d[0]) - wd * (c[1] - c[0]))
    assert scaled["variance"] == pytest.approx(sum(t) + sum(d) + (wc**2 + wd**2) * sum(c))
    plain = shown["wdd"]
    assert plain["formula"] == "plain" and plain["control_weight"] == 1.0
    assert plain["local"] == pytest.approx((t[1] - t[0]) - (c[1] - c[0]))
    assert plain["variance"] == pytest.approx(sum(t) + sum(d) + 2 * sum(c))
    assert shown["wdq"]["value"] == pytest.approx(iv.wdq(t, c, d)["value"])


def test_geojson_target_parsing() -> None:
    poly = {
        "type": "Polygon",
        "coordinates": [[[0.1, 51.55], [0.11, 51.55], [0.11, 51.56], [0.1, 51.56], [0.1, 51.55]]],
    }
    geom = iv.parse_geojson_polygon(json.dumps({"type": "Feature", "geometry": poly, "properties": {}}))
    assert geom.area == pytest.approx(700 * 1110, rel=0.05)  # about 0.7 km by 1.1 km
    with pytest.raises(InvalidInput, match="Polygon"):
        iv.parse_geojson_polygon(json.dumps({"type": "Point", "coordinates": [0.1, 51.5]}))
    with pytest.raises(InvalidInput, match="swapped"):
        swapped = {"type": "Polygon", "coordinates": [[[y, x] for x, y in poly["coordinates"][0]]]}
        iv.parse_geojson_polygon(json.dumps(swapped))
    bow = {
        "type": "Polygon",
        "coordinates": [[[0.1, 51.55], [0.11, 51.56], [0.11, 51.55], [0.1, 51.56], [0.1, 51.55]]],
    }
    with pytest.raises(InvalidInput, match="not valid"):
        iv.parse_geojson_polygon(json.dumps(bow))
    with pytest.raises(InvalidInput, match="not valid GeoJSON"):
        iv.parse_geojson_polygon(b"{nope")
    with pytest.raises(InvalidInput, match="at most"):
        iv.parse_geojson_polygon(b" " * (iv.MAX_GEOJSON_BYTES + 1))
