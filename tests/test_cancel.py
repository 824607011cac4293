"""Work nobody waits for is given up; uncached work is bounded; cached results never wait."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hotspots.api.cancel import DisconnectWatch
from hotspots.geo.cancel import Cancelled, caller_gone, checkpoint
from hotspots.service import HotspotService
from hotspots.settings import Settings


@pytest.fixture
def service(tmp_path: Path) -> HotspotService:
    return HotspotService(Settings(data_dir=tmp_path / "var", max_concurrent_analyses=1))


def _as_caller(
    gone: threading.Event, fn: Callable[[], Any], out: dict[str, Any], name: str
) -> threading.Thread:
    def run() -> None:
        caller_gone.set(gone)
        try:
            out[name] = fn()
        except Cancelled as exc:
            out[name] = exc

    t = threading.Thread(target=run)
    t.start()
    return t


def _looping(
    started: threading.Event, steps: list[int], release: threading.Event | None = None
) -> Callable[[], str]:
    """A long computation that checks for cancellation between its steps."""

    def compute() -> str:
        started.set()
        for i in range(500):
            checkpoint()
            steps.append(i)
            if release is not None and release.is_set():
                return "done"
            time.sleep(0.01)
        return "done"

    return compute


def test_work_whose_only_client_left_is_cancelled(service: HotspotService) -> None:
    started, gone, steps, out = threading.Event(), threading.Event(), [], {}
    t = _as_caller(gone, lambda: service._cached(("k",), _looping(started, steps), heavy=True), out, "a")
    assert started.wait(5)
    gone.set()
    t.join(5)
    assert isinstance(out["a"], Cancelled)
    assert len(steps) < 500, "stopped between steps"
    assert ("k",) not in service._cache and ("k",) not in service._pending
    # the next caller computes it afresh
    assert service._cached(("k",), lambda: "again") == "again"


def test_shared_work_runs_on_while_one_waiter_remains(service: HotspotService) -> None:
    started, release = threading.Event(), threading.Event()
    gone_a, gone_b = threading.Event(), threading.Event()
    steps: list[int] = []
    out: dict[str, Any] = {}
    compute = _looping(started, steps, release)
    a = _as_caller(gone_a, lambda: service._cached(("shared",), compute, heavy=True), out, "a")
    assert started.wait(5)
    b = _as_caller(gone_b, lambda: service._cached(("shared",), lambda: "not me", heavy=True), out, "b")
    time.sleep(0.1)
    gone_a.set()  # the first client leaves; the second still waits
    time.sleep(0.2)
    release.set()
    a.join(5)
    b.join(5)
    assert out["a"] == "done" and out["b"] == "done"

    started2, gone_c, gone_d = threading.Event(), threading.Event(), threading.Event()
    steps2: list[int] = []
    c = _as_caller(
        gone_c, lambda: service._cached(("both",), _looping(started2, steps2), heavy=True), out, "c"
    )
    assert started2.wait(5)
    d = _as_caller(gone_d, lambda: service._cached(("both",), lambda: "x", heavy=True), out, "d")
    time.sleep(0.1)
    gone_c.set()
    gone_d.set()  # now everyone has gone
    c.join(5)
    d.join(5)
    assert isinstance(out["c"], Cancelled) and isinstance(out["d"], Cancelled)


def test_uncached_work_is_bounded_and_cached_results_do_not_wait(service: HotspotService) -> None:
    service._cached(("cached",), lambda: "fast")
    started, release = threading.Event(), threading.Event()
    out: dict[str, Any] = {}
    busy = _as_caller(
        threading.Event(),
        lambda: service._cached(("slow",), _looping(started, [], release), heavy=True),
        out,
        "a",
    )
    assert started.wait(5)
    second_started = threading.Event()

    def second() -> str:
        second_started.set()
        return "second"

    other = _as_caller(threading.Event(), lambda: service._cached(("other",), second, heavy=True), out, "b")
    t0 = time.perf_counter()
    assert service._cached(("cached",), lambda: "recomputed") == "fast"
    assert time.perf_counter() - t0 < 0.1, "a cached result does not wait for a slot"
    assert not second_started.wait(0.3), "one slot: the second uncached analysis waits"
    release.set()
    busy.join(5)
    other.join(5)
    assert out == {"a": "done", "b": "second"}


def test_a_waiting_computation_is_dropped_when_its_client_leaves(service: HotspotService) -> None:
    started, release = threading.Event(), threading.Event()
    out: dict[str, Any] = {}
    busy = _as_caller(
        threading.Event(),
        lambda: service._cached(("slow",), _looping(started, [], release), heavy=True),
        out,
        "a",
    )
    assert started.wait(5)
    gone = threading.Event()
    ran = threading.Event()
    waiting = _as_caller(gone, lambda: service._cached(("queued",), ran.set, heavy=True), out, "b")
    time.sleep(0.1)
    gone.set()
    waiting.join(5)
    assert isinstance(out["b"], Cancelled) and not ran.is_set()
    release.set()
    busy.join(5)


def test_disconnect_watch_sets_the_callers_event() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        gone = caller_gone.get()
        assert gone is not None
        assert (await receive())["type"] == "http.request"
        for _ in range(100):
            if gone.is_set():
                break
            await asyncio.sleep(0.01)
        seen["gone"] = gone.is_set()

    async def run(disconnect_early: bool) -> None:
        messages = [{"type": "http.request", "body": b"", "more_body": False}]
        responded = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            if not disconnect_early:
                await responded.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            responded.set()

        await DisconnectWatch(app)({"type": "http", "method": "GET"}, receive, send)

    asyncio.run(run(True))
    assert seen["gone"] is True
    asyncio.run(run(False))
    assert seen["gone"] is False


def test_a_request_whose_client_leaves_stops_its_evaluation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the whole app: the client disconnects, the handler thread's evaluation loop stops."""
    from fastapi.testclient import TestClient

    import hotspots.service as service_module
    from hotspots.api.app import create_app

    steps: list[int] = []
    outcome: dict[str, Any] = {}

    def endless(*args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            for i in range(1000):
                checkpoint()
                steps.append(i)
                time.sleep(0.01)
        except Cancelled:
            outcome["cancelled"] = True
            raise
        return {}

    monkeypatch.setattr(service_module, "evaluate_hotspots", endless)
    settings = Settings(data_dir=tmp_path / "var", tiles="none")
    with TestClient(create_app(settings)) as client:

        async def leave_early() -> list[dict[str, Any]]:
            sent: list[dict[str, Any]] = []
            calls = 0

            async def receive() -> dict[str, Any]:
                nonlocal calls
                calls += 1
                if calls == 1:
                    return {"type": "http.request", "body": b"", "more_body": False}
                await asyncio.sleep(0.3)
                return {"type": "http.disconnect"}

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": "/evaluate",
                "raw_path": b"/evaluate",
                "query_string": b"rolling=2",
                "root_path": "",
                "headers": [(b"host", b"testserver")],
                "client": ("127.0.0.1", 5000),
                "server": ("testserver", 80),
                "state": {},
            }
            await client.app(scope, receive, send)
            return sent

        t0 = time.perf_counter()
        sent = client.portal.call(leave_early)
        assert outcome.get("cancelled") is True
        assert time.perf_counter() - t0 < 5 and len(steps) < 1000
        assert sent[0]["status"] == 499
