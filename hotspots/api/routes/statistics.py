"""Statistical backing: Gi* significance, emerging hot spots, prediction tests, period comparison."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from hotspots.api.auth import Viewer
from hotspots.api.deps import AnalysisQuery, Service, contract
from hotspots.errors import Forbidden
from hotspots.geo.outputs.export import (
    HOTSPOT_PROPERTIES,
    dumps,
    emerging_geojson,
    feature_collection,
    gi_grid_geojson,
    jsonable,
    wards_geojson,
)
from hotspots.geo.stats.assessment import emerging_summary
from hotspots.geo.stats.emerging import NO_PATTERN
from hotspots.geo.stats.evaluation import pai_curve_png

router = APIRouter(tags=["statistics"])
GEOJSON = "application/geo+json"
GEOJSON_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {GEOJSON: {}}}}
Month = Annotated[str | None, Query(pattern=r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


@router.get(
    "/significance.geojson",
    operation_id="get_significance_geojson",
    response_class=Response,
    responses=GEOJSON_RESPONSE,
)
def significance(
    service: Service,
    query: AnalysisQuery,
    who: Viewer,
    level: Annotated[Literal["grid", "wards"], Query(description="Hex grid cells or wards")] = "grid",
    all_cells: Annotated[
        bool, Query(alias="all", description="Include cells that are not significant")
    ] = False,
) -> Response:
    """Getis-Ord Gi* with FDR: z, p and ArcGIS-style hot/cold bins at 90/95/99% confidence."""
    ref, params = query
    _, result = service.analyse(ref, params, view=who.disclosure)
    body = gi_grid_geojson(result, all_cells) if level == "grid" else wards_geojson(result)
    return Response(dumps(body), media_type=GEOJSON)


@router.get("/emerging", operation_id="get_emerging")
def emerging(service: Service, query: AnalysisQuery, who: Viewer) -> dict[str, Any]:
    """Emerging hot spots over the period's months: counts per category and the cells with a pattern."""
    ref, params = query
    version, _, cells = service.emerging(ref, params, view=who.disclosure)
    table = cells[cells["category"] != NO_PATTERN].drop(columns="geometry")
    summary = emerging_summary(cells)
    if "disclosure" in cells.attrs:
        summary["disclosure"] = cells.attrs["disclosure"]
    body: dict[str, Any] = jsonable({"dataset": version.ref, **summary, "cells": table.to_dict("records")})
    return body


@router.get(
    "/emerging.geojson",
    operation_id="get_emerging_geojson",
    response_class=Response,
    responses=GEOJSON_RESPONSE,
)
def emerging_cells(service: Service, query: AnalysisQuery, who: Viewer) -> Response:
    """Hex cells with an emerging hot or cold spot pattern, as GeoJSON."""
    ref, params = query
    _, result, cells = service.emerging(ref, params, view=who.disclosure)
    return Response(dumps(emerging_geojson(result, cells)), media_type=GEOJSON)


@router.get("/concentration", operation_id="get_concentration")
def get_concentration(service: Service, query: AnalysisQuery, who: Viewer) -> dict[str, Any]:
    """Crime concentration ("power few"): the share of incidents and of harm at the busiest 1%, 5% and
    10% of places, the curve, a sentence, and the literature's figures for comparison."""
    ref, params = query
    version, result = service.analyse(ref, params, view=who.disclosure)
    body: dict[str, Any] = jsonable(
        {
            "dataset": version.ref,
            "period": {"from": result.meta.get("month_from"), "to": result.meta.get("month_to")},
            **(result.meta.get("concentration") or {}),
        }
    )
    return body


