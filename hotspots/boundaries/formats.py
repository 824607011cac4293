"""Open an uploaded boundary file safely: the format is checked by content before GDAL sees it.

Only three formats are accepted, each recognised from its bytes (the file name's suffix must
agree):

- **GeoJSON**: a JSON object whose ``type`` is ``FeatureCollection`` or ``Feature``. It is parsed
  here with :mod:`json` and rewritten with only the members GeoJSON defines (``type``,
  ``features``, ``properties``, ``geometry``, ``id``); a legacy ``crs`` member is resolved here
  (EPSG and OGC names only, never a link or a file) and dropped before GDAL reads the copy.
- **GeoPackage**: a SQLite database (``SQLite format 3\\0`` header) with the GeoPackage
  ``application_id`` and a ``gpkg_contents`` table naming a ``features`` layer that is a plain
  table. Virtual tables (other than the R*Tree spatial index) are refused.
- **Zipped Shapefile**: a zip holding exactly one ``.shp`` with its ``.shx`` and ``.dbf`` (and
  optionally ``.prj``, ``.cpg``; metadata such as ``.xml`` is ignored). Member names may not
  climb out of the archive, the member count and the uncompressed size are bounded (zip bombs),
  and the members are extracted here with :mod:`zipfile`: GDAL never opens the zip itself.

GDAL then opens the checked copy with its driver fixed (``GeoJSON:`` and ``GPKG:`` connection
prefixes; for the Shapefile the driver that opened it is checked), with configuration that keeps
it off the network and away from other files (:data:`GDAL_OPTIONS`). Anything else, an OGR VRT
(XML that points at other files), a ``/vsi*`` path, CSV, KML, is refused with a message saying
what was expected.
"""

from __future__ import annotations

import json
import re
import sqlite3
import zipfile
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import Any

import geopandas as gpd
import pyogrio
import pyproj

from hotspots.errors import InvalidInput

GDAL_OPTIONS: dict[str, str] = {
    # /vsicurl/ (and the HTTP-based drivers) only fetch files with these extensions: none.
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".hotspots-no-network",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_HTTP_MAX_RETRY": "0",
    # SQL functions in a GeoPackage/SQLite may not open other datasets.
    "OGR_SQLITE_ALLOW_EXTERNAL_ACCESS": "NO",
    # Do not list the folder next to the opened file (it is our own temporary folder anyway).
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
}
"""GDAL configuration set before a boundary file is opened."""

FORMATS = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GeoPackage",
    ".zip": "zipped Shapefile",
}
FORMATS_TEXT = "GeoJSON (.geojson), GeoPackage (.gpkg) or a zipped Shapefile (.zip)"

SHAPEFILE_PARTS = {".shp", ".shx", ".dbf", ".prj", ".cpg"}
SHAPEFILE_IGNORED = {".xml", ".sbn", ".sbx", ".qix", ".qmd", ".txt", ".fix", ".aih", ".ain", ".atx"}
MAX_ZIP_MEMBERS = 32
ZIP_EXPANSION = 8
"""A zipped Shapefile may hold at most this many times the upload size limit uncompressed."""

_GPKG_IDS = (b"GPKG", b"GP10", b"GP11")
_EPSG_NAMES = [
    re.compile(r"^EPSG:+(\d+)$", re.IGNORECASE),
    re.compile(r"^urn:ogc:def:crs:EPSG:[0-9.]*:(\d+)$", re.IGNORECASE),
    re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/[0-9.]+/(\d+)$", re.IGNORECASE),
]
_CRS84_NAMES = re.compile(
    r"^(urn:ogc:def:crs:OGC:1\.3:CRS84|https?://www\.opengis\.net/def/crs/OGC/1\.3/CRS84|CRS84)$",
    re.IGNORECASE,
)


@dataclass
class Opened:
    """What :func:`open_boundary_file` read: the features and what it noticed."""

    frame: gpd.GeoDataFrame
    kind: str
    """``GeoJSON``, ``GeoPackage`` or ``Shapefile``."""
    notes: list[str] = field(default_factory=list)


