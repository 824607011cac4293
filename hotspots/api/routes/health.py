"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request

from hotspots import __version__
from hotspots.api.deps import Service

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="healthz")
def healthz(service: Service, request: Request) -> dict[str, object]:
    """The service is up; how many dataset versions and boundary sets it holds, and which shipped
    samples are still loading (a first ``hotspots serve`` loads some in the background)."""
    return {
        "status": "ok",
        "version": __version__,
        "datasets": len(service.store.list_datasets()),
        "boundary_sets": len(service.boundary_sets),
        "loading": sorted(getattr(request.app.state, "loading", ())),
    }
