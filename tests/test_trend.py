"""Trends over time: Mann-Kendall, time-of-day profiles, hotspots and wards compared between periods."""

from __future__ import annotations

import itertools
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from shapely.geometry import box

from hotspots.errors import InvalidInput
from hotspots.geo.stats.trend import (
    MIN_TREND_POINTS,
    compare_periods,
    hotspot_trends,
    mann_kendall,
    time_profile,
    ward_change,
)

# ---- Mann-Kendall ----------------------------------------------------------------------------


def test_strictly_increasing_series_is_increasing() -> None:
    res = mann_kendall(list(range(12)))
    assert res.trend == "increasing"
    assert res.s == 66  # every one of the 12*11/2 pairs goes up
    assert res.tau == pytest.approx(1.0)
    assert res.p is not None and res.p < 0.001
    assert res.slope_per_month == pytest.approx(1.0)


def test_decreasing_series_with_noise_is_decreasing() -> None:
    rng = np.random.default_rng(7)
    counts = 100 - 3 * np.arange(24) + rng.normal(0, 4, 24)
    res = mann_kendall(counts.tolist())
    assert res.trend == "decreasing"
    assert res.s is not None and res.s < 0
    assert res.slope_per_month == pytest.approx(-3.0, abs=0.6)


def test_constant_series_has_no_trend() -> None:
    res = mann_kendall([5] * 10)
    assert res.trend == "no trend"
    assert (res.s, res.z, res.p, res.tau, res.slope_per_month) == (0.0, 0.0, 1.0, 0.0, 0.0)


def test_random_noise_has_no_trend() -> None:
    rng = np.random.default_rng(11)
    res = mann_kendall(rng.poisson(40, 36).tolist())
    assert res.trend == "no trend"


def test_short_series_is_too_short() -> None:
    res = mann_kendall([1, 2, 3])
    assert MIN_TREND_POINTS == 4
    assert res.trend == "too short"
    assert res.n == 3 and res.p is None and res.s is None and res.slope_per_month is None
    # four points are tested, but even a perfect rise has exact p = 2/4! = 0.083
    four = mann_kendall([1, 2, 3, 4])
    assert four.trend == "no trend"
    assert four.p == pytest.approx(2 / 24)
    # the normal approximation would (wrongly) call it: z = 6 / sqrt(4*3*13/18) = 2.04
    approx = mann_kendall([1, 2, 3, 4], method="asymptotic")
    assert approx.p == pytest.approx(2 * stats.norm.sf(6 / math.sqrt(4 * 3 * 13 / 18)))
    assert approx.trend == "increasing"


def test_statistics_match_a_hand_computation_with_ties() -> None:
    x = [1, 2, 2, 4, 3]
    res = mann_kendall(x)
    # S by hand: from 1: +4; from the first 2: 0 (tie), +1, +1; from the second 2: +1, +1; from 4: -1
    assert res.s == 7
    # Var(S) = [n(n-1)(2n+5) - sum t(t-1)(2t+5)] / 18 = (5*4*15 - 2*1*9) / 18 = 282 / 18
    var = 282 / 18
    assert res.z == pytest.approx(7 / math.sqrt(var))
    # ties -> scipy uses the tie-corrected normal approximation: p = 2 * (1 - Phi(|z|))
    assert res.p == pytest.approx(2 * stats.norm.sf(7 / math.sqrt(var)))
    slopes = [(x[j] - x[i]) / (j - i) for i, j in itertools.combinations(range(5), 2)]
    assert res.slope_per_month == pytest.approx(float(np.median(slopes)))


def test_statistics_match_a_hand_computation_without_ties() -> None:
    res = mann_kendall([1, 3, 2, 5])
    assert res.s == 4  # 5 pairs up, 1 down
    assert res.z == pytest.approx(4 / math.sqrt(4 * 3 * 13 / 18))
    assert res.tau == pytest.approx(4 / 6)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(InvalidInput):
        mann_kendall([1, 2, float("nan"), 4, 5])
    with pytest.raises(InvalidInput):
        mann_kendall([1, 2, 3, 4], alpha=1.5)


