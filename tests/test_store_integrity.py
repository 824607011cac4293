"""Stored datasets: racing writers, deletions, and cache keys that never point at deleted data."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.errors import NotFound
from hotspots.geo.analysis import AnalysisParams
from hotspots.geo.inputs.ingest import IngestReport, read_incidents
from hotspots.service import HotspotService
from hotspots.settings import Settings
from hotspots.store import Store
from hotspots.store.sharing import delete_dataset, remove_orphans
from tests.planting import planted_incidents

WRITERS = 6


def _csv(n: int, seed: int) -> bytes:
    from hotspots.boundaries import shipped_boundary_sets

    bset = shipped_boundary_sets()["wards-2022"]
    frame, _ = planted_incidents([], per_cluster=0, spread_m=1, background=n, area=bset.outline, seed=seed)
    return frame.to_csv(index=False).encode()


@pytest.fixture(scope="module")
def small() -> tuple[pd.DataFrame, IngestReport]:
    from hotspots.geo.inputs.ingest import Source

    result = read_incidents([Source("small.csv", _csv(30, 1))])
    return result.incidents, result.report


def test_racing_writers_get_distinct_versions_and_keep_their_files(
    tmp_path: Path, small: tuple[pd.DataFrame, IngestReport]
) -> None:
    """Separate engines on one SQLite file, as the CLI and the server are: no write is lost."""
    incidents, report = small
    stores = [Store(tmp_path, f"sqlite:///{tmp_path / 'meta.db'}") for _ in range(WRITERS)]
    barrier = threading.Barrier(WRITERS)

    def write(store: Store) -> Any:
        barrier.wait()
        return store.add_dataset("race", incidents, report)

    with ThreadPoolExecutor(WRITERS) as pool:
        versions = list(pool.map(write, stores))
    assert sorted(v.version for v in versions) == list(range(1, WRITERS + 1))
    assert len({v.path for v in versions}) == WRITERS
    listed = stores[0].list_datasets()
    assert [v.version for v in listed] == list(range(1, WRITERS + 1))
    for v in listed:
        assert v.path.is_file(), f"{v.ref} is registered but its file is gone"
        assert len(stores[0].load_incidents(v)) == len(incidents)
    assert not list((tmp_path / "datasets" / "race").glob(".tmp-*"))
    for s in stores:
        s.engine.dispose()


def test_a_failed_write_removes_only_its_own_file(
    tmp_path: Path, small: tuple[pd.DataFrame, IngestReport], monkeypatch: pytest.MonkeyPatch
) -> None:
    incidents, report = small
    store = Store(tmp_path, f"sqlite:///{tmp_path / 'meta.db'}")
    first = store.add_dataset("race", incidents, report)

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("hotspots.store.store.os.replace", broken_replace)
    with pytest.raises(OSError):
        store.add_dataset("race", incidents, report)
    monkeypatch.undo()
    assert [v.ref for v in store.list_datasets()] == ["race@1"]
    assert sorted(p.name for p in (tmp_path / "datasets" / "race").iterdir()) == [first.path.name]
    store.engine.dispose()


def test_orphan_clean_up_spares_a_write_under_way(
    tmp_path: Path, small: tuple[pd.DataFrame, IngestReport]
) -> None:
    incidents, report = small
    store = Store(tmp_path, f"sqlite:///{tmp_path / 'meta.db'}")
    kept = store.add_dataset("a", incidents, report)
    young = tmp_path / "datasets" / "a" / "v2-0123.parquet"  # another process, row not committed yet
    young.write_bytes(b"PAR1")
    old = tmp_path / "datasets" / "a" / "v9-dead.parquet"
    old.write_bytes(b"PAR1")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert remove_orphans(store) == [old]
    assert young.exists() and kept.path.exists()
    store.engine.dispose()


def test_versions_beyond_any_integer_are_not_found(
    tmp_path: Path, small: tuple[pd.DataFrame, IngestReport]
) -> None:
    store = Store(tmp_path, f"sqlite:///{tmp_path / 'meta.db'}")
    store.add_dataset("x", *small)
    for ref in ("x@99999999999999999999", "x@9223372036854775808", "x@2147483648"):
        with pytest.raises(NotFound):
            store.get_dataset(ref)
        with pytest.raises(NotFound):
            delete_dataset(store, ref)
    store.engine.dispose()


def test_a_version_deleted_under_a_reader_is_not_found(
    tmp_path: Path, small: tuple[pd.DataFrame, IngestReport]
) -> None:
    store = Store(tmp_path, f"sqlite:///{tmp_path / 'meta.db'}")
    version = store.add_dataset("x", *small)
    delete_dataset(store, "x")
    with pytest.raises(NotFound):
        store.load_incidents(version)
    store.engine.dispose()


# ---- through the service and the API ------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "var", tiles="none", seed_sample_data=False)
    with TestClient(create_app(settings)) as c:
        _, secret = c.app.state.service.security.create_key("tests-admin", "admin")  # type: ignore[attr-defined]
        c.headers.update({"X-API-Key": secret})
        yield c


def _ward_total(client: TestClient, ref: str) -> int:
    r = client.get("/exports/wards.geojson", params={"dataset": ref})
    assert r.status_code == 200, r.text
    return int(sum(f["properties"]["count"] for f in r.json()["features"]))


def test_delete_then_upload_under_the_same_name_serves_the_new_data(client: TestClient) -> None:
    up = client.post("/datasets", data={"name": "reuse"}, files={"files": ("a.csv", _csv(40, 2))})
    assert up.status_code == 201, up.text
    assert _ward_total(client, "reuse") == 40
    assert client.get("/hotspots", params={"dataset": "reuse"}).status_code == 200
    assert client.delete("/datasets/reuse").status_code == 200
    up = client.post("/datasets", data={"name": "reuse"}, files={"files": ("b.csv", _csv(70, 3))})
    assert up.status_code == 201, up.text
    assert _ward_total(client, "reuse") == 70
    # The same with the deletion made by another process (the CLI), which this server's caches
    # do not hear of.
    other = HotspotService(client.app.state.service.settings)  # type: ignore[attr-defined]
    other.delete_dataset("reuse")
    other.store.engine.dispose()
    up = client.post("/datasets", data={"name": "reuse"}, files={"files": ("c.csv", _csv(55, 8))})
    assert up.status_code == 201, up.text
    assert up.json()["ref"] == "reuse@1"  # same name, same number, same database id in SQLite...
    assert _ward_total(client, "reuse") == 55  # ...but the new data
    assert _ward_total(client, "reuse@1") == 55


def test_huge_version_numbers_are_404_not_500(client: TestClient) -> None:
    up = client.post("/datasets", data={"name": "x"}, files={"files": ("a.csv", _csv(20, 4))})
    assert up.status_code == 201, up.text
    huge = "x@99999999999999999999"
    assert client.get(f"/datasets/{huge}").status_code == 404
    assert client.delete(f"/datasets/{huge}").status_code == 404
    for route in ("/hotspots", "/maps/hotspots", "/exports/wards.geojson", "/app"):
        r = client.get(route, params={"dataset": huge})
        assert r.status_code == 404, (route, r.status_code, r.text[:200])
    assert client.get("/hotspots", params={"dataset": "x@²"}).status_code == 422


def test_a_deletion_during_a_slow_computation_leaves_nothing_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = HotspotService(Settings(data_dir=tmp_path / "var", seed_sample_data=False))
    from hotspots.geo.inputs.ingest import Source

    service.ingest("slow", [Source("a.csv", _csv(25, 5))])
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def blocking(incidents: pd.DataFrame, boundary_sets: Any, params: AnalysisParams, **_: Any) -> Any:
        calls.append(len(incidents))
        started.set()
        assert release.wait(10)
        return _Result(len(incidents))

    monkeypatch.setattr("hotspots.service.analyse", blocking)
    params = AnalysisParams()
    with ThreadPoolExecutor(1) as pool:
        cold = pool.submit(service.analyse, "slow", params)
        assert started.wait(10)
        service.delete_dataset("slow")
        service.ingest("slow", [Source("b.csv", _csv(35, 6))])
        release.set()
        assert cold.result()[1].n == 25  # the request that started before the delete gets its answer
    _, fresh = service.analyse("slow", params)
    assert fresh.n == 35
    assert calls == [25, 35]
    with service._lock:
        assert all(r.n == 35 for r in service._cache.values() if isinstance(r, _Result))
    service.store.engine.dispose()


def test_a_render_started_before_a_deletion_is_not_cached(tmp_path: Path) -> None:
    service = HotspotService(Settings(data_dir=tmp_path / "var", seed_sample_data=False))
    from hotspots.geo.inputs.ingest import Source

    service.ingest("r", [Source("a.csv", _csv(25, 7))])
    selection = service.dataset("r")
    started, release = threading.Event(), threading.Event()

    def render() -> str:
        started.set()
        assert release.wait(10)
        return "old"

    with ThreadPoolExecutor(1) as pool:
        cold = pool.submit(service.rendered, "page", selection, AnalysisParams(), (), render)
        assert started.wait(10)
        service.delete_dataset("r")
        release.set()
        assert cold.result() == "old"
    assert service.rendered("page", selection, AnalysisParams(), (), lambda: "rebuilt") == "rebuilt"
    service.store.engine.dispose()


class _Result:
    def __init__(self, n: int) -> None:
        self.n = n
        self.meta: dict[str, Any] = {}
        self.incidents = pd.DataFrame()
