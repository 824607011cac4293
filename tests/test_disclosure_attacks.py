"""Disclosure attacks against a dataset whose small counts are known.

A planted (seeded) police.uk-like file holds: a ward with exactly 2 incidents; a hotspot of 60
incidents whose last month (2024-06, the only incidents that month) holds 3; one Robbery and
two Drugs incidents (all in the hotspot). Viewers and councils must not learn any of these
values, directly or by differencing two allowed requests; police see them exactly.

The cell key method gives each published cell a fixed perturbation, so an attack's estimate
is the truth plus noise. With the test's fixed secret the noise of each attack below is not
zero (so the estimate is wrong); :func:`test_differencing_noise_over_many_secrets` checks
that this is no accident of one secret: over many secrets the attacker cannot tell the
truth from its neighbours.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.boundaries import shipped_boundary_sets
from hotspots.crs import BNG, WGS84, transform
from hotspots.geo.disclosure import (
    MAX_PERTURBATION,
    NOISE,
    NOISE_PROBABILITIES,
    Disclosure,
    perturbation,
    protect_counts,
    protect_harm,
    record_keys,
)
from hotspots.settings import Settings

K = 5
SECRETS = [f"attack-test-secret-{i}" for i in range(8)]
SECRET = SECRETS[0]
DATA_DIRS: list[Path] = []
NAME = "attack"
SMALL_WARD_TRUTH = 2
LAST_MONTH = "2024-06"
LAST_MONTH_TRUTH = 3
ROBBERY, DRUGS = 1, 2
BASE = {"dataset": NAME, "eps_m": 100, "min_samples": 10}
COUNT_KEYS = {
    "count",
    "count_a",
    "count_b",
    "incidents",
    "incidents_located",
    "incidents_without_location",
    "incidents_outside_area",
    "incidents_in_hotspots",
    "incidents_with_date",
    "incidents_fit",
    "incidents_test",
    "incidents_excluded",
    "points",
    "points_counted",
    "n",
    "rows",
    "rows_accepted",
    "rows_without_location",
}
CELL_DICTS = {"monthly_counts", "crime_types"}
NO_SMALL_FOR_POLICE = {"/emerging", "/emerging.geojson", "/ogc/collections/boroughs/items"}
"""Outputs with no small count even for police here (only patterned cells; three large boroughs)."""


def _jitter(
    rng: np.random.Generator, geom: shapely.Geometry, n: int, spread: float
) -> list[tuple[float, float]]:
    """``n`` points around the ward's representative point, all inside the ward."""
    centre = geom.representative_point()
    out: list[tuple[float, float]] = []
    while len(out) < n:
        x, y = rng.normal(centre.x, spread), rng.normal(centre.y, spread)
        if geom.contains(shapely.Point(x, y)):
            out.append((x, y))
    return out


