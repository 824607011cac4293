"""``hotspots evaluate-intervention``: the short table, exact counts, JSON and PNG outputs, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from typer.testing import CliRunner

from hotspots.cli import app
from hotspots.demo import sample_source
from hotspots.geo.inputs.ingest import Source, read_incidents
from hotspots.geo.stats import interventions as iv

runner = CliRunner()
SAMPLE = "police_uk_tri_borough_2022-01_to_2022-09.csv.gz"
ROMFORD = {
    "type": "Polygon",
    "coordinates": [[[0.176, 51.573], [0.19, 51.573], [0.19, 51.58], [0.176, 51.58], [0.176, 51.573]]],
}


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSPOTS_DATA_DIR", str(tmp_path / "var"))


@pytest.fixture(scope="module")
def sample() -> Source:
    return sample_source(SAMPLE)


def _files(tmp_path: Path, sample: Source) -> tuple[Path, Path]:
    data = tmp_path / "tri-borough-2022.csv"
    data.write_bytes(sample.data)
    target = tmp_path / "target.geojson"
    target.write_text(json.dumps(ROMFORD))
    return data, target


def test_evaluate_intervention_prints_a_table_and_writes_exact_json(tmp_path: Path, sample: Source) -> None:
    data, target = _files(tmp_path, sample)
    out, png = tmp_path / "eval.json", tmp_path / "eval.png"
    args = ["evaluate-intervention", str(data), "--target", str(target), "--start", "2022-06"]
    result = runner.invoke(app, [*args, "--json", str(out), "--png", str(png)])
    assert result.exit_code == 0, result.output
    assert "WDD total" in result.stdout and "synthetic control" in result.stdout
    assert "2022-02..2022-05" in result.stdout
    report = json.loads(out.read_text())
    assert report["periods"]["after"] == {"from": "2022-06", "to": "2022-09", "months": 4}
    assert "disclosure" not in report
    # exact counts: the incidents inside the polygon in the before months, recounted
    inc = read_incidents([sample]).incidents
    geom = iv.parse_geojson_polygon(json.dumps(ROMFORD))
    inside = shapely.contains_xy(geom, inc["x"].to_numpy(), inc["y"].to_numpy())
    months = inc["month"].astype(str).to_numpy()
    before = inside & (months >= "2022-02") & (months <= "2022-05") & inc["has_location"].to_numpy(bool)
    assert report["target"]["before"] == int(before.sum())
    assert png.read_bytes()[:4] == b"\x89PNG"
    w = report["wdd"]
    assert np.isclose(w["total"], w["local"] + w["displacement"])
    # the default is the plain formula, by hand from the report's own counts (equal periods)
    t, c, d = ((report[a]["before"], report[a]["after"]) for a in ("target", "control", "buffer"))
    assert w["formula"] == "plain" and w["local"] == (t[1] - t[0]) - (c[1] - c[0])
    assert w["variance"] == sum(t) + sum(d) + 2 * sum(c)
    assert "WDD (scaled)" in result.stdout


def test_evaluate_intervention_options(tmp_path: Path, sample: Source) -> None:
    data, target = _files(tmp_path, sample)
    out = tmp_path / "eval.json"
    args = ["evaluate-intervention", str(data), "--target", str(target), "--start", "2022-06"]
    more = ["--before-months", "2", "--buffer-m", "400", "--category", "Burglary", "--weight", "harm"]
    more.append("--scale-control")
    result = runner.invoke(app, [*args, *more, "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["periods"]["before"]["months"] == 2 and report["periods"]["time_weight"] == 2.0
    assert report["parameters"]["buffer_m"] == 400 and report["weight"] == "harm"
    assert report["parameters"]["crime_types"] == ["Burglary"]
    assert report["parameters"]["scale_control"] is True
    assert report["wdd"] == report["wdd_scaled"] and report["wdd"]["formula"] == "scaled"
    assert report["wdd_plain"]["formula"] == "plain" and report["wdd_plain"]["control_weight"] == 1.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--start", "2025-01"], "nothing after the start"),
        (["--start", "2022-06", "--buffer-m", "5"], "buffer_m"),
        (["--start", "2022-06", "--control", "nope.geojson"], "--control must be"),
        (["--start", "2022-06", "--weight", "heavy"], "--weight"),
    ],
)
def test_evaluate_intervention_errors(tmp_path: Path, sample: Source, extra: list[str], message: str) -> None:
    data, target = _files(tmp_path, sample)
    result = runner.invoke(app, ["evaluate-intervention", str(data), "--target", str(target), *extra])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_a_target_that_is_not_a_polygon(tmp_path: Path, sample: Source) -> None:
    data, target = _files(tmp_path, sample)
    target.write_text(json.dumps({"type": "Point", "coordinates": [0.18, 51.57]}))
    result = runner.invoke(
        app, ["evaluate-intervention", str(data), "--target", str(target), "--start", "2022-06"]
    )
    assert result.exit_code == 2 and "only Polygon and MultiPolygon" in result.output
