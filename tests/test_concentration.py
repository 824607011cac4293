"""Crime concentration ("power few"): shares of incidents and harm at the busiest places (issue #13.5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hotspots.boundaries import BoundarySet
from hotspots.geo.analysis import AnalysisParams, analyse
from hotspots.geo.disclosure import Disclosure, protect
from hotspots.geo.stats.concentration import concentration, concentration_sentence, protect_concentration


def planted(n_places: int = 1000, seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1,000 places: 20 (2%) hold 50 incidents each (1,000 = half), 980 hold 1 or 2 (1,000 in all)."""
    rng = np.random.default_rng(seed)
    xs = rng.permutation(np.arange(n_places)) * 10.0
    counts = np.concatenate([np.full(20, 50), np.ones(960, dtype=int), np.full(20, 2)])
    assert counts[20:].sum() == 1000
    x = np.repeat(xs, counts)
    y = np.zeros_like(x)
    harm = np.where(np.isin(x, xs[:20]), 1.0, 0.0)  # all harm at the 20 busy places
    harm[np.isin(x, xs[20:])] = 1.0 / 49.0  # about 2% of the harm elsewhere: 1,000/49 vs 1,000
    return x, y, harm


def test_planted_half_in_two_percent() -> None:
    x, y, harm = planted()
    c = concentration(x, y, harm)
    assert c["places"] == 1000 and c["incidents"] == 2000
    inc = c["incidents_share"]
    assert inc["places_for_half"] == pytest.approx(0.02)
    assert inc["top_1pct"] == pytest.approx(0.25)  # 10 places x 50 of 2,000
    assert inc["top_5pct"] == pytest.approx((1000 + 20 * 2 + 10) / 2000)  # 20 busy, the 20 twos, 10 ones
    assert inc["top_10pct"] == pytest.approx((1000 + 40 + 60) / 2000)
    curve = inc["curve"]
    assert len(curve) == 101 and curve[0] == 0.0 and curve[-1] == pytest.approx(1.0)
    assert curve[2] == pytest.approx(0.5)
    assert all(b >= a for a, b in zip(curve, curve[1:], strict=False))
    assert c["harm_share"]["top_1pct"] == pytest.approx(500 / (1000 + 1000 / 49), rel=1e-6)
    assert c["sentence"].startswith(
        "Half of the incidents are at 2% of places, and half of the harm at 1% of places"
    )
    assert {r["measure"] for r in c["literature"]} == {"incidents", "harm"}


def test_uniform_places_are_not_concentrated() -> None:
    x = np.repeat(np.arange(200.0), 3)
    c = concentration(x, np.zeros_like(x))
    assert c["incidents_share"]["top_10pct"] == pytest.approx(0.10)
    assert c["incidents_share"]["places_for_half"] == pytest.approx(0.5)
    assert c["harm_share"] is None
    assert (
        concentration_sentence(c) is not None
        and concentration(np.array([]), np.array([]))["sentence"] is None
    )


def test_protected_rounds_to_whole_percent_and_withholds_small_totals() -> None:
    x, y, harm = planted()
    c = concentration(x, y, harm)
    shown = protect_concentration(c, 2003.0, 5)
    assert shown is not None and shown["places"] is None and shown["harm_total"] is None
    for key in ("top_1pct", "top_5pct", "top_10pct", "places_for_half"):
        value = shown["incidents_share"][key]
        assert value == round(value, 2)
    assert all(v == round(v, 2) for v in shown["incidents_share"]["curve"])
    small = protect_concentration(c, 400.0, 5)
    assert small is not None and small["incidents_share"] is None and small["sentence"] is None


def test_in_the_analysis_meta(points: pd.DataFrame, boundary_sets: dict[str, BoundarySet]) -> None:
    result = analyse(points, boundary_sets, AnalysisParams(month_from="2020-01", month_to="2020-06"))
    c = result.meta["concentration"]
    assert (
        analyse(points, boundary_sets, AnalysisParams(month_from="2020-06"), statistics=False).meta[
            "concentration"
        ]
        is None
    )  # runs for hotspots only (evaluation, stability) skip it
    inside = result.incidents["has_location"] & ~result.incidents["outside_area"]
    assert c["incidents"] == int(inside.sum())
    assert 0 < c["incidents_share"]["places_for_half"] < 0.5
    assert c["incidents_share"]["top_10pct"] > 0.10
    assert c["harm_share"] is not None
    shown = protect(result, Disclosure(exact=False, k=5, secret=b"k" * 32))
    sc = shown.meta["concentration"]
    assert sc["protected"] and sc["places"] is None
    assert abs(sc["incidents_share"]["top_10pct"] - c["incidents_share"]["top_10pct"]) <= 0.011