def test_hotspot_trends_reads_monthly_counts() -> None:
    frame = pd.DataFrame(
        {
            "hotspot_id": [1, 2],
            "monthly_counts": [
                {f"2020-{m:02d}": m for m in range(1, 13)},
                {f"2020-{m:02d}": 3 for m in range(1, 13)},
            ],
        }
    )
    out = hotspot_trends(frame)
    assert out["trend"].tolist() == ["increasing", "no trend"]
    assert out.loc[0, "slope_per_month"] == pytest.approx(1.0)


# ---- time profile ----------------------------------------------------------------------------


def test_time_profile_month_only_data_says_why() -> None:
    prof = time_profile(pd.Series([pd.NaT] * 50, dtype="datetime64[ns]"))
    assert prof["available"] is False
    assert "police.uk publishes the month only, not the date or time" in prof["reason"]
    assert prof["hours"]["available"] is False and prof["hours"]["counts"] is None
    assert prof["weekdays"]["available"] is False and prof["weekdays"]["counts"] is None


def test_time_profile_counts_hours_and_weekdays() -> None:
    # 2024-01-01 is a Monday
    stamps = pd.Series(
        pd.to_datetime(["2024-01-01 13:30", "2024-01-01 13:59", "2024-01-06 23:10", "2024-01-07 00:05", ""])
    )
    prof = time_profile(stamps)
    assert prof["available"] is True
    assert prof["incidents"] == 5 and prof["incidents_with_date"] == 4
    assert prof["weekdays"]["labels"][0] == "Monday"
    assert prof["weekdays"]["counts"] == [2, 0, 0, 0, 0, 1, 1]
    hours = prof["hours"]["counts"]
    assert len(hours) == 24 and hours[13] == 2 and hours[23] == 1 and hours[0] == 1 and sum(hours) == 4
    assert "1 of 5" in prof["reason"]


def test_time_profile_dates_without_times_gives_weekdays_only() -> None:
    stamps = pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-13"]))
    prof = time_profile(stamps)
    assert prof["available"] is True
    assert prof["weekdays"]["counts"] == [1, 2, 0, 0, 0, 1, 0]
    assert prof["hours"]["available"] is False
    assert "no times" in prof["hours"]["reason"]


def test_time_profile_months_stored_as_dates_are_not_weekdays() -> None:
    stamps = pd.Series(pd.to_datetime([f"20{y}-{m:02d}-01" for y in (20, 21) for m in range(1, 13)]))
    prof = time_profile(stamps)
    assert prof["available"] is False
    assert prof["weekdays"]["counts"] is None
    assert "1st of a month" in prof["reason"]


def test_time_profile_parses_strings() -> None:
    prof = time_profile(pd.Series(["2024-03-05T08:15:00", "not a date"]))
    assert prof["hours"]["counts"][8] == 1
    assert prof["weekdays"]["counts"][1] == 1  # Tuesday


# ---- compare periods -------------------------------------------------------------------------


def _squares(ids: list[int], boxes: list[tuple[float, float, float, float]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"hotspot_id": ids}, geometry=[box(*b) for b in boxes], crs=27700)


def test_compare_periods_new_persistent_vanished() -> None:
    x0, y0 = 540000.0, 180000.0
    a = _squares(
        [1, 2, 3],
        [
            (x0, y0, x0 + 100, y0 + 100),
            (x0 + 1000, y0, x0 + 1100, y0 + 100),
            (x0 + 5000, y0, x0 + 5100, y0 + 100),
        ],
    )
    b = _squares(
        [1, 2, 3],
        [
            (x0 + 50, y0, x0 + 150, y0 + 100),  # half over A1
            (x0 + 1100, y0, x0 + 1200, y0 + 100),  # only touches A2's edge
            (x0 + 9000, y0, x0 + 9100, y0 + 100),  # far away
        ],
    )
    out = compare_periods(a, b)
    assert out.crs.to_epsg() == 27700
    rows = {(r.period, r.hotspot_id): r for r in out.itertuples()}
    assert rows[("b", 1)].status == "persistent"
    assert rows[("b", 1)].matched_ids == [1]
    assert rows[("b", 1)].overlap_share == pytest.approx(0.5)
    assert rows[("b", 1)].overlap_m2 == pytest.approx(5000.0)
    assert rows[("b", 2)].status == "new"  # touching is not overlapping
    assert rows[("b", 3)].status == "new"
    vanished = sorted(h for (p, h), r in rows.items() if p == "a")
    assert vanished == [2, 3]
    assert all(rows[("a", h)].status == "vanished" for h in vanished)

    strict = compare_periods(a, b, min_overlap_share=0.6)
    statuses = {(r.period, r.hotspot_id): r.status for r in strict.itertuples()}
    assert statuses[("b", 1)] == "new"
    assert statuses[("a", 1)] == "vanished"


