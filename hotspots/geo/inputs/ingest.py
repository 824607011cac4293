"""Read and validate incident CSVs: police.uk street-level files and mapped generic CSVs.

Every problem is reported with its line number (the header is line 1) and the
column as written in the file. A file with any error is rejected whole, so a
caller never stores part of it. Rows without coordinates ("No location" in
police.uk files) are kept, counted and reported; they are never dropped.

Output coordinates: ``longitude``/``latitude`` in WGS84 (EPSG:4326) and ``x``/``y``
in British National Grid metres (EPSG:27700).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, overload

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely

from hotspots.crs import BNG, UK_LAT, UK_LON, WGS84, transform
from hotspots.errors import ErrorCollector, InvalidInput, PayloadTooLarge, RowError

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
CATEGORY_COLUMNS = [c for c in TEXT_COLUMNS if c not in ("crime_id", "month")] + ["source_file"]
"""Text columns returned as pandas ``category`` (categories in sorted order): they repeat a few
values, so a frame of millions of rows holds each value once. ``crime_id`` (unique per crime)
and ``month`` (compared with ``<``/``>=``) stay ``"string"``."""
INCIDENT_COLUMNS = [*POLICE_UK_COLUMNS, "occurred_at", "x", "y", "has_location", "source_file", "line"]
"""Columns of an incidents frame as returned by :func:`read_incidents`."""

MAX_COLUMNS = 200
"""Most columns a header may name (police.uk files have 12)."""
MAX_HEADER_BYTES = 64 * 1024
"""Longest header line (bytes): 200 columns of generous names."""
MAX_FIELD_CHARS = 128 * 1024
"""Longest accepted value of a used column (characters); a longer one is a row error."""
MAX_LINE_CHARS = 4 * 1024 * 1024
"""Longest line of a file (characters); a longer one is a row error, found before parsing."""
# The csv module refuses fields over its limit (128 KiB by default) with an exception; lines
# are checked against MAX_LINE_CHARS first, so a single-line field can never reach this one.
csv.field_size_limit(max(csv.field_size_limit(), 2 * MAX_LINE_CHARS))
_LONG_LINE = re.compile(r"(?m)^[^\n]{" + str(MAX_LINE_CHARS + 1) + "}")

MONTH_RE = re.compile(r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$")
"""A month YYYY-MM in the years 1900 to 2099."""
Format = Literal["auto", "police-uk", "generic"]
OutsidePolicy = Literal["keep", "exclude", "reject"]
OUTSIDE_POLICIES: tuple[str, ...] = get_args(OutsidePolicy)


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
    rows_outside_area: int = 0
    outside_area: dict[str, Any] = field(default_factory=dict)
    area: str | None = None
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
            "rows_outside_area": self.rows_outside_area,
            "outside_area": self.outside_area,
            "area": self.area,
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
        if p.suffix != ".gz":
            return cls(p.name, p.read_bytes())
        import gzip
        import zlib

        # The limit applies to what is read: a small .gz can expand a thousandfold.
        try:
            with gzip.open(p, "rb") as fh:
                data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise InvalidInput(f"{p.name}: not a readable gzip file ({exc})") from None
        if max_bytes is not None and len(data) > max_bytes:
            raise PayloadTooLarge(
                f"{p.name}: the file expands to more than the limit of {max_bytes / 2**20:.1f} MiB"
            )
        return cls(p.name, data)


class SourceFiles(Sequence[Source]):
    """Files given by path, each read only when ingest reaches it.

    :func:`read_incidents` takes any sequence of sources; with this one, only one
    file's bytes are in memory at a time, however many files (e.g. a year of monthly
    police.uk files) are read together.
    """

    def __init__(self, paths: Iterable[str | Path], max_bytes: int | None = None) -> None:
        self.paths = [Path(p) for p in paths]
        self.max_bytes = max_bytes

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, index: int) -> Source: ...

    @overload
    def __getitem__(self, index: slice) -> list[Source]: ...

    def __getitem__(self, index: int | slice) -> Source | list[Source]:
        if isinstance(index, slice):
            return [Source.from_path(p, self.max_bytes) for p in self.paths[index]]
        return Source.from_path(self.paths[index], self.max_bytes)

    def __iter__(self) -> Iterator[Source]:
        """Each file in turn; the next file is read from disk while the caller works on this one."""
        if not self.paths:
            return
        with ThreadPoolExecutor(max_workers=1) as reader:
            pending = reader.submit(Source.from_path, self.paths[0], self.max_bytes)
            for path in self.paths[1:]:
                current = pending.result()
                pending = reader.submit(Source.from_path, path, self.max_bytes)
                yield current
                del current  # the caller's copy is all that keeps it
            yield pending.result()


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
    outside: OutsidePolicy = "keep",
    max_bytes: int | None = None,
    max_errors: int = 100,
    outside_districts: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
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
        The study area in EPSG:27700. A file in which no located incident lies
        inside it is refused (the wrong area, or swapped columns). Incidents
        outside it are kept and counted in the report (``outside="keep"``, the
        default: a police force publishes one file for its whole area), or
        those more than ``max_outside_m`` metres outside are left out
        (``"exclude"``) or are row errors (``"reject"``).
    outside_districts:
        Optional look-up from BNG ``x``, ``y`` arrays to district names, to say
        in the report where the outside incidents are.
    max_bytes:
        Size limit per file; larger files raise :class:`PayloadTooLarge`.

    Returns
    -------
    IngestResult
        ``incidents`` with :data:`INCIDENT_COLUMNS` and a report. Repeated text
        (:data:`CATEGORY_COLUMNS`) is pandas ``category`` with sorted categories;
        ``crime_id`` and ``month`` are ``"string"``.

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
    to_bng = _BngCache()
    for source in sources:
        errors.file = source.name if len(sources) > 1 else None
        frame, fmt_used, warnings = _read_one(source, fmt, mapping, max_bytes, errors, to_bng)
        report.files.append(source.name)
        report.warnings += [f"{source.name}: {w}" for w in warnings]
        report.format = fmt_used if report.format in ("", fmt_used) else "mixed"
        if frame is not None:
            report.rows_read += len(frame)
            frames.append(frame)
    errors.file = None
    if errors:
        raise InvalidInput(_error_headline(errors, sources), errors.errors, errors.total)
    incidents = _concat(frames)
    del frames
    if area is not None:
        incidents = _check_area(
            incidents, area, max_outside_m, outside, report, errors, len(sources) > 1, outside_districts
        )
        if errors:
            raise InvalidInput(
                _outside_headline(errors.total, int(incidents["has_location"].sum()), max_outside_m),
                errors.errors,
                errors.total,
            )
    _fill_report(incidents, report)
    return IngestResult(incidents.reset_index(drop=True), report)


def _error_headline(errors: ErrorCollector, sources: Sequence[Source]) -> str:
    names = ", ".join(p.name for p in sources.paths) if isinstance(sources, SourceFiles) else ""
    names = names or ", ".join(s.name for s in sources)
    return f"{names}: {errors.total} problem(s) found; nothing was stored"


def _outside_headline(n_bad: int, n_rows: int, max_outside_m: float) -> str:
    km = max_outside_m / 1000
    return (
        f"{n_bad} incident(s) lie more than {km:g} km outside the boundaries; nothing was stored. "
        "Upload with outside=keep (they are kept and flagged) or outside=exclude (left out and counted)"
    )


def _read_one(
    source: Source,
    fmt: Format,
    mapping: ColumnMapping | None,
    max_bytes: int | None,
    errors: ErrorCollector,
    to_bng: _BngCache | None = None,
) -> tuple[pd.DataFrame | None, str, list[str]]:
    name = source.name
    data = source.data
    if max_bytes is not None and len(data) > max_bytes:
        raise PayloadTooLarge(
            f"{name}: file is {len(data) / 2**20:.1f} MiB, above the limit of {max_bytes / 2**20:.1f} MiB"
        )
    # Regular files (UTF-8, "\n" line ends, one line per record) are parsed straight from the
    # bytes; anything else takes the careful path over the decoded text, which finds and
    # explains every problem. Both give the same frame.
    _check_header_length(name, data)
    fast = _fast_buffer(data)
    text: str | None = None
    if fast is None:
        text = _decode(source)
        if not text.strip():
            raise InvalidInput(f"{name}: the file is empty")
        end = text.find("\n")
        first = text if end < 0 else text[:end]
    else:
        buffer, start = fast
        first = data[start : data.index(b"\n", start)].decode("utf-8")
    header = next(csv.reader(io.StringIO(first)), [])
    if not any(h.strip() for h in header):
        raise InvalidInput(f"{name}: line 1 should be a header row naming the columns, but it is blank")
    if len(header) > MAX_COLUMNS:
        raise InvalidInput(
            f"{name}: line 1 names {len(header)} columns; at most {MAX_COLUMNS} are accepted",
            [RowError(1, None, f"{len(header)} columns in the header, above the limit of {MAX_COLUMNS}")],
        )
    snake = [snake_case(h) for h in header]
    seen = Counter(snake)
    dupes = sorted({h for h, s in zip(header, snake, strict=True) if seen[s] > 1})
    if dupes:
        raise InvalidInput(f"{name}: line 1 names these columns more than once: {', '.join(dupes)}")
    fmt_used, colmap, warnings = _resolve_format(name, header, snake, fmt, mapping)
    parsed = _parse_fast(data, buffer, header, colmap) if fast is not None else None
    if parsed is None:
        if text is None:
            text = _decode(source)
        _check_line_lengths(name, data, text, header)
        table, lines = _parse(source, text, header, errors)
        if table is None:
            return None, fmt_used, warnings
    else:
        table, lines = parsed
    del text
    if _check_cells(table, lines, sorted(set(colmap.values())), b"\x00" in data, errors):
        return None, fmt_used, warnings
    frame = _normalise(table, lines, colmap, fmt_used, mapping, name, errors, to_bng or _BngCache())
    return frame, fmt_used, warnings


def _check_header_length(name: str, data: bytes) -> None:
    """Refuse a first line over :data:`MAX_HEADER_BYTES` before anything parses it."""
    head = data[: MAX_HEADER_BYTES + len(_BOM) + 1]
    ends = [i for i in (head.find(b"\n"), head.find(b"\r")) if i >= 0]
    end = min(ends) if ends else len(head)
    if end > MAX_HEADER_BYTES + (len(_BOM) if head.startswith(_BOM) else 0):
        size = "more than " + f"{MAX_HEADER_BYTES // 1024} KiB" if not ends else f"{end:,} bytes"
        raise InvalidInput(
            f"{name}: line 1 should be a header row naming the columns, but it is {size} long",
            [
                RowError(
                    1,
                    None,
                    f"the header line is longer than the limit of {MAX_HEADER_BYTES // 1024} KiB "
                    f"(at most {MAX_COLUMNS} columns are accepted)",
                )
            ],
        )


def _longest_line_bytes(data: bytes) -> int:
    """Bytes in the longest line (a prefilter: a line has at most as many characters as bytes)."""
    if len(data) <= MAX_LINE_CHARS:
        return len(data)
    arr = np.frombuffer(data, np.uint8)
    breaks = np.flatnonzero(arr == 0x0A)
    longest = int(np.diff(breaks, prepend=-1, append=len(arr)).max())
    if longest > MAX_LINE_CHARS and b"\r" in data:  # old Mac files end lines with CR alone
        breaks = np.flatnonzero((arr == 0x0A) | (arr == 0x0D))
        longest = int(np.diff(breaks, prepend=-1, append=len(arr)).max())
    return longest


def _check_line_lengths(name: str, data: bytes, text: str, header: list[str]) -> None:
    """Refuse a line over :data:`MAX_LINE_CHARS` (with its line number and, if found, column)."""
    if _longest_line_bytes(data) <= MAX_LINE_CHARS + 1:
        return
    match = _LONG_LINE.search(text)
    if match is None:
        return
    start = match.start()
    line_no = text.count("\n", 0, start) + 1
    end = text.find("\n", start)
    line = text[start : end if end >= 0 else len(text)]
    column: str | None = None
    detail = f"line {line_no} is {len(line):,} characters long, above the limit of {MAX_LINE_CHARS:,}"
    if line.count(",") <= 2 * len(header):
        try:
            cells = next(csv.reader([line]), [])
        except csv.Error:
            cells = []
        for i, cell in enumerate(cells):
            if len(cell) > MAX_FIELD_CHARS:
                column = header[i].strip() if i < len(header) else None
                detail = f"the value is {len(cell):,} characters long, above the limit of {MAX_FIELD_CHARS:,}"
                break
    else:
        detail += f" with {line.count(',') + 1:,} fields (the header has {len(header)})"
    raise InvalidInput(f"{name}: 1 problem(s) found; nothing was stored", [RowError(line_no, column, detail)])


def _check_cells(
    table: pa.Table, lines: np.ndarray, columns: list[str], has_nul: bool, errors: ErrorCollector
) -> bool:
    """Row errors for values over :data:`MAX_FIELD_CHARS` and for NUL characters; True if any.

    NUL (byte 0x00) is not text: it cuts strings short in C-based tools (GDAL, many database
    drivers, spreadsheet imports), so a value holding one is refused rather than stored.
    """
    found = False
    for column in columns:
        if column not in table.column_names:
            continue
        col = table.column(column)
        if pa.types.is_dictionary(col.type):
            values = [c.dictionary for c in col.chunks]
            if not any(_too_long(v) or (has_nul and _has_nul(v)) for v in values):
                continue
            col = pc.cast(col, pa.string())
        too_long = pc.fill_null(pc.greater(pc.utf8_length(col), MAX_FIELD_CHARS), False)
        nul = pc.fill_null(pc.match_substring(col, "\x00"), False) if has_nul else None
        for mask, message in ((too_long, "too long"), (nul, "nul")):
            if mask is None or not pc.any(mask).as_py():
                continue
            found = True
            rows = np.flatnonzero(_np_bool(mask))
            for i in rows[: errors.limit]:
                if message == "nul":
                    text = "the value holds a NUL character (byte 0x00), which is not allowed in text"
                else:
                    n = len(col[int(i)].as_py() or "")
                    text = f"the value is {n:,} characters long, above the limit of {MAX_FIELD_CHARS:,}"
                errors.add(RowError(int(lines[i]), column.strip(), text))
            errors.total += max(0, len(rows) - errors.limit)
    return found


def _too_long(values: pa.Array) -> bool:
    longest = pc.max(pc.utf8_length(values)).as_py()
    return longest is not None and longest > MAX_FIELD_CHARS


def _has_nul(values: pa.Array) -> bool:
    return bool(pc.any(pc.match_substring(values, "\x00")).as_py())


_BOM = b"\xef\xbb\xbf"
_FIRST_VISIBLE = re.compile(rb"[^ \t\n\x0b\x0c]")


def _fast_buffer(data: bytes) -> tuple[pa.Buffer, int] | None:
    """The bytes to parse directly (zero-copy, after any BOM) and where they start, if regular.

    Regular: valid UTF-8, no carriage returns, not blank, and a newline after the header.
    ``None`` sends the file down the careful text path.
    """
    if b"\r" in data:
        return None
    if not data.isascii():
        decoder = codecs.getincrementaldecoder("utf-8")()
        view = memoryview(data)
        step = 1 << 24
        try:
            for i in range(0, len(data), step):
                decoder.decode(view[i : i + step], final=i + step >= len(data))
        except UnicodeDecodeError:
            return None
    start = len(_BOM) if data.startswith(_BOM) else 0
    visible = _FIRST_VISIBLE.search(data, start)
    if visible is None or not 0x20 < data[visible.start()] < 0x7F:
        return None  # blank, or starts with rarer whitespace: let the text path judge
    if data.find(b"\n", start) < 0:
        return None
    return pa.py_buffer(data).slice(start), start


def _parse_fast(
    data: bytes, buffer: pa.Buffer, header: list[str], colmap: dict[str, str]
) -> tuple[pa.Table, np.ndarray] | None:
    """Parse a regular file; ``None`` when it is not regular after all (then the text path runs).

    Only the mapped columns are converted. Quoted newlines are looked for only if the file
    has a quote character at all.
    """
    used = [h for h in header if h in colmap.values()]
    # Text is read dictionary-encoded: snapped coordinates are then parsed and transformed once
    # per distinct value, and repeated text (categories, places, months) is stored once. Only
    # the crime ID, unique per crime, is cheaper to read as it is.
    encoded = {h for t, h in colmap.items() if t != "crime_id"}
    dictionary = pa.dictionary(pa.int32(), pa.string())
    bad_rows: list[int] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad_rows.append(row.number or 0)
        return "skip"

    # Counting lines (for the one-line-per-record check) overlaps with Arrow's parse, which
    # runs without the GIL.
    counter = ThreadPoolExecutor(max_workers=1)
    newlines = counter.submit(data.count, b"\n")
    counter.shutdown(wait=False)
    try:
        table = pacsv.read_csv(
            pa.BufferReader(buffer),
            read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=b'"' in data, invalid_row_handler=on_invalid, ignore_empty_lines=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={h: dictionary if h in encoded else pa.string() for h in header},
                include_columns=used,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    n = table.num_rows
    if bad_rows or n == 0:
        return None
    # One line per record exactly when the body (without final newlines) has n newlines:
    # the header and every record take at least one line each, so any blank or multi-line
    # record would add more.
    trailing = 0
    while trailing < len(data) and data[len(data) - 1 - trailing] == 0x0A:
        trailing += 1
    if newlines.result() - trailing != n:
        return None
    return table.unify_dictionaries(), np.arange(2, n + 2, dtype=np.int64)


def _decode(source: Source) -> str:
    data = source.data
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        header = next(csv.reader([data.split(b"\n", 1)[0].decode("utf-8", "replace")]), [])
        prefix = data[start : exc.start].decode("utf-8", "replace")
        try:
            field_no = len(next(csv.reader([prefix]), [""])) - 1 if prefix else 0
        except csv.Error:
            field_no = len(header)
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


class _Text:
    """A text column, trimmed: ``values`` per distinct entry and ``codes`` per row, or per row only.

    Work that depends only on the text (trimming, checks, parsing numbers) runs once per
    entry where the column was read dictionary-encoded. Missing cells are null entries.
    """

    def __init__(self, values: pa.Array | pa.ChunkedArray, codes: np.ndarray | None) -> None:
        self.values = values
        self.codes = codes

    @classmethod
    def from_column(cls, column: pa.ChunkedArray) -> _Text:
        if pa.types.is_dictionary(column.type):
            chunks = column.chunks
            if not chunks:
                return cls(pa.array([], pa.large_string()), np.empty(0, np.int32))
            dictionary = chunks[0].dictionary  # unified: every chunk has the same one
            indices = pa.chunked_array([c.indices for c in chunks], chunks[0].indices.type)
            codes = np.asarray(pc.fill_null(indices, len(dictionary)).to_numpy())
            values = pa.concat_arrays([dictionary, pa.nulls(1, dictionary.type)])
            return cls(pc.utf8_trim_whitespace(values).cast(pa.large_string()), codes)
        return cls(pc.utf8_trim_whitespace(column).cast(pa.large_string()), None)

    @classmethod
    def missing(cls, n: int) -> _Text:
        return cls(pa.nulls(1, pa.large_string()), np.zeros(n, np.int32))

    def rows(self) -> pa.ChunkedArray:
        values = self.values if self.codes is None else self.values.take(self.codes)
        return values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])

    def series(self) -> pd.Series:
        """The column as the pandas ``"string"`` dtype (Arrow-backed, ``pd.NA`` for missing)."""
        return pd.Series(pd.arrays.ArrowStringArray(self.rows()))

    def categorical(self) -> pd.Series:
        """The column as a pandas ``category`` (categories sorted; missing cells NaN)."""
        if self.codes is None:
            encoded = pc.dictionary_encode(self.values).combine_chunks()
            dictionary = pa.concat_arrays([encoded.dictionary, pa.nulls(1, encoded.dictionary.type)])
            codes = np.asarray(pc.fill_null(encoded.indices, len(encoded.dictionary)).to_numpy())
            return _Text(dictionary, codes).categorical()
        # Entries that differed only in spacing are equal once trimmed: number them afresh.
        entries = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([self.values])))
        entry_codes, categories = pd.factorize(entries, sort=True)
        small = np.int32 if len(categories) >= 1 << 15 else np.int16
        row_codes = entry_codes.astype(small)[self.codes]
        return pd.Series(
            pd.Categorical.from_codes(row_codes, categories=pd.Index(categories, dtype="string"))
        )

    def per_row(self, per_value: np.ndarray) -> np.ndarray:
        return per_value if self.codes is None else per_value[self.codes]

    def value(self, row: int) -> str | None:
        code = row if self.codes is None else int(self.codes[row])
        v = self.values[code].as_py()
        return None if v is None else str(v)

    def blank(self) -> np.ndarray:
        """Per value: missing or empty after trimming."""
        return _np_bool(pc.fill_null(pc.equal(self.values, ""), True))

    def without_blanks(self) -> _Text:
        empty = pc.equal(self.values, "")
        if not pc.any(empty).as_py():
            return self
        return _Text(pc.if_else(empty, pa.scalar(None, pa.large_string()), self.values), self.codes)


def _np_bool(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=bool)


def _normalise(
    table: pa.Table,
    lines: np.ndarray,
    colmap: dict[str, str],
    fmt: str,
    mapping: ColumnMapping | None,
    name: str,
    errors: ErrorCollector,
    to_bng: _BngCache,
) -> pd.DataFrame:
    n = table.num_rows
    # Trimming is most of the work here; Arrow releases the GIL, so two threads halve it.
    targets = [t for t in colmap if t != "date"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        built = pool.map(lambda t: _Text.from_column(table.column(colmap[t])), targets)
        cache: dict[str, _Text] = dict(zip(targets, built, strict=True))

    def text(target: str) -> _Text:
        if target not in cache:
            src = colmap.get(target)
            cache[target] = _Text.missing(n) if src is None else _Text.from_column(table.column(src))
        return cache[target]

    cols: dict[str, pd.Series] = {c: text(c).categorical() for c in TEXT_COLUMNS if c in CATEGORY_COLUMNS}
    cols["month"] = text("month").series()
    cols["crime_id"] = text("crime_id").without_blanks().series()
    out = pd.DataFrame({c: cols[c] for c in TEXT_COLUMNS})

    if fmt == "generic" and "date" in colmap:
        occurred = _parse_dates(text("date").series(), lines, colmap["date"], errors)
        out["occurred_at"] = occurred
        month = occurred.dt.strftime("%Y-%m").astype("string")
        if "month" in colmap:
            given = out["month"]
            out["month"] = given.fillna(month)
        else:
            out["month"] = month
    else:
        out["occurred_at"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
        _check_months(text("month"), lines, colmap.get("month", "Month"), errors)
    if fmt == "generic" and "crime_type" not in colmap:
        out["crime_type"] = _constant_category("All incidents", n)
    else:
        crime_type = text("crime_type")
        missing_type = crime_type.per_row(crime_type.blank())
        for i in np.flatnonzero(missing_type)[: errors.limit]:
            errors.add(RowError(int(lines[i]), colmap["crime_type"], "the crime type is empty"))
        errors.total += max(0, int(missing_type.sum()) - errors.limit)

    if "x" in colmap:
        assert mapping is not None
        xs, x_bad = _numbers(text("x"))
        ys, y_bad = _numbers(text("y"))
        _report_bad_numbers(x_bad, text("x"), lines, colmap["x"], errors)
        _report_bad_numbers(y_bad, text("y"), lines, colmap["y"], errors)
        has = ~np.isnan(xs) & ~np.isnan(ys)
        _report_half_missing(
            np.isnan(xs), np.isnan(ys), x_bad, y_bad, lines, colmap["x"], colmap["y"], errors
        )
        lon = np.full(n, np.nan)
        lat = np.full(n, np.nan)
        if has.any():
            key = _pair_key(text("x"), text("y"))
            lon[has], lat[has] = _transform_distinct(
                xs[has], ys[has], mapping.crs, WGS84, None if key is None else key[has]
            )
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
        lon, lon_bad = _numbers(text("longitude"))
        lat, lat_bad = _numbers(text("latitude"))
        lon_col, lat_col = colmap["longitude"], colmap["latitude"]
        _report_bad_numbers(lon_bad, text("longitude"), lines, lon_col, errors)
        _report_bad_numbers(lat_bad, text("latitude"), lines, lat_col, errors)
        _report_half_missing(np.isnan(lon), np.isnan(lat), lon_bad, lat_bad, lines, lon_col, lat_col, errors)
        _check_degrees(lon, lat, lines, lon_col, lat_col, errors)
    has_location = ~np.isnan(lon) & ~np.isnan(lat)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    ok = has_location & np.isfinite(lon) & (np.abs(lat) <= 90)
    if ok.any():
        key = (
            _pair_key(text("x"), text("y"))
            if "x" in colmap
            else _pair_key(text("longitude"), text("latitude"))
        )
        x[ok], y[ok] = to_bng(lon[ok], lat[ok], None if key is None else key[ok])
    out.insert(4, "longitude", lon)
    out.insert(5, "latitude", lat)
    out["x"] = x
    out["y"] = y
    out["has_location"] = has_location
    out["source_file"] = _constant_category(name, n)
    out["line"] = lines[:n]
    return out[INCIDENT_COLUMNS]


def _constant_category(value: str, n: int) -> pd.Series:
    """``n`` rows of one text value, as a ``category`` column."""
    categories = pd.Index([value], dtype="string")
    return pd.Series(pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=categories))


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate incident frames, their ``category`` columns over the union of their categories."""
    if len(frames) == 1:
        return frames[0]
    for c in CATEGORY_COLUMNS:
        columns = [f[c] for f in frames]
        if all(isinstance(col.dtype, pd.CategoricalDtype) for col in columns):
            union = columns[0].cat.categories
            for col in columns[1:]:
                union = union.union(col.cat.categories)
            union = union.sort_values()
            for f in frames:
                f[c] = f[c].cat.set_categories(union)
    return pd.concat(frames, ignore_index=True)


