"""First start of ``hotspots serve``: the samples the first pages need are loaded before it
answers, the others in the background, and the app page says which are still loading."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hotspots.api import app as app_module
from hotspots.api.app import create_app
from hotspots.demo import DEFAULT_DATASET, SAMPLES, SERVE_FIRST, sample_source
from hotspots.settings import Settings


def test_serve_answers_before_the_other_samples_are_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    go = threading.Event()
    real_seed = app_module._seed

    def held_seed(*args: object) -> None:
        assert go.wait(300), "the test never let the background load go"
        real_seed(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(app_module, "_seed", held_seed)
    later = [s.name for s in SAMPLES if s.name not in SERVE_FIRST]
    assert later == ["bd-2023-01", "bd-havering-2016-2018"]
    app = create_app(Settings(data_dir=tmp_path / "var", tiles="none"), seed_in_background=True)
    with TestClient(app) as client:
        try:
            _check_while_loading_and_after(client, app.state.service, later, go)
        finally:
            go.set()  # the app's shutdown waits for the background load


def _check_while_loading_and_after(
    client: TestClient, service: Any, later: list[str], go: threading.Event
) -> None:
    assert sorted(d.name for d in service.store.list_datasets()) == sorted(SERVE_FIRST)
    assert client.get("/healthz").json()["loading"] == later
    page = client.get("/app")
    assert page.status_code == 200, page.text[:500]
    assert 'value="tri-borough-2022" selected' in page.text, "the app opens on its usual dataset"
    assert "Still loading: bd-2023-01, bd-havering-2016-2018" in page.text
    assert 'value="bd-havering-2016-2018"' not in page.text
    assert client.get("/hotspots").json()["dataset"].startswith(DEFAULT_DATASET)

    go.set()
    deadline = time.monotonic() + 300
    while client.get("/healthz").json()["loading"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.get("/healthz").json()["loading"] == []
    assert sorted(d.name for d in service.store.list_datasets()) == sorted(s.name for s in SAMPLES)
    page = client.get("/app")
    assert 'value="tri-borough-2022" selected' in page.text, "the same default with all four"
    assert "Still loading" not in page.text
    assert 'value="bd-havering-2016-2018"' in page.text and 'value="bd-2023-01"' in page.text, (
        "the picker of the page cached while loading is not served again"
    )
    bd = next(s for s in SAMPLES if s.name == "bd-2023-01")
    service.ingest("bd-again", [sample_source(bd.filename)], size_limited=False)
    assert 'value="bd-again"' in client.get("/app").text, "a dataset stored later is in the picker"


def test_without_background_loading_every_sample_is_there_at_once(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "var", tiles="none"))
    with TestClient(app) as client:
        assert client.get("/healthz").json()["loading"] == []
        names = sorted(d.name for d in app.state.service.store.list_datasets())
        assert names == sorted(s.name for s in SAMPLES)
