"""Exports: RFC 7946 GeoJSON and spreadsheet-safe CSV.

GeoJSON output is WGS84 longitude/latitude (EPSG:4326) with 6 decimal places
(about 0.1 m), polygons with counter-clockwise exterior rings and clockwise
holes, no ``crs`` member, and no NaN (``null`` instead).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspots.crs import WGS84
from hotspots.geo.analysis import AnalysisResult
from hotspots.geo.inputs.ingest import POLICE_UK_COLUMNS
from hotspots.geo.stats.coverage import no_data_flags

COORD_DECIMALS = 6
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

HOTSPOT_PROPERTIES = [
    "hotspot_id",
    "kind",
    "rank",
    "count",
    "harm",
    "locations",
    "location_text",
    "area_m2",
    "density_per_km2",
    "share_of_incidents",
    "share_of_area",
    "pai",
    "hot_share",
    "trend",
    "trend_p",
    "slope_per_month",
    "wards",
    "ward_codes",
    "boroughs",
    "borough_codes",
    "cross_border",
    "extends_outside_area",
    "top_categories",
    "monthly_counts",
    "missing_months",
    "first_month",
    "last_month",
    "peak_month",
    "centroid_lon",
    "centroid_lat",
    "time_profile",
]
GI_PROPERTIES = ["cell_id", "count", "z", "p", "p_fdr", "gi_bin", "label"]
EMERGING_PROPERTIES = [
    *("cell_id", "count", "category", "trend_z", "trend_p", "n_months_hot", "last_month_hot"),
    "n_months_covered",
]
HOTSPOT_TABLE_COLUMNS = [
    "hotspot_id",
    "kind",
    "rank",
    "location_text",
    "locations",
    "count",
    "harm",
    "share_of_incidents",
    "area_m2",
    "share_of_area",
    "pai",
    "hot_share",
    "density_per_km2",
    "trend",
    "slope_per_month",
    "cross_border",
    "boroughs",
    "wards",
    "top_categories",
    "first_month",
    "last_month",
    "peak_month",
    "missing_months",
    "months_hot",
    "centroid_lon",
    "centroid_lat",
]
INCIDENT_EXPORT_COLUMNS = [
    *POLICE_UK_COLUMNS,
    "ward_code",
    "ward_name",
    "borough_code",
    "borough_name",
    "outside_area",
    "hotspot_id",
]


BNG_DECIMALS = 3
"""Decimals kept in British National Grid coordinates (metres) in GeoPackages: the millimetre."""

_POLYGONAL = ("Polygon", "MultiPolygon")


def rounded_geometry(geom: shapely.Geometry, decimals: int) -> shapely.Geometry:
    """``geom`` with its coordinates rounded to ``decimals`` places, and still valid.

    The one place where every written geometry (GeoJSON, OGC API Features, GeoPackage)
    gets its precision. Rounding each vertex on its own can make a valid polygon invalid:
    two parts of a hotspot a few millimetres apart come to overlap, or a ring meets itself
    at a narrow neck (GEOS then refuses to union them, QGIS's checker flags them). Polygons
    are therefore snap-rounded to the grid of ``10**-decimals`` (``shapely.set_precision``,
    which keeps the result valid: parts closer than the grid merge, slivers thinner than it
    vanish), and repaired with ``shapely.make_valid`` in the rare case rounding the snapped
    coordinates to decimals still upsets them. Other geometries (points) are rounded as they are.
    """
    if geom is None or geom.is_empty:
        return geom

    def round_coords(g: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(g, lambda c: np.round(c, decimals))

    if geom.geom_type not in _POLYGONAL:
        return round_coords(geom)
    out = round_coords(shapely.set_precision(geom, 10.0**-decimals))
    if not shapely.is_valid(out):
        out = _polygonal(shapely.make_valid(out))
        if not shapely.is_valid(out):  # rounding the repair's new vertices upset it again
            out = _polygonal(shapely.make_valid(round_coords(shapely.set_precision(out, 10.0**-decimals))))
    return out


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygons of a ``make_valid`` result (it may add lines or points where rings touched)."""
    if geom.geom_type in _POLYGONAL or geom.is_empty:
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in _POLYGONAL]
    polys = [q for p in parts for q in shapely.get_parts(p)]
    if not polys:
        return shapely.MultiPolygon()
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def rfc7946_geometry(geom: shapely.Geometry) -> dict[str, Any] | None:
    """A WGS84 shapely geometry as a GeoJSON dict: rounded to 6 dp and valid, right-hand rule."""
    if geom is None or geom.is_empty:
        return None
    rounded = rounded_geometry(geom, COORD_DECIMALS)
    if rounded.is_empty:
        return None
    if rounded.geom_type in _POLYGONAL:
        rounded = shapely.orient_polygons(rounded, exterior_cw=False)
    result: dict[str, Any] = json.loads(shapely.to_geojson(rounded))
    return result


