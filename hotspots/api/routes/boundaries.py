"""Boundary sets: list the shipped and uploaded sets, upload a new one, delete an uploaded one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from hotspots.api.auth import Admin, Viewer
from hotspots.api.deps import Service
from hotspots.api.routes.uploads import read_limited, safe_filename
from hotspots.boundaries.upload import MAX_POPULATION_BYTES
from hotspots.errors import HotspotError

router = APIRouter(prefix="/boundaries", tags=["boundaries"])


@router.get("", operation_id="list_boundaries")
def list_boundaries(service: Service, _: Viewer) -> list[dict[str, Any]]:
    """Every boundary set: name, wards, boroughs, the months it was in force."""
    return [b.describe() for b in service.boundary_sets.values()]


@router.post("", status_code=201, operation_id="upload_boundaries")
async def upload_boundaries(
    service: Service,
    who: Admin,
    file: Annotated[UploadFile, File(description="Ward polygons: GeoJSON, GeoPackage or a zipped Shapefile")],
    name: Annotated[str, Form(description="Name for the new boundary set")],
    title: Annotated[str | None, Form()] = None,
    valid_from: Annotated[str | None, Form(description="First month in force, YYYY-MM")] = None,
    valid_to: Annotated[str | None, Form(description="Last month in force, YYYY-MM")] = None,
    population: Annotated[
        UploadFile | None,
        File(description="Optional CSV of ward code and residents (e.g. WD22CD,population), at most 2 MiB"),
    ] = None,
) -> dict[str, Any]:
    """Validate and store a boundary set (polygons, unique codes, known CRS). Admin; audited.

    The file is checked in a worker thread, never on the event loop.
    """
    data = await read_limited(file, service.settings.max_boundary_upload_bytes)
    filename = safe_filename(file.filename)
    pop = None
    if population is not None and population.filename:
        pop = (await read_limited(population, MAX_POPULATION_BYTES), safe_filename(population.filename))
    try:
        bset = await run_in_threadpool(
            service.add_boundary_file, data, filename, name, title, valid_from, valid_to, pop
        )
    except HotspotError as exc:
        service.security.audit(who.name, who.role, "boundary upload rejected", name, {"error": exc.message})
        raise
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
