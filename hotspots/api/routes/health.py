"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from hotspots import __version__
from hotspots.api.deps import Service

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="healthz")
def healthz(service: Service) -> dict[str, object]:
    """The service is up; how many dataset versions and boundary sets it holds."""
    return {
        "status": "ok",
        "version": __version__,
        "datasets": len(service.store.list_datasets()),
        "boundary_sets": len(service.boundary_sets),
    }
