"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
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
from hotspots.maps.assets import ASSET_DIRS
from hotspots.service import HotspotService
from hotspots.settings import Settings

STATIC_PREFIX = "/static"
APP_STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("hotspots")


class HotspotsApp(FastAPI):
    """FastAPI with the security headers outermost, so even a 500 carries them."""

    tiles: str = "none"

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), tiles=self.tiles)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: from ``HOTSPOTS_*`` environment variables)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = HotspotService(settings)
        if settings.seed_sample_data:
            for version in service.seed_samples():
                log.info("loaded sample dataset %s (%d rows)", version.ref, version.rows)
        app.state.service = service
        app.state.csrf = CsrfTokens.load(settings.data_dir)
        yield

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
