"""Harm weights: the CSS-derived default table, user tables and harm-weighted DBSCAN."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from hotspots.errors import InvalidInput
from hotspots.geo.clusters.dbscan import default_min_samples, weighted_dbscan
from hotspots.geo.stats.harm import (
    ASB_WEIGHT,
    CSS_COMPONENTS,
    DEFAULT_HARM,
    HARM_SOURCE,
    POLICE_UK_CATEGORIES,
    HarmWeights,
    assign_harm,
    default_min_harm,
    derive_category_weights,
    harm_weights,
    parse_harm_weights,
)


def test_default_table_covers_the_14_police_uk_categories() -> None:
    assert len(POLICE_UK_CATEGORIES) == 14
    assert set(DEFAULT_HARM.weights) == set(POLICE_UK_CATEGORIES)
    assert DEFAULT_HARM.police_uk_missing == []
    assert DEFAULT_HARM.not_police_uk == []
    for category, weight in DEFAULT_HARM.weights.items():
        assert math.isfinite(weight) and weight > 0, category


def test_severe_crimes_weigh_more_than_shoplifting_and_asb() -> None:
    w = DEFAULT_HARM.weights
    for severe in ("Violence and sexual offences", "Robbery"):
        for minor in ("Shoplifting", "Anti-social behaviour"):
            assert w[severe] > 5 * w[minor]
    # ASB is not a crime: it never counts more than any recorded crime.
    assert w["Anti-social behaviour"] == ASB_WEIGHT == min(w.values())


def test_source_and_derivation_are_documented() -> None:
    assert DEFAULT_HARM.source == HARM_SOURCE
    for phrase in ("Crime Severity Score", "2016", "pproximat", "Anti-social behaviour"):
        assert phrase in HARM_SOURCE
    derived = derive_category_weights()
    assert set(derived) | {"Anti-social behaviour"} == set(POLICE_UK_CATEGORIES)
    for category, parts in CSS_COMPONENTS.items():
        assert sum(p.share for p in parts) == pytest.approx(1.0, abs=0.02), category
        assert DEFAULT_HARM.weights[category] == derived[category]
        assert min(p.weight for p in parts) <= derived[category] <= max(p.weight for p in parts)
    # Unknown categories get the median of the table.
    assert DEFAULT_HARM.fallback == pytest.approx(float(np.median(list(DEFAULT_HARM.weights.values()))))


def test_weights_per_incident_with_aliases_and_reported_fallbacks() -> None:
    types = pd.Series(
        [
            "Burglary",
            "burglary",
            "violent-crime",
            "anti-social-behaviour",
            "Criminal-Damage-Arson",
            None,
            "Noise",
        ],
        dtype="string[pyarrow]",
    )
    result = assign_harm(types)
    w = DEFAULT_HARM.weights
    expected = [
        w["Burglary"],
        w["Burglary"],
        w["Violence and sexual offences"],
        w["Anti-social behaviour"],
        w["Criminal damage and arson"],
        DEFAULT_HARM.fallback,
        DEFAULT_HARM.fallback,
    ]
    np.testing.assert_allclose(result.weights, expected)
    assert result.unknown == {"Noise": 1}
    assert result.missing == 1
    meta = result.meta()
    assert meta["harm_unknown_crime_types"] == {"Noise": 1} and meta["harm_source"] == HARM_SOURCE
    json.dumps(meta)
    np.testing.assert_allclose(harm_weights(types), expected)
    # A plain mapping works and is validated.
    np.testing.assert_allclose(harm_weights(pd.Series(["A", "B"]), {"A": 2.0, "B": 4.0}), [2.0, 4.0])
    with pytest.raises(InvalidInput):
        harm_weights(pd.Series(["A"]), {"A": -1.0})


def test_parse_csv_with_and_without_header() -> None:
    table = parse_harm_weights("crime_type,weight\nBurglary,3\nRobbery,10\nNoise complaint,0.5\n*,1\n")
    assert isinstance(table, HarmWeights)
    assert dict(table.weights) == {"Burglary": 3.0, "Robbery": 10.0, "Noise complaint": 0.5}
    assert table.fallback == 1.0
    assert table.not_police_uk == ["Noise complaint"]  # unknown categories are allowed
    assert "Shoplifting" in table.police_uk_missing
    assert table.get("ROBBERY") == 10.0
    bare = parse_harm_weights(b"\xef\xbb\xbfBurglary,3\nRobbery,9\nDrugs,6\n")  # UTF-8 BOM, no header
    assert dict(bare.weights) == {"Burglary": 3.0, "Robbery": 9.0, "Drugs": 6.0}
    assert bare.fallback == 6.0  # median when no '*' row
    swapped = parse_harm_weights("weight,category\n5,Burglary\n")
    assert dict(swapped.weights) == {"Burglary": 5.0}


def test_parse_json_forms() -> None:
    assert dict(parse_harm_weights('{"Burglary": 3, "Robbery": 10.5}').weights) == {
        "Burglary": 3.0,
        "Robbery": 10.5,
    }
    nested = parse_harm_weights(
        json.dumps({"weights": {"Burglary": 3, "Robbery": 10}, "fallback": 2, "source": "force matrix 2024"})
    )
    assert nested.fallback == 2.0 and "force matrix 2024" in nested.source
    listed = parse_harm_weights('[{"crime_type": "Burglary", "weight": 3}, {"crime_type": "*", "weight": 1}]')
    assert dict(listed.weights) == {"Burglary": 3.0} and listed.fallback == 1.0


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("Burglary,-1\n", "must not be negative"),
        ("Burglary,nan\n", "finite"),
        ("Burglary,inf\n", "finite"),
        ("Burglary,3\nRobbery,lots\n", "must be a number"),
        ("crime_type,weight\nBurglary,3\nburglary,4\n", "duplicate crime type"),
        ("Burglary,0\nRobbery,0\n", "only zero weights"),
        ("   \n", "empty"),
        ("crime_type,weight\n", "empty"),
        ("Burglary\n", "expected 2 columns"),
        ('{"Burglary": "3x"}', "must be a number"),
        ('{"Burglary": true}', "must be a number"),
        ('{"Burglary": 3,', "not valid JSON"),
        ('[{"crime_type": "Burglary"}]', "expected an object"),
        ("[1, 2]", "expected an object"),
        ('{"weights": {"Burglary": 3}, "colour": "red"}', "unexpected key"),
        ('{"weights": {"Burglary": 3}, "fallback": -2}', "must not be negative"),
    ],
)
def test_invalid_tables_are_rejected_with_clear_messages(text: str, needle: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_harm_weights(text)
    assert needle in str(info.value)


def test_row_errors_name_the_line() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_harm_weights("crime_type,weight\nBurglary,3\nRobbery,-2\nDrugs,abc\n")
    lines = [e.line for e in info.value.errors]
    assert lines == [3, 4] and info.value.total_errors == 2


def test_default_min_harm_is_the_count_rule_in_harm_units() -> None:
    for n, area, eps in [(147_131, 40e6, 100.0), (2_000, 16e6, 100.0), (10, 1e6, 50.0), (500, 0.0, 100.0)]:
        assert default_min_harm(float(n), area, eps, n_incidents=n) == default_min_samples(n, area, eps)
    # Every incident weighing w: the threshold scales by w (up to rounding up).
    n, area, eps, w = 20_000, 30e6, 100.0, 37.0
    assert default_min_harm(n * w, area, eps, n_incidents=n) == math.ceil(6 * n * w * math.pi * eps**2 / area)
    assert default_min_harm(n * w, 1e12, eps, n_incidents=n) == math.ceil(5 * w)  # floor: 5 average incidents
    with pytest.raises(InvalidInput):
        default_min_harm(float("nan"), area, eps)


def test_harm_weighted_dbscan_finds_a_small_violent_cluster_that_counts_miss() -> None:
    rng = np.random.default_rng(11)
    side = 4000.0
    x0, y0 = 530_000.0, 180_000.0
    # Background: low-harm incidents spread over a 4 km square.
    n_bg = 2000
    bg_types = rng.choice(
        ["Shoplifting", "Anti-social behaviour", "Vehicle crime", "Criminal damage and arson"], n_bg
    )
    xs = [rng.uniform(x0, x0 + side, n_bg)]
    ys = [rng.uniform(y0, y0 + side, n_bg)]
    types = [bg_types]
    # A busy shop: 40 shoplifting incidents at one spot.
    xs.append(rng.normal(x0 + 1000, 15, 40))
    ys.append(rng.normal(y0 + 1000, 15, 40))
    types.append(np.full(40, "Shoplifting"))
    # A small cluster of serious violence: 8 violent incidents and 2 robberies.
    xs.append(rng.normal(x0 + 3000, 20, 10))
    ys.append(rng.normal(y0 + 3000, 20, 10))
    types.append(np.array(["Violence and sexual offences"] * 8 + ["Robbery"] * 2))
    x = np.round(np.concatenate(xs))  # snapped to whole metres: duplicates allowed
    y = np.round(np.concatenate(ys))
    crime = pd.Series(np.concatenate(types))
    violent = np.arange(len(x)) >= len(x) - 10
    shop = (np.arange(len(x)) >= n_bg) & ~violent
    area, eps = side * side, 100.0

    counts_threshold = default_min_samples(len(x), area, eps)
    by_count = weighted_dbscan(x, y, eps, counts_threshold)
    assert (by_count[violent] == -1).all()  # 10 incidents: below the count threshold
    assert (by_count[shop] >= 0).mean() > 0.8  # the shop is a count hotspot

    w = harm_weights(crime)
    harm_threshold = default_min_harm(float(w.sum()), area, eps, n_incidents=len(x))
    by_harm = weighted_dbscan(x, y, eps, harm_threshold, weights=w)
    assert (by_harm[violent] >= 0).all()
    assert (by_harm[violent] == 0).all()  # canonical numbering: most harm first
    # The same threshold expressed in incidents of average harm still misses it when counting.
    same_in_incidents = math.ceil(harm_threshold / w.mean())
    assert abs(same_in_incidents - counts_threshold) <= 1
    assert (weighted_dbscan(x, y, eps, same_in_incidents)[violent] == -1).all()


def test_tables_round_trip_through_hashable_items() -> None:
    table = parse_harm_weights("Burglary,3\nRobbery,10\n*,2\n")
    items = table.to_items()
    assert hash(items) and items[-1] == ("*", 2.0)
    assert HarmWeights.from_items(items) == table
    assert HarmWeights.from_items(DEFAULT_HARM.to_items(), source=HARM_SOURCE) == DEFAULT_HARM
    with pytest.raises(InvalidInput):
        HarmWeights.from_items((("Burglary", -3.0),))
