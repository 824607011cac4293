"""The OGC API - Features routes: landing page, conformance, collections, items, one feature."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from hotspots.api.auth import ALL_ROLES, require
from hotspots.api.deps import Service
from hotspots.api.routes.ogc import layers
from hotspots.api.routes.ogc.layers import (
    COLLECTIONS,
    CRS84,
    CollectionInfo,
    Layer,
    checked_collection,
    layer_for,
)
from hotspots.api.routes.ogc.query import (
    COMMON_PARAMS,
    ITEM_PARAMS,
    DatasetParam,
    FeatureFormatParam,
    FormatParam,
    check_parameters,
    parse_bbox,
    parse_datetime,
)
from hotspots.errors import NotFound
from hotspots.geo.analysis import AnalysisParams, AnalysisResult
from hotspots.geo.outputs.export import ATTRIBUTION, dumps, jsonable

JSON = "application/json"
GEOJSON = "application/geo+json"
OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"
HTML = "text/html"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
router = APIRouter(prefix="/ogc", tags=["ogc"], dependencies=[Depends(require(*ALL_ROLES))])


def _analysis(request: Request, service: Service, dataset: str | None) -> AnalysisResult:
    """The default analysis, as the caller's disclosure allows (protected when no caller is known)."""
    principal = getattr(request.state, "principal", None)
    view = principal.disclosure if principal is not None else service.disclosure_for("viewer")
    _, result = service.analyse(dataset, AnalysisParams(), view=view)
    return result


# ---- documents --------------------------------------------------------------------


