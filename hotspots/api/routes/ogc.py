"""OGC API - Features (Part 1: Core, GeoJSON, OpenAPI 3.0) under ``/ogc``, for QGIS, ArcGIS and GDAL.

Four collections of the default analysis (``AnalysisParams()``) of a dataset
(the default sample unless the ``dataset`` query parameter names another):

* ``wards``: ward polygons with incident counts, rates and Getis-Ord Gi*;
* ``boroughs``: borough polygons with incident counts;
* ``hotspots``: DBSCAN hotspot polygons with their summaries;
* ``incidents``: the incident points with month, crime type, ward, borough and
  hotspot id; the feature id is the incident's row number in the stored
  dataset.

Geometries are RFC 7946 GeoJSON in CRS84 (WGS84 longitude, latitude), the
same as the GeoJSON exports. ``bbox`` keeps features whose geometry
intersects the box; ``datetime`` keeps features whose months overlap the
instant or interval (an incident's month; a hotspot's first to last month; a
ward's months of the analysis in which its boundary set was in force; a
borough's months of the analysis). Months are calendar months in UTC.

Parameter errors are ``400`` with an OGC exception body
(``{"code": ..., "description": ...}``) as the standard asks; unknown
collections and features are ``404``.
"""

from __future__ import annotations

import math
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute

from hotspots.api.auth import ALL_ROLES, require
from hotspots.api.deps import Service
from hotspots.crs import WGS84
from hotspots.errors import NotFound
from hotspots.geo.analysis import AnalysisParams, AnalysisResult
from hotspots.geo.outputs.export import ATTRIBUTION, HOTSPOT_PROPERTIES, dumps, feature_collection, jsonable

JSON = "application/json"
GEOJSON = "application/geo+json"
OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"
HTML = "text/html"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
INCIDENT_PROPERTIES = ["month", "crime_type", "location", "ward_name", "borough_name", "hotspot_id"]
_CACHE_SIZE = 32


@dataclass(frozen=True)
class CollectionInfo:
    id: str
    title: str
    description: str


COLLECTIONS: dict[str, CollectionInfo] = {
    c.id: c
    for c in (
        CollectionInfo(
            "wards",
            "Wards",
            "Ward polygons with incident counts (count), rates per 1,000 residents where population "
            "is known (rate_per_1000) and Getis-Ord Gi* of the counts (gi_z, gi_p, gi_bin, gi_label).",
        ),
        CollectionInfo("boroughs", "Boroughs", "Borough polygons with incident counts."),
        CollectionInfo(
            "hotspots",
            "Hotspots",
            "DBSCAN hotspot polygons, ranked by incidents (hotspot_id 1 = most), with wards, boroughs, "
            "top crime types, monthly counts, trend and PAI.",
        ),
        CollectionInfo(
            "incidents",
            "Incidents",
            "Incident points with month, crime type, location, ward, borough and hotspot id "
            "(-1 where the incident is in no hotspot). The feature id is the row number in the dataset.",
        ),
    )
}


def collection_allowed(request: Request, collection_id: str) -> bool:
    """Whether the caller may list and read ``collection_id``.

    Incident points are for the police and admin roles only; the aggregated
    layers are for every role. A collection refused here is left out of
    ``/ogc/collections`` and its own URLs answer 403.
    """
    if collection_id != "incidents":
        return True
    principal = getattr(request.state, "principal", None)
    return principal is not None and principal.role in ("police", "admin")


# ---- errors -----------------------------------------------------------------------


class OGCError(Exception):
    """An error answered with an OGC API exception body ``{"code", "description"}``."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description


def _bad(description: str) -> OGCError:
    return OGCError(400, "InvalidParameterValue", description)


def _exception_response(status: int, code: str, description: str) -> Response:
    return Response(dumps({"code": code, "description": description}), status_code=status, media_type=JSON)


class OGCRoute(APIRoute):
    """Answers invalid query parameters with 400 (not FastAPI's 422) and OGC exception bodies."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                problems = []
                for err in exc.errors():
                    where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path"))
                    problems.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", ""))
                return _exception_response(400, "InvalidParameterValue", "; ".join(problems))
            except OGCError as exc:
                return _exception_response(exc.status, exc.code, exc.description)

        return route


router = APIRouter(
    prefix="/ogc", tags=["ogc"], route_class=OGCRoute, dependencies=[Depends(require(*ALL_ROLES))]
)

# ---- query parameters -------------------------------------------------------------

DatasetParam = Annotated[
    str | None,
    Query(description="Dataset name (latest version) or name@version; default: the sample dataset"),
]
FormatParam = Annotated[Literal["json"], Query(description="Output format: JSON")]
FeatureFormatParam = Annotated[
    Literal["json", "geojson"], Query(description="Output format: GeoJSON (json and geojson are the same)")
]
_COMMON = frozenset({"f", "dataset"})
_ITEMS = _COMMON | {"limit", "offset", "bbox", "datetime"}
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?$",
)


