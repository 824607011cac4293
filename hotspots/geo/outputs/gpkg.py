"""GeoPackage layers for GIS officers: British National Grid, flat attribute types.

A GeoPackage keeps the analysis's own coordinate system, British National
Grid (EPSG:27700), so areas and distances measured in QGIS or ArcGIS are in
metres without reprojection. Coordinates are rounded to the millimetre and every
polygon is valid after rounding (:func:`hotspots.geo.outputs.export.rounded_geometry`).
(The GeoJSON exports are WGS84 as RFC 7946 requires.) Attribute values that a
GeoPackage column cannot hold are flattened: lists of names or codes become ``'; '``-joined text and nested
records (``top_categories``, ``monthly_counts``, ``time_profile``) become
JSON text. The export metadata (period, parameters, boundary sets, sources)
goes into the layer's metadata and its description.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from hotspots.crs import BNG
from hotspots.geo.analysis import AnalysisResult
from hotspots.geo.outputs.export import (
    BNG_DECIMALS,
    GI_PROPERTIES,
    HOTSPOT_PROPERTIES,
    dumps,
    export_metadata,
    jsonable,
    published_areas,
    rounded_geometry,
)

GPKG_MEDIA_TYPE = "application/geopackage+sqlite3"
GpkgLayer = Literal["wards", "boroughs", "hotspots", "significance"]
GPKG_LAYERS: tuple[str, ...] = get_args(GpkgLayer)
LIST_SEPARATOR = "; "
METADATA_KEY = "HOTSPOTS_METADATA"


def layer_frame(result: AnalysisResult, layer: str) -> gpd.GeoDataFrame:
    """The rows and columns of one export layer, flattened, in EPSG:27700.

    ``significance`` is the Getis-Ord Gi* hex cells that are significant
    (``gi_bin`` not 0), as on the map.
    """
    if layer == "wards":
        gdf = published_areas(result.wards)
        columns = [c for c in gdf.columns if c != gdf.geometry.name]
    elif layer == "boroughs":
        gdf = published_areas(result.boroughs)
        columns = [c for c in gdf.columns if c != gdf.geometry.name]
    elif layer == "hotspots":
        gdf = result.hotspots
        columns = list(HOTSPOT_PROPERTIES)
    elif layer == "significance":
        gdf = result.gi_grid[result.gi_grid["gi_bin"] != 0]
        columns = [c for c in GI_PROPERTIES if c in gdf.columns]
    else:
        raise ValueError(f"unknown GeoPackage layer {layer!r}; known: {', '.join(GPKG_LAYERS)}")
    flat = flatten_attributes(pd.DataFrame(gdf[columns]))
    out = gpd.GeoDataFrame(flat, geometry=gdf.geometry.to_numpy(), crs=gdf.crs)
    out = out.to_crs(BNG) if out.crs is None or out.crs.to_epsg() != BNG else out
    # millimetre coordinates, valid after rounding (the same rule as the GeoJSON writers)
    geoms = [rounded_geometry(g, BNG_DECIMALS) for g in out.geometry.to_numpy()]
    return out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs))


def flatten_attributes(df: pd.DataFrame) -> pd.DataFrame:
    """Columns a GeoPackage can hold: text, integers, reals and booleans, with None for missing.

    A column holding dicts (or lists of dicts) becomes JSON text; a column holding
    lists of plain values becomes ``'; '``-joined text; other object columns become
    numbers when every value is a number (integers, nullable, when every one is whole),
    else text.
    """
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))  # positional: the columns below are built by position
    for name in df.columns:
        col = df[name]
        if col.dtype == object:
            values = col.tolist()
            if any(_is_nested(v) for v in values):
                out[name] = pd.Series(
                    [None if _missing(v) else dumps(jsonable(v)) for v in values], dtype=object
                )
            elif any(isinstance(v, list | tuple | np.ndarray) for v in values):
                out[name] = pd.Series([_join(v) for v in values], dtype=object)
            elif all(_missing(v) or _is_number(v) for v in values):
                present = [v for v in values if not _missing(v)]
                whole = bool(present) and all(isinstance(v, int | np.integer) for v in present)
                out[name] = pd.Series(  # whole numbers with gaps stay an integer field, with nulls
                    [None if _missing(v) else v for v in values], dtype="Int64" if whole else "float64"
                )
            else:
                out[name] = pd.Series([None if _missing(v) else str(v) for v in values], dtype=object)
        elif isinstance(col.dtype, pd.StringDtype) or pd.api.types.is_string_dtype(col.dtype):
            out[name] = pd.Series([None if _missing(v) else str(v) for v in col.tolist()], dtype=object)
        else:
            out[name] = col.to_numpy()
    out.index = df.index
    return out


def write_gpkg(result: AnalysisResult, layer: str, path: Path) -> None:
    """Write one layer (named ``layer``) to a new GeoPackage at ``path``."""
    gdf = layer_frame(result, layer)
    meta = export_metadata(result, layer)
    meta["crs"] = "EPSG:27700 (British National Grid); distances and areas in metres"
    if layer == "significance":
        meta["gi_star"] = result.meta.get("gi_star")
    period = meta["period"]
    description = (
        f"{layer} for {result.meta.get('dataset', 'dataset')}, {period['from']} to {period['to']}, "
        f"DBSCAN eps {meta['dbscan']['eps_m']:g} m, min_samples {meta['dbscan']['min_samples']}. "
        + meta["attribution"]
    )
    pyogrio.write_dataframe(
        gdf,
        path,
        layer=layer,
        driver="GPKG",
        promote_to_multi=True,
        layer_metadata={METADATA_KEY: dumps(jsonable(meta))},
        layer_options={"DESCRIPTION": description},
    )


def gpkg_bytes(result: AnalysisResult, layer: str) -> bytes:
    """One layer as the bytes of a GeoPackage file."""
    with tempfile.TemporaryDirectory(prefix="hotspots-gpkg-") as tmp:
        path = Path(tmp) / f"{layer}.gpkg"
        write_gpkg(result, layer, path)
        return path.read_bytes()


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _is_nested(value: Any) -> bool:
    if isinstance(value, Mapping):
        return True
    if isinstance(value, list | tuple | np.ndarray):
        return any(isinstance(v, Mapping | list | tuple | np.ndarray) for v in value)
    return False


def _join(value: Any) -> str | None:
    if isinstance(value, list | tuple | np.ndarray):
        return LIST_SEPARATOR.join(str(v) for v in value if not _missing(v))
    if _missing(value):
        return None
    return str(value)