@router.get(
    "/concentration.png",
    operation_id="get_concentration_png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def get_concentration_png(service: Service, query: AnalysisQuery, who: Viewer) -> Response:
    """The concentration curve with the literature's reference points, as a PNG."""
    from hotspots.maps.concentration import concentration_png

    ref, params = query
    _, result = service.analyse(ref, params, view=who.disclosure)
    return Response(concentration_png(result.meta.get("concentration") or {}), media_type="image/png")


@router.get("/stability", operation_id="get_stability")
def get_stability(service: Service, query: AnalysisQuery, who: Viewer) -> dict[str, Any]:
    """Per hotspot, in how many of the last 12 months a hotspot fitted on that month overlaps it
    (``months_hot``), and the share of the previous period's hotspots that persist."""
    ref, params = query
    version, result = service.stability(ref, params, view=who.disclosure)
    rows = result.hotspots[["hotspot_id", "months_hot", "months_checked"]].to_dict("records")
    body: dict[str, Any] = jsonable({"dataset": version.ref, **result.meta["stability"], "hotspots": rows})
    return body


@router.get("/evaluate", operation_id="evaluate_hotspots")
def evaluate(
    service: Service,
    query: AnalysisQuery,
    who: Viewer,
    test_month: Annotated[Month, Query(description="Month to test on (default: the last month)")] = None,
    rolling: Annotated[int, contract("rolling")] = 1,
) -> dict[str, Any]:
    """Fit hotspots on the months before each test month; hit rate, PAI, PEI, RRI and baselines."""
    ref, params = query
    version, report = service.evaluate(ref, params, test_month, rolling, view=who.disclosure)
    body: dict[str, Any] = jsonable({"dataset": version.ref, **report})
    return body


@router.get(
    "/evaluate/curve.png",
    operation_id="evaluate_curve_png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def evaluate_curve_png(
    service: Service,
    query: AnalysisQuery,
    who: Viewer,
    test_month: Annotated[Month, Query(description="Month to test on (default: the last month)")] = None,
    rolling: Annotated[int, contract("rolling")] = 1,
) -> Response:
    """The PAI curve of the last test month as a PNG: PAI against area share (0.5-5%) for the
    hotspots (taken by density), the 50 m grid, kernel density and wards (the JSON is ``curve``
    in ``/evaluate``). Police and admin keys only: nested area shares difference to counts."""
    ref, params = query
    version, report = service.evaluate(ref, params, test_month, rolling, view=who.disclosure)
    curve = report.get("curve")
    if not curve:
        raise Forbidden(report.get("curve_note") or "no PAI curve for this evaluation")
    title = f"{version.ref}: fitted on the months before {report['test_months'][-1]}, tested on it"
    png = pai_curve_png(curve, title)
    return Response(png, media_type="image/png")


@router.get("/compare", operation_id="compare_periods")
def compare_periods(
    service: Service,
    query: AnalysisQuery,
    who: Viewer,
    a_from: Annotated[Month, Query(description="Period A first month")] = None,
    a_to: Annotated[Month, Query(description="Period A last month")] = None,
    b_from: Annotated[Month, Query(description="Period B first month")] = None,
    b_to: Annotated[Month, Query(description="Period B last month")] = None,
) -> dict[str, Any]:
    """Hotspots of period B as new or persistent against period A (and A's vanished), and ward change."""
    ref, params = query
    params_a = replace(params, month_from=a_from, month_to=a_to)
    params_b = replace(params, month_from=b_from, month_to=b_to)
    version, report = service.compare(ref, params_a, params_b, view=who.disclosure)
    matches = feature_collection(
        report["matches"], ["period", "hotspot_id", "status", "matched_ids", "area_m2", "overlap_share"]
    )
    a, b = report["results"]
    wards = report["wards"]
    body: dict[str, Any] = jsonable(
        {
            "dataset": version.ref,
            "period_a": report["period_a"],
            "period_b": report["period_b"],
            "dbscan": report["dbscan"],
            "hotspots": report["hotspots"],
            "coverage": report.get("coverage"),
            "no_data": report.get("no_data"),
            "hotspot_shapes": matches,
            "wards": wards.to_dict("records"),
            **({"disclosure": report["disclosure"]} if "disclosure" in report else {}),
            "hotspots_a": a.hotspots[HOTSPOT_PROPERTIES].to_dict("records"),
            "hotspots_b": b.hotspots[HOTSPOT_PROPERTIES].to_dict("records"),
        }
    )
    return body


@router.get(
    "/parameters/k-distance",
    operation_id="get_k_distance",
    responses={200: {"content": {"application/json": {}, "image/png": {}}}},
)
def k_distance(
    service: Service,
    query: AnalysisQuery,
    who: Viewer,
    k: Annotated[float | None, contract("k")] = None,
    format: Annotated[Literal["json", "png"], Query(description="Curve as JSON, or a PNG plot")] = "json",
) -> Any:
    """k-distance curve for choosing eps: distance (m) to the k-th nearest incident, with a suggested eps."""
    ref, params = query
    curve = service.k_distance(ref, params, k, format, view=who.disclosure)
    if isinstance(curve, bytes):
        return Response(curve, media_type="image/png")
    body: dict[str, Any] = jsonable(curve)
    return body


@router.get("/harm-weights", operation_id="get_harm_weights")
def harm_weights(service: Service, _: Viewer) -> dict[str, Any]:
    """The harm weight per crime type in use (weight=harm), with its source."""
    body: dict[str, Any] = jsonable(service.harm.as_dict())
    return body
