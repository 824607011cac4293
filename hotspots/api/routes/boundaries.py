"""Boundary sets: list the shipped and uploaded sets, upload a new one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from hotspots.api.audit import audited_rejections
from hotspots.api.auth import Admin, Viewer
from hotspots.api.deps import Service
from hotspots.api.routes.uploads import read_limited, safe_filename

# Every rejected upload (any error status, 500 included) is audited as "boundary upload rejected".
router = APIRouter(
    prefix="/boundaries", tags=["boundaries"], route_class=audited_rejections("boundary upload rejected")
)


@router.get("", operation_id="list_boundaries")
def list_boundaries(service: Service, _: Viewer) -> list[dict[str, Any]]:
    """Every boundary set: name, wards, boroughs, the months it was in force."""
    return [b.describe() for b in service.boundary_sets.values()]


@router.post("", status_code=201, operation_id="upload_boundaries")
async def upload_boundaries(
    service: Service,
    who: Admin,
    file: Annotated[UploadFile, File(description="GeoJSON or GeoPackage of ward polygons")],
    name: Annotated[str, Form(description="Name for the new boundary set")],
    title: Annotated[str | None, Form()] = None,
    valid_from: Annotated[str | None, Form(description="First month in force, YYYY-MM")] = None,
    valid_to: Annotated[str | None, Form(description="Last month in force, YYYY-MM")] = None,
) -> dict[str, Any]:
    """Validate and store a boundary set (polygons, unique codes, known CRS)."""
    data = await read_limited(file, service.settings.max_upload_bytes)
    bset = service.add_boundary_file(data, safe_filename(file.filename), name, title, valid_from, valid_to)
    service.security.audit(who.name, who.role, "boundary upload", bset.name, {"wards": len(bset.wards)})
    return bset.describe()
