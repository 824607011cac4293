"""The CLI for any area: --districts, --police-force, --boundaries FILE, --area, and 'hotspots areas'."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from typer.testing import CliRunner

from hotspots.boundaries.catalogue import national_catalogue
from hotspots.geo.inputs.ingest import Source
from tests.test_areas import essex_sources, police_uk_csv

runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSPOTS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HOTSPOTS_TILES", "none")


@pytest.fixture(scope="module")
def essex_july(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("essex") / "2018-07-essex-street.csv"
    path.write_bytes(essex_sources()[-1].data)
    return path


def invoke(*args: str) -> str:
    from hotspots.cli import app

    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_analyse_a_whole_force_file_for_a_police_force_area(tmp_path: Path, essex_july: Path) -> None:
    out = tmp_path / "out"
    output = invoke("analyse", str(essex_july), "--police-force", "Essex", "--out", str(out))
    assert "lie outside the area" in output  # counted, not refused
    hotspots = json.loads((out / "hotspots.geojson").read_text())
    districts = {b for f in hotspots["features"] for b in f["properties"]["boroughs"]}
    assert {"Colchester", "Southend-on-Sea", "Chelmsford"} <= districts
    wards = json.loads((out / "wards.geojson").read_text())
    assert {f["properties"]["borough_name"] for f in wards["features"]} >= {"Basildon", "Thurrock"}
    rows = list(csv.DictReader((out / "incidents.csv").open(encoding="utf-8")))
    outside = [r for r in rows if r["outside_area"] == "True"]
    assert 0 < len(outside) < len(rows) / 50
    assert all(r["borough_name"] == "" for r in outside)


def test_districts_pick_part_of_a_force(tmp_path: Path, essex_july: Path) -> None:
    out = tmp_path / "out"
    invoke("analyse", str(essex_july), "--districts", "Basildon,Castle Point", "--out", str(out))
    boroughs = json.loads((out / "boroughs.geojson").read_text())
    assert {f["properties"]["borough_name"] for f in boroughs["features"]} == {"Basildon", "Castle Point"}
    hotspots = json.loads((out / "hotspots.geojson").read_text())
    assert hotspots["features"]
    # every listed hotspot holds incidents in Basildon or Castle Point
    for feature in hotspots["features"]:
        assert set(feature["properties"]["boroughs"]) <= {"Basildon", "Castle Point"}
        assert feature["properties"]["boroughs"]


def test_boundaries_file_used_directly(tmp_path: Path, essex_july: Path) -> None:
    wards = national_catalogue().boundary_set(["Colchester"]).wards.to_crs(4326)
    path = tmp_path / "colchester_wards.geojson"
    path.write_text(wards.rename(columns={"ward_code": "WD22CD", "ward_name": "WD22NM"}).to_json())
    out = tmp_path / "out"
    invoke("analyse", str(essex_july), "--boundaries", str(path), "--out", str(out))
    wards_out = json.loads((out / "wards.geojson").read_text())
    assert len(wards_out["features"]) == len(wards)
    # a file for another area is refused with the counts, exit code 2
    from hotspots.cli import app

    bad = runner.invoke(app, ["analyse", str(essex_july), "--districts", "Cardiff", "--out", str(out)])
    assert bad.exit_code == 2
    assert "lies inside the area" in bad.output


def test_areas_commands_and_ingest_into_an_area(tmp_path: Path, bd_source: Source) -> None:
    output = invoke("areas", "add", "south-essex", "--districts", "Basildon, E07000069")
    assert "Basildon (E07000066)" in output and "Castle Point (E07000069)" in output
    assert "south-essex" in invoke("areas", "list")
    assert "30 wards" in invoke("areas", "show", "south-essex")
    area = national_catalogue().boundary_set(["Basildon", "Castle Point"])
    rng = np.random.default_rng(5)
    minx, miny, maxx, maxy = area.outline.bounds
    x, y = rng.uniform(minx, maxx, 2000), rng.uniform(miny, maxy, 2000)
    keep = shapely.contains_xy(area.outline, x, y)
    path = tmp_path / "se.csv"
    path.write_bytes(police_uk_csv(x[keep][:300], y[keep][:300]))
    assert "Stored se@1" in invoke("ingest", str(path), "--name", "se", "--area", "south-essex")
    from hotspots.cli import app

    wrong = tmp_path / "bd.csv"
    wrong.write_bytes(bd_source.data)
    refused = runner.invoke(app, ["ingest", str(wrong), "--name", "bd", "--area", "south-essex"])
    assert refused.exit_code == 2 and "lies inside the area" in refused.output
    assert "Deleted area south-essex" in invoke("areas", "delete", "south-essex")
    gone = runner.invoke(app, ["areas", "show", "south-essex"])
    assert gone.exit_code != 0