def _pair_key(a: _Text, b: _Text) -> np.ndarray | None:
    """Per row, a number equal for rows whose two texts are equal (``None`` if not cheaply known)."""
    if a.codes is None or b.codes is None:
        return None
    return a.codes.astype(np.int64) * (len(b.values) + 1) + b.codes


class _BngCache:
    """WGS84 -> British National Grid, remembered across the files of one upload.

    Monthly police.uk files repeat the same map points, so most are transformed once.
    """

    def __init__(self) -> None:
        self.keys = pd.Index(np.empty(0, dtype=np.complex128))
        self.x = np.empty(0)
        self.y = np.empty(0)

    def __call__(
        self, lon: np.ndarray, lat: np.ndarray, key: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        grouped = _one_row_per_key(key, len(lon))
        if grouped is None:
            return transform(lon, lat, WGS84, BNG)
        codes, first = grouped
        ulon, ulat = lon[first], lat[first]
        # Zeros stay out of the cache: a hash lookup would not tell 0.0 from -0.0.
        cacheable = (ulon != 0) & (ulat != 0)
        ux, uy = np.empty(len(first)), np.empty(len(first))
        pos = self.keys.get_indexer(pd.Index(ulon + 1j * ulat))
        pos[~cacheable] = -1
        known = pos >= 0
        ux[known], uy[known] = self.x[pos[known]], self.y[pos[known]]
        new = ~known
        if new.any():
            ux[new], uy[new] = transform(ulon[new], ulat[new], WGS84, BNG)
            add = new & cacheable
            self.keys = self.keys.append(pd.Index(ulon[add] + 1j * ulat[add]))
            self.x = np.concatenate([self.x, ux[add]])
            self.y = np.concatenate([self.y, uy[add]])
        return ux[codes], uy[codes]


def _transform_distinct(
    x: np.ndarray, y: np.ndarray, src: int, dst: int, key: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`transform`, computed once per distinct ``key`` (rows with equal keys have equal x, y).

    Snapped police.uk data repeats each location many times; exact coordinates do not,
    and are transformed row by row.
    """
    grouped = _one_row_per_key(key, len(x))
    if grouped is None:
        return transform(x, y, src, dst)
    codes, first = grouped
    tx, ty = transform(x[first], y[first], src, dst)
    return tx[codes], ty[codes]


def _one_row_per_key(key: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(codes, first)``: each row's key number and one row of each key, so work done on the
    ``first`` rows can be spread back with ``[codes]``. ``None`` when that would not pay: no key,
    fewer than 1,024 rows, or keys that are mostly distinct (exact coordinates)."""
    if key is None or n < 1024:
        return None
    codes, uniq = pd.factorize(key)
    if len(uniq) > 0.8 * n:
        return None
    first = np.zeros(len(uniq), dtype=np.int64)
    first[codes] = np.arange(len(codes))  # any row of each key will do: they are all equal
    return codes, first


MISSING_NUMBER_TOKENS = ["na", "n/a", "nan", "null", "none", "#n/a"]
"""Spellings of "no value" that exporters (R, Excel, databases) write in number columns."""


def _numbers(values: _Text) -> tuple[np.ndarray, np.ndarray]:
    """Floats (NaN where empty or NA-like) and a mask of cells that are present but not numbers.

    Parsed once per distinct text; a cell is a number exactly when pandas' ``to_numeric`` reads
    it as a finite number (Arrow's parser where it accepts every value, else pandas').
    """
    nums, bad = _value_numbers(values.values)
    return values.per_row(nums), values.per_row(bad)


def _value_numbers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    blank = pc.fill_null(pc.equal(values, ""), True)
    token = pc.fill_null(pc.is_in(pc.utf8_lower(values), pa.array(MISSING_NUMBER_TOKENS)), False)
    present = _np_bool(pc.invert(pc.or_(blank, token)))
    try:
        parsed = pc.cast(pc.if_else(pa.array(present), values, pa.scalar(None, values.type)), pa.float64())
        nums = np.asarray(parsed.to_numpy(zero_copy_only=False), dtype=float)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        series = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([values])))
        nums = pd.to_numeric(series.where(present), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    nums = nums.copy()
    nums[~present] = np.nan
    bad = present & ~np.isfinite(nums)
    nums[bad] = np.nan
    return nums, bad


def _report_bad_numbers(
    bad: np.ndarray, values: _Text, lines: np.ndarray, column: str, errors: ErrorCollector
) -> None:
    for i in np.flatnonzero(bad):
        errors.add(RowError(int(lines[i]), column, "is not a number", str(values.value(int(i)))[:60]))


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


def _check_months(months: _Text, lines: np.ndarray, column: str, errors: ErrorCollector) -> None:
    values = pc.fill_null(months.values, "")
    ok_value = _np_bool(pc.match_substring_regex(values, MONTH_RE.pattern))
    for i in np.flatnonzero(~months.per_row(ok_value)):
        value = months.value(int(i)) or ""
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


def distance_to_area(area: shapely.Geometry, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Distance (metres, EPSG:27700) from ``area`` to each point, worked out once per distinct
    location: police.uk snaps incidents to shared map points, so a whole-force file's thousands
    of incidents outside a partnership sit on a few hundred locations."""
    xy = np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
    uniq, inverse = np.unique(xy, axis=0, return_inverse=True)
    dist: np.ndarray = shapely.distance(area, shapely.points(uniq[:, 0], uniq[:, 1]))
    return dist[inverse.ravel()]


def _check_area(
    incidents: pd.DataFrame,
    area: shapely.Geometry,
    max_outside_m: float,
    outside: OutsidePolicy,
    report: IngestReport,
    errors: ErrorCollector,
    many_files: bool,
    outside_districts: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> pd.DataFrame:
    """Count, keep, exclude or reject located incidents outside ``area`` (EPSG:27700).

    Refuses the whole input (:class:`InvalidInput`) when no located incident lies in the area.
    """
    has = incidents["has_location"].to_numpy()
    x = incidents["x"].to_numpy()
    y = incidents["y"].to_numpy()
    idx = np.flatnonzero(has)
    if not len(idx):
        return incidents
    # 30 m of slack: police.uk snap points on a boundary road may sit just over the line
    near = shapely.simplify(area, 10.0).buffer(30.0)
    shapely.prepare(near)
    out = np.zeros(len(incidents), dtype=bool)
    out[idx] = ~shapely.contains_xy(near, x[idx], y[idx])
    n_out = int(out.sum())
    if n_out == len(idx):
        dist = distance_to_area(area, x[idx], y[idx])
        raise InvalidInput(
            f"none of the {len(idx):,} located incidents lies inside the area (the nearest is "
            f"{float(dist.min()) / 1000:.1f} km outside it, "
            f"the median {float(np.median(dist)) / 1000:.1f} km): "
            "is the file for another area, or are the coordinates in the wrong columns? Nothing was stored"
        )
    if not n_out:
        return incidents
    dist = distance_to_area(area, x[out], y[out])
    far = np.zeros(len(incidents), dtype=bool)
    far[np.flatnonzero(out)[dist > max_outside_m]] = True
    if outside == "reject":
        if not far.any():
            return incidents
        lines = incidents["line"].to_numpy()[far]
        files = incidents["source_file"].to_numpy()[far]
        lon = incidents["longitude"].to_numpy()[far]
        lat = incidents["latitude"].to_numpy()[far]
        for j, d in enumerate(dist[dist > max_outside_m]):
            prefix = f"{files[j]}: " if many_files else ""
            errors.add(
                RowError(
                    int(lines[j]),
                    "Longitude/Latitude",
                    f"{prefix}location ({lon[j]:.6f}, {lat[j]:.6f}) is {d / 1000:.1f} km outside the area",
                )
            )
        return incidents
    summary: dict[str, Any] = {
        "rows": n_out,
        "share": round(n_out / len(idx), 4),
        "median_km": round(float(np.median(dist)) / 1000, 1),
        "max_km": round(float(dist.max()) / 1000, 1),
    }
    if outside_districts is not None:
        names = pd.Series(outside_districts(x[out], y[out]), dtype="object").fillna(
            "outside England and Wales"
        )
        summary["districts"] = {str(k): int(v) for k, v in names.value_counts().items()}
    if outside == "exclude":
        report.rows_excluded_outside = int(far.sum())
        if far.any():
            report.warnings.append(
                f"{int(far.sum())} row(s) more than {max_outside_m / 1000:g} km outside the boundaries "
                "were left out"
            )
        incidents = incidents.loc[~far]
        summary["rows"] = n_out - int(far.sum())
    report.rows_outside_area = int(summary["rows"])
    report.outside_area = summary
    if summary["rows"]:
        where = ""
        if "districts" in summary:
            top = list(summary["districts"].items())[:3]
            where = (
                " ("
                + ", ".join(f"{n:,} in {d}" for d, n in top)
                + (", ..." if len(summary["districts"]) > 3 else "")
                + ")"
            )
        report.warnings.append(
            f"{summary['rows']:,} located row(s) lie outside the area{where}, up to {summary['max_km']:g} km "
            "away: they are kept, flagged outside_area and left out of rates, shares and hit rates"
        )
    return incidents


def _fill_report(incidents: pd.DataFrame, report: IngestReport) -> None:
    report.rows_accepted = int(len(incidents))
    report.rows_without_location = int((~incidents["has_location"]).sum())
    report.months = sorted(incidents["month"].dropna().unique().tolist())
    counts = incidents["crime_type"].value_counts()
    counts = counts[counts > 0]  # a category column also lists categories no row has
    report.crime_types = {str(k): int(v) for k, v in counts.items()}
    times = incidents["occurred_at"].dropna()
    report.has_time_of_day = bool(len(times)) and bool((times.dt.normalize() != times).any())
    if report.rows_without_location:
        report.warnings.append(
            f"{report.rows_without_location} row(s) have no location (police.uk 'No location'); "
            "they are kept and counted, but cannot be mapped"
        )
