"""Coverage: a month a source did not cover is missing, never zero (issue #13 point 3)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from hotspots.boundaries import BoundarySet
from hotspots.demo import sample_source
from hotspots.geo.analysis import AnalysisParams, AnalysisResult, analyse
from hotspots.geo.disclosure import Disclosure, protect
from hotspots.geo.inputs.ingest import read_incidents
from hotspots.geo.outputs.export import dumps, hotspots_csv, hotspots_geojson, jsonable
from hotspots.geo.stats.coverage import compute_coverage, coverage_note, missing_by_month
from hotspots.geo.stats.trend import mann_kendall, mann_kendall_many

BD_HAVERING = "police_api_bd_havering_2016-01_to_2018-06.csv.gz"
BD, HAVERING = "E09000002", "E09000016"


@pytest.fixture(scope="module")
def gapped(boundary_sets: dict[str, BoundarySet]) -> AnalysisResult:
    incidents = read_incidents([sample_source(BD_HAVERING)]).incidents
    return analyse(incidents, boundary_sets, AnalysisParams())


def test_shipped_gaps_are_found(gapped: AnalysisResult) -> None:
    cov = gapped.meta["coverage"]
    missing = {(r["month"], r["district_code"]) for r in cov["missing"]}
    assert missing == {("2016-04", BD), ("2016-03", HAVERING)}
    assert cov["months"][0] == "2016-01" and cov["months"][-1] == "2018-06"
    assert not cov["complete"]
    json.dumps(cov)  # JSON-ready
    note = coverage_note(gapped.meta)
    assert note is not None
    assert "Barking and Dagenham 2016-04" in note and "Havering 2016-03" in note


def test_missing_month_is_null_and_left_out_of_the_trend(gapped: AnalysisResult) -> None:
    hs = gapped.hotspots
    bd_only = hs[hs["borough_codes"].map(lambda c: c == [BD])]
    assert len(bd_only)
    top = bd_only.iloc[0]
    monthly = top["monthly_counts"]
    assert monthly["2016-04"] is None
    assert monthly["2016-03"] > 0 and monthly["2016-05"] > 0
    assert top["missing_months"] == ["2016-04"]
    months = sorted(monthly)
    present = [i for i, m in enumerate(months) if monthly[m] is not None]
    expected = mann_kendall([monthly[months[i]] for i in present], times=present)
    assert top["trend"] == expected.trend
    assert top["trend_p"] == pytest.approx(expected.p)
    assert top["slope_per_month"] == pytest.approx(expected.slope_per_month)
    as_zero = mann_kendall([monthly[m] or 0 for m in months])
    assert (as_zero.p, as_zero.slope_per_month) != (expected.p, expected.slope_per_month)
    hav = hs[hs["borough_codes"].map(lambda c: c == [HAVERING])].iloc[0]
    assert hav["monthly_counts"]["2016-03"] is None and hav["monthly_counts"]["2016-04"] is not None


def test_exports_write_null_for_missing_months(gapped: AnalysisResult) -> None:
    gj = json.loads(dumps(hotspots_geojson(gapped)))
    bd_feature = next(f for f in gj["features"] if f["properties"]["borough_codes"] == [BD])
    assert bd_feature["properties"]["monthly_counts"]["2016-04"] is None
    assert bd_feature["properties"]["missing_months"] == ["2016-04"]
    assert gj["metadata"]["coverage"]["missing"]
    table = pd.read_csv(__import__("io").StringIO(hotspots_csv(gapped)), keep_default_na=False)
    row = table[table["hotspot_id"] == bd_feature["properties"]["hotspot_id"]].iloc[0]
    assert row["missing_months"] == "2016-04"


def test_protected_view_keeps_missing_months_null(gapped: AnalysisResult) -> None:
    shown = protect(gapped, Disclosure(exact=False, k=5, secret=b"s" * 32))
    top = shown.hotspots[shown.hotspots["borough_codes"].map(lambda c: c == [BD])].iloc[0]
    assert top["monthly_counts"]["2016-04"] is None
    assert top["monthly_counts"]["2016-03"] is not None
    assert shown.meta["coverage"] == gapped.meta["coverage"]
    json.dumps(jsonable(shown.meta["coverage"]))


def test_complete_data_has_no_missing_months(
    points: pd.DataFrame, boundary_sets: dict[str, BoundarySet]
) -> None:
    result = analyse(
        points, boundary_sets, AnalysisParams(month_from="2019-01", month_to="2019-06"), statistics=False
    )
    assert result.meta["coverage"]["missing"] == []
    assert coverage_note(result.meta) is None
    assert all(v is not None for mc in result.hotspots["monthly_counts"] for v in mc.values())


def test_rule_spares_quiet_districts_and_is_per_source() -> None:
    months = ["2020-01", "2020-02", "2020-03", "2020-04", "2020-05"]
    rows = []
    for m in months:
        if m != "2020-03":
            rows += [("a", m, "D1")] * 30  # busy district, nothing in March: missing
        if m in ("2020-01", "2020-05"):
            rows += [("a", m, "D2")] * 3  # quiet district: its empty months stay zeros
        rows += [("b", m, "D1")] * 25  # a second source covered March
    df = pd.DataFrame(rows, columns=["dataset", "month", "borough_code"])
    df["outside_area"] = False
    cov = compute_coverage(df, months, {"D1": "One", "D2": "Two"})
    assert [(r["source"], r["month"], r["district_code"]) for r in cov["missing"]] == [("a", "2020-03", "D1")]
    assert missing_by_month(cov) == {"2020-03": {"D1"}}


def test_mann_kendall_many_with_gaps() -> None:
    rng = np.random.default_rng(13)
    series = rng.poisson(20, size=(40, 24)).astype(float)
    series[5] = np.arange(24)  # a clean trend (exact p path)
    before = mann_kendall_many(series)
    gapped = series.copy()
    gapped[[3, 5, 17], 7] = np.nan
    gapped[17, 0] = np.nan
    after = mann_kendall_many(gapped)
    for r in range(len(series)):
        if r in (3, 5, 17):
            keep = ~np.isnan(gapped[r])
            want = mann_kendall(gapped[r][keep], times=np.flatnonzero(keep))
            assert after[r] == want
            assert after[r].n == int(keep.sum())
        else:
            assert after[r] == before[r]  # rows without NaN: identical
    # Sen's slope is per month over the true month positions, not per present point
    assert after[5].slope_per_month == pytest.approx(1.0)
    assert not math.isnan(after[17].p or 0.0)
    with pytest.raises(Exception, match="finite"):
        mann_kendall_many(np.array([[1.0, np.inf, 2.0, 3.0]]))


def test_emerging_masks_missing_months_per_cell_district(gapped: AnalysisResult) -> None:
    from hotspots.geo.stats.assessment import emerging_layer

    cells = emerging_layer(gapped, 500.0)
    n = len(gapped.months)
    covered = cells["n_months_covered"].value_counts()
    assert set(covered.index) <= {n, n - 1}
    assert covered.get(n - 1, 0) > 0  # the B&D and Havering cells lost one month each
    assert cells.attrs["method"]["missing_bins"] == int((n - cells["n_months_covered"]).sum())
    assert (cells["n_months_hot"] <= cells["n_months_covered"]).all()


def test_masked_gi_star_equals_unmasked_when_all_covered() -> None:
    from scipy import sparse

    from hotspots.geo.stats.emerging import space_time_gi_star

    rng = np.random.default_rng(3)
    cube = rng.poisson(3, size=(8, 30)).astype(float)
    adj = sparse.random(30, 30, density=0.2, random_state=4)
    adj = ((adj + adj.T) > 0).astype(float)
    plain = space_time_gi_star(cube, adj)
    np.testing.assert_array_equal(
        plain, space_time_gi_star(cube, adj, covered=np.ones_like(cube, dtype=bool))
    )
    mask = np.ones_like(cube, dtype=bool)
    mask[3, :10] = False
    masked = space_time_gi_star(cube, adj, covered=mask)
    assert np.isnan(masked[3, :10]).all()
    # a missing bin is not a zero: zeroing it instead changes the neighbours' z-scores
    zeroed = cube.copy()
    zeroed[3, :10] = 0
    assert not np.allclose(
        np.nan_to_num(masked[3, 10:]), np.nan_to_num(space_time_gi_star(zeroed, adj)[3, 10:])
    )


def test_compare_leaves_missing_months_out_of_the_ward_exposure(
    boundary_sets: dict[str, BoundarySet],
) -> None:
    from hotspots.geo.stats.assessment import compare

    incidents = read_incidents([sample_source(BD_HAVERING)]).incidents
    pa = AnalysisParams(month_from="2016-01", month_to="2016-06", eps_m=100, min_samples=60)
    pb = AnalysisParams(month_from="2017-01", month_to="2017-06", eps_m=100, min_samples=60)
    report = compare(incidents, boundary_sets, pa, pb)
    assert {(r["month"], r["district_code"]) for r in report["coverage"]["missing_a"]} == {
        ("2016-04", BD),
        ("2016-03", HAVERING),
    }
    wards = report["wards"]
    wards = wards[wards["borough_name"].isin(["Barking and Dagenham", "Havering"])]
    assert len(wards) > 30
    for code, row in wards.set_index("ward_code").iterrows():
        if row["count_a"] > 0:
            # each borough lost one month of six in period A: B would hold A's count x 6/5
            assert row["expected_b"] == pytest.approx(row["count_a"] * 6 / 5), code
    shown = __import__("hotspots.geo.disclosure", fromlist=["protect_compare"]).protect_compare(
        report, Disclosure(exact=False, k=5, secret=b"c" * 32)
    )
    big = shown["wards"][pd.to_numeric(shown["wards"]["count_a"], errors="coerce") > 50].iloc[0]
    assert big["borough_name"] in ("Barking and Dagenham", "Havering")
    assert big["expected_b"] == pytest.approx(big["count_a"] * 6 / 5)


def test_evaluation_says_which_test_months_are_missing(boundary_sets: dict[str, BoundarySet]) -> None:
    from hotspots.geo.stats.assessment import evaluate_hotspots

    incidents = read_incidents([sample_source(BD_HAVERING)]).incidents
    params = AnalysisParams(month_to="2016-04", eps_m=100, min_samples=40)
    report = evaluate_hotspots(incidents, boundary_sets, params, test_month="2016-04")
    assert report["coverage"]["test_months_missing"] == {"2016-04": ["Barking and Dagenham"]}
    assert "2016-04 in Barking and Dagenham" in report["coverage"]["note"]
    later = evaluate_hotspots(
        incidents, boundary_sets, replace(params, month_to="2016-06"), test_month="2016-06"
    )
    assert later["coverage"]["note"] is None


def test_notes_for_templates(gapped: AnalysisResult) -> None:
    from hotspots.api.templating import templates
    from hotspots.maps.notes import analysis_notes

    notes = analysis_notes(gapped.meta)
    assert notes["coverage"] and "Havering 2016-03" in notes["coverage"]
    assert notes["concentration"] and notes["concentration"].startswith("Half of the incidents")
    assert notes["stability"] is None
    html = templates.get_template("_analysis_notes.html").render(meta=gapped.meta)
    assert 'class="note coverage-note"' in html and "Barking and Dagenham 2016-04" in html
    assert templates.get_template("_analysis_notes.html").render().strip() == ""
    meta = {
        **gapped.meta,
        "coverage": {
            **gapped.meta["coverage"],
            "missing": [
                {"source": "all", "month": m, "district_code": BD, "district_name": "<b>B&D</b>"}
                for m in ("2016-03", "2016-04", "2016-05", "2016-09")
            ],
        },
    }
    note = analysis_notes(meta)["coverage"]
    assert note is not None and "2016-03 to 2016-05, 2016-09" in note
    assert "&lt;b&gt;" in templates.get_template("_analysis_notes.html").render(meta=meta)  # escaped


def test_table_rows_name_missing_months(gapped: AnalysisResult) -> None:
    from hotspots.maps.panel import hotspot_rows

    rows = hotspot_rows(gapped.hotspots, gapped.meta)
    by_rank = {r.rank: r for r in rows}
    for hid, codes in zip(gapped.hotspots["hotspot_id"], gapped.hotspots["borough_codes"], strict=True):
        if codes == [BD]:
            assert by_rank[int(hid)].missing_months == "2016-04"
        if codes == [BD, HAVERING] or codes == [HAVERING, BD]:
            assert by_rank[int(hid)].missing_months == "2016-03, 2016-04"


def test_monthly_chart_draws_missing_months_as_gaps(gapped: AnalysisResult) -> None:
    from hotspots.maps.static_map import monthly_png

    top = gapped.hotspots[gapped.hotspots["borough_codes"].map(lambda c: c == [BD])].iloc[0]
    with_gap = monthly_png(top["monthly_counts"], missing=top["missing_months"])
    assert with_gap[:8] == b"\x89PNG\r\n\x1a\n"
    assert with_gap != monthly_png(top["monthly_counts"])  # a gap, not a withheld (hatched) bar
