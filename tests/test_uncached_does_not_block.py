"""A slow uncached analysis never stalls cached requests (a real uvicorn server, real threads)."""

from __future__ import annotations

import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from hotspots.geo.analysis import AnalysisParams
from hotspots.service import HotspotService
from hotspots.settings import Settings
from tests.live import live_server

GATED_EPS_M = 123.0
"""The analysis at this eps is held until the test lets it go."""
WAITING = 60
"""Requests waiting for the held analysis: more than a thread pool's default 40 workers."""


def test_cached_requests_are_answered_while_an_uncached_analysis_runs(
    tmp_path: Path, monkeypatch: Any
) -> None:
    started, release = threading.Event(), threading.Event()
    original = HotspotService.analyse_incidents

    def gated(self: HotspotService, incidents: pd.DataFrame, params: AnalysisParams, **kwargs: Any) -> Any:
        if params.eps_m == GATED_EPS_M:
            started.set()
            assert release.wait(120), "the test never released the analysis"
        return original(self, incidents, params, **kwargs)

    monkeypatch.setattr(HotspotService, "analyse_incidents", gated)
    cached = ["/hotspots", "/hotspots.geojson", "/maps/hotspots", "/ogc/collections/hotspots/items?limit=5"]
    with live_server(Settings(data_dir=tmp_path / "var", tiles="none")) as server:
        service: HotspotService = server.app.state.service
        assert gc.get_freeze_count() > 0  # start-up objects are out of the collector's way
        with httpx.Client(base_url=server.url, timeout=120) as client:
            for path in cached:  # fill the caches
                assert client.get(path).status_code == 200
        with ThreadPoolExecutor(WAITING) as pool:
            try:
                slow = [
                    pool.submit(httpx.get, f"{server.url}/hotspots?eps_m={GATED_EPS_M:g}", timeout=180)
                    for _ in range(WAITING)
                ]
                assert started.wait(60)
                deadline = time.monotonic() + 20  # (with too few worker threads, some never get in)
                while sum(len(w.waiters) for w in list(service._pending.values())) < WAITING:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                # The slow requests are held inside the server; cached ones still come back.
                with httpx.Client(base_url=server.url, timeout=20) as client:
                    for path in cached:
                        response = client.get(path)
                        assert response.status_code == 200, path
                    assert client.get("/healthz").status_code == 200
                assert not any(f.done() for f in slow)
            finally:
                release.set()
            assert all(f.result().status_code == 200 for f in slow)