def planted() -> tuple[bytes, dict[str, str]]:
    """The CSV (police.uk layout) and the codes of the hotspot's ward and the small ward."""
    rng = np.random.default_rng(12)
    wards = shipped_boundary_sets()["wards-2022"].wards
    wards = wards[wards["borough_code"] == "E09000002"].sort_values("ward_code").reset_index(drop=True)
    hot, small, background = wards.iloc[0], wards.iloc[1], wards.iloc[2:8]
    rows: list[tuple[float, float, str, str]] = []
    early = ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"]
    # the hotspot: 54 burglaries over Jan-May, 1 robbery, 2 drugs, and the only June incidents (3)
    points = _jitter(rng, hot.geometry, 60, 12.0)
    types = ["Burglary"] * 54 + ["Robbery"] * ROBBERY + ["Drugs"] * DRUGS + ["Burglary"] * LAST_MONTH_TRUTH
    months = [early[i % 5] for i in range(57)] + [LAST_MONTH] * LAST_MONTH_TRUTH
    rows += [(x, y, m, t) for (x, y), m, t in zip(points, months, types, strict=True)]
    rows += [
        (x, y, "2024-02", "Violence and sexual offences") for x, y in _jitter(rng, small.geometry, 2, 40.0)
    ]
    for _, ward in background.iterrows():
        pts = _jitter(rng, ward.geometry, 16, 250.0)
        rows += [(x, y, early[i % 5], "Violence and sexual offences") for i, (x, y) in enumerate(pts)]
    x = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    lon, lat = transform(x, y, BNG, WGS84)
    frame = pd.DataFrame(
        {
            "Crime ID": [f"{i:064x}" for i in range(len(rows))],
            "Month": [r[2] for r in rows],
            "Reported by": "Metropolitan Police Service",
            "Falls within": "Metropolitan Police Service",
            "Longitude": np.round(lon, 6),
            "Latitude": np.round(lat, 6),
            "Location": "On or near Test Street",
            "LSOA code": "E01000001",
            "LSOA name": "Test 001A",
            "Crime type": [r[3] for r in rows],
            "Last outcome category": "Under investigation",
            "Context": "",
        }
    )
    return frame.to_csv(index=False).encode(), {
        "hot": str(hot["ward_code"]),
        "small": str(small["ward_code"]),
    }


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, dict[str, dict[str, str]], dict[str, str]]]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("attacks") / "var",
        tiles="none",
        auth_required=True,
        disclosure_k=K,
        disclosure_secret=SECRET,
    )
    data, codes = planted()
    DATA_DIRS.append(settings.data_dir)
    with TestClient(create_app(settings)) as client:
        security = client.app.state.service.security  # type: ignore[attr-defined]
        headers = {}
        for role in ("viewer", "police", "council", "admin"):
            _, secret = security.create_key(f"attack-{role}", role)
            headers[role] = {"X-API-Key": secret}
        r = client.post(
            "/datasets",
            data={"name": NAME},
            files={"files": ("attack.csv", data, "text/csv")},
            headers=headers["admin"],
        )
        assert r.status_code == 201, r.text
        yield client, headers, codes


@pytest.fixture(scope="module")
def many(api: Any) -> Iterator[list[tuple[TestClient, dict[str, dict[str, str]], dict[str, str]]]]:
    """The same store served with each of :data:`SECRETS` (the first is the ``api`` fixture's)."""
    _, headers, codes = api
    with ExitStack() as stack:
        clients = [api]
        for secret in SECRETS[1:]:
            settings = Settings(
                data_dir=DATA_DIRS[-1],
                tiles="none",
                auth_required=True,
                disclosure_k=K,
                disclosure_secret=secret,
            )
            clients.append((stack.enter_context(TestClient(create_app(settings))), headers, codes))
        yield clients


def _differencing(many: Any, attack: Callable[[Any], Any], truth: Any) -> None:
    """The attack against the same data under each secret: the estimate is the truth plus noise,
    so it must not be the truth every time (pure suppression would be), nor most of the time,
    and it must vary with the secret."""
    estimates = [attack(one) for one in many]
    right = sum(e == truth for e in estimates)
    assert right <= len(many) // 2, (estimates, truth)
    assert len({repr(e) for e in estimates}) >= 2, estimates


def _get(api: Any, role: str, path: str, **params: Any) -> Any:
    client, headers, _ = api
    base = {} if path.startswith("/ogc") else BASE
    query = {key: v for key, v in {**base, **params}.items() if v is not None}
    r = client.get(path, params=query, headers=headers[role])
    assert r.status_code == 200, (path, r.text)
    return r


def _small(obj: Any, path: str = "") -> list[str]:
    """Every count-like value from 1 to k-1 anywhere in a JSON document."""
    found: list[str] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            where = f"{path}.{key}"
            if key in COUNT_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
                if 0 < value < K:
                    found.append(f"{where}={value}")
            if key in CELL_DICTS and isinstance(value, dict):
                found += [
                    f"{where}.{m}={v}" for m, v in value.items() if isinstance(v, int | float) and 0 < v < K
                ]
            if key == "counts" and isinstance(value, list):
                found += [f"{where}={v}" for v in value if isinstance(v, int | float) and 0 < v < K]
            found += _small(value, where)
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            found += _small(value, f"{path}[{i}]")
    return found


def _n(value: Any) -> int:
    """A published count as the attacker uses it: a suppressed one counts 0."""
    return 0 if value is None else int(value)


