"""The FastAPI application factory."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import State
from starlette.types import ASGIApp

from hotspots import __version__
from hotspots.api.cancel import watch_disconnects
from hotspots.api.csrf import CsrfTokens
from hotspots.api.errors import register_error_handlers
from hotspots.api.headers import SecurityHeaders
from hotspots.api.routes import (
    admin,
    app_data,
    app_page,
    app_stability,
    areas,
    boundaries,
    datasets,
    docs,
    evaluation_page,
    exports,
    health,
    hotspots,
    intervention_page,
    interventions,
    maps,
    ogc,
    patrol,
    statistics,
)
from hotspots.demo import SAMPLES, SERVE_FIRST
from hotspots.maps.assets import ASSET_DIRS
from hotspots.service import HotspotService
from hotspots.settings import Settings

STATIC_PREFIX = "/static"
APP_STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("hotspots")
WORKER_THREADS = 256
"""Threads for the (synchronous) request handlers. A request waiting for an uncached
computation (for a slot, or for the same computation another request started) holds its
thread while it waits; with the thread pool's default 40, forty such requests would leave
none for cached ones. Computations themselves are bounded by ``max_concurrent_analyses``."""


def _settle_for_serving() -> None:
    """Tune the process for many short requests next to a few long analyses.

    More worker threads (:data:`WORKER_THREADS`), and every object alive after start-up
    (modules, boundary sets, the seeded datasets) moved out of the garbage collector's view
    (``gc.freeze``): a full collection then walks only what requests created, not the whole
    interpreter (15x to 30x shorter serving the sample), which is what made the slowest 1% of cached
    requests several times slower than the rest. (A shorter interpreter-lock switch interval
    was tried: it made cached requests cost more CPU while analyses ran, not less.)
    """
    limiter = anyio.to_thread.current_default_thread_limiter()  # one per event loop
    limiter.total_tokens = max(int(limiter.total_tokens), WORKER_THREADS)
    global _FROZEN
    if not _FROZEN:  # once per process: what a later app (tests make many) leaves behind stays collectable
        _FROZEN = True
        gc.collect()
        gc.freeze()


_FROZEN = False


class HotspotsApp(FastAPI):
    """FastAPI with the security headers outermost, so even a 500 carries them."""

    tiles: str = "none"

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), tiles=self.tiles)


def _seed(service: HotspotService, names: list[str], state: State) -> None:
    """Load the shipped samples ``names`` one by one; ``state.loading`` names those not yet stored."""
    for i, name in enumerate(names):
        try:
            for version in service.seed_samples([name]):
                log.info("loaded sample dataset %s (%d rows)", version.ref, version.rows)
        except Exception:  # a background load must not die silently
            log.exception("loading the sample dataset %s failed", name)
        state.loading = tuple(names[i + 1 :])  # a new tuple: readers never see one change


def create_app(settings: Settings | None = None, *, seed_in_background: bool = False) -> FastAPI:
    """Build the app for ``settings`` (default: from ``HOTSPOTS_*`` environment variables).

    With ``seed_in_background`` (``hotspots serve``), a first start loads only the samples of
    :data:`~hotspots.demo.SERVE_FIRST` before answering, and the others in a background thread;
    ``/healthz`` names those still loading. Otherwise every sample is loaded before the first answer.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = HotspotService(settings)
        app.state.loading = ()
        later: threading.Thread | None = None
        if settings.seed_sample_data:
            for version in service.seed_samples(list(SERVE_FIRST) if seed_in_background else None):
                log.info("loaded sample dataset %s (%d rows)", version.ref, version.rows)
            stored = {d.name for d in service.store.list_datasets()}
            rest = [s.name for s in SAMPLES if s.name not in stored]
            if rest:
                app.state.loading = tuple(rest)
                later = threading.Thread(target=_seed, args=(service, rest, app.state), name="seed-samples")
                later.start()
        app.state.service = service
        app.state.csrf = CsrfTokens.load(settings.data_dir)
        _settle_for_serving()
        yield
        if later is not None:
            later.join()  # stop after the last sample is stored: each is written atomically anyway

    app = HotspotsApp(
        title="hotspots",
        version=__version__,
        description="Crime and harm hotspots for community safety partnerships: ward counts, DBSCAN "
        "hotspots across borough borders, maps and GIS layers.",
        lifespan=lifespan,
        docs_url=None,  # our own /docs loads its assets from this server
        redoc_url=None,  # ReDoc fetches its logo from redoc.ly: not offered
    )
    app.state.static_prefix = STATIC_PREFIX
    app.tiles = settings.tiles
    register_error_handlers(app)
    watch_disconnects(app)  # the service gives up work whose clients all left
    for module in (
        health,
        app_page,
        app_stability,
        evaluation_page,
        app_data,
        datasets,
        areas,
        boundaries,
        hotspots,
        interventions,
        intervention_page,
        statistics,
        exports,
        maps,
        admin,
        ogc,
        docs,
        patrol,
    ):
        app.include_router(module.router)
    for name, directory in ASSET_DIRS.items():
        app.mount(f"{STATIC_PREFIX}/{name}", StaticFiles(directory=directory), name=f"static-{name}")
    app.mount(
        f"{STATIC_PREFIX}/{docs.DOCS_ASSET_NAME}", StaticFiles(directory=docs.DOCS_ASSETS), name="static-docs"
    )
    app.mount(f"{STATIC_PREFIX}/app", StaticFiles(directory=APP_STATIC), name="static-app")
    return app