def open_boundary_file(data: bytes, filename: str, tmp: Path, *, max_features: int, max_bytes: int) -> Opened:
    """Check ``data`` by content, write a checked copy under ``tmp``, and read it with GDAL.

    Raises
    ------
    InvalidInput
        For any other format, a format that disagrees with the file name, a file with more
        than ``max_features`` features, or a file GDAL cannot read.
    """
    suffix = Path(filename).suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInput(f"{filename}: boundary files must be {FORMATS_TEXT}")
    if not data:
        raise InvalidInput(f"{filename}: the file is empty")
    kind = FORMATS[suffix]
    if kind == "GeoJSON":
        return _open_geojson(data, filename, tmp, max_features)
    if kind == "GeoPackage":
        return _open_geopackage(data, filename, tmp, max_features)
    return _open_shapefile_zip(data, filename, tmp, max_features, max_bytes)


def _refuse(filename: str, kind: str, why: str) -> InvalidInput:
    return InvalidInput(f"{filename}: cannot be read as {kind}: {why}")


def _what_it_is(data: bytes) -> str:
    """A short guess at what an unexpected file is, for the error message."""
    head = data[:64].lstrip()
    if head.startswith(b"<"):
        return "it is XML (an OGR VRT or KML file?), which is not accepted"
    if data.startswith(b"SQLite format 3\x00"):
        return "it is a SQLite database"
    if data.startswith(b"PK\x03\x04"):
        return "it is a zip file"
    if head.startswith((b"{", b"[")):
        return "it is JSON"
    return "it is none of GeoJSON, GeoPackage or a zipped Shapefile"


# --------------------------------------------------------------------------- GeoJSON


def _open_geojson(data: bytes, filename: str, tmp: Path, max_features: int) -> Opened:
    kind = "GeoJSON"
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.lstrip()[:1] != b"{":
        raise _refuse(filename, kind, _what_it_is(data))
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _refuse(filename, kind, "the file is not UTF-8 text") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise _refuse(filename, kind, f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("type") not in ("FeatureCollection", "Feature"):
        raise _refuse(filename, kind, "the JSON object's type must be FeatureCollection or Feature")
    features = doc.get("features") if doc["type"] == "FeatureCollection" else [doc]
    if not isinstance(features, list):
        raise _refuse(filename, kind, "'features' must be a list")
    if not features:
        raise InvalidInput(f"{filename}: the file has no features")
    _check_count(filename, len(features), max_features)
    clean = []
    for i, feat in enumerate(features, start=1):
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            raise _refuse(filename, kind, f"feature {i} is not a GeoJSON Feature object")
        props = feat.get("properties")
        geometry = feat.get("geometry")
        if props is not None and not isinstance(props, dict):
            raise _refuse(filename, kind, f"feature {i}: 'properties' must be an object")
        if geometry is not None and not isinstance(geometry, dict):
            raise _refuse(filename, kind, f"feature {i}: 'geometry' must be an object or null")
        out: dict[str, Any] = {"type": "Feature", "properties": props or {}, "geometry": geometry}
        if isinstance(feat.get("id"), str | int) and not isinstance(feat.get("id"), bool):
            out["id"] = feat["id"]
        clean.append(out)
    crs = _geojson_crs(doc.get("crs"), filename) if "crs" in doc else None
    path = tmp / "upload.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": clean}), encoding="utf-8")
    frame = _read(f"GeoJSON:{path}", filename, kind, tmp, max_features)
    if crs is not None:
        frame = frame.set_crs(crs, allow_override=True)
    return Opened(frame, kind="GeoJSON")


def _geojson_crs(member: object, filename: str) -> pyproj.CRS:
    """The legacy GeoJSON ``crs`` member: only ``{"type": "name"}`` with an EPSG or OGC name."""
    if not isinstance(member, dict) or member.get("type") != "name":
        raise InvalidInput(
            f"{filename}: the 'crs' member must be of type 'name' with an EPSG code "
            "(links and other kinds are not followed)"
        )
    props = member.get("properties")
    name = props.get("name") if isinstance(props, dict) else None
    if not isinstance(name, str):
        raise InvalidInput(f"{filename}: the 'crs' member has no name")
    return parse_crs(name, filename)


def parse_crs(name: str, filename: str) -> pyproj.CRS:
    """``EPSG:27700``, ``urn:ogc:def:crs:EPSG::27700``, ``urn:ogc:def:crs:OGC:1.3:CRS84``..."""
    name = name.strip()
    if _CRS84_NAMES.match(name):
        return pyproj.CRS.from_epsg(4326)
    code = next((m.group(1) for p in _EPSG_NAMES if (m := p.match(name))), None)
    if code is None:
        raise InvalidInput(
            f"{filename}: unknown coordinate reference system {name[:80]!r}: give an EPSG code "
            "such as EPSG:27700 or EPSG:4326"
        )
    try:
        return pyproj.CRS.from_epsg(int(code))
    except pyproj.exceptions.CRSError:
        raise InvalidInput(
            f"{filename}: unknown coordinate reference system EPSG:{code} (not in the EPSG registry)"
        ) from None


