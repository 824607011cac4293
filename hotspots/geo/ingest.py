"""Read and validate incident CSVs: police.uk street-level files and mapped generic CSVs.

Every problem is reported with its line number (the header is line 1) and the
column as written in the file. A file with any error is rejected whole, so a
caller never stores part of it. Rows without coordinates ("No location" in
police.uk files) are kept, counted and reported; they are never dropped.

Output coordinates: ``longitude``/``latitude`` in WGS84 (EPSG:4326) and ``x``/``y``
in British National Grid metres (EPSG:27700).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely

from hotspots.errors import ErrorCollector, InvalidInput, PayloadTooLarge, RowError
from hotspots.geo.crs import BNG, UK_LAT, UK_LON, WGS84, transform

POLICE_UK_COLUMNS = [
    "crime_id",
    "month",
    "reported_by",
    "falls_within",
    "longitude",
    "latitude",
    "location",
    "lsoa_code",
    "lsoa_name",
    "crime_type",
    "last_outcome_category",
    "context",
]
"""Normalised (snake_case) names of the 12 police.uk street-level columns, in file order."""

TEXT_COLUMNS = [c for c in POLICE_UK_COLUMNS if c not in ("longitude", "latitude")]
INCIDENT_COLUMNS = [*POLICE_UK_COLUMNS, "occurred_at", "x", "y", "has_location", "source_file", "line"]
"""Columns of an incidents frame as returned by :func:`read_incidents`."""

MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
Format = Literal["auto", "police-uk", "generic"]
OutsidePolicy = Literal["reject", "exclude"]


def snake_case(name: str) -> str:
    """``"Crime ID"`` -> ``"crime_id"``; ``"LSOA code"`` -> ``"lsoa_code"``."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lstrip("\ufeff").lower()).strip("_")


@dataclass(frozen=True)
class ColumnMapping:
    """Where a generic CSV keeps each field. Values are column names as written in the file.

    Give either ``longitude`` and ``latitude`` (WGS84 degrees) or ``x`` and ``y``
    (projected metres in ``crs``, British National Grid by default); and either
    ``month`` (``YYYY-MM``) or ``date`` (a date or date-time; day first when
    ambiguous, as in UK exports).
    """

    longitude: str | None = None
    latitude: str | None = None
    x: str | None = None
    y: str | None = None
    crs: int = BNG
    month: str | None = None
    date: str | None = None
    category: str | None = None
    id: str | None = None
    location: str | None = None

    def check(self) -> None:
        has_lonlat = bool(self.longitude and self.latitude)
        has_xy = bool(self.x and self.y)
        if has_lonlat == has_xy:
            raise InvalidInput("column mapping needs either longitude and latitude, or x and y")
        if not (self.month or self.date):
            raise InvalidInput("column mapping needs a month or a date column")


@dataclass
class IngestReport:
    """What happened to each row of the input, as shown to the person uploading."""

    files: list[str] = field(default_factory=list)
    format: str = ""
    rows_read: int = 0
    rows_accepted: int = 0
    rows_without_location: int = 0
    rows_excluded_outside: int = 0
    months: list[str] = field(default_factory=list)
    crime_types: dict[str, int] = field(default_factory=dict)
    has_time_of_day: bool = False
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "files": self.files,
            "format": self.format,
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_without_location": self.rows_without_location,
            "rows_excluded_outside": self.rows_excluded_outside,
            "months": self.months,
            "crime_types": self.crime_types,
            "has_time_of_day": self.has_time_of_day,
            "warnings": self.warnings,
        }


@dataclass
class Source:
    """One input file: its display name and its bytes."""

    name: str
    data: bytes

    @classmethod
    def from_path(cls, path: str | Path, max_bytes: int | None = None) -> Source:
        p = Path(path)
        if not p.is_file():
            raise InvalidInput(f"{p}: no such file")
        size = p.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise PayloadTooLarge(
                f"{p.name}: file is {size / 2**20:.1f} MiB, above the limit of {max_bytes / 2**20:.1f} MiB"
            )
        data = p.read_bytes()
        if p.suffix == ".gz":
            import gzip

            data = gzip.decompress(data)
        return cls(p.name, data)


@dataclass
class IngestResult:
    incidents: pd.DataFrame
    report: IngestReport