def _wards(body: dict[str, Any]) -> dict[str, Any]:
    """Counts of the wards with data (a ward no source covers has a null count: no data, not 0)."""
    return {
        f["properties"]["ward_code"]: f["properties"].get("count")
        for f in body["features"]
        if not f["properties"].get("no_data")
    }


def _hotspot(body: dict[str, Any]) -> dict[str, Any]:
    return body["hotspots"][0]


# ---- the police see the truth (so the attacks below have something to find) ----------------


def test_police_and_admin_see_exact_counts(api: Any) -> None:
    _, _, codes = api
    for role in ("police", "admin"):
        body = _get(api, role, "/hotspots").json()
        hot = _hotspot(body)
        assert hot["monthly_counts"][LAST_MONTH] == LAST_MONTH_TRUTH
        cats = {c["crime_type"]: c["count"] for c in hot["top_categories"]}
        assert cats["Robbery"] == ROBBERY and cats["Drugs"] == DRUGS
        wards = _wards(_get(api, role, "/significance.geojson", level="wards").json())
        assert wards[codes["small"]] == SMALL_WARD_TRUTH
        assert "disclosure" not in body["meta"]
    described = _get(api, "police", f"/datasets/{NAME}").json()
    assert described["crime_types"]["Robbery"] == ROBBERY and described["crime_types"]["Drugs"] == DRUGS
    kd = _get(api, "police", "/parameters/k-distance", category=["Robbery", "Drugs"], min_samples=3).json()
    assert kd["n"] == ROBBERY + DRUGS
    ev = _get(api, "police", "/evaluate", test_month=LAST_MONTH).json()
    assert ev["results"][0]["incidents_test"] == LAST_MONTH_TRUTH
    cmp = _get(
        api, "police", "/compare", a_from="2024-01", a_to="2024-05", b_from=LAST_MONTH, b_to=LAST_MONTH
    ).json()
    assert cmp["period_b"]["incidents"] == LAST_MONTH_TRUTH