# --------------------------------------------------------------------------- GeoPackage


def _open_geopackage(data: bytes, filename: str, tmp: Path, max_features: int) -> Opened:
    kind = "GeoPackage"
    if not data.startswith(b"SQLite format 3\x00") or len(data) < 100:
        raise _refuse(filename, kind, _what_it_is(data) if len(data) >= 16 else "the file is too short")
    if data[68:72] not in _GPKG_IDS:
        raise _refuse(filename, kind, "it is a SQLite database but not a GeoPackage (no GPKG application id)")
    path = tmp / "upload.gpkg"
    path.write_bytes(data)
    try:
        con = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise _refuse(filename, kind, str(exc)) from None
    try:
        objects = con.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
        virtual = [
            n
            for t, n, sql in objects
            if t == "table"
            and (sql or "").upper().startswith("CREATE VIRTUAL TABLE")
            and "USING RTREE" not in re.sub(r"\s+", " ", (sql or "").upper())
        ]
        if virtual:
            raise _refuse(filename, kind, f"virtual tables are not accepted ({', '.join(virtual[:3])})")
        tables = {n for t, n, _ in objects if t == "table"}
        if "gpkg_contents" not in tables:
            raise _refuse(filename, kind, "it has no gpkg_contents table")
        contents = con.execute("SELECT table_name, data_type FROM gpkg_contents").fetchall()
        with_geometry = (
            {str(r[0]) for r in con.execute("SELECT table_name FROM gpkg_geometry_columns")}
            if "gpkg_geometry_columns" in tables
            else set()
        )
        layers = [
            str(n)
            for n, dt in contents
            if str(dt).lower() == "features" and n in tables and str(n) in with_geometry
        ]
        if not layers:
            others = [f"{n} ({dt})" for n, dt in contents]
            raise InvalidInput(
                f"{filename}: the GeoPackage has no features layer with geometry"
                + (f" (its layers: {', '.join(others[:5])})" if others else " (it has no layers)")
                + "; boundary files need ward polygons"
            )
        layer = layers[0]
        quoted = '"' + layer.replace('"', '""') + '"'
        count = int(con.execute(f"SELECT COUNT(*) FROM {quoted}").fetchone()[0])  # noqa: S608 quoted name
    except sqlite3.Error as exc:
        raise _refuse(filename, kind, f"the database cannot be read ({exc})") from None
    finally:
        con.close()
    if count == 0:
        raise InvalidInput(f"{filename}: the file has no features")
    _check_count(filename, count, max_features)
    notes = [f"the GeoPackage has {len(layers)} feature layers; read {layer!r}"] if len(layers) > 1 else []
    frame = _read(f"GPKG:{path}", filename, kind, tmp, max_features, layer=layer)
    return Opened(frame, kind="GeoPackage", notes=notes)


# --------------------------------------------------------------------------- zipped Shapefile