def check_parameters(request: Request, allowed: frozenset[str]) -> None:
    """400 for a query parameter the API definition does not list (/req/core/query-param-unknown)."""
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise _bad(
            f"unknown query parameter(s): {', '.join(unknown)}; this resource accepts: "
            + ", ".join(sorted(allowed))
        )


def parse_bbox(text: str) -> list[shapely.Geometry]:
    """``minx,miny,maxx,maxy`` (or 6 numbers with heights) in CRS84 as one or two boxes.

    A box whose ``minx`` is east of its ``maxx`` crosses the antimeridian and is split in two.
    """
    parts = text.split(",")
    if len(parts) not in (4, 6):
        raise _bad(f"bbox must be 4 numbers minx,miny,maxx,maxy (longitude, latitude), got {text!r}")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise _bad(f"bbox must be 4 comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(n) for n in numbers):
        raise _bad(f"bbox numbers must be finite, got {text!r}")
    if len(numbers) == 6:
        minx, miny, _, maxx, maxy, _ = numbers
    else:
        minx, miny, maxx, maxy = numbers
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180):
        raise _bad(f"bbox longitudes must be between -180 and 180, got {text!r}")
    if not (-90 <= miny <= 90 and -90 <= maxy <= 90):
        raise _bad(f"bbox latitudes must be between -90 and 90, got {text!r}")
    if miny > maxy:
        raise _bad(f"bbox miny is north of maxy in {text!r}")
    if minx <= maxx:
        return [shapely.box(minx, miny, maxx, maxy)]
    return [shapely.box(minx, miny, 180, maxy), shapely.box(-180, miny, maxx, maxy)]


def _instant(text: str, *, end: bool) -> np.datetime64:
    """An RFC 3339 date-time (with offset) or full-date as a UTC instant.

    A full-date is its day: its first microsecond, or its last when ``end``.
    """
    match = _RFC3339.match(text)
    if match is None:
        raise _bad(f"datetime must be RFC 3339, e.g. 2020-06-01T00:00:00Z or 2020-06-01, got {text!r}")
    day, clock, fraction, offset = match.groups()
    try:
        if clock is None:
            start = datetime.combine(date.fromisoformat(day), datetime.min.time())
            value = start + timedelta(days=1, microseconds=-1) if end else start
        else:
            frac = (fraction or ".0")[:7]
            zone = "+00:00" if offset in ("Z", "z") else offset
            value = datetime.fromisoformat(f"{day}T{clock}{frac}{zone}").astimezone(UTC).replace(tzinfo=None)
    except ValueError:
        raise _bad(f"datetime {text!r} is not a valid date or time") from None
    return np.datetime64(value, "us")


def parse_datetime(text: str) -> tuple[np.datetime64 | None, np.datetime64 | None]:
    """An instant ``t`` or an interval ``a/b``, ``../b``, ``a/..`` as (start, end), ``None`` if open."""
    if "/" not in text:
        return _instant(text, end=False), _instant(text, end=True)
    parts = text.split("/")
    if len(parts) != 2:
        raise _bad(f"datetime interval must be start/end, got {text!r}")
    lo = None if parts[0] in ("", "..") else _instant(parts[0], end=False)
    hi = None if parts[1] in ("", "..") else _instant(parts[1], end=True)
    if lo is None and hi is None:
        raise _bad("datetime interval must have a start or an end")
    if lo is not None and hi is not None and lo > hi:
        raise _bad(f"datetime interval starts after it ends: {text!r}")
    return lo, hi


# ---- layers -----------------------------------------------------------------------


