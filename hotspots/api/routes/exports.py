"""Downloadable layers, named after the dataset, period and parameters."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response

from hotspots.api.deps import AnalysisQuery, Service
from hotspots.geo.analysis import AnalysisResult
from hotspots.geo.export import (
    boroughs_geojson,
    dumps,
    hotspots_csv,
    hotspots_geojson,
    incidents_csv,
    wards_geojson,
)

router = APIRouter(prefix="/exports", tags=["exports"])
Layer = Literal["wards", "boroughs", "hotspots"]
_BUILDERS = {"wards": wards_geojson, "boroughs": boroughs_geojson, "hotspots": hotspots_geojson}


def export_filename(result: AnalysisResult, layer: str, ext: str) -> str:
    meta = result.meta
    dataset = str(meta.get("dataset", "dataset")).replace("@", "-v")
    period = f"{meta['month_from']}_{meta['month_to']}"
    params = f"eps{meta['eps_m']:g}m-min{meta['min_samples']}"
    return f"{dataset}_{layer}_{period}_{params}.{ext}"


@router.get(
    "/{layer}.geojson",
    operation_id="export_geojson",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def export_geojson(layer: Layer, service: Service, query: AnalysisQuery) -> Response:
    """Wards (with counts), boroughs (with counts) or hotspots as an RFC 7946 file download."""
    ref, params = query
    _, result = service.analyse(ref, params)
    body = dumps(_BUILDERS[layer](result))
    name = export_filename(result, layer, "geojson")
    return Response(
        body,
        media_type="application/geo+json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/incidents.csv",
    operation_id="export_incidents_csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_incidents(service: Service, query: AnalysisQuery) -> Response:
    """Incidents with ward, borough and hotspot id (formula-like text cells neutralised)."""
    ref, params = query
    _, result = service.analyse(ref, params)
    name = export_filename(result, "incidents", "csv")
    return Response(
        incidents_csv(result),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/hotspots.csv",
    operation_id="export_hotspots_csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_hotspot_table(service: Service, query: AnalysisQuery) -> Response:
    """The ranked hotspot table: incidents, share of incidents and of area, PAI, Gi* backing, trend."""
    ref, params = query
    _, result = service.analyse(ref, params)
    name = export_filename(result, "hotspot-table", "csv")
    return Response(
        hotspots_csv(result),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