def read_incidents(
    sources: Sequence[Source],
    *,
    fmt: Format = "auto",
    mapping: ColumnMapping | None = None,
    area: shapely.Geometry | None = None,
    max_outside_m: float = 5000.0,
    outside: OutsidePolicy = "reject",
    max_bytes: int | None = None,
    max_errors: int = 100,
) -> IngestResult:
    """Read, validate and normalise one or more incident CSV files.

    Parameters
    ----------
    sources:
        The files, each as name and bytes (UTF-8, optionally with a BOM).
    fmt:
        ``"police-uk"`` for the 12-column street-level layout, ``"generic"``
        with a ``mapping``, or ``"auto"`` to tell them apart from the header.
    area:
        The study area in EPSG:27700. Incidents more than ``max_outside_m``
        metres outside it are errors (``outside="reject"``) or are left out
        and counted in the report (``outside="exclude"``).
    max_bytes:
        Size limit per file; larger files raise :class:`PayloadTooLarge`.

    Returns
    -------
    IngestResult
        ``incidents`` with :data:`INCIDENT_COLUMNS` and a report.

    Raises
    ------
    InvalidInput
        With row-level errors (line number and column) if any row is bad.
    """
    if not sources:
        raise InvalidInput("no input files given")
    frames: list[pd.DataFrame] = []
    report = IngestReport()
    errors = ErrorCollector(limit=max_errors)
    for source in sources:
        errors.file = source.name if len(sources) > 1 else None
        frame, fmt_used, warnings = _read_one(source, fmt, mapping, max_bytes, errors)
        report.files.append(source.name)
        report.warnings += [f"{source.name}: {w}" for w in warnings]
        report.format = fmt_used if report.format in ("", fmt_used) else "mixed"
        if frame is not None:
            report.rows_read += len(frame)
            frames.append(frame)
    errors.file = None
    if errors:
        raise InvalidInput(_error_headline(errors, sources), errors.errors, errors.total)
    incidents = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if area is not None:
        incidents = _check_area(incidents, area, max_outside_m, outside, report, errors, len(sources) > 1)
        if errors:
            raise InvalidInput(
                _outside_headline(errors.total, int(incidents["has_location"].sum()), max_outside_m),
                errors.errors,
                errors.total,
            )
    _fill_report(incidents, report)
    return IngestResult(incidents.reset_index(drop=True), report)


def _error_headline(errors: ErrorCollector, sources: Sequence[Source]) -> str:
    names = ", ".join(s.name for s in sources)
    return f"{names}: {errors.total} problem(s) found; nothing was stored"


def _outside_headline(n_bad: int, n_rows: int, max_outside_m: float) -> str:
    km = max_outside_m / 1000
    if n_bad >= n_rows:
        return (
            f"no incident lies within {km:g} km of the boundaries: is the file for another area, "
            "or are the coordinates in the wrong columns? Nothing was stored"
        )
    return (
        f"{n_bad} incident(s) lie more than {km:g} km outside the boundaries; nothing was stored. "
        "Upload with outside=exclude to leave them out (they are counted in the report)"
    )


def _read_one(
    source: Source,
    fmt: Format,
    mapping: ColumnMapping | None,
    max_bytes: int | None,
    errors: ErrorCollector,
) -> tuple[pd.DataFrame | None, str, list[str]]:
    name = source.name
    if max_bytes is not None and len(source.data) > max_bytes:
        raise PayloadTooLarge(
            f"{name}: file is {len(source.data) / 2**20:.1f} MiB, "
            f"above the limit of {max_bytes / 2**20:.1f} MiB"
        )
    text = _decode(source)
    if not text.strip():
        raise InvalidInput(f"{name}: the file is empty")
    header = next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])
    if not any(h.strip() for h in header):
        raise InvalidInput(f"{name}: line 1 should be a header row naming the columns, but it is blank")
    snake = [snake_case(h) for h in header]
    dupes = sorted({h for h, s in zip(header, snake, strict=True) if snake.count(s) > 1})
    if dupes:
        raise InvalidInput(f"{name}: line 1 names these columns more than once: {', '.join(dupes)}")
    fmt_used, colmap, warnings = _resolve_format(name, header, snake, fmt, mapping)
    table, lines = _parse(source, text, header, errors)
    if table is None:
        return None, fmt_used, warnings
    frame = _normalise(table, lines, colmap, fmt_used, mapping, name, errors)
    return frame, fmt_used, warnings


