"""Statistics through the API and CLI: Gi*, emerging hot spots, evaluation, period comparison, tables."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hotspots.api.app import create_app
from hotspots.cli import app as cli
from hotspots.geo.inputs.ingest import Source
from hotspots.settings import Settings
from tests.geojson_checks import assert_rfc7946


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("stats") / "var", tiles="none")
    with TestClient(create_app(settings)) as c:
        _, secret = c.app.state.service.security.create_key("tests-admin", "admin")  # type: ignore[attr-defined]
        c.headers.update({"X-API-Key": secret})
        yield c


def test_significance_grid_and_wards(client: TestClient) -> None:
    r = client.get("/significance.geojson", params={"from": "2020-12", "to": "2020-12"})
    assert r.status_code == 200
    fc = r.json()
    assert_rfc7946(fc)
    bins = {f["properties"]["gi_bin"] for f in fc["features"]}
    assert bins and 0 not in bins and 3 in bins, "only significant cells, some hot at 99%"
    assert fc["metadata"]["gi_star"]["cell_size_m"] >= 50
    everything = client.get("/significance.geojson", params={"from": "2020-12", "to": "2020-12", "all": True})
    assert len(everything.json()["features"]) > len(fc["features"])
    wards = client.get("/significance.geojson", params={"level": "wards", "from": "2020-12", "to": "2020-12"})
    props = wards.json()["features"][0]["properties"]
    assert {"gi_z", "gi_p", "gi_bin", "gi_label", "rate_per_1000", "population"} <= set(props)


def test_hotspots_carry_statistics(client: TestClient) -> None:
    hotspots = client.get("/hotspots", params={"from": "2020-01", "to": "2020-12"}).json()["hotspots"]
    top = hotspots[0]
    assert 0 <= top["hot_share"] <= 1
    assert top["trend"] in {"increasing", "decreasing", "no trend"}
    assert top["time_profile"]["available"] is False
    assert "month" in top["time_profile"]["reason"]
    assert top["pai"] > 1


def test_emerging(client: TestClient) -> None:
    body = client.get("/emerging", params={"from": "2020-01", "to": "2020-12"}).json()
    assert body["cells_with_pattern"] > 0
    assert set(body["categories"]) <= {
        f"{p} {kind} spot"
        for p in (
            "new",
            "consecutive",
            "intensifying",
            "persistent",
            "diminishing",
            "sporadic",
            "oscillating",
            "historical",
        )
        for kind in ("hot", "cold")
    }
    geo = client.get("/emerging.geojson", params={"from": "2020-01", "to": "2020-12"}).json()
    assert_rfc7946(geo)
    assert len(geo["features"]) == body["cells_with_pattern"]


def test_evaluate_reports_pai_and_baselines(client: TestClient) -> None:
    body = client.get("/evaluate", params={"min_samples": 70, "test_month": "2020-12"}).json()
    row = body["rows"][0]
    assert row["test_month"] == "2020-12" and row["fit_to"] == "2020-11"
    assert row["pai"] > 2 * row["wards_pai"], "hotspots beat ranking wards at the same area share"
    assert 0 < row["pei"] <= 1
    assert 0.5 < row["rri"] < 2
    assert client.get("/evaluate", params={"rolling": 40}).status_code == 422
    curve = body["curve"]
    assert len(curve["grid"]) == len(curve["shares"]) and curve["hotspots"]["pai"]
    png = client.get("/evaluate/curve.png", params={"min_samples": 70, "test_month": "2020-12"})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content[:4] == b"\x89PNG"
    # viewers get no curve: PAI at nested area shares would difference to small counts
    anonymous = {"X-API-Key": ""}
    shown = client.get("/evaluate", params={"min_samples": 70, "test_month": "2020-12"}, headers=anonymous)
    assert shown.status_code == 200 and shown.json()["curve"] is None
    refused = client.get(
        "/evaluate/curve.png", params={"min_samples": 70, "test_month": "2020-12"}, headers=anonymous
    )
    assert refused.status_code == 403


def test_compare_periods(client: TestClient) -> None:
    q = {"a_from": "2019-01", "a_to": "2019-06", "b_from": "2020-01", "b_to": "2020-06", "min_samples": 30}
    body = client.get("/compare", params=q).json()
    assert set(body["hotspots"]) <= {"new", "persistent", "vanished"} and body["hotspots"]
    assert len(body["wards"]) == 57
    assert {"count_a", "count_b", "change", "significant"} <= set(body["wards"][0])
    statuses = {f["properties"]["status"] for f in body["hotspot_shapes"]["features"]}
    assert statuses == set(body["hotspots"])


def test_compare_keeps_the_monthly_threshold_for_a_shorter_period(client: TestClient) -> None:
    q = {"a_from": "2019-01", "a_to": "2019-12", "b_from": "2020-10", "b_to": "2020-12"}
    chosen = client.get("/compare", params=q).json()["dbscan"]
    assert chosen["min_samples_b"] == max(5, math.ceil(chosen["min_samples"] * 3 / 12))
    assert chosen["rule"] == "period B keeps period A's incidents per month"
    given = client.get("/compare", params={**q, "min_samples": 30}).json()["dbscan"]
    assert given["min_samples"] == given["min_samples_b"] == 30


def test_hotspot_table_csv(client: TestClient) -> None:
    r = client.get("/exports/hotspots.csv", params={"dataset": "bd-2023-01"})
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows[0]["hotspot_id"] == "1"
    assert {"share_of_incidents", "share_of_area", "pai", "hot_share", "trend"} <= set(rows[0])
    assert float(rows[0]["pai"]) > 1


def test_cli_evaluate_and_statistics_outputs(
    tmp_path: Path, points_source: Source, bd_source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTSPOTS_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    src = tmp_path / "points.csv"
    src.write_bytes(points_source.data)
    report = tmp_path / "eval.json"
    curve = tmp_path / "curve.png"
    result = runner.invoke(
        cli, ["evaluate", str(src), "--min-samples", "70", "--json", str(report), "--curve", str(curve)]
    )
    assert result.exit_code == 0, result.output
    assert "PAI" in result.output and "2020-12" in result.output
    assert "PAI curve" in result.output and curve.read_bytes()[:4] == b"\x89PNG"
    assert json.loads(report.read_text())["rows"][0]["pai"] > 10
    bd = tmp_path / "bd.csv"
    bd.write_bytes(bd_source.data)
    out = tmp_path / "out"
    result = runner.invoke(cli, ["analyse", str(bd), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in ("significance.geojson", "emerging.geojson", "hotspots.csv"):
        assert (out / name).exists(), name
    assert_rfc7946(json.loads((out / "significance.geojson").read_text()))


def test_harm_mode_ranks_by_harm_and_shows_both(client: TestClient) -> None:
    q = {"dataset": "bd-2023-01", "eps_m": 150, "min_samples": 15}
    counts = client.get("/hotspots", params=q).json()
    harm = client.get("/hotspots", params={**q, "weight": "harm", "min_samples": 3000}).json()
    assert harm["meta"]["weight"] == "harm" and harm["meta"]["min_samples_units"].startswith("harm")
    assert "Crime Severity Score" in harm["meta"]["harm"]["harm_source"]
    ranked = [h["harm"] for h in harm["hotspots"]]
    assert ranked == sorted(ranked, reverse=True), "harm mode ranks by total harm"
    assert all(h["count"] > 0 and h["harm"] > 0 for h in counts["hotspots"]), "both shown in count mode"
    weights = client.get("/harm-weights").json()["weights"]
    assert weights["Robbery"] > weights["Shoplifting"] > 0


def test_hdbscan_method(client: TestClient) -> None:
    body = client.get(
        "/hotspots", params={"dataset": "bd-2023-01", "method": "hdbscan", "min_cluster_size": 15}
    ).json()
    assert body["meta"]["method"] == "hdbscan" and body["meta"]["min_cluster_size"] == 15
    assert body["hotspots"] and all(h["count"] >= 15 for h in body["hotspots"])
    assert client.get("/hotspots", params={"method": "optics"}).status_code == 422


def test_k_distance_json_and_png(client: TestClient) -> None:
    body = client.get("/parameters/k-distance", params={"dataset": "bd-2023-01", "k": 10}).json()
    assert body["k"] == 10 and 25 <= body["suggested_eps_m"] <= 500
    d = body["distances_m"]
    assert d == sorted(d, reverse=True)
    png = client.get("/parameters/k-distance", params={"dataset": "bd-2023-01", "format": "png"})
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_harm_and_kdistance(tmp_path: Path, bd_source: Source, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSPOTS_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    bd = tmp_path / "bd.csv"
    bd.write_bytes(bd_source.data)
    table = tmp_path / "harm.csv"
    table.write_text("crime type,weight\nViolence and sexual offences,100\nRobbery,50\n*,1\n")
    out = tmp_path / "out"
    result = runner.invoke(
        cli, ["analyse", str(bd), "--weight", "harm", "--harm-table", str(table), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    top = json.loads((out / "hotspots.geojson").read_text())["features"][0]["properties"]
    assert top["harm"] >= 100
    bad = tmp_path / "bad.csv"
    bad.write_text("crime type,weight\nRobbery,-3\n")
    result = runner.invoke(
        cli, ["analyse", str(bd), "--weight", "harm", "--harm-table", str(bad), "--out", str(out)]
    )
    assert result.exit_code == 2 and "line 2" in result.output
    png = tmp_path / "k.png"
    result = runner.invoke(cli, ["kdistance", str(bd), "--k", "10", "--out", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:4] == b"\x89PNG" and "suggested eps" in result.output
