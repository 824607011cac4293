"""One parameter contract for the API, the CLI and validation; bounds on the work a request may ask."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hotspots.api.app import create_app
from hotspots.boundaries import BoundarySet
from hotspots.cli import app as cli
from hotspots.errors import InvalidInput
from hotspots.geo import analysis
from hotspots.geo.analysis import AnalysisParams, analyse
from hotspots.geo.inputs.ingest import Source, read_incidents
from hotspots.geo.params import (
    MAX_GRID_CELLS,
    SPECS,
    check_evaluation,
    check_grid,
    smallest_cell_size,
)
from hotspots.geo.stats.assessment import evaluate_hotspots
from hotspots.settings import Settings
from tests.planting import planted_incidents, to_csv_source

runner = CliRunner()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("contract") / "var", tiles="none")
    with TestClient(create_app(settings)) as c:
        yield c


def test_openapi_bounds_and_help_come_from_the_contract(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    params = {p["name"]: p for p in schema["paths"]["/hotspots"]["get"]["parameters"]}
    for name in ("eps_m", "min_samples", "min_cluster_size", "cell_size_m", "shape_buffer_m"):
        spec = SPECS[name]
        p = params[spec.query_name]
        number = next(a for a in p["schema"].get("anyOf", [p["schema"]]) if a.get("type") != "null")
        assert number["minimum"] == spec.minimum and number["maximum"] == spec.maximum, name
        assert p["description"] == spec.describe()
    weight = params["weight"]["schema"]
    assert tuple(weight["enum"]) == SPECS["weight"].choices
    evaluate = {p["name"]: p for p in schema["paths"]["/evaluate"]["get"]["parameters"]}
    assert evaluate["rolling"]["schema"]["maximum"] == SPECS["rolling"].maximum


@pytest.mark.parametrize(
    ("path", "query", "words"),
    [
        ("/hotspots", {"eps_m": 1}, "between 25 and 1,000 metres"),
        ("/hotspots", {"min_samples": 1}, "between 3 and 10,000,000"),
        ("/hotspots", {"method": "hdbscan", "min_cluster_size": 2}, "between 5 and 1,000,000"),
        ("/hotspots", {"buffer_m": 1000}, "between 5 and 500 metres"),
        ("/parameters/k-distance", {"k": 10_000_000}, "between 2 and 1,000"),
        ("/evaluate", {"rolling": 13}, "between 1 and 12"),
        ("/compare", {"eps_m": 1, "min_samples": 1}, "eps_m must be between 25"),
    ],
)
def test_requests_outside_the_contract_are_refused_with_the_range(
    client: TestClient, path: str, query: dict[str, object], words: str
) -> None:
    r = client.get(path, params=query)
    assert r.status_code == 422, r.text
    assert words in r.json()["message"]


def test_app_page_answers_a_bad_parameter_with_a_page(client: TestClient) -> None:
    r = client.get("/app", params={"eps_m": "abc"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("text/html")
    assert "eps_m must be between 25 and 1,000 metres" in r.text
    api = client.get("/hotspots", params={"eps_m": "abc"})
    assert api.status_code == 422 and api.headers["content-type"].startswith("application/json")
    assert api.json()["detail"], "FastAPI's error list is kept for API clients"


def test_gi_grid_is_bounded_with_the_usable_cell_sizes_in_the_message(client: TestClient) -> None:
    r = client.get("/significance.geojson", params={"cell_size_m": 50, "all": True})
    assert r.status_code == 422
    message = r.json()["message"]
    assert f"at most {MAX_GRID_CELLS:,}" in message
    assert "choose cell_size_m between 70 and 500 metres" in message, message
    ok = client.get("/significance.geojson", params={"cell_size_m": 70, "from": "2020-12", "to": "2020-12"})
    assert ok.status_code == 200


def test_grid_rules() -> None:
    area = 210e6  # the tri-borough area, m2
    assert smallest_cell_size(area) == 70.0
    check_grid(70.0, area)
    with pytest.raises(InvalidInput, match="between 70 and 500"):
        check_grid(60.0, area)
    # A default cell size that would exceed the cap is raised to the smallest usable size.
    assert analysis.grid_cell_size(None, 10_000_000, area) == 70.0
    assert analysis.grid_cell_size(None, 147_131, area) is None


def test_validate_uses_the_same_messages() -> None:
    with pytest.raises(InvalidInput, match=r"eps_m must be between 25 and 1,000 metres, got 1\b"):
        AnalysisParams(eps_m=1).validate()
    with pytest.raises(InvalidInput, match="weight must be one of count, harm"):
        AnalysisParams(weight="size").validate()  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="min_samples"):
        AnalysisParams(min_samples=2).validate()
    AnalysisParams(eps_m=25, min_samples=3, shape_buffer_m=5, cell_size_m=500).validate()


def test_evaluation_work_is_bounded() -> None:
    check_evaluation(12, 147_131)
    with pytest.raises(InvalidInput, match="choose rolling between 1 and 5"):
        check_evaluation(6, 1_000_000)
    with pytest.raises(InvalidInput, match="choose fewer months"):
        check_evaluation(1, 6_000_000)


def test_evaluate_refuses_too_much_work(
    bd: pd.DataFrame, boundary_sets: dict[str, BoundarySet], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hotspots.geo import params

    monkeypatch.setattr(params, "MAX_EVALUATION_WORK", 3000)
    with pytest.raises(InvalidInput, match="more work than one request may ask"):
        evaluate_hotspots(bd, boundary_sets, AnalysisParams(min_samples=20), n_tests=2)


def test_hotspots_drawn_are_capped_with_a_note(
    boundary_sets: dict[str, BoundarySet], monkeypatch: pytest.MonkeyPatch
) -> None:
    bset = boundary_sets["wards-2022"]
    centres = [(x, y) for x in (545600.0, 548000.0, 552500.0) for y in (184000.0, 188400.0)]
    planted, _ = planted_incidents(
        centres, per_cluster=30, spread_m=15, background=0, area=bset.outline, seed=5, month="2023-01"
    )
    frame = read_incidents([to_csv_source(planted)]).incidents
    params = AnalysisParams(eps_m=60, min_samples=10)
    full = analyse(frame, boundary_sets, params, statistics=False)
    assert full.meta["hotspots"] == 6 and full.meta["hotspots_note"] is None
    from hotspots.geo import params as params_module

    monkeypatch.setattr(params_module, "MAX_HOTSPOTS", 4)
    capped = analyse(frame, boundary_sets, params, statistics=False)
    assert capped.meta["hotspots"] == 4 and capped.meta["clusters_found"] == 6
    assert "6 clusters found; the 4 largest are drawn" in capped.meta["hotspots_note"]
    assert list(capped.hotspots["count"]) == list(full.hotspots["count"][:4])
    ids = capped.incidents["hotspot_id"].to_numpy()
    assert set(np.unique(ids)) == {-1, 1, 2, 3, 4}


def test_cli_options_read_the_contract(tmp_path: Path, bd_source: Source) -> None:
    help_text = runner.invoke(cli, ["analyse", "--help"], env={"COLUMNS": "400"}).output
    assert "--eps-m" in help_text and "between 25 and 1,000 metres" in help_text
    src = tmp_path / "bd.csv"
    src.write_bytes(bd_source.data)
    out = tmp_path / "out"
    bad = runner.invoke(cli, ["analyse", str(src), "--eps-m", "1", "--out", str(out)])
    assert bad.exit_code == 2
    assert "eps_m must be between 25 and 1,000 metres" in bad.output
    bad_k = runner.invoke(cli, ["kdistance", str(src), "--k", "5000", "--out", str(tmp_path / "k.png")])
    assert bad_k.exit_code == 2 and "k must be between 2 and 1,000" in bad_k.output


def test_cli_analyse_honours_the_harm_weights_setting(
    tmp_path: Path, bd_source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI goes through the service, so HOTSPOTS_HARM_WEIGHTS_FILE applies as it does in the API."""
    monkeypatch.setenv("HOTSPOTS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HOTSPOTS_TILES", "none")
    table = tmp_path / "harm.json"
    table.write_text(json.dumps({"weights": {"Burglary": 1, "*": 1}, "source": "flat test table"}))
    src = tmp_path / "bd.csv"
    src.write_bytes(bd_source.data)
    args = ["analyse", str(src), "--eps-m", "150", "--min-samples", "20", "--weight", "harm"]
    default = runner.invoke(cli, [*args, "--out", str(tmp_path / "default")])
    assert default.exit_code == 0, default.output
    monkeypatch.setenv("HOTSPOTS_HARM_WEIGHTS_FILE", str(table))
    flat = runner.invoke(cli, [*args, "--out", str(tmp_path / "flat")])
    assert flat.exit_code == 0, flat.output

    def props(folder: str) -> list[dict[str, object]]:
        doc = json.loads((tmp_path / folder / "hotspots.geojson").read_text())
        return [f["properties"] for f in doc["features"]]

    assert props("flat"), "some hotspots"
    assert all(p["harm"] == p["count"] for p in props("flat")), "every incident weighs 1 under the setting"
    assert any(p["harm"] != p["count"] for p in props("default")), "the default table is not flat"