def test_compare_periods_matched_ids_and_union_overlap() -> None:
    a = _squares([7, 8], [(0, 0, 100, 100), (100, 0, 200, 100)])
    b = _squares([1], [(50, 0, 150, 100)])
    out = compare_periods(a, b)
    row = out[out["period"] == "b"].iloc[0]
    assert row["matched_ids"] == [7, 8]
    assert row["overlap_share"] == pytest.approx(1.0)
    assert (out["period"] == "a").sum() == 0


def test_compare_periods_handles_empty_sides() -> None:
    empty = gpd.GeoDataFrame({"hotspot_id": []}, geometry=[], crs=27700)
    a = _squares([1], [(0, 0, 10, 10)])
    assert compare_periods(empty, empty).empty
    assert compare_periods(empty, a)["status"].tolist() == ["new"]
    assert compare_periods(a, empty)["status"].tolist() == ["vanished"]


# ---- ward change -----------------------------------------------------------------------------


def test_ward_change_equal_periods() -> None:
    a = pd.DataFrame({"ward_code": ["W1", "W2", "W3"], "count": [10, 50, 0]})
    b = pd.DataFrame({"ward_code": ["W1", "W2", "W4"], "count": [12, 20, 5]})
    out = ward_change(a, b)
    assert out["ward_code"].tolist() == ["W1", "W2", "W3", "W4"]
    rows = {str(r["ward_code"]): r for r in out.to_dict("records")}
    w1, w2, w3, w4 = rows["W1"], rows["W2"], rows["W3"], rows["W4"]
    assert (w1["count_a"], w1["count_b"], w1["change"]) == (10, 12, 2)
    assert w1["change_pct"] == pytest.approx(20.0)
    assert w1["p_value"] == pytest.approx(stats.binomtest(12, 22, 0.5).pvalue)
    assert not w1["significant"]
    assert w2["change"] == -30 and w2["direction"] == "decrease"
    assert w2["p_value"] < 0.001 and w2["significant"]
    assert w3["p_value"] == 1.0 and w3["direction"] == "no change"
    assert math.isnan(w4["change_pct"])  # no baseline to compare with
    assert w4["p_value"] == pytest.approx(0.0625)
    # q-values are Benjamini-Hochberg adjusted p-values: never smaller
    assert (out["q_value"] >= out["p_value"] - 1e-12).all()


def test_ward_change_with_unequal_exposure() -> None:
    a = pd.DataFrame({"ward_code": ["W1"], "count": [50]})  # over 2 months
    b = pd.DataFrame({"ward_code": ["W1"], "count": [20]})  # over 1 month
    out = ward_change(a, b, months_a=2, months_b=1).iloc[0]
    assert out["expected_b"] == pytest.approx(25.0)
    assert out["change"] == pytest.approx(-5.0)
    assert out["change_pct"] == pytest.approx(-20.0)
    assert out["p_value"] == pytest.approx(stats.binomtest(20, 70, 1 / 3).pvalue)


def test_ward_change_rejects_bad_input() -> None:
    with pytest.raises(InvalidInput):
        ward_change(pd.DataFrame({"ward_code": ["W1"]}), pd.DataFrame({"ward_code": ["W1"], "count": [1]}))
    ok = pd.DataFrame({"ward_code": ["W1"], "count": [1]})
    with pytest.raises(InvalidInput):
        ward_change(ok, ok, months_a=0)
