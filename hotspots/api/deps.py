"""Shared request dependencies: the service and the analysis query parameters."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query, Request

from hotspots.geo.analysis import AnalysisParams
from hotspots.geo.hotspots import DEFAULT_SHAPE_BUFFER_M
from hotspots.service import HotspotService


async def get_service(request: Request) -> HotspotService:
    service: HotspotService = request.app.state.service
    return service


Service = Annotated[HotspotService, Depends(get_service)]


async def analysis_query(
    dataset: Annotated[
        str | None,
        Query(
            description="Dataset name (latest version) or name@version, or several joined by commas to "
            "analyse partners' data together; default: the shipped sample"
        ),
    ] = None,
    month_from: Annotated[str | None, Query(alias="from", description="First month, YYYY-MM")] = None,
    month_to: Annotated[str | None, Query(alias="to", description="Last month, YYYY-MM")] = None,
    category: Annotated[
        list[str] | None, Query(description="Crime type(s) to include, e.g. Robbery; repeat for several")
    ] = None,
    eps_m: Annotated[
        float | None, Query(ge=1, le=5000, description="DBSCAN radius in metres (default 100)")
    ] = None,
    min_samples: Annotated[
        int | None,
        Query(ge=1, le=10_000_000, description="Incidents needed within eps_m (default: from the data)"),
    ] = None,
    boundaries: Annotated[
        str, Query(description="Boundary set name, or 'auto' for the set in force each month")
    ] = "auto",
    buffer_m: Annotated[
        float, Query(ge=1, le=1000, description="Radius in metres drawn around hotspot locations")
    ] = DEFAULT_SHAPE_BUFFER_M,
    weight: Annotated[
        Literal["count", "harm"], Query(description="Cluster and rank by incident count or by harm")
    ] = "count",
    method: Annotated[
        Literal["dbscan", "hdbscan"], Query(description="DBSCAN, or HDBSCAN for areas of varying density")
    ] = "dbscan",
    min_cluster_size: Annotated[
        int | None, Query(ge=2, le=1_000_000, description="HDBSCAN: smallest hotspot, incidents")
    ] = None,
    source: Annotated[
        list[str] | None,
        Query(description="Only datasets of these source types (police, council, health, ...); repeat"),
    ] = None,
    area: Annotated[
        str | None,
        Query(
            description="Area to analyse in (see GET /areas); default: the area the dataset was stored for"
        ),
    ] = None,
    cell_size_m: Annotated[
        float | None,
        Query(
            ge=50,
            le=500,
            description="Hex cell size for Gi* and emerging hot spots, metres (default: from the data)",
        ),
    ] = None,
) -> tuple[str | None, AnalysisParams]:
    params = AnalysisParams(
        month_from=month_from,
        month_to=month_to,
        crime_types=tuple(category or ()),
        eps_m=eps_m,
        min_samples=min_samples,
        boundaries=boundaries,
        shape_buffer_m=buffer_m,
        cell_size_m=cell_size_m,
        weight=weight,
        method=method,
        min_cluster_size=min_cluster_size,
        sources=tuple(source or ()),
        area=area,
    )
    return dataset, params


AnalysisQuery = Annotated[tuple[str | None, AnalysisParams], Depends(analysis_query)]
