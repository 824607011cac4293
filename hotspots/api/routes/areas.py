"""Areas: list, make (catalogue districts, a police force area, or a boundary file), show, delete.

Also the national catalogue's districts and police force areas, for pickers.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from hotspots.api.auth import Admin, Principal, Viewer
from hotspots.api.deps import Service
from hotspots.api.routes.uploads import UploadForm, read_form, read_upload, safe_filename
from hotspots.boundaries.catalogue import national_catalogue
from hotspots.service import HotspotService

router = APIRouter(tags=["areas"])

AREA_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "description": "Name for the new area"},
                        "title": {"type": "string", "description": "Title shown on maps and briefings"},
                        "districts": {
                            "type": "string",
                            "description": "Comma-separated district names or E06/E07/E08/E09/W06 codes",
                        },
                        "police_force": {
                            "type": "string",
                            "description": "A police force area: name or E23/W15 code",
                        },
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "Ward boundaries: GeoJSON, GeoPackage or a zipped Shapefile",
                        },
                        "population": {
                            "type": "string",
                            "format": "binary",
                            "description": "Optional CSV of ward code to population, for a boundary file",
                        },
                    },
                }
            }
        },
    }
}


@router.get("/areas", operation_id="list_areas")
def list_areas(service: Service, _: Viewer) -> list[dict[str, Any]]:
    """Every area: the shipped demo and the stored ones, with their districts and boundary sets."""
    return [a.describe() for a in service.areas()]


@router.get("/areas/{name}", operation_id="get_area")
def get_area(name: str, service: Service, _: Viewer) -> dict[str, Any]:
    """One area, with the datasets stored for it."""
    area = service.area(name)
    datasets = [v.ref for v in service.store.list_datasets() if service.area_name_of(v) == area.name]
    return {**area.describe(), "datasets": datasets}


@router.post("/areas", status_code=201, operation_id="create_area", openapi_extra=AREA_FORM)
async def create_area(request: Request, service: Service, who: Admin) -> dict[str, Any]:
    """Make an area from catalogue districts, a police force area, or an uploaded boundary file.

    Give exactly one of ``districts``, ``police_force`` and ``file``. Admin; audited.
    """
    form = await read_form(request, service.settings.max_upload_bytes)
    try:
        return await run_in_threadpool(_make_area, service, who, form)
    finally:
        await form.close()


def _make_area(service: HotspotService, who: Principal, form: UploadForm) -> dict[str, Any]:
    name = form.required("name")
    title = form.text("title")
    districts = [d.strip() for d in (form.text("districts") or "").split(",") if d.strip()]
    if form.files.get("file"):
        upload = form.uploads("file")[0]
        population = form.files.get("population")
        area = service.add_area_from_file(
            read_upload(upload, service.settings.max_upload_bytes),
            safe_filename(upload.filename),
            name,
            title=title,
            population_csv=read_upload(population[0], service.settings.max_upload_bytes)
            if population
            else None,
            has_other_choice=bool(districts or form.text("police_force")),
        )
    else:
        area = service.add_area(
            name, title=title, districts=districts, police_force=form.text("police_force")
        )
    service.security.audit(who.name, who.role, "area created", area.name, {"kind": area.kind, **area.spec})
    return area.describe()


@router.delete("/areas/{name}", operation_id="delete_area")
def delete_area(name: str, service: Service, who: Admin) -> dict[str, Any]:
    """Forget a stored area (its datasets stay, analysable with ``area=``). Admin; audited."""
    record = service.delete_area(name)
    service.security.audit(who.name, who.role, "area deleted", record.name, {"kind": record.kind})
    return {"deleted": record.name}


@router.get("/catalogue/districts", operation_id="catalogue_districts")
def catalogue_districts(_: Viewer) -> list[dict[str, Any]]:
    """Every local authority district of England and Wales: code, name and police force area."""
    table = national_catalogue().districts(include_former=False)
    return [
        {"code": str(c), "name": str(n), "police_force": str(f), "wards": int(w)}
        for c, n, f, w in zip(table["code"], table["name"], table["force_name"], table["wards"], strict=True)
    ]


@router.get("/catalogue/police-forces", operation_id="catalogue_police_forces")
def catalogue_forces(_: Viewer) -> list[dict[str, Any]]:
    """Every police force area of England and Wales: code, name and number of districts."""
    table = national_catalogue().forces()
    return [
        {"code": str(c), "name": str(n), "districts": int(d)}
        for c, n, d in zip(table["code"], table["name"], table["districts"], strict=True)
    ]
