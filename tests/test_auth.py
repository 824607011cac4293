"""Roles, API keys, audit log and disclosure control through the API and CLI."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hotspots.api.app import create_app
from hotspots.cli import app as cli
from hotspots.geo.inputs.ingest import Source
from hotspots.settings import Settings

K = 5
COUNT_KEYS = {
    "count",
    "count_a",
    "count_b",
    "harm",
    "incidents",
    "incidents_located",
    "incidents_without_location",
    "incidents_outside_area",
    "incidents_in_hotspots",
}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("auth") / "var", tiles="none", auth_required=True)
    with TestClient(create_app(settings)) as client:
        security = client.app.state.service.security  # type: ignore[attr-defined]
        headers = {}
        for role in ("viewer", "police", "council", "admin"):
            _, secret = security.create_key(f"test-{role}", role)
            headers[role] = {"X-API-Key": secret}
        yield client, headers


def test_healthz_and_docs_are_open(keys: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, _ = keys
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/hotspots",
        "/datasets",
        "/boundaries",
        "/maps/hotspots",
        "/significance.geojson",
        "/audit",
        "/exports/wards.geojson",
        "/exports/incidents.csv",
    ],
)
def test_no_key_is_401(keys: tuple[TestClient, dict[str, dict[str, str]]], path: str) -> None:
    client, _ = keys
    r = client.get(path)
    assert r.status_code == 401
    assert "API key" in r.json()["message"]
    assert client.get(path, headers={"X-API-Key": "hs_not-a-real-key"}).status_code == 401


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/hotspots?dataset=bd-2023-01", {"viewer", "police", "council", "admin"}),
        ("/maps/hotspots?dataset=bd-2023-01", {"viewer", "police", "council", "admin"}),
        ("/exports/wards.geojson?dataset=bd-2023-01", {"council", "admin"}),
        ("/exports/hotspots.csv?dataset=bd-2023-01", {"police", "council", "admin"}),
        ("/exports/incidents.csv?dataset=bd-2023-01", {"police", "admin"}),
        ("/audit", {"admin"}),
        ("/keys", {"admin"}),
    ],
)
def test_roles(keys: tuple[TestClient, dict[str, dict[str, str]]], path: str, allowed: set[str]) -> None:
    client, headers = keys
    for role, h in headers.items():
        status = client.get(path, headers=h).status_code
        assert status == (200 if role in allowed else 403), (role, path, status)


def test_upload_needs_admin_and_is_audited(
    keys: tuple[TestClient, dict[str, dict[str, str]]], bd_source: Source
) -> None:
    client, headers = keys
    files = {"files": ("bd.csv", bd_source.data, "text/csv")}
    assert (
        client.post("/datasets", data={"name": "bd2"}, files=files, headers=headers["council"]).status_code
        == 403
    )
    r = client.post("/datasets", data={"name": "bd2"}, files=files, headers=headers["admin"])
    assert r.status_code == 201
    client.get("/exports/wards.geojson", params={"dataset": "bd2"}, headers=headers["council"])
    log = client.get("/audit", headers=headers["admin"]).json()
    actions = [(e["actor"], e["action"], e["target"]) for e in log]
    assert ("test-admin", "upload", "bd2@1") in actions
    assert any(a == "test-council" and act == "export" for a, act, _ in actions)


def test_revoked_key_is_refused(keys: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, _ = keys
    security = client.app.state.service.security  # type: ignore[attr-defined]
    _, secret = security.create_key("temp", "viewer")
    assert (
        client.get("/hotspots", params={"dataset": "bd-2023-01"}, headers={"X-API-Key": secret}).status_code
        == 200
    )
    security.revoke_key("temp")
    assert (
        client.get("/hotspots", params={"dataset": "bd-2023-01"}, headers={"X-API-Key": secret}).status_code
        == 401
    )
    stored = [k.name for k in security.list_keys()]
    assert "temp" in stored
    from sqlalchemy import text

    with client.app.state.service.store.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(text("SELECT * FROM api_keys")).fetchall()
    assert rows and secret not in repr(rows), "only the hash is stored"


def _small_counts(obj: Any, path: str = "") -> list[str]:
    found = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if (
                key in COUNT_KEYS
                and isinstance(value, int | float)
                and not isinstance(value, bool)
                and 0 < value < K
            ):
                found.append(f"{path}.{key}={value}")
            if key in ("monthly_counts",) and isinstance(value, dict):
                found += [
                    f"{path}.{key}.{m}={v}" for m, v in value.items() if isinstance(v, int) and 0 < v < K
                ]
            found += _small_counts(value, f"{path}.{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            found += _small_counts(value, f"{path}[{i}]")
    return found


def test_no_viewer_output_has_a_count_below_k(keys: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, headers = keys
    q = {"dataset": "bd-2023-01", "category": ["Robbery", "Bicycle theft"], "min_samples": 3, "eps_m": 200}
    viewer = headers["viewer"]
    police = headers["police"]
    exact = client.get("/hotspots", params=q, headers=police).json()
    assert _small_counts(exact), "the police view of this filter does have small counts"
    for path in ("/hotspots", "/hotspots.geojson", "/significance.geojson", "/emerging", "/emerging.geojson"):
        body = client.get(path, params=q, headers=viewer).json()
        assert _small_counts(body) == [], path
    wards = client.get("/significance.geojson", params={**q, "level": "wards"}, headers=viewer).json()
    assert _small_counts(wards) == []
    rule = client.get("/hotspots", params=q, headers=viewer).json()["meta"]["disclosure"]
    assert rule["method"] == "cell key perturbation + small-cell suppression" and rule["k"] == K
    assert "disclosure" not in exact["meta"]
    council = client.get("/exports/wards.geojson", params=q, headers=headers["council"]).json()
    assert _small_counts(council) == []
    page = client.get("/maps/hotspots", params=q, headers=viewer).text
    small = [m for m in re.findall(r'"count":\s*(\d+)', page) if 0 < int(m) < K]
    assert small == []


def test_cli_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSPOTS_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "create", "--name", "analyst", "--role", "council"])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("hs_")
    listed = runner.invoke(cli, ["keys", "list"])
    assert "analyst" in listed.output and secret not in listed.output
    assert runner.invoke(cli, ["keys", "revoke", "analyst"]).exit_code == 0
    bad = runner.invoke(cli, ["keys", "create", "--name", "x", "--role", "superuser"])
    assert bad.exit_code == 2 and "role must be one of" in bad.output