@dataclass
class Layer:
    """One collection, ready to filter and page: WGS84 frame, ids and each feature's months."""

    frame: gpd.GeoDataFrame
    properties: list[str]
    ids: list[Any]
    first_month: np.ndarray  # datetime64[M], NaT where unknown
    last_month: np.ndarray  # datetime64[M], inclusive
    _index: dict[str, int] | None = field(default=None, repr=False)
    _texts: list[str | None] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def row_of(self, feature_id: str) -> int | None:
        if self._index is None:
            self._index = {str(i): n for n, i in enumerate(self.ids)}
        return self._index.get(feature_id)

    def select(
        self, boxes: Sequence[shapely.Geometry], interval: tuple[np.datetime64 | None, np.datetime64 | None]
    ) -> np.ndarray:
        """Row numbers of features intersecting any of ``boxes`` and overlapping ``interval``."""
        mask = np.ones(len(self), dtype=bool)
        if boxes:
            geoms = self.frame.geometry.to_numpy()
            hit = np.zeros(len(self), dtype=bool)
            for box in boxes:
                hit |= shapely.intersects(geoms, box)
            mask &= hit
        lo, hi = interval
        if lo is not None:
            ends = (self.last_month + np.timedelta64(1, "M")).astype("datetime64[us]")
            mask &= ends > lo
        if hi is not None:
            mask &= self.first_month.astype("datetime64[us]") <= hi
        return np.flatnonzero(mask)

    def features(self, rows: np.ndarray) -> list[dict[str, Any]]:
        fc = feature_collection(self.frame.iloc[rows], self.properties)
        features: list[dict[str, Any]] = fc["features"]
        for feature, row in zip(features, rows, strict=True):
            feature["id"] = jsonable(self.ids[row])
        return features

    def feature_texts(self, rows: np.ndarray) -> list[str]:
        """Each row's feature as compact JSON, encoded on first request and kept with the layer."""
        if self._texts is None:
            self._texts = [None] * len(self)
        texts = self._texts
        missing = np.array([r for r in rows.tolist() if texts[r] is None], dtype=np.int64)
        if len(missing):
            for row, feature in zip(missing.tolist(), self.features(missing), strict=True):
                texts[row] = dumps(feature)
        return [cast(str, texts[r]) for r in rows.tolist()]

    def extent(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        geoms = self.frame.geometry
        present = geoms[geoms.notna() & ~geoms.is_empty]
        if len(present):
            minx, miny, maxx, maxy = (float(b) * 1e6 for b in present.total_bounds)
            bounds = [
                math.floor(minx) / 1e6,
                math.floor(miny) / 1e6,
                math.ceil(maxx) / 1e6,
                math.ceil(maxy) / 1e6,
            ]
            out["spatial"] = {"bbox": [bounds], "crs": CRS84}
        firsts, lasts = (
            self.first_month[~np.isnat(self.first_month)],
            self.last_month[~np.isnat(self.last_month)],
        )
        if len(firsts) and len(lasts):
            start = firsts.min().astype("datetime64[s]")
            end = (lasts.max() + np.timedelta64(1, "M")).astype("datetime64[s]") - np.timedelta64(1, "s")
            out["temporal"] = {"interval": [[f"{start}Z", f"{end}Z"]], "trs": GREGORIAN}
        return out


def _months(values: Sequence[Any] | pd.Series) -> np.ndarray:
    """``YYYY-MM`` strings as datetime64[M] (NaT for missing or malformed)."""
    parsed = pd.to_datetime(pd.Series(values, dtype="object"), format="%Y-%m", errors="coerce")
    return parsed.to_numpy().astype("datetime64[M]")


def _polygons_wgs84(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` in WGS84 with every polygon a MultiPolygon.

    Clients such as GDAL and QGIS take a layer's geometry type from the first
    page, so one type per collection keeps the layer from being read as mixed.
    """
    wgs = gdf.to_crs(WGS84) if gdf.crs is not None and gdf.crs.to_epsg() != WGS84 else gdf.copy()
    geoms = wgs.geometry.to_numpy()
    single = shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON
    if single.any():
        promoted = geoms.copy()
        promoted[single] = [shapely.MultiPolygon([g]) for g in geoms[single]]
        wgs = wgs.set_geometry(gpd.GeoSeries(promoted, index=wgs.index, crs=wgs.crs))
    return wgs


def _period(result: AnalysisResult, n: int) -> tuple[np.ndarray, np.ndarray]:
    first = _months([result.meta.get("month_from")])[0]
    last = _months([result.meta.get("month_to")])[0]
    return np.full(n, first), np.full(n, last)


def _wards_layer(result: AnalysisResult) -> Layer:
    wards = result.wards
    props = [c for c in wards.columns if c != wards.geometry.name]
    codes = wards["ward_code"].astype(str).tolist()
    sets = wards["boundary_set"].astype(str).tolist()
    ids = codes if len(set(codes)) == len(codes) else [f"{c}@{s}" for c, s in zip(codes, sets, strict=True)]
    first, last = _period(result, len(wards))
    validity = {b.name: (b.valid_from, b.valid_to) for b in result.boundary_sets}
    set_first = _months([validity.get(s, (None, None))[0] for s in sets])
    set_last = _months([validity.get(s, (None, None))[1] for s in sets])
    first = np.where(np.isnat(set_first) | (set_first < first), first, set_first)
    last = np.where(np.isnat(set_last) | (set_last > last), last, set_last)
    return Layer(_polygons_wgs84(wards), props, ids, first, last)


def _boroughs_layer(result: AnalysisResult) -> Layer:
    boroughs = result.boroughs
    props = [c for c in boroughs.columns if c != boroughs.geometry.name]
    first, last = _period(result, len(boroughs))
    return Layer(_polygons_wgs84(boroughs), props, boroughs["borough_code"].astype(str).tolist(), first, last)


def _hotspots_layer(result: AnalysisResult) -> Layer:
    hotspots = result.hotspots
    period_first, period_last = _period(result, len(hotspots))
    first = _months(hotspots["first_month"].tolist())
    last = _months(hotspots["last_month"].tolist())
    first = np.where(np.isnat(first), period_first, first)
    last = np.where(np.isnat(last), period_last, last)
    ids = [int(i) for i in hotspots["hotspot_id"]]
    return Layer(_polygons_wgs84(hotspots), list(HOTSPOT_PROPERTIES), ids, first, last)


def _incidents_layer(result: AnalysisResult) -> Layer:
    """Incident points; with no filter the analysis keeps every stored row in order, so the
    row number here is the row number in the stored dataset."""
    inc = result.incidents
    located = inc["has_location"].to_numpy(dtype=bool)
    points = shapely.points(inc["longitude"].to_numpy(dtype=float), inc["latitude"].to_numpy(dtype=float))
    geometry = np.where(located, points, None)
    props = [c for c in INCIDENT_PROPERTIES if c in inc.columns]
    frame = gpd.GeoDataFrame(inc[props].reset_index(drop=True), geometry=geometry, crs=WGS84)
    months = _months(inc["month"].astype("object").tolist())
    return Layer(frame, props, list(range(len(inc))), months, months)


_BUILDERS: dict[str, Callable[[AnalysisResult], Layer]] = {
    "wards": _wards_layer,
    "boroughs": _boroughs_layer,
    "hotspots": _hotspots_layer,
    "incidents": _incidents_layer,
}
_lock = threading.Lock()


def layer_for(request: Request, result: AnalysisResult, collection_id: str) -> Layer:
    """The prepared layer of ``result``, kept per app while the analysis result is cached."""
    with _lock:
        found = getattr(request.app.state, "ogc_layers", None)
        cache: OrderedDict[tuple[int, str], tuple[weakref.ref[AnalysisResult], Layer]] = (
            found if found is not None else OrderedDict()
        )
        request.app.state.ogc_layers = cache
        key = (id(result), collection_id)
        hit = cache.get(key)
        if hit is not None and hit[0]() is result:
            cache.move_to_end(key)
            return hit[1]
    layer = _BUILDERS[collection_id](result)
    with _lock:
        cache[key] = (weakref.ref(result), layer)
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
    return layer


def _analysis(request: Request, service: Service, dataset: str | None) -> AnalysisResult:
    """The default analysis, as the caller's disclosure allows (protected when no caller is known)."""
    principal = getattr(request.state, "principal", None)
    view = principal.disclosure if principal is not None else service.disclosure_for("viewer")
    _, result = service.analyse(dataset, AnalysisParams(), view=view)
    return result


def _collection_id(request: Request, collection_id: str) -> str:
    if collection_id not in COLLECTIONS:
        raise OGCError(
            404, "NotFound", f"no collection {collection_id!r}; collections: {', '.join(COLLECTIONS)}"
        )
    if not collection_allowed(request, collection_id):
        raise OGCError(403, "Forbidden", f"your role may not read the {collection_id!r} collection")
    return collection_id


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
    check_parameters(request, _COMMON)
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
    check_parameters(request, _COMMON)
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
    check_parameters(request, _COMMON)
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
        if collection_allowed(request, cid)
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
    check_parameters(request, _COMMON)
    cid = _collection_id(request, collectionId)
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
    check_parameters(request, _ITEMS)
    cid = _collection_id(request, collectionId)
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
    check_parameters(request, _COMMON)
    cid = _collection_id(request, collectionId)
    layer = layer_for(request, _analysis(request, service, dataset), cid)
    row = layer.row_of(featureId)
    if row is None:
        raise OGCError(404, "NotFound", f"no feature {featureId!r} in collection {cid!r}")
    feature = layer.features(np.array([row]))[0]
    feature["links"] = [
        _link(str(request.url), "self", GEOJSON, "This feature"),
        _link(
            _url(request, "ogc_collection", dataset, collectionId=cid), "collection", JSON, "The collection"
        ),
    ]
    return _json(feature, GEOJSON)
