"""The service's result cache: keyed by dataset version and parameters, one computation per key.

The analysis itself is replaced by a slow counting stand-in, so each test measures the
cache alone: how many times a result is computed when many threads ask at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from hotspots.demo import SAMPLES, sample_source
from hotspots.geo.analysis import AnalysisParams
from hotspots.service import HotspotService
from hotspots.settings import Settings

THREADS = 50
COMPUTE_S = 0.2  # long enough that every thread arrives while the first is still computing


class CountingAnalysis:
    """Stands in for ``hotspots.service.analyse``: slow, counts calls and the most running at once."""

    def __init__(self) -> None:
        self.calls = 0
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def __call__(self, incidents: Any, boundary_sets: Any, params: AnalysisParams, **_: Any) -> Any:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        time.sleep(COMPUTE_S)
        with self._lock:
            self.running -= 1
        return _Result(params)


class _Result:
    def __init__(self, params: AnalysisParams) -> None:
        self.params = params
        self.meta: dict[str, Any] = {}
        self.incidents = _NoRows()


class _NoRows:
    columns: list[str] = []


@pytest.fixture(scope="module")
def seeded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("cache-store")
    service = HotspotService(Settings(data_dir=data_dir))
    service.seed_samples()
    service.store.engine.dispose()
    return data_dir


@pytest.fixture
def service(seeded_dir: Path) -> Iterator[HotspotService]:
    service = HotspotService(Settings(data_dir=seeded_dir))
    yield service
    service.store.engine.dispose()


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> CountingAnalysis:
    fake = CountingAnalysis()
    monkeypatch.setattr("hotspots.service.analyse", fake)
    return fake


def _at_once(calls: list[Any]) -> list[Any]:
    """Run every zero-argument callable in its own thread, all released together."""
    barrier = threading.Barrier(len(calls))

    def run(fn: Any) -> Any:
        barrier.wait()
        return fn()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_concurrent_cold_requests_compute_once(service: HotspotService, counting: CountingAnalysis) -> None:
    params = AnalysisParams(month_from="2020-01", month_to="2020-06")
    results = _at_once([lambda: service.analyse(None, params)[1] for _ in range(THREADS)])
    assert counting.calls == 1
    assert all(r is results[0] for r in results)
    # and a later request is answered from the cache
    assert service.analyse(None, params)[1] is results[0]
    assert counting.calls == 1


def test_different_keys_do_not_wait_for_each_other(
    service: HotspotService, counting: CountingAnalysis
) -> None:
    a = AnalysisParams(month_from="2019-01", month_to="2019-06")
    b = AnalysisParams(month_from="2019-07", month_to="2019-12")
    _at_once([lambda p=p: service.analyse(None, p) for p in [a, b] * (THREADS // 2)])  # type: ignore[misc]
    assert counting.calls == 2
    assert counting.most_running == 2, "two keys should be computed side by side, not one after the other"


def test_key_is_dataset_version_and_parameters(service: HotspotService, counting: CountingAnalysis) -> None:
    params = AnalysisParams(month_from="2023-01", month_to="2023-01")
    name = SAMPLES[1].name
    first = service.analyse(name, params)[1]
    assert service.analyse(name, params)[1] is first
    assert (
        service.analyse(name, AnalysisParams(month_from="2023-01", month_to="2023-01", eps_m=80))[1]
        is not first
    )
    assert counting.calls == 2
    # a new version of the dataset is a new key; the old version stays addressable by number
    old_ref = service.dataset(name).ref
    service.ingest(name, [sample_source(SAMPLES[1].filename)], mapping=SAMPLES[1].mapping, size_limited=False)
    assert service.dataset(name).ref != old_ref
    assert service.analyse(name, params)[1] is not first
    assert counting.calls == 3
    assert service.analyse(old_ref, params)[1] is first
    assert counting.calls == 3


def test_a_failed_computation_is_not_cached_and_does_not_block(service: HotspotService) -> None:
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("first attempt fails")
        return "ok"

    params = AnalysisParams()
    selection = service.dataset(None)
    with pytest.raises(RuntimeError):
        service.rendered("probe", selection, params, (), flaky)
    assert service.rendered("probe", selection, params, (), flaky) == "ok"
    assert service.rendered("probe", selection, params, (), flaky) == "ok"
    assert calls == 2


def test_rendered_bodies_are_built_once_per_variant(service: HotspotService) -> None:
    built: list[tuple[object, ...]] = []
    lock = threading.Lock()

    def render(variant: tuple[object, ...]) -> tuple[object, ...]:
        with lock:
            built.append(variant)
        time.sleep(COMPUTE_S)
        return variant

    selection = service.dataset(None)
    params = AnalysisParams()
    variants = [(True, "count"), (False, "count")]
    results = _at_once(
        [
            lambda v=v: service.rendered("map-page", selection, params, v, lambda v=v: render(v))  # type: ignore[misc]
            for v in variants * (THREADS // 2)
        ]
    )
    assert sorted(built) == sorted(variants)
    assert set(results) == set(variants)


def test_dataset_look_ups_are_reused_briefly_and_forgotten_on_change(
    service: HotspotService, seeded_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = SAMPLES[1].name
    before = service.dataset(name)
    assert service.dataset(name) is before  # reused: no database read per request
    # Another process (the CLI) adds a version: seen once the look-up is older than the TTL.
    other = HotspotService(Settings(data_dir=seeded_dir))
    other.ingest(name, [sample_source(SAMPLES[1].filename)], mapping=SAMPLES[1].mapping, size_limited=False)
    other.store.engine.dispose()
    assert service.dataset(name).ref == before.ref
    monkeypatch.setattr("hotspots.service.SELECTION_TTL_S", 0.0)
    newer = service.dataset(name)
    assert newer.ref != before.ref
    monkeypatch.setattr("hotspots.service.SELECTION_TTL_S", 60.0)
    # Deleting through this service forgets at once.
    service.dataset(name)
    service.delete_dataset(newer.ref)
    assert service.dataset(name).ref == before.ref