# ---- direct: no small value in any output -------------------------------------------------


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/hotspots", {}),
        ("/hotspots.geojson", {}),
        ("/significance.geojson", {"all": True}),
        ("/significance.geojson", {"level": "wards"}),
        ("/emerging", {}),
        ("/emerging.geojson", {}),
        ("/evaluate", {"test_month": LAST_MONTH}),
        ("/evaluate", {"test_month": LAST_MONTH, "rolling": 3}),
        ("/compare", {"a_from": "2024-01", "a_to": "2024-05", "b_from": LAST_MONTH, "b_to": LAST_MONTH}),
        ("/parameters/k-distance", {"category": ["Robbery", "Drugs"], "min_samples": 3}),
        ("/hotspots", {"category": ["Robbery"]}),
        ("/hotspots", {"category": ["Drugs"], "min_samples": None}),
        ("/hotspots", {"from": LAST_MONTH, "to": LAST_MONTH}),
        ("/datasets", {}),
        (f"/datasets/{NAME}", {}),
        ("/ogc/collections/wards/items", {"dataset": NAME, "limit": 1000}),
        ("/ogc/collections/hotspots/items", {"dataset": NAME, "limit": 1000}),
        ("/ogc/collections/boroughs/items", {"dataset": NAME, "limit": 1000}),
    ],
)
def test_viewer_outputs_hold_no_small_count(api: Any, path: str, extra: dict[str, Any]) -> None:
    base = {} if path.startswith("/ogc") else BASE
    params = {k: v for k, v in {**base, **extra}.items() if v is not None}
    client, headers, _ = api
    r = client.get(path, params=params, headers=headers["viewer"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert _small(body) == [], path
    police = client.get(path, params=params, headers=headers["police"]).json()
    if path not in NO_SMALL_FOR_POLICE:
        assert _small(police), f"the police view of {path} has small counts, so the check can fail"


def test_disclosure_rule_is_stated_in_every_protected_output(api: Any) -> None:
    meta = _get(api, "viewer", "/hotspots").json()["meta"]["disclosure"]
    assert meta["method"] == "cell key perturbation + small-cell suppression"
    assert meta["k"] == K and meta["max_perturbation"] == MAX_PERTURBATION
    assert "disclosure" in _get(api, "viewer", "/emerging").json()
    assert "disclosure" in _get(api, "viewer", "/evaluate", test_month=LAST_MONTH).json()
    assert "disclosure" in _get(api, "viewer", "/parameters/k-distance").json()
    assert "disclosure" in _get(api, "viewer", f"/datasets/{NAME}").json()
    assert (
        "disclosure"
        in _get(
            api, "viewer", "/compare", a_from="2024-01", a_to="2024-05", b_from=LAST_MONTH, b_to=LAST_MONTH
        ).json()
    )


def test_derived_fields_are_protected(api: Any) -> None:
    """sources[].incidents, gi_star.points_counted, harm_total, evaluate, compare, k-distance, datasets."""
    small = {"category": ["Robbery", "Drugs"], "min_samples": 3}
    meta = _get(api, "viewer", "/hotspots", **small).json()["meta"]
    assert meta["incidents"] is None and meta["harm_total"] is None
    assert all(s["incidents"] is None for s in meta["sources"])
    assert meta["gi_star"]["points_counted"] is None and meta["gi_star"]["points"] is None
    police = _get(api, "police", "/hotspots", **small).json()["meta"]
    assert police["incidents"] == 3 and police["gi_star"]["points_counted"] == 3
    assert _get(api, "viewer", "/parameters/k-distance", **small).json()["n"] is None
    ev = _get(api, "viewer", "/evaluate", test_month=LAST_MONTH).json()["results"][0]
    assert ev["incidents_test"] is None and ev["hit_rate"] is None
    full = _get(api, "police", "/evaluate", test_month=LAST_MONTH).json()["results"][0]
    assert full["incidents_test"] == LAST_MONTH_TRUTH and full["hit_rate"] is not None
    cmp = _get(
        api, "viewer", "/compare", a_from="2024-01", a_to="2024-05", b_from=LAST_MONTH, b_to=LAST_MONTH
    )
    assert cmp.json()["period_b"]["incidents"] is None
    described = _get(api, "viewer", f"/datasets/{NAME}").json()
    assert described["crime_types"]["Robbery"] is None and described["crime_types"]["Drugs"] is None


# ---- differencing -------------------------------------------------------------------------


def test_total_minus_the_wards_shown(api: Any, many: Any) -> None:
    _, _, codes = api
    police = _get(api, "police", "/hotspots").json()["meta"]["incidents"]
    police_wards = _wards(_get(api, "police", "/significance.geojson", level="wards").json())
    assert police == sum(police_wards.values()), "every incident lies in a ward"
    assert police_wards[codes["small"]] == SMALL_WARD_TRUTH

    def attack(one: Any) -> int:
        wards = _wards(_get(one, "viewer", "/significance.geojson", level="wards").json())
        assert wards[codes["small"]] is None
        total = _get(one, "viewer", "/hotspots").json()["meta"]["incidents"]
        return int(total - sum(_n(v) for v in wards.values()))

    _differencing(many, attack, SMALL_WARD_TRUTH)


def test_hotspot_count_minus_its_months(many: Any) -> None:
    def attack(one: Any) -> int:
        hot = _hotspot(_get(one, "viewer", "/hotspots").json())
        assert hot["monthly_counts"][LAST_MONTH] is None
        shown = sum(_n(v) for m, v in hot["monthly_counts"].items() if m != LAST_MONTH)
        return int(hot["count"] - shown)

    _differencing(many, attack, LAST_MONTH_TRUTH)


def test_two_month_ranges(api: Any, many: Any) -> None:
    police = [
        _get(api, "police", "/hotspots", **{"from": "2024-01", "to": m}).json()["meta"]["incidents"]
        for m in (LAST_MONTH, "2024-05")
    ]
    assert police[0] - police[1] == LAST_MONTH_TRUTH

    def attack(one: Any) -> tuple[int, int]:
        six = _get(one, "viewer", "/hotspots", **{"from": "2024-01", "to": LAST_MONTH}).json()
        five = _get(one, "viewer", "/hotspots", **{"from": "2024-01", "to": "2024-05"}).json()
        return six["meta"]["incidents"] - five["meta"]["incidents"], _hotspot(six)["count"] - _hotspot(five)[
            "count"
        ]

    _differencing(many, lambda one: attack(one)[0], LAST_MONTH_TRUTH)
    _differencing(many, lambda one: attack(one)[1], LAST_MONTH_TRUTH)


@pytest.mark.parametrize(("category", "truth"), [("Robbery", ROBBERY), ("Drugs", DRUGS)])
def test_two_category_sets(api: Any, many: Any, category: str, truth: int) -> None:
    police = [
        _get(api, "police", "/hotspots", category=c).json()["meta"]["incidents"]
        for c in (["Burglary", category], ["Burglary"])
    ]
    assert police[0] - police[1] == truth

    def attack(one: Any) -> tuple[int, int]:
        both = _get(one, "viewer", "/hotspots", category=["Burglary", category]).json()
        alone = _get(one, "viewer", "/hotspots", category=["Burglary"]).json()
        return (
            both["meta"]["incidents"] - alone["meta"]["incidents"],
            _hotspot(both)["count"] - _hotspot(alone)["count"],
        )

    _differencing(many, lambda one: attack(one)[0], truth)
    _differencing(many, lambda one: attack(one)[1], truth)


def _solve(n_hidden: float, harm_hidden: float, w1: float, w2: float) -> tuple[int, int]:
    a = (harm_hidden - w2 * n_hidden) / (w1 - w2)
    return round(a), round(n_hidden - a)


def test_count_and_harm_solve_for_two_hidden_categories(api: Any, many: Any) -> None:
    weights = _get(api, "viewer", "/harm-weights").json()["weights"]
    w_b, w_r, w_d = weights["Burglary"], weights["Robbery"], weights["Drugs"]
    cats = ["Burglary", "Robbery", "Drugs"]
    exact = _hotspot(_get(api, "police", "/hotspots", category=cats).json())
    shown = {c["crime_type"]: c["count"] for c in exact["top_categories"]}
    assert _solve(exact["count"] - shown["Burglary"], exact["harm"] - w_b * shown["Burglary"], w_r, w_d) == (
        ROBBERY,
        DRUGS,
    ), "with exact figures the attack works"

    def in_hotspot(one: Any) -> tuple[int, int]:
        hot = _hotspot(_get(one, "viewer", "/hotspots", category=cats).json())
        shown = {c["crime_type"]: c["count"] for c in hot["top_categories"]}
        assert shown.get("Robbery") is None and shown.get("Drugs") is None
        burglary = _n(shown.get("Burglary"))
        return _solve(hot["count"] - burglary, hot["harm"] - w_b * burglary, w_r, w_d)

    def in_totals(one: Any) -> tuple[int, int]:
        meta = _get(one, "viewer", "/hotspots", category=cats).json()["meta"]
        burg = _get(one, "viewer", "/hotspots", category=["Burglary"]).json()["meta"]
        return _solve(
            meta["incidents"] - burg["incidents"], meta["harm_total"] - burg["harm_total"], w_r, w_d
        )

    def harm_over_weight(one: Any) -> int:
        return round(_hotspot(_get(one, "viewer", "/hotspots", category=["Burglary"]).json())["harm"] / w_b)

    _differencing(many, in_hotspot, (ROBBERY, DRUGS))
    _differencing(many, in_totals, (ROBBERY, DRUGS))
    burglaries = _hotspot(_get(api, "police", "/hotspots", category=["Burglary"]).json())["count"]
    _differencing(many, harm_over_weight, burglaries)


def test_compare_and_the_compare_page(api: Any) -> None:
    _, _, codes = api
    q = {"a_from": "2024-01", "a_to": "2024-05", "b_from": "2024-02", "b_to": LAST_MONTH}
    body = _get(api, "viewer", "/compare", **q).json()
    police = _get(api, "police", "/compare", **q).json()
    # each period's total is the same cell as that period's own analysis (no new noise to average)
    b_alone = _get(api, "viewer", "/hotspots", **{"from": "2024-02", "to": LAST_MONTH}).json()["meta"]
    assert body["period_b"]["incidents"] == b_alone["incidents"]
    assert (
        body["period_b"]["incidents"] != police["period_b"]["incidents"]
        or body["period_a"]["incidents"] != (police["period_a"]["incidents"])
    ), "the period totals are perturbed"
    rows = {w["ward_code"]: w for w in body["wards"]}
    assert rows[codes["small"]]["count_a"] is None and rows[codes["small"]]["p_value"] is None
    page = _get(api, "viewer", "/app/compare", **q).text
    exact = _get(api, "police", "/app/compare", **q).text
    assert page != exact
    assert "fewer than 5" in page


def test_same_cell_always_shows_the_same_value(api: Any) -> None:
    """Consistency: a repeat, and the same cells reached by another request (so no averaging)."""
    _, _, codes = api
    a = _wards(_get(api, "viewer", "/significance.geojson", level="wards").json())
    b = _wards(_get(api, "viewer", "/significance.geojson", level="wards").json())
    c = _wards(_get(api, "viewer", "/significance.geojson", level="wards", eps_m=250, min_samples=20).json())
    assert a == b == c
    exact = _wards(_get(api, "police", "/significance.geojson", level="wards").json())
    assert any(a[code] != exact[code] for code in exact if exact[code] >= K), "the counts are perturbed"
    totals = {
        _get(api, "viewer", "/hotspots", eps_m=e).json()["meta"]["incidents"] for e in (60, 100, 150, 200)
    }
    assert len(totals) == 1


# ---- other doors: exports, GPKG, CSV, OGC, pages ------------------------------------------


def test_council_exports_are_protected(api: Any) -> None:
    client, headers, codes = api
    council = headers["council"]
    geo = client.get("/exports/wards.geojson", params=BASE, headers=council).json()
    assert _small(geo) == [] and _wards(geo)[codes["small"]] is None
    gpkg = client.get("/exports/wards.gpkg", params=BASE, headers=council)
    assert gpkg.status_code == 200
    frame = gpd.read_file(io.BytesIO(gpkg.content))
    counts = pd.to_numeric(frame["count"], errors="coerce")
    assert not ((counts > 0) & (counts < K)).any()
    assert frame.loc[frame["ward_code"] == codes["small"], "count"].isna().all()
    table = client.get("/exports/hotspots.csv", params=BASE, headers=council)
    assert table.status_code == 200
    for row in csv.DictReader(io.StringIO(table.text)):
        assert not (row["count"] and 0 < float(row["count"]) < K)
        assert "Robbery (1)" not in row["top_categories"] and "Drugs (2)" not in row["top_categories"]
    exact = client.get("/exports/hotspots.csv", params=BASE, headers=headers["police"]).text
    assert "Robbery (1)" in exact


def test_ogc_items_are_protected(api: Any) -> None:
    _, _, codes = api
    items = _get(api, "viewer", "/ogc/collections/wards/items", dataset=NAME, limit=1000).json()
    assert _wards(items)[codes["small"]] is None
    exact = _get(api, "police", "/ogc/collections/wards/items", dataset=NAME, limit=1000).json()
    assert _wards(exact)[codes["small"]] == SMALL_WARD_TRUTH


def test_map_page_has_no_density_figures_for_viewers(api: Any) -> None:
    page = _get(api, "viewer", "/maps/hotspots", layers="heat").text
    exact = _get(api, "police", "/maps/hotspots", layers="heat").text
    peak = r"peak [\d,]+ per km"
    assert re.search(peak, exact) and not re.search(peak, page)
    assert "densities withheld under disclosure control" in page


def test_default_min_samples_comes_from_the_protected_count(api: Any) -> None:
    from hotspots.geo.clusters.dbscan import default_min_samples

    body = _get(api, "viewer", "/hotspots", min_samples=None, eps_m=400).json()["meta"]
    # the area where incidents happen, published (and used) to 2 significant figures only
    occupied = body["occupied_area_km2"]
    assert occupied == float(f"{occupied:.2g}")
    area = min(body["study_area_km2"], occupied) * 1e6
    assert body["min_samples"] == default_min_samples(body["incidents_located"], area, 400)
    assert "protected" in body["min_samples_rule"]


# ---- the method itself --------------------------------------------------------------------


def test_no_true_or_published_value_below_k() -> None:
    rng = np.random.default_rng(5)
    counts = np.repeat(np.arange(0, 40), 500)
    keys = rng.integers(0, 2**32, len(counts), dtype=np.uint64)
    shown = protect_counts(counts, keys, K)
    assert not ((shown > 0) & (shown < K)).any()
    assert np.isnan(shown[(counts > 0) & (counts < K)]).all(), "true small counts are always suppressed"
    assert (shown[counts == 0] == 0).all()
    big = counts >= 20
    assert abs(float(np.mean(shown[big] - counts[big]))) < 0.1, "zero-mean perturbation"
    assert np.abs(shown[big] - counts[big]).max() == MAX_PERTURBATION
    assert set(NOISE.tolist()) == {-2, -1, 0, 1, 2} and np.isclose(NOISE_PROBABILITIES.sum(), 1)


def test_record_keys_are_fixed_and_secret() -> None:
    a = record_keys(b"s1", "d@1", 100)
    assert (a == record_keys(b"s1", "d@1", 100)).all()
    assert (a[:50] == record_keys(b"s1", "d@1", 50)).all(), "a key belongs to its row"
    assert (a != record_keys(b"s2", "d@1", 100)).mean() > 0.99
    assert (a != record_keys(b"s1", "d@2", 100)).mean() > 0.99
    assert "secret" not in repr(Disclosure(exact=False, k=5, secret=b"secret"))


def test_differencing_noise_over_many_secrets() -> None:
    """Total minus visible parts, and two overlapping ranges, over 400 secrets: the attacker's
    estimate is the truth in well under half the cases and spreads over many values."""
    rng = np.random.default_rng(9)
    hidden, visible = 2, [21, 34, 15]
    hits, estimates = 0, []
    for _ in range(400):
        parts = [rng.integers(0, 2**32, n, dtype=np.uint64) for n in [hidden, *visible]]
        ckeys = [int(p.sum() % np.uint64(2**32)) for p in parts]
        total_key = sum(ckeys) % 2**32
        total = protect_counts([hidden + sum(visible)], [total_key], K)[0]
        shown = protect_counts(visible, ckeys[1:], K)
        estimate = int(total - shown.sum())
        estimates.append(estimate)
        hits += estimate == hidden
    assert hits / 400 < 0.4
    assert len(set(estimates)) >= 7


def test_harm_does_not_give_the_count_back() -> None:
    rng = np.random.default_rng(4)
    counts = rng.integers(5, 60, 300)
    keys = rng.integers(0, 2**32, 300, dtype=np.uint64)
    shown = protect_counts(counts, keys, K)
    harm = protect_harm(counts * 370.0, counts, shown, keys)
    recovered = np.round(harm / 370.0)
    ok = np.isfinite(shown)
    assert (recovered[ok] == counts[ok]).mean() < 0.5
    assert np.isnan(harm[~ok]).all()
    assert (perturbation(counts, keys) == perturbation(counts, keys)).all()


def test_briefing_maps_draw_incident_dots_for_police_only(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import hotspots.maps.static_map as static_map

    drawn: list[int] = []
    real = static_map._incident_dots
    monkeypatch.setattr(static_map, "_incident_dots", lambda *a, **kw: drawn.append(1) or real(*a, **kw))
    viewer = _get(api, "viewer", "/app/briefing", hotspot=1, eps_m=110)
    assert viewer.status_code == 200 and drawn == []
    _get(api, "police", "/app/briefing", hotspot=1, eps_m=110)
    assert drawn, "the police briefing draws the incidents"


def test_time_profiles_are_cells_too(boundary_sets: Any) -> None:
    """Hour and weekday counts (data with times): every one a protected cell, small ones withheld."""
    from hotspots.geo.analysis import AnalysisParams, analyse
    from hotspots.geo.disclosure import RECORD_KEY, protect
    from hotspots.geo.inputs.ingest import ColumnMapping, Source, read_incidents

    rng = np.random.default_rng(21)
    ward = boundary_sets["wards-2022"].wards.iloc[0].geometry
    pts = _jitter(rng, ward, 80, 15.0)
    lon, lat = transform(np.array([p[0] for p in pts]), np.array([p[1] for p in pts]), BNG, WGS84)
    hours = [9] * 40 + [14] * 37 + [3] * 3  # three incidents at 03:00
    frame = pd.DataFrame(
        {
            "lon": np.round(lon, 6),
            "lat": np.round(lat, 6),
            "occurred": [f"2024-03-{1 + i % 28:02d} {h:02d}:30:00" for i, h in enumerate(hours)],
            "offence": "Burglary",
        }
    )
    mapping = ColumnMapping(longitude="lon", latitude="lat", date="occurred", category="offence")
    incidents = read_incidents(
        [Source("t.csv", frame.to_csv(index=False).encode())], mapping=mapping
    ).incidents
    incidents[RECORD_KEY] = record_keys(b"profile", "t@1", len(incidents))
    result = analyse(incidents, boundary_sets, AnalysisParams(eps_m=100, min_samples=10))
    exact = result.hotspots.iloc[0]["time_profile"]["hours"]["counts"]
    assert exact[3] == 3
    view = Disclosure(exact=False, k=K, secret=b"profile")
    shown = protect(result, view)
    for profile in [shown.meta["time_profile"], *shown.hotspots["time_profile"]]:
        for part in ("hours", "weekdays"):
            counts = profile[part]["counts"]
            assert not [c for c in counts if c is not None and 0 < c < K]
    assert shown.hotspots.iloc[0]["time_profile"]["hours"]["counts"][3] is None
    assert shown.meta["time_profile"]["hours"]["counts"][3] is None
    again = protect(result, view)
    assert again.hotspots.iloc[0]["time_profile"] == shown.hotspots.iloc[0]["time_profile"]


def test_k_distance_curve_does_not_count_the_incidents(api: Any) -> None:
    viewer = _get(api, "viewer", "/parameters/k-distance", category=["Burglary"]).json()
    police = _get(api, "police", "/parameters/k-distance", category=["Burglary"]).json()
    assert police["n"] == 54 + LAST_MONTH_TRUTH and len(police["distances_m"]) == police["n"]
    assert len(viewer["distances_m"]) == 100, "the curve's length is not the count"
    assert viewer["rank"][-1] == viewer["n"] - 1
    png_viewer = _get(api, "viewer", "/parameters/k-distance", format="png").content
    png_police = _get(api, "police", "/parameters/k-distance", format="png").content
    assert png_viewer[:4] == b"\x89PNG" and png_viewer != png_police


def test_gi_star_comes_from_the_published_counts(api: Any) -> None:
    """Gi* z-scores of exact counts over a known neighbour graph can be inverted to the counts:
    the protected view's z-scores (wards and hex cells) are those of the counts it shows."""
    from hotspots.geo.analysis import AnalysisParams
    from hotspots.geo.stats.grid import HexGrid
    from hotspots.geo.stats.significance import gi_star, gi_star_polygons

    client, _, _ = api
    service = client.app.state.service  # type: ignore[attr-defined]
    params = AnalysisParams(eps_m=100, min_samples=10)
    _, exact = service.analyse(NAME, params)
    _, shown = service.analyse(NAME, params, view=service.disclosure_for("viewer"))
    wards = shown.wards.copy()
    wards["count"] = pd.to_numeric(wards["count"], errors="coerce").fillna(0).where(~wards["no_data"])
    expected = gi_star_polygons(wards, "count")["z"].round(3).to_numpy()
    assert np.allclose(pd.to_numeric(shown.wards["gi_z"]).to_numpy(), expected, equal_nan=True)
    assert not np.allclose(pd.to_numeric(exact.wards["gi_z"]).to_numpy(), expected, equal_nan=True)
    grid = shown.gi_grid
    hexes = HexGrid.from_geodataframe(grid)
    pos = hexes.index_of(grid["q"].to_numpy(), grid["r"].to_numpy())
    values = np.zeros(len(hexes))
    values[pos] = pd.to_numeric(grid["count"], errors="coerce").fillna(0).to_numpy()
    z = np.asarray(gi_star(values, hexes.neighbours(1)).z)[pos]
    assert np.allclose(grid["z"].to_numpy(dtype=float), z, equal_nan=True)
    assert not np.allclose(exact.gi_grid["z"].to_numpy(dtype=float), z, equal_nan=True)
