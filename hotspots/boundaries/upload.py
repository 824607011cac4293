"""Read and validate a user's boundary file (GeoJSON or GeoPackage) into a :class:`BoundarySet`.

Checks: the file opens, it has a known CRS (GeoJSON without one is WGS84 per
RFC 7946), every geometry is a polygon or multipolygon, invalid geometries are
repaired (and counted), ward codes are present and unique. Column names are
recognised in common spellings (``ward_code``, ``WD22CD``, ``GSS_CODE``, ...).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from hotspots.boundaries.model import WARD_COLUMNS, BoundarySet, boroughs_from_wards
from hotspots.errors import InvalidInput, RowError
from hotspots.geo.crs import BNG

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PATTERNS = {
    "ward_code": [r"ward_code", r"wd\d{2}cd", r"gss_code", r"code"],
    "ward_name": [r"ward_name", r"wd\d{2}nm", r"name"],
    "borough_code": [r"borough_code", r"lad\d{2}cd", r"lagsscode", r"la_code"],
    "borough_name": [r"borough_name", r"lad\d{2}nm", r"district", r"borough", r"la_name"],
    "population": [r"population", r"population_\d{4}", r"pop"],
}


def read_boundary_file(
    data: bytes,
    filename: str,
    name: str,
    *,
    title: str | None = None,
    valid_from: str | None = None,
    valid_to: str | None = None,
) -> BoundarySet:
    """Validate an uploaded boundary file and return it as a boundary set in EPSG:27700.

    Raises
    ------
    InvalidInput
        Naming the feature (1-based) and field for every problem found.
    """
    if not NAME_RE.match(name):
        raise InvalidInput(
            "boundary set name must be 1-64 lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    suffix = Path(filename).suffix.lower()
    if suffix not in (".geojson", ".json", ".gpkg"):
        raise InvalidInput(f"{filename}: boundary files must be GeoJSON (.geojson) or GeoPackage (.gpkg)")
    if not data:
        raise InvalidInput(f"{filename}: the file is empty")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            gdf = gpd.read_file(path)
        except Exception as exc:  # pyogrio raises several types for unreadable files
            detail = str(exc).replace(f"'{path}' ", "").replace(str(path), filename)  # no server paths
            raise InvalidInput(f"{filename}: cannot be read as {suffix[1:]}: {detail}") from None
    if len(gdf) == 0:
        raise InvalidInput(f"{filename}: the file has no features")
    if gdf.crs is None:
        if suffix == ".gpkg":
            raise InvalidInput(f"{filename}: the layer has no coordinate reference system")
        gdf = gdf.set_crs(4326)
    errors: list[RowError] = []
    columns = _match_columns(list(gdf.columns))
    for required in ("ward_code", "ward_name"):
        if required not in columns:
            errors.append(
                RowError(
                    None,
                    None,
                    f"no {required.replace('_', ' ')} field (looked for {', '.join(_PATTERNS[required])})",
                )
            )
    if errors:
        raise InvalidInput(f"{filename}: missing fields", errors)
    gdf = gdf.rename(columns={v: k for k, v in columns.items()})
    if "borough_code" not in gdf.columns:
        gdf["borough_code"] = name
    if "borough_name" not in gdf.columns:
        gdf["borough_name"] = gdf["borough_code"]
    for c in WARD_COLUMNS:
        gdf[c] = gdf[c].astype("string").str.strip()
    geoms = gdf.geometry
    for i, (geom, code) in enumerate(zip(geoms, gdf["ward_code"], strict=True), start=1):
        if geom is None or geom.is_empty:
            errors.append(RowError(None, "geometry", f"feature {i} ({code}) has no geometry"))
        elif geom.geom_type not in ("Polygon", "MultiPolygon"):
            errors.append(
                RowError(None, "geometry", f"feature {i} ({code}) is a {geom.geom_type}, not a polygon")
            )
    for i, code in enumerate(gdf["ward_code"], start=1):
        if pd.isna(code) or code == "":
            errors.append(RowError(None, "ward_code", f"feature {i} has an empty ward code"))
    dup = gdf["ward_code"][gdf["ward_code"].duplicated(keep=False) & gdf["ward_code"].notna()]
    for code in sorted(set(dup)):
        errors.append(RowError(None, "ward_code", f"ward code {code} is used by more than one feature"))
    if errors:
        raise InvalidInput(
            f"{filename}: {len(errors)} problem(s) in the boundary file", errors[:100], len(errors)
        )
    try:
        gdf = gdf.to_crs(BNG)
    except Exception as exc:
        raise InvalidInput(f"{filename}: cannot transform from {gdf.crs} to EPSG:27700: {exc}") from None
    if not gdf.total_bounds.size or not all(map(_finite, gdf.total_bounds)):
        raise InvalidInput(f"{filename}: coordinates could not be placed in British National Grid")
    invalid = ~gdf.geometry.is_valid
    notes = []
    if invalid.any():
        gdf.loc[invalid, "geometry"] = shapely.make_valid(gdf.geometry[invalid].to_numpy())
        gdf["geometry"] = gdf.geometry.apply(_polygonal)
        notes.append(f"{int(invalid.sum())} invalid geometrie(s) were repaired with make_valid")
    keep = [*WARD_COLUMNS] + (["population"] if "population" in gdf.columns else [])
    wards = gpd.GeoDataFrame(gdf[keep], geometry=gdf.geometry, crs=BNG)
    if "population" in wards.columns:
        wards["population"] = pd.to_numeric(wards["population"], errors="coerce")
    return BoundarySet(
        name=name,
        title=title or f"Uploaded boundaries: {filename}",
        wards=wards,
        boroughs=boroughs_from_wards(wards),
        valid_from=valid_from,
        valid_to=valid_to,
        source=f"uploaded file {filename}",
        notes=notes,
    )


def _match_columns(columns: list[str]) -> dict[str, str]:
    """Map our field names to the file's columns, first matching pattern wins."""
    found: dict[str, str] = {}
    used: set[str] = set()
    for field, patterns in _PATTERNS.items():
        for pattern in patterns:
            match = next(
                (
                    c
                    for c in columns
                    if c not in used and c != "geometry" and re.fullmatch(pattern, c.lower())
                ),
                None,
            )
            if match:
                found[field] = match
                used.add(match)
                break
    return found


def _finite(v: float) -> bool:
    return v == v and abs(v) != float("inf")


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Keep the polygon parts of a repaired geometry (make_valid may add lines)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else geom