def feature_collection(
    gdf: gpd.GeoDataFrame,
    properties: Sequence[str],
    *,
    id_column: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A GeoDataFrame (any CRS) as an RFC 7946 FeatureCollection dict.

    ``metadata`` is added as a foreign member ``metadata`` (allowed by RFC 7946 §6.1).
    """
    wgs = gdf.to_crs(WGS84) if gdf.crs is not None and gdf.crs.to_epsg() != WGS84 else gdf
    features = []
    for row, geom in zip(wgs[list(properties)].to_dict("records"), wgs.geometry, strict=True):
        feature: dict[str, Any] = {
            "type": "Feature",
            "properties": {k: jsonable(v) for k, v in row.items()},
            "geometry": rfc7946_geometry(geom),
        }
        if id_column is not None:
            feature["id"] = jsonable(row[id_column])
        features.append(feature)
    out: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if metadata is not None:
        out["metadata"] = jsonable(metadata)
    return out


def jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, NaN/NA to None, containers recursively."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(obj: Any) -> str:
    """Compact JSON with NaN refused (RFC 8259)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def hotspots_geojson(result: AnalysisResult) -> dict[str, Any]:
    """Hotspot polygons with their summaries."""
    return feature_collection(
        result.hotspots,
        HOTSPOT_PROPERTIES,
        id_column="hotspot_id",
        metadata=export_metadata(result, "hotspots"),
    )


NO_DATA_BLANKS = ("count", "rate_per_1000", "gi_z", "gi_p", "gi_bin")
"""Columns of a ward or district that no selected source covers (``no_data`` true) which exports
write as null: a count of 0 there is not a measurement, and the ward is not tested by Gi*."""


def published_areas(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Wards or districts as every export writes them (GeoJSON, GeoPackage, OGC API): where
    ``no_data`` is true, :data:`NO_DATA_BLANKS` are null (``None``) instead of 0.

    Whole numbers stay whole (object columns of ints and ``None``); ``frame`` is not changed.
    """
    lacking = no_data_flags(frame)
    if not lacking.any():
        return frame
    out = frame.copy()
    for col in NO_DATA_BLANKS:
        if col in out.columns:
            values = [jsonable(v) for v in out[col].tolist()]
            out[col] = pd.Series(
                [None if gone else v for v, gone in zip(values, lacking, strict=True)],
                index=out.index,
                dtype=object,
            )
    return out


def wards_geojson(result: AnalysisResult) -> dict[str, Any]:
    """Ward polygons with incident counts (and rates where population is known); a ward no
    source covers has ``no_data`` true and null counts, rates and Gi* (:func:`published_areas`)."""
    props = [c for c in result.wards.columns if c != "geometry"]
    return feature_collection(
        published_areas(result.wards), props, id_column="ward_code", metadata=export_metadata(result, "wards")
    )


def boroughs_geojson(result: AnalysisResult) -> dict[str, Any]:
    """Borough polygons with incident counts (null where ``no_data``, see :func:`published_areas`)."""
    props = [c for c in result.boroughs.columns if c != "geometry"]
    return feature_collection(
        published_areas(result.boroughs),
        props,
        id_column="borough_code",
        metadata=export_metadata(result, "boroughs"),
    )


def gi_grid_geojson(result: AnalysisResult, all_cells: bool = False) -> dict[str, Any]:
    """Gi* hex cells (significant ones only unless ``all_cells``) with z, p and bins."""
    grid = result.gi_grid if all_cells else result.gi_grid[result.gi_grid["gi_bin"] != 0]
    meta = export_metadata(result, "significance")
    meta["gi_star"] = result.meta.get("gi_star")
    return feature_collection(grid, [c for c in GI_PROPERTIES if c in grid.columns], metadata=meta)


def emerging_geojson(result: AnalysisResult, cells: gpd.GeoDataFrame) -> dict[str, Any]:
    """Emerging hot spot cells that have a pattern."""
    patterned = cells[cells["category"] != "no pattern detected"]
    meta = export_metadata(result, "emerging")
    meta["emerging"] = {"cell_size_m": cells.attrs.get("cell_size_m"), "method": cells.attrs.get("method")}
    return feature_collection(patterned, EMERGING_PROPERTIES, metadata=meta)


def hotspots_csv(result: AnalysisResult) -> str:
    """The ranked hotspot table (one row per hotspot), for printing or spreadsheets: the areas by
    rank, then the places (one or two locations) by rank."""
    hotspots = result.hotspots
    if "kind" in hotspots.columns and len(hotspots):
        order = np.lexsort((hotspots["rank"].to_numpy(), (hotspots["kind"] == "place").to_numpy()))
        hotspots = hotspots.iloc[order]
    columns = [c for c in HOTSPOT_TABLE_COLUMNS if c in hotspots.columns]
    table = hotspots[columns].copy()
    if "missing_months" in table.columns:  # months with no data (missing, not zero): empty when none
        table["missing_months"] = table["missing_months"].map(lambda ms: "; ".join(ms or []))
    table["boroughs"] = table["boroughs"].map("; ".join)
    table["wards"] = table["wards"].map("; ".join)
    table["top_categories"] = table["top_categories"].map(
        lambda cats: "; ".join(f"{c['crime_type']} ({c['count']})" for c in cats)
    )
    text = ("kind", "location_text", "boroughs", "wards", "top_categories", "trend", "missing_months")
    numeric = [c for c in columns if c not in text]
    return write_csv(table, numeric=numeric)


def _method_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """The clustering actually run: its name, parameters and weight (``dbscan`` only for DBSCAN)."""
    method = str(meta.get("method") or "dbscan")
    params: dict[str, Any] = {"name": method, "weight": meta.get("weight", "count")}
    if method == "hdbscan":
        params.update(min_cluster_size=meta.get("min_cluster_size"), min_samples=meta["min_samples"])
    else:
        params.update(eps_m=meta["eps_m"], min_samples=meta["min_samples"])
    params["min_samples_units"] = meta.get("min_samples_units", "incidents")
    out: dict[str, Any] = {"method": params}
    if method == "dbscan":
        out["dbscan"] = {"eps_m": meta["eps_m"], "min_samples": meta["min_samples"]}
    return out


def export_metadata(result: AnalysisResult, layer: str) -> dict[str, Any]:
    """What an exported layer is: period, filters, parameters, boundary sets, sources."""
    meta = result.meta
    return {
        "layer": layer,
        "period": {"from": meta["month_from"], "to": meta["month_to"]},
        "crime_types": meta["crime_types"],
        **_method_metadata(meta),
        "shape_buffer_m": meta["shape_buffer_m"],
        "min_locations": meta.get("min_locations"),
        "hotspot_kinds": meta.get("hotspot_kinds"),
        "boundary_sets": meta["boundary_sets"],
        "counts": {
            k: meta[k]
            for k in (
                "incidents",
                "incidents_located",
                "incidents_without_location",
                "incidents_outside_area",
                "incidents_in_hotspots",
            )
        },
        "crs": "EPSG:4326 (RFC 7946); metric work in EPSG:27700",
        "coverage": meta.get("coverage"),
        "attribution": ATTRIBUTION,
    }


ATTRIBUTION = (
    "Contains public sector information licensed under the Open Government Licence v3.0. "
    "Contains National Statistics data © Crown copyright and database right. "
    "Contains OS data © Crown copyright and database right. "
    "Crime data: data.police.uk (Home Office / Metropolitan Police Service), OGL v3.0."
)


def safe_cell(value: Any) -> Any:
    """Neutralise a text cell that a spreadsheet would run as a formula (prefix ``'``)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def incidents_csv(result: AnalysisResult) -> str:
    """Normalised incidents with ward, borough and hotspot id, as CSV text.

    Text cells starting with ``= + - @`` are prefixed with ``'`` so spreadsheet
    programs show them instead of running them; numbers are written as numbers.
    """
    df = result.incidents
    cols = [c for c in INCIDENT_EXPORT_COLUMNS if c in df.columns]
    return write_csv(df[cols], numeric=("longitude", "latitude", "hotspot_id"))


def write_csv(df: pd.DataFrame, numeric: Iterable[str] = ()) -> str:
    """CSV text with text columns neutralised against formula injection."""
    numeric = set(numeric)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(df.columns)
    columns = []
    for c in df.columns:
        values = df[c].astype(object).where(df[c].notna(), "").tolist()
        if c not in numeric:
            values = [safe_cell(v) for v in values]
        columns.append(values)
    writer.writerows(zip(*columns, strict=True))
    return buf.getvalue()
