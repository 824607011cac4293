"""Shared request dependencies: the service and the analysis query parameters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request

from hotspots.geo.analysis import AnalysisParams
from hotspots.geo.clusters.hotspots import DEFAULT_MIN_LOCATIONS, DEFAULT_SHAPE_BUFFER_M
from hotspots.geo.params import SPECS, Method, Weight
from hotspots.service import HotspotService


def contract(name: str, **extra: Any) -> Any:
    """The FastAPI ``Query`` of a parameter, read off its :class:`~hotspots.geo.params.ParamSpec`:
    the bounds (shown in OpenAPI and enforced), the query-string name and the help with the range.
    Choices come from the ``Literal`` type (the same tuple the spec holds)."""
    spec = SPECS[name]
    alias = spec.alias if spec.alias and spec.alias != name else None
    return Query(alias=alias, ge=spec.minimum, le=spec.maximum, description=spec.describe(), **extra)


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
    eps_m: Annotated[float | None, contract("eps_m")] = None,
    min_samples: Annotated[int | None, contract("min_samples")] = None,
    boundaries: Annotated[
        str, Query(description="Boundary set name, or 'auto' for the set in force each month")
    ] = "auto",
    buffer_m: Annotated[float, contract("shape_buffer_m")] = DEFAULT_SHAPE_BUFFER_M,
    weight: Annotated[Weight, contract("weight")] = "count",
    method: Annotated[Method, contract("method")] = "dbscan",
    min_cluster_size: Annotated[int | None, contract("min_cluster_size")] = None,
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
    cell_size_m: Annotated[float | None, contract("cell_size_m")] = None,
    min_locations: Annotated[int, contract("min_locations")] = DEFAULT_MIN_LOCATIONS,
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
        min_locations=min_locations,
    )
    return dataset, params


AnalysisQuery = Annotated[tuple[str | None, AnalysisParams], Depends(analysis_query)]
