"""The evaluation in the app (/app/evaluation): words a board reads, the baselines beside it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.geo.analysis import AnalysisParams
from hotspots.maps.evaluation_words import evaluation_in_words, month_name, times_text
from hotspots.settings import Settings


def _report(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "test_month": "2020-12",
        "incidents_test": 3096.0,
        "area_share": 0.009,
        "hit_rate": 0.37,
        "hit_rate_fit": 0.36,
        "pai": 41.1,
        "pei": 0.6,
        "rri": 1.01,
        "baselines": {
            "grid": {"hit_rate": 0.33, "pai": 36.7},
            "kde": {"hit_rate": 0.2, "pai": 22.2},
            "wards": {"hit_rate": 0.06, "pai": 6.7},
            "best": {"hit_rate": 0.6, "pai": 66.7},
        },
    }
    base.update(over)
    return {"results": [base], "rows": [{"fit_from": "2018-02", "fit_to": "2020-11"}]}


def test_the_evaluation_in_words() -> None:
    words = evaluation_in_words(_report())
    assert words.headline == (
        "The hotspots cover 0.90% of the area and held 37% of December 2020's 3,096 incidents: "
        "41 times what an even spread over the area would give (PAI 41.1)."
    )
    assert words.versus.startswith("The hotspots do better than simply ranking 50 m squares by past counts")
    assert "33%" in words.versus and "wards" in words.versus and "6.0%" in words.versus
    assert "60%" in words.ceiling and "PEI 0.60" in words.ceiling
    assert "stable" in words.stability and "RRI 1.01" in words.stability
    assert [r.name for r in words.rows][0] == "Hotspots (this analysis)" and words.rows[0].ours
    assert {r.name for r in words.rows} >= {"50 m squares ranked by past counts", "best possible (hindsight)"}
    worse = evaluation_in_words(_report(pai=20.0, rri=0.5))
    assert worse.versus.startswith("The hotspots do worse than") and "shifting" in worse.stability
    same = evaluation_in_words(_report(pai=35.0))
    assert same.versus.startswith("The hotspots do about as well as")
    assert month_name("2019-03") == "March 2019" and times_text(0.8) == "no more than"
    no_wards = evaluation_in_words(_report(baselines={"grid": {"hit_rate": 0.3, "pai": 30.0}}))
    assert "wards" not in no_wards.versus and "n/a" not in no_wards.versus


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("eval") / "var", tiles="none")
    with TestClient(create_app(settings)) as c:
        yield c


def _police(client: TestClient) -> dict[str, str]:
    _, secret = client.app.state.service.security.create_key("eval-police", "police")  # type: ignore[attr-defined]
    return {"X-API-Key": secret}


def test_evaluation_page_uses_the_apps_filters(client: TestClient) -> None:
    police = _police(client)
    r = client.get("/app/evaluation", params={"from": "2020-01", "to": "2020-12"}, headers=police)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    headline = re.search(r'id="hs-eval-headline">([^<]*)<', html)
    assert headline and re.fullmatch(
        r"The hotspots cover [\d.]+% of the area and held \d+% of December 2020&#39;s [\d,]+ incidents: "
        r"[\d,.]+ times what an even spread over the area would give \(PAI [\d,.]+\)\.",
        headline.group(1),
    ), headline
    assert "January 2020 to November 2020" in html  # fitted on the period but its last month
    for words in ("50 m squares ranked by past counts", "wards ranked by past density", "PEI", "RRI"):
        assert words in html
    assert len(re.findall(r"<tr( class=\"ours\")?><th scope=\"row\">", html)) == 5
    assert 'href="/app?from=2020-01&amp;to=2020-12"' in html
    service = client.app.state.service  # type: ignore[attr-defined]
    _, expected = service.evaluate(None, AnalysisParams(month_from="2020-01", month_to="2020-12"), None, 1)
    assert f"(PAI {expected['results'][0]['pai']:,.1f})" in html
    year_robbery = {"from": "2020-01", "to": "2020-12", "category": "Robbery"}
    robbery = client.get("/app/evaluation", params=year_robbery, headers=police).text
    assert "Robbery" in robbery and robbery != html
    bad = client.get("/app/evaluation", params={"from": "2020-12", "to": "2020-01"}, headers=police)
    assert bad.status_code == 422 and 'role="alert"' in bad.text


def test_viewers_get_the_protected_evaluation(client: TestClient) -> None:
    html = client.get(
        "/app/evaluation", params={"from": "2020-01", "to": "2020-12"}
    ).text  # anonymous: viewer
    assert "withheld" in html and "hs-eval-headline" in html
