"""Dataset upload (validation report, new version) and listing."""

from __future__ import annotations

import json
from typing import Any, cast

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from hotspots.api.audit import audited_rejections
from hotspots.api.auth import Admin, Principal, Viewer
from hotspots.api.deps import Service
from hotspots.api.routes.uploads import UploadForm, read_form, read_upload, safe_filename
from hotspots.errors import InvalidInput
from hotspots.geo.inputs.ingest import OUTSIDE_POLICIES, ColumnMapping, Format, OutsidePolicy, Source
from hotspots.service import HotspotService
from hotspots.store.sharing import Sharing

# Every rejected upload (any error status, 500 included) is audited as "upload rejected".
router = APIRouter(prefix="/datasets", tags=["datasets"], route_class=audited_rejections("upload rejected"))


@router.get("", operation_id="list_datasets")
def list_datasets(service: Service, who: Viewer) -> list[dict[str, Any]]:
    """Every stored dataset version, oldest first, with its owner, source and data-sharing agreement."""
    return [service.describe_dataset(d, who.disclosure) for d in service.store.list_datasets()]


@router.get("/{ref}", operation_id="get_dataset")
def get_dataset(ref: str, service: Service, who: Viewer) -> dict[str, Any]:
    """One dataset version (``name`` for the latest or ``name@version``) and its validation report."""
    return service.describe_dataset(service.store.get_dataset(ref), who.disclosure)


@router.delete("/{ref}", operation_id="delete_dataset")
def delete_dataset(ref: str, service: Service, who: Admin) -> dict[str, Any]:
    """Delete one version (``name@3``) or every version (``name``) of a dataset. Admin; audited."""
    gone = service.delete_dataset(ref)
    for version in gone:
        service.security.audit(who.name, who.role, "dataset deleted", version.ref, {"rows": version.rows})
    return {"deleted": [v.ref for v in gone]}


FORMATS = ("auto", "police-uk", "generic")
UPLOAD_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files", "name"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "police.uk street-level CSV(s) or a generic CSV (.csv or .csv.gz)",
                        },
                        "name": {
                            "type": "string",
                            "description": "Dataset name; an existing name gets a new version",
                        },
                        "format": {"type": "string", "enum": list(FORMATS), "default": "auto"},
                        "mapping": {
                            "type": "string",
                            "description": "Generic CSV column mapping as JSON, e.g. "
                            '{"longitude": "lon", "latitude": "lat", "date": "occurred", '
                            '"category": "offence"}',
                        },
                        "area": {
                            "type": "string",
                            "description": "The area the data is for (see GET /areas); default the demo area",
                        },
                        "outside": {
                            "type": "string",
                            "enum": list(OUTSIDE_POLICIES),
                            "default": "keep",
                            "description": "Incidents outside the area: keep them, flagged and "
                            "counted (a whole-force file); exclude those more than HOTSPOTS_MAX_OUTSIDE_KM "
                            "away; or reject the file if any are",
                        },
                        "owner": {"type": "string", "description": "Organisation that owns the data"},
                        "source_type": {
                            "type": "string",
                            "description": "police, council, health, education, probation or other",
                        },
                        "purpose": {"type": "string", "description": "Purpose in the data-sharing agreement"},
                        "agreement": {"type": "string", "description": "Data-sharing agreement reference"},
                        "retention_until": {
                            "type": "string",
                            "description": "YYYY-MM-DD: the dataset is deleted after this date",
                        },
                    },
                }
            }
        },
    }
}


@router.post("", status_code=201, operation_id="upload_dataset", openapi_extra=UPLOAD_FORM)
async def upload_dataset(request: Request, service: Service, who: Admin) -> dict[str, Any]:
    """Validate and store the file(s) as a new dataset version; 422 with row-level errors if invalid.

    The caller is authenticated before the body is read, a body over the size limit is refused
    as soon as that is known (413), and the files are parsed in a worker thread.
    """
    form = await read_form(request, service.settings.max_upload_bytes)
    try:
        return await run_in_threadpool(_store_upload, service, who, form)
    finally:
        await form.close()


def _store_upload(service: HotspotService, who: Principal, form: UploadForm) -> dict[str, Any]:
    name = form.required("name")
    fmt = cast(Format, form.choice("format", FORMATS, "auto"))
    outside = cast(OutsidePolicy, form.choice("outside", OUTSIDE_POLICIES, "keep"))
    mapping = _mapping(form.text("mapping"))
    sharing = Sharing.parse(
        form.text("owner"),
        form.text("source_type"),
        form.text("purpose"),
        form.text("agreement"),
        form.text("retention_until"),
    )
    limit = service.settings.max_upload_bytes
    sources = [Source(safe_filename(f.filename), read_upload(f, limit)) for f in form.uploads("files")]
    version, report = service.ingest(
        name, sources, fmt=fmt, mapping=mapping, outside=outside, sharing=sharing, area=form.text("area")
    )
    service.security.audit(
        who.name,
        who.role,
        "upload",
        version.ref,
        {"files": [s.name for s in sources], "rows": report.rows_accepted},
    )
    return {
        **version.describe(),
        "sharing": sharing.as_dict(),
        "links": {"map": f"/maps/hotspots?dataset={version.ref}"},
    }


def _mapping(text: str | None) -> ColumnMapping | None:
    if not text:
        return None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"mapping is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidInput("mapping must be a JSON object of field -> column name")
    allowed = set(ColumnMapping.__dataclass_fields__)
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InvalidInput(
            f"unknown mapping field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    try:
        return ColumnMapping(**raw)
    except TypeError as exc:
        raise InvalidInput(f"bad mapping: {exc}") from None
