"""The four OGC collections of an analysis (wards, boroughs, hotspots, incidents) as encoded layers,
who may read each, and their cache."""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from fastapi import Request

from hotspots.crs import WGS84
from hotspots.errors import Forbidden, NotFound
from hotspots.geo.analysis import AnalysisResult
from hotspots.geo.outputs.export import (
    HOTSPOT_PROPERTIES,
    dumps,
    feature_collection,
    jsonable,
    published_areas,
)
from hotspots.geo.stats.coverage import no_data_flags

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
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


def _areas(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Wards or districts as exports publish them (null counts where ``no_data``), those with
    data first: GDAL and QGIS type a collection's fields from its first page of features,
    and a page of nulls would leave ``count`` untyped."""
    published = published_areas(frame)
    return published.iloc[np.argsort(no_data_flags(published), kind="stable")]


def _wards_layer(result: AnalysisResult) -> Layer:
    wards = _areas(result.wards)
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
    boroughs = _areas(result.boroughs)
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


def checked_collection(request: Request, collection_id: str) -> str:
    if collection_id not in COLLECTIONS:
        raise NotFound(f"no collection {collection_id!r}; collections: {', '.join(COLLECTIONS)}")
    if not collection_allowed(request, collection_id):
        raise Forbidden(f"your role may not read the {collection_id!r} collection")
    return collection_id