def _open_shapefile_zip(data: bytes, filename: str, tmp: Path, max_features: int, max_bytes: int) -> Opened:
    kind = "a zipped Shapefile"
    if not data.startswith(b"PK\x03\x04"):
        raise _refuse(filename, kind, _what_it_is(data))
    try:
        archive = zipfile.ZipFile(BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _refuse(filename, kind, f"the zip file is damaged ({exc})") from None
    if len(members) > MAX_ZIP_MEMBERS:
        raise _refuse(filename, kind, f"the zip holds {len(members)} entries; at most {MAX_ZIP_MEMBERS}")
    parts: dict[str, zipfile.ZipInfo] = {}
    stems: set[str] = set()
    for info in members:
        name = info.filename
        pure = PurePosixPath(name.replace("\\", "/"))
        if name.startswith(("/", "\\")) or ".." in pure.parts or ":" in name or "\\" in name:
            raise _refuse(filename, kind, f"member {name[:100]!r} has an unsafe path")
        if info.is_dir():
            continue
        if pure.name.startswith(".") or "__MACOSX" in pure.parts:
            continue  # operating-system clutter
        ext = pure.suffix.lower()
        if ext == ".xml" and pure.name.lower().endswith(".shp.xml"):
            continue
        if ext in SHAPEFILE_IGNORED:
            continue
        if ext not in SHAPEFILE_PARTS:
            raise _refuse(
                filename,
                kind,
                f"member {name[:100]!r} is not part of a Shapefile (allowed: "
                f"{', '.join(sorted(SHAPEFILE_PARTS))})",
            )
        if ext in parts:
            if ext == ".shp":
                raise _refuse(filename, kind, "the zip holds more than one .shp; upload one layer per file")
            raise _refuse(filename, kind, f"the zip holds more than one {ext} file")
        parts[ext] = info
        stems.add(str(pure.with_suffix("")).lower())
    missing = [e for e in (".shp", ".shx", ".dbf") if e not in parts]
    if missing:
        raise _refuse(
            filename, kind, f"the zip has no {', '.join(missing)} file (a Shapefile needs .shp, .shx, .dbf)"
        )
    if len(stems) > 1:
        raise _refuse(
            filename, kind, "the Shapefile's parts have different names: " + ", ".join(sorted(stems))
        )
    limit = max_bytes * ZIP_EXPANSION
    if sum(i.file_size for i in parts.values()) > limit:
        raise _refuse(filename, kind, f"it expands to more than {limit / 2**20:.0f} MiB")
    total = 0
    for ext, info in parts.items():
        target = tmp / f"upload{ext}"
        try:
            with archive.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 20):
                    total += len(chunk)
                    if total > limit:  # the sizes in the zip's directory may lie
                        raise _refuse(filename, kind, f"it expands to more than {limit / 2**20:.0f} MiB")
                    out.write(chunk)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
            raise _refuse(filename, kind, f"member {info.filename!r} cannot be extracted ({exc})") from None
    shp = tmp / "upload.shp"
    with open(shp, "rb") as fh:
        magic = fh.read(4)
    if magic != b"\x00\x00\x27\x0a":
        raise _refuse(filename, kind, "the .shp member is not a Shapefile (wrong file code)")
    shx_size = (tmp / "upload.shx").stat().st_size
    count = max(0, (shx_size - 100) // 8)
    if count == 0:
        raise InvalidInput(f"{filename}: the file has no features")
    _check_count(filename, count, max_features)
    info_ = _info(str(shp), filename, kind, tmp)
    if info_.get("driver") != "ESRI Shapefile":
        raise _refuse(filename, kind, "GDAL did not recognise the members as a Shapefile")
    frame = _read(str(shp), filename, kind, tmp, max_features)
    return Opened(frame, kind="Shapefile")


# --------------------------------------------------------------------------- GDAL


def _check_count(filename: str, count: int, max_features: int) -> None:
    if count > max_features:
        raise InvalidInput(
            f"{filename}: the file has {count:,} features; the limit is {max_features:,} "
            "(HOTSPOTS_MAX_BOUNDARY_FEATURES)"
        )


def _clean(detail: str, tmp: Path, filename: str) -> str:
    """A GDAL message without our temporary paths or connection prefixes."""
    for prefix in ("GeoJSON:", "GPKG:", ""):
        detail = detail.replace(f"{prefix}{tmp}/upload", "upload")
    detail = re.sub(r"'?upload\.\w+'?(:\S+)?", filename, detail)
    return detail.replace(str(tmp), "")


def _info(source: str, filename: str, kind: str, tmp: Path) -> dict[str, Any]:
    pyogrio.set_gdal_config_options(GDAL_OPTIONS)
    try:
        return dict(pyogrio.read_info(source))
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise _refuse(filename, kind, _clean(str(exc), tmp, filename)) from None


def _read(
    source: str, filename: str, kind: str, tmp: Path, max_features: int, layer: str | None = None
) -> gpd.GeoDataFrame:
    pyogrio.set_gdal_config_options(GDAL_OPTIONS)
    try:
        frame = pyogrio.read_dataframe(source, layer=layer, max_features=max_features + 1)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise _refuse(filename, kind, _clean(str(exc), tmp, filename)) from None
    if len(frame) > max_features:
        _check_count(filename, len(frame), max_features)
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        raise InvalidInput(f"{filename}: the layer has no geometry; boundary files need ward polygons")
    return frame
