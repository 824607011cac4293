"""Start-up: ``hotspots --help`` imports typer, rich and our light modules only (no timing here;
the times are measured by bench/startup.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = (
    "sklearn",
    "geopandas",
    "shapely",
    "pandas",
    "numpy",
    "pyarrow",
    "dask",
    "distributed",
    "matplotlib",
    "folium",
    "fastapi",
    "uvicorn",
    "sqlalchemy",
    "pydantic_settings",
    "esda",
    "libpysal",
)

# Runs in a fresh interpreter: imports the CLI module, then runs ``--help`` lines through typer's
# CliRunner, and prints which heavy packages are loaded after each step.
PROBE = textwrap.dedent(
    """
    import json, sys
    heavy = json.loads(sys.argv[1])
    loaded = lambda: sorted(m for m in heavy if m in sys.modules)
    import hotspots.cli
    seen = {"import": loaded()}
    from typer.testing import CliRunner
    runner = CliRunner()
    outputs = {}
    for line in json.loads(sys.argv[2]):
        result = runner.invoke(hotspots.cli.app, line)
        outputs[" ".join(line)] = [result.exit_code, result.output]
        seen[" ".join(line)] = loaded()
    print(json.dumps({"seen": seen, "outputs": outputs}))
    """
)


def _probe(lines: list[list[str]]) -> dict[str, dict[str, object]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY), json.dumps(lines)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    result: dict[str, dict[str, object]] = json.loads(done.stdout)
    return result


def _commands() -> list[list[str]]:
    """Every command and sub-command of the CLI, as argument lists."""
    import typer.main

    from hotspots.cli import app

    group = typer.main.get_command(app)
    lines: list[list[str]] = []
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        subs = getattr(cmd, "commands", None)
        if subs:
            lines.extend([name, sub] for sub in subs)
        lines.append([name])
    return lines


def test_help_imports_nothing_heavy() -> None:
    commands = _commands()
    assert ["analyse"] in commands and ["serve"] in commands and ["keys", "create"] in commands
    lines = [["--help"], *([*c, "--help"] for c in commands)]
    probe = _probe(lines)
    seen = probe["seen"]
    assert seen["import"] == [], f"importing hotspots.cli loads {seen['import']}"
    for line in lines:
        key = " ".join(line)
        code, output = probe["outputs"][key]  # type: ignore[misc]
        assert code == 0, (key, output)
        assert "Usage:" in output, key
        assert seen[key] == [], f"hotspots {key} loads {seen[key]}"


def test_help_keeps_the_contract_defaults() -> None:
    """The options read their defaults from geo.params; they agree with the domain's own constants."""
    from hotspots.geo import analysis
    from hotspots.geo.clusters import hotspots as clusters
    from hotspots.geo.params import AUTO, SPECS

    assert analysis.AUTO == AUTO == "auto"
    assert SPECS["shape_buffer_m"].default == clusters.DEFAULT_SHAPE_BUFFER_M
    assert SPECS["min_locations"].default == clusters.DEFAULT_MIN_LOCATIONS
    probe = _probe([["analyse", "--help"]])
    code, output = probe["outputs"]["analyse --help"]  # type: ignore[misc]
    assert code == 0
    text = " ".join(str(output).split())
    assert "--buffer-m" in text and "--min-locations" in text and "--eps-m" in text
    assert "[default: 15.0]" in text and "[default: 3]" in text and "[default: auto]" in text


def _loaded_after(module: str, watched: tuple[str, ...], timeout: float) -> list[str]:
    """The ``watched`` packages a fresh interpreter has loaded after ``import module``."""
    code = f"import sys, json, {module}; print(json.dumps([m for m in {watched!r} if m in sys.modules]))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        timeout=timeout,
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


@pytest.mark.parametrize("module", ["hotspots.geo.params", "hotspots.errors"])
def test_light_modules_stay_light(module: str) -> None:
    """The modules the CLI imports at start-up import no heavy package themselves."""
    assert _loaded_after(module, HEAVY, 60) == []


def test_the_server_loads_no_drawing_library_before_a_picture_is_asked_for() -> None:
    """``hotspots serve`` imports the app: matplotlib (PNG maps, charts), mapclassify (natural
    breaks), Dask and WeasyPrint wait until a request needs them."""
    drawing = ("matplotlib", "mapclassify", "dask", "distributed", "weasyprint")
    assert _loaded_after("hotspots.api.app", drawing, 120) == []
