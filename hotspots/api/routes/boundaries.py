"""Boundary sets: list the shipped and uploaded sets, upload a new one, delete an uploaded one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from hotspots.api.audit import audited_rejections
from hotspots.api.auth import Admin, Principal, Viewer
from hotspots.api.deps import Service
from hotspots.api.routes.uploads import UploadForm, read_form, read_upload, safe_filename
from hotspots.boundaries.upload import MAX_POPULATION_BYTES
from hotspots.service import HotspotService

# Every rejected upload (any error status, 500 included) is audited as "boundary upload rejected".
router = APIRouter(
    prefix="/boundaries", tags=["boundaries"], route_class=audited_rejections("boundary upload rejected")
)


@router.get("", operation_id="list_boundaries")
def list_boundaries(service: Service, _: Viewer) -> list[dict[str, Any]]:
    """Every boundary set: name, wards, boroughs, the months it was in force."""
    return [b.describe() for b in service.boundary_sets.values()]


UPLOAD_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "name"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "Ward polygons: GeoJSON, GeoPackage or a zipped Shapefile",
                        },
                        "population": {
                            "type": "string",
                            "format": "binary",
                            "description": "Optional CSV of ward code and residents "
                            "(e.g. WD22CD,population), "
                            "at most 2 MiB",
                        },
                        "name": {"type": "string", "description": "Name for the new boundary set"},
                        "title": {"type": "string"},
                        "valid_from": {"type": "string", "description": "First month in force, YYYY-MM"},
                        "valid_to": {"type": "string", "description": "Last month in force, YYYY-MM"},
                    },
                }
            }
        },
    }
}


@router.post("", status_code=201, operation_id="upload_boundaries", openapi_extra=UPLOAD_FORM)
async def upload_boundaries(request: Request, service: Service, who: Admin) -> dict[str, Any]:
    """Validate and store a boundary set (polygons, unique codes, known CRS).

    The caller is authenticated before the body is read; a body over the size limit is
    refused (413) as soon as that is known; the file is read and checked in a worker thread.
    """
    form = await read_form(request, service.settings.max_boundary_upload_bytes + MAX_POPULATION_BYTES)
    try:
        return await run_in_threadpool(_store_boundaries, service, who, form)
    finally:
        await form.close()


def _store_boundaries(service: HotspotService, who: Principal, form: UploadForm) -> dict[str, Any]:
    name = form.required("name")
    file = form.uploads("file")[0]
    filename = safe_filename(file.filename)
    pop = None
    population = form.files.get("population")
    if population and population[0].filename:
        pop = (read_upload(population[0], MAX_POPULATION_BYTES), safe_filename(population[0].filename))
    data = read_upload(file, service.settings.max_boundary_upload_bytes)
    bset = service.add_boundary_file(
        data, filename, name, form.text("title"), form.text("valid_from"), form.text("valid_to"), pop
    )
    service.security.audit(
        who.name, who.role, "boundary upload", bset.name, {"file": filename, "wards": len(bset.wards)}
    )
    return bset.describe()


@router.delete("/{name}", operation_id="delete_boundaries")
def delete_boundaries(name: str, service: Service, who: Admin) -> dict[str, Any]:
    """Delete an uploaded boundary set (shipped sets cannot be deleted). Admin; audited."""
    bset = service.delete_boundary_set(name)
    service.security.audit(who.name, who.role, "boundary set deleted", bset.name, {"source": bset.source})
    return {"deleted": bset.name}
