"""Many partners' data: sharing records, combined analyses, source filters, deletion, retention purge,
and durability (a killed upload leaves the previous version intact)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hotspots.api.app import create_app
from hotspots.cli import app as cli
from hotspots.geo.inputs.ingest import Source
from hotspots.service import HotspotService
from hotspots.settings import Settings
from hotspots.store.sharing import Sharing, remove_orphans

AE_CSV = "ref,easting,northing,attended,injury\n" + "".join(
    f"{i},{545500 + (i % 7) * 10},{185500 + (i % 5) * 10},0{1 + i % 9}/01/2023 2{i % 4}:15,Assault\n"
    for i in range(40)
)
AE_MAPPING = '{"x": "easting", "y": "northing", "date": "attended", "category": "injury", "id": "ref"}'


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("partners") / "var", tiles="none")
    with TestClient(create_app(settings)) as c:
        _, secret = c.app.state.service.security.create_key("dm", "admin")  # type: ignore[attr-defined]
        c.headers.update({"X-API-Key": secret})
        upload_ae(c)
        yield c


def upload_ae(client: TestClient) -> None:
    """Upload the A&E assault sample as a health dataset with a data-sharing agreement."""
    r = client.post(
        "/datasets",
        data={
            "name": "ae-assaults",
            "mapping": AE_MAPPING,
            "owner": "Barking, Havering and Redbridge University Hospitals NHS Trust",
            "source_type": "health",
            "purpose": "Serious Violence Duty: Cardiff Model assault locations",
            "agreement": "DSA-2023-017",
            "retention_until": "2030-03-31",
        },
        files={"files": ("ae.csv", AE_CSV.encode(), "text/csv")},
    )
    assert r.status_code == 201, r.text


def test_sharing_record_is_stored_and_listed(client: TestClient) -> None:
    listed = {d["dataset"]: d for d in client.get("/datasets").json()}
    ae = listed["ae-assaults"]["sharing"]
    assert ae["source_type"] == "health" and ae["retention_until"] == "2030-03-31"
    assert ae["agreement"] == "DSA-2023-017"
    assert listed["bd-2023-01"]["sharing"]["source_type"] == "police"
    bad = client.post(
        "/datasets",
        data={"name": "x", "mapping": AE_MAPPING, "source_type": "astrology"},
        files={"files": ("ae.csv", AE_CSV.encode(), "text/csv")},
    )
    assert bad.status_code == 422 and "source_type" in bad.json()["message"]


def test_combined_analysis_says_which_sources_it_used(client: TestClient) -> None:
    body = client.get("/hotspots", params={"dataset": "bd-2023-01,ae-assaults", "min_samples": 10}).json()
    sources = {s["dataset"]: s for s in body["meta"]["sources"]}
    assert set(sources) == {"bd-2023-01@1", "ae-assaults@1"}
    assert sources["ae-assaults@1"]["incidents"] == 40 and sources["bd-2023-01@1"]["incidents"] == 2002
    assert body["meta"]["incidents"] == 2042
    health_only = client.get(
        "/hotspots", params={"dataset": "bd-2023-01,ae-assaults", "source": "health", "min_samples": 10}
    ).json()
    assert [s["source_type"] for s in health_only["meta"]["sources"]] == ["health"]
    assert health_only["meta"]["incidents"] == 40
    assert health_only["meta"]["time_profile"]["available"] is True, "A&E data has times of day"


def test_delete_is_admin_only_and_logged(client: TestClient, bd_source: Source) -> None:
    files = {"files": ("bd.csv", bd_source.data, "text/csv")}
    client.post("/datasets", data={"name": "temp"}, files=files)
    client.post("/datasets", data={"name": "temp"}, files=files)
    viewer = {"X-API-Key": client.app.state.service.security.create_key("v", "viewer")[1]}  # type: ignore[attr-defined]
    assert client.delete("/datasets/temp@1", headers=viewer).status_code == 403
    r = client.delete("/datasets/temp@1")
    assert r.status_code == 200 and r.json()["deleted"] == ["temp@1"]
    assert client.get("/datasets/temp").json()["ref"] == "temp@2"
    assert client.delete("/datasets/temp").json()["deleted"] == ["temp@2"]
    assert client.get("/datasets/temp").status_code == 404
    log = client.get("/audit").json()
    assert {("dataset deleted", "temp@1"), ("dataset deleted", "temp@2")} <= {
        (e["action"], e["target"]) for e in log
    }
    data_dir = client.app.state.service.settings.data_dir  # type: ignore[attr-defined]
    assert not list((Path(data_dir) / "datasets" / "temp").glob("*.parquet"))


def test_retention_purge(tmp_path: Path, bd_source: Source, monkeypatch: pytest.MonkeyPatch) -> None:
    service = HotspotService(Settings(data_dir=tmp_path / "var"))
    service.ingest(
        "old", [bd_source], sharing=Sharing.parse("Council", "council", "ASB", "DSA-1", "2024-01-31")
    )
    service.ingest(
        "current", [bd_source], sharing=Sharing.parse("Council", "council", "ASB", "DSA-2", "2099-01-01")
    )
    service.ingest("open", [bd_source])
    gone = service.purge_expired(today=date(2024, 2, 1))
    assert [v.ref for v in gone] == ["old@1"]
    assert {d.name for d in service.store.list_datasets()} == {"current", "open"}
    log = service.security.audit_log()
    assert log[0]["action"] == "dataset deleted" and log[0]["target"] == "old@1"
    assert log[0]["detail"]["reason"] == "retention period ended"
    monkeypatch.setenv("HOTSPOTS_DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(cli, ["purge"])
    assert result.exit_code == 0 and "Nothing is past its retention date" in result.output


def test_killed_upload_leaves_the_previous_version_intact(tmp_path: Path, points_source: Source) -> None:
    """Kill `hotspots ingest` at several moments; the store always holds complete versions only."""
    data_dir = tmp_path / "var"
    src = tmp_path / "points.csv"
    src.write_bytes(points_source.data)
    env = {**os.environ, "HOTSPOTS_DATA_DIR": str(data_dir)}
    cmd = [sys.executable, "-m", "hotspots.cli", "ingest", str(src), "--name", "pts"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert first.returncode == 0, first.stderr
    for delay in (0.3, 0.8, 1.3, 1.8, 2.4):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        service = HotspotService(Settings(data_dir=data_dir))
        versions = service.store.list_datasets()
        assert versions[0].ref == "pts@1"
        for version in versions:
            frame = service.store.load_incidents(version)
            assert len(frame) == 147_131, version.ref
        # start-up clears orphans and temp files once they are older than a write could be
        # (a young one may be another process's write under way)
        remove_orphans(service.store, grace_s=0)
        files = sorted(p.name for p in (data_dir / "datasets" / "pts").iterdir())
        assert files == sorted(v.path.name for v in versions), files
