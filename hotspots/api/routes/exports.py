"""Downloadable layers, named after the dataset, period and parameters.

Aggregated layers need the council role (police and admin too for the patrol
list); incident-level rows need police or admin. Every export is written to
the audit log. Councils get disclosure-controlled counts; police and admins
get exact counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import Response

from hotspots.api.auth import Council, PatrolList, Police, Principal
from hotspots.api.deps import AnalysisQuery, Service
from hotspots.geo.analysis import AnalysisParams, AnalysisResult
from hotspots.geo.outputs.export import (
    boroughs_geojson,
    dumps,
    hotspots_csv,
    hotspots_geojson,
    incidents_csv,
    wards_geojson,
)
from hotspots.geo.outputs.gpkg import GPKG_MEDIA_TYPE, GpkgLayer, gpkg_bytes

router = APIRouter(prefix="/exports", tags=["exports"])
Layer = Literal["wards", "boroughs", "hotspots"]
_BUILDERS: dict[str, Callable[[AnalysisResult], dict[str, Any]]] = {
    "wards": wards_geojson,
    "boroughs": boroughs_geojson,
    "hotspots": hotspots_geojson,
}


def export_filename(result: AnalysisResult, layer: str, ext: str) -> str:
    meta = result.meta
    dataset = str(meta.get("dataset", "dataset")).replace("@", "-v")
    period = f"{meta['month_from']}_{meta['month_to']}"
    params = f"eps{meta['eps_m']:g}m-min{meta['min_samples']}"
    return f"{dataset}_{layer}_{period}_{params}.{ext}"


def _export(
    service: Service,
    who: Principal,
    ref: str | None,
    params: AnalysisParams,
    layer: str,
    ext: str,
    media_type: str,
    build: Callable[[AnalysisResult], str | bytes],
) -> Response:
    """Analyse (as the caller's disclosure allows), build, audit, and send as a download."""
    version, result = service.analyse(ref, params, view=who.disclosure)
    name = export_filename(result, layer, ext)
    body = build(result)
    service.security.audit(
        who.name,
        who.role,
        "export",
        version.ref,
        {"file": name, "layer": layer, "exact_counts": who.sees_exact_counts},
    )
    return Response(
        body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get(
    "/{layer}.geojson",
    operation_id="export_geojson",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def export_geojson(layer: Layer, service: Service, query: AnalysisQuery, who: Council) -> Response:
    """Wards (with counts), boroughs (with counts) or hotspots as an RFC 7946 file download."""
    ref, params = query
    return _export(
        service,
        who,
        ref,
        params,
        layer,
        "geojson",
        "application/geo+json",
        lambda r: dumps(_BUILDERS[layer](r)),
    )


@router.get(
    "/{layer}.gpkg",
    operation_id="export_gpkg",
    response_class=Response,
    responses={200: {"content": {GPKG_MEDIA_TYPE: {}}}},
)
def export_gpkg(layer: GpkgLayer, service: Service, query: AnalysisQuery, who: Council) -> Response:
    """Wards, boroughs, hotspots or significant Gi* hex cells as a GeoPackage for QGIS or ArcGIS.

    British National Grid (EPSG:27700), layer named after ``layer``; lists such as ``wards``
    become '; '-joined text and nested records such as ``monthly_counts`` JSON text.
    """
    ref, params = query
    return _export(service, who, ref, params, layer, "gpkg", GPKG_MEDIA_TYPE, lambda r: gpkg_bytes(r, layer))


@router.get(
    "/incidents.csv",
    operation_id="export_incidents_csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_incidents(service: Service, query: AnalysisQuery, who: Police) -> Response:
    """Incidents with ward, borough and hotspot id (formula-like text cells neutralised). Police and admin."""
    ref, params = query
    return _export(service, who, ref, params, "incidents", "csv", "text/csv; charset=utf-8", incidents_csv)


@router.get(
    "/hotspots.csv",
    operation_id="export_hotspots_csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_hotspot_table(service: Service, query: AnalysisQuery, who: PatrolList) -> Response:
    """The ranked hotspot table (patrol list): incidents, harm, shares, PAI, Gi* backing, trend."""
    ref, params = query
    return _export(service, who, ref, params, "hotspot-table", "csv", "text/csv; charset=utf-8", hotspots_csv)