def _decode(source: Source) -> str:
    data = source.data
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        header = next(csv.reader([data.split(b"\n", 1)[0].decode("utf-8", "replace")]), [])
        prefix = data[start : exc.start].decode("utf-8", "replace")
        field_no = len(next(csv.reader([prefix]), [""])) - 1 if prefix else 0
        column = header[field_no].strip() if line > 1 and field_no < len(header) else None
        raise InvalidInput(
            f"{source.name}: the file is not UTF-8 text",
            [
                RowError(
                    line,
                    column,
                    f"byte 0x{data[exc.start]:02x} at character {exc.start - start + 1} of the line "
                    "is not valid UTF-8; save the file as UTF-8 (CSV UTF-8 in Excel) and upload again",
                )
            ],
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _resolve_format(
    name: str,
    header: list[str],
    snake: list[str],
    fmt: Format,
    mapping: ColumnMapping | None,
) -> tuple[str, dict[str, str], list[str]]:
    """Decide the format and map normalised field names to the file's column names."""
    by_snake = dict(zip(snake, header, strict=True))
    warnings: list[str] = []
    if fmt == "auto":
        if mapping is not None:
            fmt = "generic"
        elif set(POLICE_UK_COLUMNS) <= set(snake):
            fmt = "police-uk"
        elif {"longitude", "latitude", "month"} <= set(snake):
            fmt = "generic"
            mapping = ColumnMapping(
                longitude=by_snake["longitude"],
                latitude=by_snake["latitude"],
                month=by_snake["month"],
                category=by_snake.get("crime_type") or by_snake.get("category"),
                id=by_snake.get("crime_id"),
                location=by_snake.get("location"),
            )
            warnings.append(
                "not the 12-column police.uk layout; read Longitude, Latitude, Month"
                + (f" and {mapping.category}" if mapping.category else "")
            )
        else:
            missing = [c for c in POLICE_UK_COLUMNS if c not in snake]
            raise InvalidInput(
                f"{name}: line 1 is not a police.uk street-level header and no column mapping was given",
                [RowError(1, None, f"missing column(s): {', '.join(_title(m) for m in missing)}")],
            )
    if fmt == "police-uk":
        missing = [c for c in POLICE_UK_COLUMNS if c not in snake]
        unknown = [h for h, s in zip(header, snake, strict=True) if s not in POLICE_UK_COLUMNS]
        errs = []
        if missing:
            errs.append(RowError(1, None, f"missing column(s): {', '.join(_title(m) for m in missing)}"))
        if unknown:
            errs.append(
                RowError(
                    1,
                    None,
                    f"unknown column(s): {', '.join(unknown)}; police.uk street-level files have exactly "
                    "these columns: " + ", ".join(_title(c) for c in POLICE_UK_COLUMNS),
                )
            )
        if errs:
            raise InvalidInput(f"{name}: the header is not the police.uk street-level layout", errs)
        return "police-uk", {c: by_snake[c] for c in POLICE_UK_COLUMNS}, warnings
    if mapping is None:
        raise InvalidInput(f"{name}: a generic CSV needs a column mapping")
    mapping.check()
    colmap: dict[str, str] = {}
    fields = {
        "longitude": mapping.longitude,
        "latitude": mapping.latitude,
        "x": mapping.x,
        "y": mapping.y,
        "month": mapping.month,
        "date": mapping.date,
        "crime_type": mapping.category,
        "crime_id": mapping.id,
        "location": mapping.location,
    }
    missing_cols = []
    for target, col in fields.items():
        if not col:
            continue
        if col in header:
            colmap[target] = col
        elif snake_case(col) in by_snake:
            colmap[target] = by_snake[snake_case(col)]
        else:
            missing_cols.append(col)
    if missing_cols:
        raise InvalidInput(
            f"{name}: the column mapping names columns the file does not have",
            [
                RowError(
                    1,
                    None,
                    f"missing column(s): {', '.join(missing_cols)}; the file has: {', '.join(header)}",
                )
            ],
        )
    ignored = [h for h in header if h not in colmap.values()]
    if ignored:
        warnings.append(f"column(s) not used: {', '.join(ignored)}")
    return "generic", colmap, warnings


def _title(snake: str) -> str:
    names = {
        "crime_id": "Crime ID",
        "lsoa_code": "LSOA code",
        "lsoa_name": "LSOA name",
    }
    return names.get(snake, snake.replace("_", " ").capitalize())


def _parse(
    source: Source, text: str, header: list[str], errors: ErrorCollector
) -> tuple[pa.Table | None, np.ndarray]:
    """Parse all cells as strings; return the table and each record's line number."""
    bad_rows: list[tuple[int | None, int, int]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad_rows.append((row.number, row.expected_columns, row.actual_columns))
        return "skip"

    data = text.encode("utf-8")
    if not data.endswith(b"\n"):
        data += b"\n"  # pyarrow cannot read a header-only file without a final newline
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True, invalid_row_handler=on_invalid, ignore_empty_lines=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InvalidInput(f"{source.name}: the file is not a readable CSV: {exc}") from None
    lines = _record_lines(text, table.num_rows, bool(bad_rows), len(header))
    # pyarrow also flags whitespace-only lines (one field); those are blank lines, not errors.
    bad_lines = list(_bad_row_lines(text, len(header))) if bad_rows else []
    if bad_lines:
        for number, expected, actual in bad_lines:
            errors.add(
                RowError(
                    number,
                    None,
                    f"expected {expected} fields (as in the header) but found {actual}; "
                    "check for unquoted commas",
                )
            )
        return None, lines
    if len(lines) != table.num_rows:
        raise InvalidInput(
            f"{source.name}: the file is not a readable CSV (could not match records to lines)"
        )
    if table.num_rows == 0:
        raise InvalidInput(f"{source.name}: the file has a header but no data rows")
    return table, lines


def _record_lines(text: str, n_rows: int, has_bad: bool, n_fields: int) -> np.ndarray:
    """Line number of each data record; fast path when records are one line each."""
    body = text.rstrip("\n")
    if not has_bad and body.count("\n") == n_rows and "\n\n" not in body:
        return np.arange(2, n_rows + 2, dtype=np.int64)
    starts: list[int] = []
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    prev = reader.line_num
    for record in reader:
        # pyarrow keeps exactly the records with the header's field count (even if all empty)
        if record and len(record) == n_fields:
            starts.append(prev + 1)
        prev = reader.line_num
    return np.asarray(starts, dtype=np.int64)


def _bad_row_lines(text: str, n_fields: int) -> Iterable[tuple[int, int, int]]:
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    prev = reader.line_num
    for record in reader:
        if record and any(cell.strip() for cell in record) and len(record) != n_fields:
            yield prev + 1, n_fields, len(record)
        prev = reader.line_num


def _normalise(
    table: pa.Table,
    lines: np.ndarray,
    colmap: dict[str, str],
    fmt: str,
    mapping: ColumnMapping | None,
    name: str,
    errors: ErrorCollector,
) -> pd.DataFrame:
    n = table.num_rows

    def col(target: str) -> pd.Series:
        src = colmap.get(target)
        if src is None:
            return pd.Series([None] * n, dtype="string")
        return table.column(src).to_pandas(types_mapper=pd.ArrowDtype).astype("string").str.strip()

    out = pd.DataFrame({c: col(c) for c in TEXT_COLUMNS})
    out.loc[out["crime_id"].isna() | (out["crime_id"] == ""), "crime_id"] = pd.NA

    if fmt == "generic" and "date" in colmap:
        occurred = _parse_dates(col("date"), lines, colmap["date"], errors)
        out["occurred_at"] = occurred
        month = occurred.dt.strftime("%Y-%m").astype("string")
        if "month" in colmap:
            given = col("month")
            out["month"] = given.fillna(month)
        else:
            out["month"] = month
    else:
        out["occurred_at"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
        _check_months(out["month"], lines, colmap.get("month", "Month"), errors)
    if fmt == "generic" and "crime_type" not in colmap:
        out["crime_type"] = "All incidents"
    else:
        missing_type = out["crime_type"].isna() | (out["crime_type"] == "")
        for i in np.flatnonzero(missing_type.to_numpy())[: errors.limit]:
            errors.add(RowError(int(lines[i]), colmap["crime_type"], "the crime type is empty"))
        errors.total += max(0, int(missing_type.sum()) - errors.limit)

    if "x" in colmap:
        assert mapping is not None
        xs, x_bad = _numbers(col("x"))
        ys, y_bad = _numbers(col("y"))
        _report_bad_numbers(x_bad, col("x"), lines, colmap["x"], errors)
        _report_bad_numbers(y_bad, col("y"), lines, colmap["y"], errors)
        has = ~np.isnan(xs) & ~np.isnan(ys)
        _report_half_missing(
            np.isnan(xs), np.isnan(ys), x_bad, y_bad, lines, colmap["x"], colmap["y"], errors
        )
        lon = np.full(n, np.nan)
        lat = np.full(n, np.nan)
        if has.any():
            lon[has], lat[has] = transform(xs[has], ys[has], mapping.crs, WGS84)
        in_uk = (lon >= UK_LON[0]) & (lon <= UK_LON[1]) & (lat >= UK_LAT[0]) & (lat <= UK_LAT[1])
        for i in np.flatnonzero(has & ~in_uk):
            errors.add(
                RowError(
                    int(lines[i]),
                    f"{colmap['x']}/{colmap['y']}",
                    f"location ({colmap['x']}={xs[i]:g}, {colmap['y']}={ys[i]:g}) "
                    f"is outside the United Kingdom in EPSG:{mapping.crs}",
                )
            )
    else:
        lon, lon_bad = _numbers(col("longitude"))
        lat, lat_bad = _numbers(col("latitude"))
        lon_col, lat_col = colmap["longitude"], colmap["latitude"]
        _report_bad_numbers(lon_bad, col("longitude"), lines, lon_col, errors)
        _report_bad_numbers(lat_bad, col("latitude"), lines, lat_col, errors)
        _report_half_missing(np.isnan(lon), np.isnan(lat), lon_bad, lat_bad, lines, lon_col, lat_col, errors)
        _check_degrees(lon, lat, lines, lon_col, lat_col, errors)
    has_location = ~np.isnan(lon) & ~np.isnan(lat)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    ok = has_location & np.isfinite(lon) & (np.abs(lat) <= 90)
    if ok.any():
        x[ok], y[ok] = transform(lon[ok], lat[ok], WGS84, BNG)
    out.insert(4, "longitude", lon)
    out.insert(5, "latitude", lat)
    out["x"] = x
    out["y"] = y
    out["has_location"] = has_location
    out["source_file"] = name
    out["line"] = lines[:n]
    return out[INCIDENT_COLUMNS]


MISSING_NUMBER_TOKENS = ["na", "n/a", "nan", "null", "none", "#n/a"]
"""Spellings of "no value" that exporters (R, Excel, databases) write in number columns."""


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Floats (NaN where empty or NA-like) and a mask of cells that are present but not numbers."""
    present = values.notna() & (values != "") & ~values.str.lower().isin(MISSING_NUMBER_TOKENS)
    nums = pd.to_numeric(values.where(present), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = present.to_numpy(dtype=bool) & ~np.isfinite(nums)
    nums[bad] = np.nan
    return nums, bad


def _report_bad_numbers(
    bad: np.ndarray, values: pd.Series, lines: np.ndarray, column: str, errors: ErrorCollector
) -> None:
    for i in np.flatnonzero(bad):
        errors.add(RowError(int(lines[i]), column, "is not a number", str(values.iloc[i])[:60]))


def _report_half_missing(
    lon_nan: np.ndarray,
    lat_nan: np.ndarray,
    lon_bad: np.ndarray,
    lat_bad: np.ndarray,
    lines: np.ndarray,
    lon_col: str,
    lat_col: str,
    errors: ErrorCollector,
) -> None:
    only_lat_missing = ~lon_nan & lat_nan & ~lat_bad
    only_lon_missing = lon_nan & ~lat_nan & ~lon_bad
    for i in np.flatnonzero(only_lat_missing):
        errors.add(RowError(int(lines[i]), lat_col, f"is empty but {lon_col} is given"))
    for i in np.flatnonzero(only_lon_missing):
        errors.add(RowError(int(lines[i]), lon_col, f"is empty but {lat_col} is given"))


def _check_degrees(
    lon: np.ndarray,
    lat: np.ndarray,
    lines: np.ndarray,
    lon_col: str,
    lat_col: str,
    errors: ErrorCollector,
) -> None:
    """Range checks on WGS84 degrees, with a specific message for swapped columns."""
    has = ~np.isnan(lon) & ~np.isnan(lat)
    lat_range = has & (np.abs(lat) > 90)
    lon_range = has & (np.abs(lon) > 180)
    in_uk = (lon >= UK_LON[0]) & (lon <= UK_LON[1]) & (lat >= UK_LAT[0]) & (lat <= UK_LAT[1])
    swapped = has & (lat >= UK_LON[0]) & (lat <= UK_LON[1]) & (lon >= UK_LAT[0]) & (lon <= UK_LAT[1])
    outside = has & ~in_uk & ~swapped & ~lat_range & ~lon_range
    for i in np.flatnonzero(lat_range | lon_range | swapped | outside):
        line = int(lines[i])
        value = f"{lon_col}={lon[i]:g}, {lat_col}={lat[i]:g}"
        if swapped[i]:
            errors.add(
                RowError(
                    line,
                    f"{lon_col}/{lat_col}",
                    f"longitude and latitude look swapped ({value}): in the UK latitude is about 50 to 61 "
                    "and longitude about -8 to 2",
                )
            )
        elif lat_range[i]:
            errors.add(RowError(line, lat_col, "is outside -90 to 90 degrees", f"{lat[i]:g}"))
        elif lon_range[i]:
            errors.add(RowError(line, lon_col, "is outside -180 to 180 degrees", f"{lon[i]:g}"))
        else:
            errors.add(
                RowError(line, f"{lon_col}/{lat_col}", f"location ({value}) is outside the United Kingdom")
            )


def _check_months(months: pd.Series, lines: np.ndarray, column: str, errors: ErrorCollector) -> None:
    values = months.fillna("")
    ok = values.str.fullmatch(MONTH_RE.pattern).fillna(False).to_numpy(dtype=bool)
    for i in np.flatnonzero(~ok):
        value = values.iloc[i]
        msg = "is empty" if value == "" else "is not a month in the form YYYY-MM"
        errors.add(RowError(int(lines[i]), column, msg, value or None))


def _parse_dates(values: pd.Series, lines: np.ndarray, column: str, errors: ErrorCollector) -> pd.Series:
    raw = values.astype(object).where(values.notna(), None)
    parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601")
    retry = parsed.isna() & values.notna()
    if retry.any():
        parsed[retry] = pd.to_datetime(raw[retry], errors="coerce", dayfirst=True, format="mixed")
    bad = parsed.isna().to_numpy()
    for i in np.flatnonzero(bad):
        value = values.iloc[i]
        msg = "is empty" if pd.isna(value) or value == "" else "is not a date (use YYYY-MM-DD or DD/MM/YYYY)"
        errors.add(RowError(int(lines[i]), column, msg, None if pd.isna(value) else str(value)))
    return parsed.astype("datetime64[ns]")


def _check_area(
    incidents: pd.DataFrame,
    area: shapely.Geometry,
    max_outside_m: float,
    outside: OutsidePolicy,
    report: IngestReport,
    errors: ErrorCollector,
    many_files: bool,
) -> pd.DataFrame:
    """Reject or exclude located incidents further than ``max_outside_m`` from ``area`` (EPSG:27700)."""
    has = incidents["has_location"].to_numpy()
    x = incidents["x"].to_numpy()
    y = incidents["y"].to_numpy()
    zone = shapely.simplify(area, 25.0).buffer(max_outside_m + 30.0)
    shapely.prepare(zone)
    far = np.zeros(len(incidents), dtype=bool)
    idx = np.flatnonzero(has)
    far[idx] = ~shapely.contains_xy(zone, x[idx], y[idx])
    if not far.any():
        return incidents
    if outside == "exclude":
        report.rows_excluded_outside = int(far.sum())
        report.warnings.append(
            f"{int(far.sum())} row(s) more than {max_outside_m / 1000:g} km outside the boundaries "
            "were left out"
        )
        return incidents.loc[~far]
    dist = shapely.distance(area, shapely.points(x[far], y[far]))
    lines = incidents["line"].to_numpy()[far]
    files = incidents["source_file"].to_numpy()[far]
    lon = incidents["longitude"].to_numpy()[far]
    lat = incidents["latitude"].to_numpy()[far]
    for j in range(len(dist)):
        prefix = f"{files[j]}: " if many_files else ""
        errors.add(
            RowError(
                int(lines[j]),
                "Longitude/Latitude",
                f"{prefix}location ({lon[j]:.6f}, {lat[j]:.6f}) is {dist[j] / 1000:.1f} km outside the area",
            )
        )
    return incidents


def _fill_report(incidents: pd.DataFrame, report: IngestReport) -> None:
    report.rows_accepted = int(len(incidents))
    report.rows_without_location = int((~incidents["has_location"]).sum())
    report.months = sorted(incidents["month"].dropna().unique().tolist())
    counts = incidents["crime_type"].value_counts()
    report.crime_types = {str(k): int(v) for k, v in counts.items()}
    times = incidents["occurred_at"].dropna()
    report.has_time_of_day = bool(len(times)) and bool((times.dt.normalize() != times).any())
    if report.rows_without_location:
        report.warnings.append(
            f"{report.rows_without_location} row(s) have no location (police.uk 'No location'); "
            "they are kept and counted, but cannot be mapped"
        )
