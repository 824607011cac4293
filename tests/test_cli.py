"""The hotspots CLI: analyse files to a folder, ingest into a store, clear errors without tracebacks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hotspots.cli import app
from hotspots.geo.inputs.ingest import Source
from tests.geojson_checks import assert_rfc7946
from tests.planting import border_point, planted_incidents

runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSPOTS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HOTSPOTS_TILES", "none")


def test_analyse_writes_all_outputs(tmp_path: Path, bd_source: Source) -> None:
    src = tmp_path / "bd.csv"
    src.write_bytes(bd_source.data)
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["analyse", str(src), "--eps-m", "150", "--min-samples", "20", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    hotspots = json.loads((out / "hotspots.geojson").read_text())
    assert_rfc7946(hotspots)
    assert hotspots["features"], "some hotspots at 150 m / 20 incidents in B&D"
    props = hotspots["features"][0]["properties"]
    assert {"hotspot_id", "count", "area_m2", "wards", "boroughs", "cross_border"} <= set(props)
    assert all(isinstance(w, str) for w in props["wards"])
    wards = json.loads((out / "wards.geojson").read_text())
    assert_rfc7946(wards)
    assert {"ward_code", "ward_name", "borough_name", "count"} <= set(wards["features"][0]["properties"])
    rows = list(csv.DictReader((out / "incidents.csv").open(encoding="utf-8")))
    assert len(rows) == 2002
    expected = {
        "crime_id",
        "month",
        "longitude",
        "latitude",
        "crime_type",
        "ward_code",
        "ward_name",
        "borough_code",
        "borough_name",
        "hotspot_id",
    }
    assert expected <= set(rows[0])
    in_hotspot = [r for r in rows if r["hotspot_id"] not in ("", "-1")]
    assert len(in_hotspot) == sum(f["properties"]["count"] for f in hotspots["features"])
    html = (out / "map.html").read_text(encoding="utf-8")
    assert "<script src=" not in html and "L.map(" in html


def test_analyse_many_files_defaults_from_data(tmp_path: Path, bd_source: Source) -> None:
    from hotspots.boundaries import shipped_boundary_sets

    bset = shipped_boundary_sets()["wards-2022"]
    frame, _ = planted_incidents(
        [border_point(bset, "E09000002", "E09000026")],
        per_cluster=40,
        spread_m=20,
        background=100,
        area=bset.outline,
        seed=11,
        month="2023-02",
    )
    a = tmp_path / "jan.csv"
    a.write_bytes(bd_source.data)
    b = tmp_path / "feb.csv"
    frame.to_csv(b, index=False)
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyse", str(a), str(b), "--out", str(out)])
    assert result.exit_code == 0, result.output
    # The summary names the method and the parameters chosen from the data.
    assert "DBSCAN (fixed radius): radius 100 m, at least" in result.output
    assert "(chosen from the data)" in result.output
    rows = list(csv.DictReader((out / "incidents.csv").open(encoding="utf-8")))
    assert {r["month"] for r in rows} == {"2023-01", "2023-02"}


def test_bad_file_exits_nonzero_without_traceback(tmp_path: Path, bd_source: Source) -> None:
    lines = bd_source.data.decode().splitlines()
    lines[9] = lines[9].replace("2023-01", "2023-13", 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["analyse", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "line 10" in result.output and "Month" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()
    missing = runner.invoke(app, ["analyse", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_ingest_and_list(tmp_path: Path, bd_source: Source) -> None:
    src = tmp_path / "bd.csv"
    src.write_bytes(bd_source.data)
    result = runner.invoke(app, ["ingest", str(src), "--name", "bd"])
    assert result.exit_code == 0, result.output
    assert "Stored bd@1" in result.output
    listed = runner.invoke(app, ["datasets"])
    assert "bd@1" in listed.output and "2002" in listed.output
    bad = runner.invoke(app, ["ingest", str(src), "--name", "Bad Name!"])
    assert bad.exit_code == 2 and "not allowed" in bad.output
