"""Read and validate a user's boundary file (GeoJSON, GeoPackage or zipped Shapefile).

Checks: the format by content before GDAL opens it (:mod:`hotspots.boundaries.formats`), at most
``max_features`` wards, a known CRS (GeoJSON without one is WGS84 per RFC 7946), every geometry
a polygon or multipolygon, invalid geometries repaired (and counted), ward codes present and
unique, ``valid_from``/``valid_to`` real ``YYYY-MM`` months in order. Column names are
recognised in common spellings (``ward_code``, ONS ``WD22CD``/``WD13NM``, ``LAD24CD``,
``GSS_CODE``, ...). Population comes from a field or from a small CSV of ward code and residents
uploaded beside the file.
"""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from hotspots.boundaries.formats import open_boundary_file
from hotspots.boundaries.model import WARD_COLUMNS, BoundarySet, boroughs_from_wards
from hotspots.crs import BNG
from hotspots.errors import InvalidInput, RowError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PATTERNS = {
    "ward_code": [r"ward_code", r"wardcode", r"wd\d{2}cd", r"gss_code", r"code"],
    "ward_name": [r"ward_name", r"wardname", r"wd\d{2}nm", r"name"],
    "borough_code": [r"borough_code", r"borough_co", r"lad\d{2}cd", r"lagsscode", r"la_code"],
    "borough_name": [r"borough_name", r"borough_na", r"lad\d{2}nm", r"district", r"borough", r"la_name"],
    "population": [
        r"population(_\d{4})?",
        r"pop(_?\d{4})?",
        r"usual_residents(_\d{4})?(_approx)?",
        r"residents",
        r"persons(_all[_-]ages)?",
        r"all_ages",
    ],
}


MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
DEFAULT_MAX_FEATURES = 10_000
DEFAULT_MAX_BYTES = 20 * 2**20
MAX_POPULATION_BYTES = 2 * 2**20


def check_months(valid_from: str | None, valid_to: str | None) -> tuple[str | None, str | None]:
    """``YYYY-MM`` months with a real month (01-12), the first not after the last; blank is ``None``."""
    out: list[str | None] = []
    for label, value in (("valid_from", valid_from), ("valid_to", valid_to)):
        value = (value or "").strip() or None
        if value is not None and not MONTH_RE.match(value):
            raise InvalidInput(
                f"{label} must be a month written YYYY-MM (month 01 to 12), got {value[:20]!r}"
            )
        out.append(value)
    start, end = out
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"valid_from {start} is after valid_to {end}")
    return start, end


def read_boundary_file(
    data: bytes,
    filename: str,
    name: str,
    *,
    title: str | None = None,
    valid_from: str | None = None,
    valid_to: str | None = None,
    population: tuple[bytes, str] | None = None,
    max_features: int = DEFAULT_MAX_FEATURES,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> BoundarySet:
    """Validate an uploaded boundary file and return it as a boundary set in EPSG:27700.

    ``data`` is GeoJSON, a GeoPackage or a zipped Shapefile, recognised by content
    (:mod:`hotspots.boundaries.formats`); at most ``max_features`` wards. ``population`` is an
    optional CSV (bytes, file name) of ward code and residents, used instead of a population
    field.

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
    valid_from, valid_to = check_months(valid_from, valid_to)
    with tempfile.TemporaryDirectory() as tmp:
        opened = open_boundary_file(data, filename, Path(tmp), max_features=max_features, max_bytes=max_bytes)
    gdf = opened.frame
    if len(gdf) == 0:
        raise InvalidInput(f"{filename}: the file has no features")
    if gdf.crs is None:
        if opened.kind == "Shapefile":
            raise InvalidInput(f"{filename}: the Shapefile has no .prj file (coordinate reference system)")
        raise InvalidInput(f"{filename}: the layer has no coordinate reference system")
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
    population_source = None
    if population is not None:
        pop_data, pop_name = population
        table = read_population_csv(pop_data, pop_name, set(wards["ward_code"].astype(str)))
        if "population" in wards.columns:
            notes.append(f"the population field was replaced by {pop_name}")
        wards["population"] = wards["ward_code"].astype(str).map(table).astype(float)
        missing = int(wards["population"].isna().sum())
        if missing:
            notes.append(f"{missing} ward(s) have no population in {pop_name}")
        population_source = f"uploaded file {pop_name}"
    return BoundarySet(
        name=name,
        title=title or f"Uploaded boundaries: {filename}",
        wards=wards,
        boroughs=boroughs_from_wards(wards),
        valid_from=valid_from,
        valid_to=valid_to,
        source=f"uploaded file {filename}",
        notes=[*opened.notes, *notes],
        population_source=population_source,
    )


def read_population_csv(data: bytes, filename: str, codes: set[str]) -> dict[str, float]:
    """Residents by ward code from a CSV (``WD22CD,population`` or other usual spellings).

    At most :data:`MAX_POPULATION_BYTES`; at most one row per ward of ``codes``; counts are
    non-negative numbers (``12,000`` is read as 12000); a blank count is missing, not zero.
    """
    if len(data) > MAX_POPULATION_BYTES:
        raise InvalidInput(f"{filename}: population files may be at most {MAX_POPULATION_BYTES // 2**20} MiB")
    if not data.strip():
        raise InvalidInput(f"{filename}: the population file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{filename}: the population file is not UTF-8 text") from None
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InvalidInput(f"{filename}: cannot be read as CSV: {exc}") from None
    columns = _match_columns(list(frame.columns))
    missing = [f for f in ("ward_code", "population") if f not in columns]
    if missing:
        raise InvalidInput(
            f"{filename}: missing fields",
            [
                RowError(
                    None, None, f"no {f.replace('_', ' ')} column (looked for {', '.join(_PATTERNS[f])})"
                )
                for f in missing
            ],
        )
    code_col, pop_col = columns["ward_code"], columns["population"]
    errors: list[RowError] = []
    table: dict[str, float] = {}
    for line, (code, raw) in enumerate(zip(frame[code_col], frame[pop_col], strict=True), start=2):
        code = code.strip()
        value = raw.strip().replace(",", "")
        if not code:
            errors.append(RowError(line, code_col, "empty ward code"))
            continue
        if code not in codes:
            errors.append(RowError(line, code_col, "no ward with this code in the boundary file", code[:40]))
            continue
        if code in table:
            errors.append(RowError(line, code_col, "ward code given more than once", code[:40]))
            continue
        if not value:
            continue  # missing, not zero: the ward gets no population
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not _finite(number) or number < 0:
            errors.append(RowError(line, pop_col, "population must be a non-negative number", raw[:40]))
            continue
        table[code] = number
    if errors:
        raise InvalidInput(
            f"{filename}: {len(errors)} problem(s) in the population file", errors[:100], len(errors)
        )
    return table


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
