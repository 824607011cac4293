"""Administration: the audit log and the list of API keys (keys are made with the CLI)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hotspots.api.auth import Admin
from hotspots.api.deps import Service

router = APIRouter(tags=["admin"])


@router.get("/audit", operation_id="get_audit_log")
def audit_log(
    service: Service,
    _: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[dict[str, Any]]:
    """Who uploaded, exported or changed what, and when (newest first; append-only)."""
    return service.security.audit_log(limit, offset)


@router.get("/keys", operation_id="list_keys")
def list_keys(service: Service, _: Admin) -> list[dict[str, Any]]:
    """API keys by name and role (never the secrets: only their hashes are stored)."""
    return [k.describe() for k in service.security.list_keys()]
