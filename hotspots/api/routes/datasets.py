"""Dataset upload (validation report, new version) and listing."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, UploadFile

from hotspots.api.auth import Admin, Viewer
from hotspots.api.deps import Service
from hotspots.api.routes.uploads import read_limited, safe_filename
from hotspots.errors import HotspotError, InvalidInput
from hotspots.geo.ingest import ColumnMapping, Source
from hotspots.store.sharing import Sharing

router = APIRouter(prefix="/datasets", tags=["datasets"])


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


@router.post("", status_code=201, operation_id="upload_dataset")
async def upload_dataset(
    service: Service,
    who: Admin,
    files: Annotated[list[UploadFile], File(description="police.uk street-level CSV(s) or a generic CSV")],
    name: Annotated[str, Form(description="Dataset name; an existing name gets a new version")],
    format: Annotated[Literal["auto", "police-uk", "generic"], Form()] = "auto",
    mapping: Annotated[
        str | None,
        Form(
            description='Generic CSV column mapping as JSON, e.g. {"longitude": "lon", "latitude": "lat", '
            '"date": "occurred", "category": "offence"}'
        ),
    ] = None,
    outside: Annotated[
        Literal["reject", "exclude"],
        Form(
            description="Incidents far outside the boundaries: reject the file, or leave them out (counted)"
        ),
    ] = "reject",
    owner: Annotated[str | None, Form(description="Organisation that owns the data")] = None,
    source_type: Annotated[
        str | None, Form(description="police, council, health, education, probation or other")
    ] = None,
    purpose: Annotated[str | None, Form(description="Purpose in the data-sharing agreement")] = None,
    agreement: Annotated[str | None, Form(description="Data-sharing agreement reference")] = None,
    retention_until: Annotated[
        str | None, Form(description="YYYY-MM-DD: the dataset is deleted after this date")
    ] = None,
) -> dict[str, Any]:
    """Validate and store the file(s) as a new dataset version; 422 with row-level errors if invalid."""
    sharing = Sharing.parse(owner, source_type, purpose, agreement, retention_until)
    sources = [
        Source(safe_filename(f.filename), await read_limited(f, service.settings.max_upload_bytes))
        for f in files
    ]
    try:
        version, report = service.ingest(
            name, sources, fmt=format, mapping=_mapping(mapping), outside=outside, sharing=sharing
        )
    except HotspotError as exc:
        service.security.audit(who.name, who.role, "upload rejected", name, {"error": exc.message})
        raise
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