def _link(href: str, rel: str, media_type: str, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": media_type}
    if title:
        link["title"] = title
    return link


def _url(request: Request, name: str, dataset: str | None = None, **path: str) -> str:
    url = request.url_for(name, **path)
    return str(url.include_query_params(dataset=dataset) if dataset else url)


def _json(body: dict[str, Any], media_type: str = JSON) -> Response:
    return Response(dumps(jsonable(body)), media_type=media_type)


def _collection_doc(
    request: Request, info: CollectionInfo, layer: Layer | None, dataset: str | None
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": info.id,
        "title": info.title,
        "description": info.description,
        "itemType": "feature",
        "crs": [CRS84],
        "attribution": ATTRIBUTION,
        "links": [
            _link(_url(request, "ogc_collection", dataset, collectionId=info.id), "self", JSON, info.title),
            _link(
                _url(request, "ogc_items", dataset, collectionId=info.id),
                "items",
                GEOJSON,
                f"{info.title} items",
            ),
        ],
    }
    if layer is not None:
        doc["extent"] = layer.extent()
    return doc


@router.get(
    "",
    name="ogc_landing",
    operation_id="ogc_landing_page",
    response_class=Response,
    responses={200: {"content": {JSON: {}}, "description": "The landing page"}},
)
def landing(request: Request, f: FormatParam = "json", dataset: DatasetParam = None) -> Response:
    """Landing page of the OGC API - Features service: links to the API definition, conformance and data."""
    check_parameters(request, COMMON_PARAMS)
    base = str(request.base_url).rstrip("/")
    links = [
        _link(_url(request, "ogc_landing", dataset), "self", JSON, "This document"),
    ]
    if request.app.openapi_url:
        links.append(_link(base + request.app.openapi_url, "service-desc", OPENAPI_30, "The API definition"))
    if request.app.docs_url:
        links.append(_link(base + request.app.docs_url, "service-doc", HTML, "The API documentation"))
    links += [
        _link(_url(request, "ogc_conformance", dataset), "conformance", JSON, "Conformance classes"),
        _link(_url(request, "ogc_collections", dataset), "data", JSON, "Collections"),
    ]
    return _json(
        {
            "title": "hotspots: crime and harm hotspots",
            "description": "Wards, boroughs, hotspots and incidents of the hotspot analysis as OGC API - "
            "Features collections (default parameters; choose the dataset with ?dataset=).",
            "attribution": ATTRIBUTION,
            "links": links,
        }
    )


@router.get(
    "/conformance",
    name="ogc_conformance",
    operation_id="ogc_conformance",
    response_class=Response,
    responses={200: {"content": {JSON: {}}, "description": "Conformance classes"}},
)
def conformance(request: Request, f: FormatParam = "json", dataset: DatasetParam = None) -> Response:
    """The conformance classes implemented: Features Part 1 Core, GeoJSON and OpenAPI 3.0."""
    check_parameters(request, COMMON_PARAMS)
    return _json({"conformsTo": CONFORMANCE})


@router.get(
    "/collections",
    name="ogc_collections",
    operation_id="ogc_collections",
    response_class=Response,
    responses={200: {"content": {JSON: {}}, "description": "The feature collections"}},
)
def collections(
    request: Request, service: Service, f: FormatParam = "json", dataset: DatasetParam = None
) -> Response:
    """The feature collections with their extents (of the chosen or default dataset)."""
    check_parameters(request, COMMON_PARAMS)
    try:
        result: AnalysisResult | None = _analysis(request, service, dataset)
    except NotFound:
        if dataset is not None:
            raise
        result = None  # no datasets stored yet: list the collections without extents
    docs = [
        _collection_doc(
            request, info, layer_for(request, result, cid) if result is not None else None, dataset
        )
        for cid, info in COLLECTIONS.items()
        if layers.collection_allowed(request, cid)  # looked up here, so a deployment may replace it
    ]
    return _json(
        {
            "links": [
                _link(_url(request, "ogc_collections", dataset), "self", JSON, "This document"),
                _link(_url(request, "ogc_landing", dataset), "parent", JSON, "Landing page"),
            ],
            "collections": docs,
        }
    )


@router.get(
    "/collections/{collectionId}",
    name="ogc_collection",
    operation_id="ogc_collection",
    response_class=Response,
    responses={
        200: {"content": {JSON: {}}, "description": "One feature collection"},
        404: {"description": "No such collection"},
    },
)
def collection(
    request: Request,
    service: Service,
    collectionId: str,
    f: FormatParam = "json",
    dataset: DatasetParam = None,
) -> Response:
    """One feature collection: title, description, extent and links to its items."""
    check_parameters(request, COMMON_PARAMS)
    cid = checked_collection(request, collectionId)
    layer = layer_for(request, _analysis(request, service, dataset), cid)
    return _json(_collection_doc(request, COLLECTIONS[cid], layer, dataset))


@router.get(
    "/collections/{collectionId}/items",
    name="ogc_items",
    operation_id="ogc_items",
    response_class=Response,
    responses={
        200: {"content": {GEOJSON: {}}, "description": "A page of features"},
        400: {"description": "An invalid query parameter"},
        404: {"description": "No such collection"},
    },
)
def items(
    request: Request,
    service: Service,
    collectionId: str,
    limit: Annotated[
        int,
        Query(
            ge=1,
            description=f"Features per page, 1 to {MAX_LIMIT} (larger values give {MAX_LIMIT})",
            json_schema_extra={"maximum": MAX_LIMIT},
        ),
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, description="Features to skip (the next links set it)")] = 0,
    bbox: Annotated[
        str | None,
        Query(
            description="minx,miny,maxx,maxy in WGS84 longitude/latitude (CRS84): features whose geometry "
            "intersects the box",
            examples=["0.05,51.52,0.12,51.56"],
        ),
    ] = None,
    datetime_: Annotated[
        str | None,
        Query(
            alias="datetime",
            description="RFC 3339 instant or interval (a/b, ../b, a/..): features whose months overlap it",
            examples=["2020-01-01T00:00:00Z/2020-06-30T23:59:59Z"],
        ),
    ] = None,
    f: FeatureFormatParam = "json",
    dataset: DatasetParam = None,
) -> Response:
    """A page of features as GeoJSON, filtered by bbox and datetime, with next/prev links."""
    check_parameters(request, ITEM_PARAMS)
    cid = checked_collection(request, collectionId)
    boxes = parse_bbox(bbox) if bbox is not None else []
    interval = parse_datetime(datetime_) if datetime_ is not None else (None, None)
    limit = min(limit, MAX_LIMIT)
    layer = layer_for(request, _analysis(request, service, dataset), cid)
    rows = layer.select(boxes, interval)
    page = rows[offset : offset + limit]
    links = [
        _link(str(request.url), "self", GEOJSON, "This page"),
        _link(
            _url(request, "ogc_collection", dataset, collectionId=cid), "collection", JSON, "The collection"
        ),
    ]
    if offset + limit < len(rows):
        links.append(
            _link(
                str(request.url.include_query_params(offset=offset + limit, limit=limit)),
                "next",
                GEOJSON,
                "Next page",
            )
        )
    if offset > 0:
        prev = max(0, offset - limit)
        links.append(
            _link(
                str(request.url.include_query_params(offset=prev, limit=limit)),
                "prev",
                GEOJSON,
                "Previous page",
            )
        )
    rest = {
        "numberMatched": int(len(rows)),
        "numberReturned": int(len(page)),
        "timeStamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "links": links,
    }
    # The features' JSON is kept with the layer: a page costs a join, not an encoding.
    features = ",".join(layer.feature_texts(page))
    body = f'{{"type":"FeatureCollection","features":[{features}],{dumps(jsonable(rest))[1:]}'
    return Response(body, media_type=GEOJSON)


@router.get(
    "/collections/{collectionId}/items/{featureId}",
    name="ogc_item",
    operation_id="ogc_item",
    response_class=Response,
    responses={
        200: {"content": {GEOJSON: {}}, "description": "One feature"},
        404: {"description": "No such collection or feature"},
    },
)
def item(
    request: Request,
    service: Service,
    collectionId: str,
    featureId: str,
    f: FeatureFormatParam = "json",
    dataset: DatasetParam = None,
) -> Response:
    """One feature as GeoJSON."""
    check_parameters(request, COMMON_PARAMS)
    cid = checked_collection(request, collectionId)
    layer = layer_for(request, _analysis(request, service, dataset), cid)
    row = layer.row_of(featureId)
    if row is None:
        raise NotFound(f"no feature {featureId!r} in collection {cid!r}")
    feature = layer.features(np.array([row]))[0]
    feature["links"] = [
        _link(str(request.url), "self", GEOJSON, "This feature"),
        _link(
            _url(request, "ogc_collection", dataset, collectionId=cid), "collection", JSON, "The collection"
        ),
    ]
    return _json(feature, GEOJSON)
