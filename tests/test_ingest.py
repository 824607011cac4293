"""Incident ingest: the shipped police.uk samples read correctly, and hostile files are rejected
with the line number and column a person needs to fix them.

Most hostile files are the real Barking and Dagenham police.uk sample with one row edited.
Data row ``k`` (1-based) is physical line ``k + 1`` because the header is line 1.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from hotspots.boundaries import BoundarySet
from hotspots.errors import InvalidInput, PayloadTooLarge, RowError
from hotspots.geo.inputs.ingest import (
    INCIDENT_COLUMNS,
    ColumnMapping,
    IngestResult,
    Source,
    read_incidents,
)

HEADER = [
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
]
SNAKE = [
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
LON, LAT, LOCATION, MONTH, CRIME_TYPE = 4, 5, 6, 1, 9
# From hotspots/PROVENANCE.md.
CRIME_TYPES = {
    "Violence and sexual offences": 561,
    "Anti-social behaviour": 306,
    "Vehicle crime": 256,
    "Other theft": 191,
    "Shoplifting": 126,
    "Drugs": 123,
    "Burglary": 119,
    "Criminal damage and arson": 99,
    "Public order": 73,
    "Robbery": 70,
    "Theft from the person": 31,
    "Other crime": 22,
    "Possession of weapons": 16,
    "Bicycle theft": 9,
}
N_ROWS = 2002
MANCHESTER = ("-2.24", "53.48")  # (lon, lat)


# --------------------------------------------------------------------------- helpers and fixtures


@pytest.fixture(scope="module")
def sample_bytes(bd_source: Source) -> bytes:
    return bd_source.data


@pytest.fixture(scope="module")
def sample_rows(sample_bytes: bytes) -> list[list[str]]:
    """The data rows of the police.uk sample (header excluded); copy before editing."""
    rows = list(csv.reader(io.StringIO(sample_bytes.decode("utf-8"))))
    assert rows[0] == HEADER
    return rows[1:]


@pytest.fixture(scope="module")
def sample_result(sample_bytes: bytes) -> IngestResult:
    return read_incidents([Source("bd.csv", sample_bytes)])


@pytest.fixture
def rows(sample_rows: list[list[str]]) -> list[list[str]]:
    return [list(r) for r in sample_rows]


def to_csv(rows: list[list[str]], header: list[str] | None = None) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER if header is None else header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def text_lines(rows: list[list[str]], header: list[str] | None = None) -> list[str]:
    """The file as a list of physical lines (no quoting needed in the sample), for raw edits."""
    return to_csv(rows, header).decode("utf-8").split("\n")


def read(data: bytes, name: str = "upload.csv", **kwargs: object) -> IngestResult:
    return read_incidents([Source(name, data)], **kwargs)  # type: ignore[arg-type]


def rejected(data: bytes, name: str = "upload.csv", **kwargs: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        read(data, name, **kwargs)
    return info.value


def single_error(err: InvalidInput) -> RowError:
    assert err.total_errors == 1, str(err)
    assert len(err.errors) == 1, str(err)
    return err.errors[0]


def assert_names(err: InvalidInput, error: RowError, line: int, column: str | None) -> None:
    """The structured error and the printed text both point at the line (and column)."""
    assert error.line == line, str(err)
    assert error.column == column, str(err)
    text = str(err)
    assert f"line {line}" in text
    if column is not None:
        assert f"column '{column}'" in text


def set_cell(rows: list[list[str]], data_row: int, col: int, value: str) -> None:
    rows[data_row - 1][col] = value


# --------------------------------------------------------------------------- the real samples


def test_csv_helpers_reproduce_the_sample_byte_for_byte(
    sample_bytes: bytes, sample_rows: list[list[str]]
) -> None:
    # Every hostile file below is built with these helpers, so they must not alter the sample.
    assert to_csv(sample_rows) == sample_bytes
    assert len(sample_rows) == N_ROWS


def test_police_uk_sample_reads_every_row_with_documented_crime_types(sample_result: IngestResult) -> None:
    report = sample_result.report
    assert report.format == "police-uk"
    assert report.files == ["bd.csv"]
    assert report.rows_read == N_ROWS
    assert report.rows_accepted == N_ROWS
    assert report.rows_without_location == 0
    assert report.rows_excluded_outside == 0
    assert report.months == ["2023-01"]
    assert report.crime_types == CRIME_TYPES
    assert len(report.crime_types) == 14
    assert sum(report.crime_types.values()) == N_ROWS
    assert report.has_time_of_day is False
    assert report.warnings == []
    assert report.as_dict()["crime_types"] == CRIME_TYPES


def test_police_uk_sample_columns_and_values(
    sample_result: IngestResult, sample_rows: list[list[str]]
) -> None:
    df = sample_result.incidents
    assert list(df.columns) == INCIDENT_COLUMNS
    assert list(df.columns[:12]) == SNAKE
    assert len(df) == N_ROWS
    assert df["line"].tolist() == list(range(2, N_ROWS + 2))
    assert (df["source_file"] == "bd.csv").all()
    assert df["has_location"].all()
    assert (df["month"] == "2023-01").all()
    assert df["occurred_at"].isna().all()
    # Anti-social behaviour has no Crime ID in police.uk files; everything else has a 64-hex id.
    asb = df["crime_type"] == "Anti-social behaviour"
    assert df.loc[asb, "crime_id"].isna().all()
    assert df.loc[~asb, "crime_id"].str.fullmatch(r"[0-9a-f]{64}").all()
    # Text is kept as written; numbers parsed exactly.
    first = sample_rows[0]
    assert df.loc[0, "location"] == first[LOCATION] == "On or near Beansland Grove"
    assert df.loc[0, "lsoa_code"] == first[7]
    assert df.loc[0, "longitude"] == float(first[LON])
    assert df.loc[0, "latitude"] == float(first[LAT])
    # Cells are stripped of surrounding spaces (row 47 is "On or near " in the file).
    assert sample_rows[46][LOCATION] == "On or near "
    assert df.loc[46, "location"] == "On or near"
    assert df["location"].tolist() == [r[LOCATION].strip() for r in sample_rows]
    assert df["crime_type"].tolist() == [r[CRIME_TYPE] for r in sample_rows]


def test_police_uk_sample_british_national_grid_matches_pyproj(sample_result: IngestResult) -> None:
    df = sample_result.incidents
    # One known point, computed independently: 0.140127 E, 51.588913 N (Beansland Grove, Chadwell Heath).
    to_bng = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    x0, y0 = to_bng.transform(0.140127, 51.588913)
    assert df.loc[0, "x"] == pytest.approx(x0, abs=0.01)
    assert df.loc[0, "y"] == pytest.approx(y0, abs=0.01)
    assert (round(x0), round(y0)) == (548356, 189954)
    # A seeded random sample of rows, all against pyproj.
    rng = np.random.default_rng(20230101)
    idx = rng.choice(len(df), size=50, replace=False)
    xs, ys = to_bng.transform(df["longitude"].to_numpy()[idx], df["latitude"].to_numpy()[idx])
    np.testing.assert_allclose(df["x"].to_numpy()[idx], xs, atol=0.01)
    np.testing.assert_allclose(df["y"].to_numpy()[idx], ys, atol=0.01)
    # Barking and Dagenham lies roughly within these BNG bounds (metres).
    assert df["x"].between(540_000, 556_000).all()
    assert df["y"].between(180_000, 192_000).all()


def test_police_uk_sample_lies_within_the_shipped_boundaries(
    sample_bytes: bytes, boundary_sets: dict[str, BoundarySet]
) -> None:
    result = read(sample_bytes, area=boundary_sets["wards-2018"].outline, max_outside_m=5000)
    assert result.report.rows_accepted == N_ROWS
    assert result.report.rows_excluded_outside == 0


def test_explicit_police_uk_format_gives_the_same_result(
    sample_bytes: bytes, sample_result: IngestResult
) -> None:
    result = read(sample_bytes, name="bd.csv", fmt="police-uk")
    pd.testing.assert_frame_equal(result.incidents, sample_result.incidents)


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda b: b"\xef\xbb\xbf" + b, id="utf8-bom"),
        pytest.param(lambda b: b.replace(b"\n", b"\r\n"), id="crlf"),
        pytest.param(lambda b: b.rstrip(b"\n"), id="no-final-newline"),
        pytest.param(lambda b: b + b"\n\n", id="trailing-blank-lines"),
    ],
)
def test_harmless_variants_of_the_sample_read_identically(
    transform, sample_bytes: bytes, sample_result: IngestResult
) -> None:
    result = read(transform(sample_bytes), name="bd.csv")
    assert result.report.rows_read == N_ROWS
    pd.testing.assert_frame_equal(result.incidents, sample_result.incidents)


def test_api_points_file_auto_detected_as_generic(points_source: Source) -> None:
    result = read_incidents([points_source])
    report = result.report
    df = result.incidents
    assert report.format == "generic"
    assert report.rows_read == report.rows_accepted == len(df) == 147_131
    assert report.months[0] == "2018-02" and report.months[-1] == "2020-12"
    assert len(report.months) == 35
    assert df["has_location"].all()
    assert df["crime_type"].notna().all() and "All incidents" not in report.crime_types
    assert len(report.crime_types) >= 10
    assert list(df.columns) == INCIDENT_COLUMNS
    assert len(report.warnings) == 2
    assert "not the 12-column police.uk layout" in report.warnings[0]
    unused = report.warnings[1]
    assert unused.startswith(f"{points_source.name}: column(s) not used:")
    for col in [
        "category_slug",
        "borough_name",
        "borough_code",
        "ward2018_code",
        "ward2018_name",
        "in_tri_borough",
    ]:
        assert col in unused
    for col in ["Month", "Longitude", "Latitude", "Crime type"]:
        assert col not in unused.split(":", 2)[-1].split(", ")


def test_generic_xy_in_bng_with_day_first_dates() -> None:
    data = (
        b"ref,easting,northing,date,type,Notes\n"
        b"1,548356.03,189954.01,05/01/2023 14:30,Burglary,x\n"
        b"2,548069.97,189772.02,31/01/2023 09:00,Drugs,y\n"
        b"3,548069.97,189772.02,2023-01-12,Drugs,z\n"
    )
    mapping = ColumnMapping(x="easting", y="northing", date="date", category="type", id="ref")
    result = read(data, mapping=mapping)
    df = result.incidents
    assert result.report.format == "generic"
    assert df["month"].tolist() == ["2023-01"] * 3
    # Day first: 05/01 is the 5th of January, not the 1st of May.
    assert df["occurred_at"].tolist() == [
        pd.Timestamp("2023-01-05 14:30"),
        pd.Timestamp("2023-01-31 09:00"),
        pd.Timestamp("2023-01-12"),
    ]
    assert result.report.has_time_of_day is True
    assert result.report.crime_types == {"Drugs": 2, "Burglary": 1}
    assert df["crime_id"].tolist() == ["1", "2", "3"]
    np.testing.assert_allclose(df["x"], [548356.03, 548069.97, 548069.97], atol=0.005)
    np.testing.assert_allclose(df["y"], [189954.01, 189772.02, 189772.02], atol=0.005)
    # Back to WGS84: the first point is the sample's Beansland Grove point.
    assert df.loc[0, "longitude"] == pytest.approx(0.140127, abs=1e-6)
    assert df.loc[0, "latitude"] == pytest.approx(51.588913, abs=1e-6)
    assert any("not used: Notes" in w for w in result.report.warnings)


def test_generic_dates_without_time_of_day() -> None:
    data = b"E,N,when\n548356,189954,2023-01-05\n548069,189772,06/02/2023\n"
    result = read(data, mapping=ColumnMapping(x="E", y="N", date="when"))
    assert result.report.has_time_of_day is False
    assert result.report.months == ["2023-01", "2023-02"]
    assert result.report.crime_types == {"All incidents": 2}


def test_generic_bad_date_names_line_and_column() -> None:
    data = b"E,N,when\n548356,189954,2023-01-05\n548069,189772,someday\n548069,189772,\n"
    err = rejected(data, mapping=ColumnMapping(x="E", y="N", date="when"))
    assert err.total_errors == 2
    bad, empty = err.errors
    assert_names(err, bad, 3, "when")
    assert bad.value == "someday" and "not a date" in bad.message
    assert_names(err, empty, 4, "when")
    assert "empty" in empty.message


def test_generic_xy_outside_the_uk_is_rejected() -> None:
    # Longitude/latitude mapped as x/y by mistake, a huge number and a point in the Atlantic.
    data = (
        b"E,N,month\n548356,189954,2023-01\n0.14,51.58,2023-01\n"
        b"1e20,189954,2023-01\n-5000000,189954,2023-01\n"
    )
    err = rejected(data, mapping=ColumnMapping(x="E", y="N", month="month"))
    assert [e.line for e in err.errors] == [3, 4, 5]
    for e in err.errors:
        assert e.column == "E/N"
        assert "outside the United Kingdom" in e.message


def test_mapping_naming_a_missing_column_is_a_clear_error(sample_bytes: bytes) -> None:
    mapping = ColumnMapping(longitude="Longitude", latitude="Lat", month="Month", category="Category")
    err = rejected(sample_bytes, mapping=mapping)
    e = single_error(err)
    assert_names(err, e, 1, None)
    assert "Lat, Category" in e.message
    assert "the file has: Crime ID, Month" in e.message
    assert "does not have" in err.message


def test_mapping_matches_column_names_loosely(sample_bytes: bytes) -> None:
    mapping = ColumnMapping(longitude="longitude", latitude="LATITUDE", month="month", category="crime type")
    result = read(sample_bytes, mapping=mapping)
    assert result.report.format == "generic"
    assert result.report.crime_types == CRIME_TYPES


@pytest.mark.parametrize(
    "mapping, message",
    [
        (ColumnMapping(longitude="Longitude", latitude="Latitude"), "month or a date"),
        (ColumnMapping(longitude="Longitude", month="Month"), "either longitude and latitude, or x and y"),
        (
            ColumnMapping(longitude="Longitude", latitude="Latitude", x="a", y="b", month="Month"),
            "either longitude and latitude, or x and y",
        ),
    ],
)
def test_incomplete_mapping_is_rejected(sample_bytes: bytes, mapping: ColumnMapping, message: str) -> None:
    assert message in rejected(sample_bytes, mapping=mapping).message


def test_generic_without_mapping_is_rejected(sample_bytes: bytes) -> None:
    assert "needs a column mapping" in rejected(sample_bytes, fmt="generic").message


def test_multiple_files_concatenate(sample_bytes: bytes, rows: list[list[str]]) -> None:
    second = to_csv(rows[:10])
    result = read_incidents([Source("a.csv", sample_bytes), Source("b.csv", second)])
    df = result.incidents
    assert result.report.files == ["a.csv", "b.csv"]
    assert result.report.format == "police-uk"
    assert result.report.rows_read == result.report.rows_accepted == N_ROWS + 10
    assert len(df) == N_ROWS + 10
    assert df.index.tolist() == list(range(N_ROWS + 10))
    assert (df["source_file"] == "a.csv").sum() == N_ROWS
    tail = df[df["source_file"] == "b.csv"]
    assert tail["line"].tolist() == list(range(2, 12))
    assert tail["location"].tolist() == [r[LOCATION] for r in rows[:10]]


def test_police_uk_and_generic_files_together_are_mixed(sample_bytes: bytes) -> None:
    generic = b"Month,Longitude,Latitude\n2023-02,0.14,51.58\n"
    result = read_incidents([Source("a.csv", sample_bytes), Source("b.csv", generic)])
    assert result.report.format == "mixed"
    assert result.report.months == ["2023-01", "2023-02"]
    assert result.report.crime_types["All incidents"] == 1
    assert any(w.startswith("b.csv: not the 12-column police.uk layout") for w in result.report.warnings)


def test_errors_in_several_files_are_all_collected(rows: list[list[str]]) -> None:
    bad = [list(r) for r in rows]
    set_cell(bad, 3, LON, "oops")
    with pytest.raises(InvalidInput) as info:
        read_incidents([Source("a.csv", to_csv(bad)), Source("b.csv", to_csv(bad))])
    err = info.value
    assert err.total_errors == 2
    assert "a.csv, b.csv" in err.message and "nothing was stored" in err.message


def test_no_input_files() -> None:
    with pytest.raises(InvalidInput, match="no input files"):
        read_incidents([])


def test_source_from_path(tmp_path, sample_bytes: bytes) -> None:
    import gzip

    plain = tmp_path / "bd.csv"
    plain.write_bytes(sample_bytes)
    packed = tmp_path / "bd.csv.gz"
    packed.write_bytes(gzip.compress(sample_bytes))
    assert Source.from_path(plain).data == sample_bytes
    assert Source.from_path(packed) == Source("bd.csv.gz", sample_bytes)
    with pytest.raises(PayloadTooLarge, match="above the limit"):
        Source.from_path(plain, max_bytes=100)
    with pytest.raises(InvalidInput, match="no such file"):
        Source.from_path(tmp_path / "missing.csv")


# ---------------------------------------------------------------- rows without location, hostile text


def test_no_location_rows_are_kept_and_counted(rows: list[list[str]]) -> None:
    for k in (4, 100, N_ROWS):
        set_cell(rows, k, LON, "")
        set_cell(rows, k, LAT, "")
        set_cell(rows, k, LOCATION, "No location")
    result = read(to_csv(rows))
    df = result.incidents
    assert result.report.rows_read == result.report.rows_accepted == N_ROWS
    assert result.report.rows_without_location == 3
    missing = df[~df["has_location"]]
    assert missing["line"].tolist() == [5, 101, N_ROWS + 1]
    assert (missing["location"] == "No location").all()
    assert missing[["longitude", "latitude", "x", "y"]].isna().all().all()
    assert df.loc[df["has_location"], ["x", "y"]].notna().all().all()
    assert any("3 row(s) have no location" in w for w in result.report.warnings)
    # They still count towards the crime types.
    assert sum(result.report.crime_types.values()) == N_ROWS


def test_no_location_rows_are_not_rejected_by_the_area_check(
    rows: list[list[str]], boundary_sets: dict[str, BoundarySet]
) -> None:
    set_cell(rows, 7, LON, "")
    set_cell(rows, 7, LAT, "")
    result = read(to_csv(rows), area=boundary_sets["wards-2018"].outline)
    assert result.report.rows_without_location == 1
    assert result.report.rows_excluded_outside == 0


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        '=HYPERLINK("http://x")',
        "On or near 'Quoted', Road; DROP TABLE incidents;--",
        "Ünïcödé street \u2603",
    ],
)
def test_hostile_text_is_kept_verbatim(rows: list[list[str]], text: str) -> None:
    set_cell(rows, 12, LOCATION, text)
    result = read(to_csv(rows))
    df = result.incidents
    assert df.loc[df["line"] == 13, "location"].tolist() == [text]
    assert result.report.rows_accepted == N_ROWS


# --------------------------------------------------------------------------- header problems


def drop_column(rows: list[list[str]], name: str) -> bytes:
    i = HEADER.index(name)
    return to_csv([r[:i] + r[i + 1 :] for r in rows], HEADER[:i] + HEADER[i + 1 :])


def test_police_uk_missing_column(rows: list[list[str]]) -> None:
    err = rejected(drop_column(rows, "Crime ID"), fmt="police-uk")
    e = single_error(err)
    assert_names(err, e, 1, None)
    assert e.message == "missing column(s): Crime ID"
    assert "not the police.uk street-level layout" in err.message


def test_police_uk_missing_several_columns(rows: list[list[str]]) -> None:
    keep = [0, 1, 4, 5, 9]
    data = to_csv([[r[i] for i in keep] for r in rows], [HEADER[i] for i in keep])
    e = single_error(rejected(data, fmt="police-uk"))
    assert e.line == 1
    for name in [
        "Reported by",
        "Falls within",
        "Location",
        "LSOA code",
        "LSOA name",
        "Last outcome category",
    ]:
        assert name in e.message


@pytest.mark.parametrize("missing", ["Longitude", "Latitude", "Month"])
def test_auto_format_missing_essential_column(rows: list[list[str]], missing: str) -> None:
    err = rejected(drop_column(rows, missing))
    e = single_error(err)
    assert_names(err, e, 1, None)
    assert missing in e.message and "missing column(s)" in e.message
    assert "not a police.uk street-level header" in err.message


def test_auto_format_falls_back_to_generic_when_an_optional_column_is_missing(rows: list[list[str]]) -> None:
    # Documented behaviour: with Month, Longitude and Latitude present, auto reads the file as
    # generic and says so; it does not reject it.
    result = read(drop_column(rows, "Crime ID"))
    assert result.report.format == "generic"
    assert result.report.crime_types == CRIME_TYPES
    assert any("not the 12-column police.uk layout" in w for w in result.report.warnings)
    assert result.incidents["crime_id"].isna().all()


@pytest.mark.parametrize("fmt", ["auto", "police-uk"])
def test_police_uk_unknown_column(rows: list[list[str]], fmt: str) -> None:
    data = to_csv([[*r, "note"] for r in rows], [*HEADER, "Notes"])
    err = rejected(data, fmt=fmt)
    e = single_error(err)
    assert_names(err, e, 1, None)
    assert e.message.startswith("unknown column(s): Notes;")
    assert "exactly these columns: Crime ID, Month" in e.message


def test_police_uk_renamed_column_is_both_missing_and_unknown(rows: list[list[str]]) -> None:
    header = [("Place" if h == "Location" else h) for h in HEADER]
    err = rejected(to_csv(rows, header), fmt="police-uk")
    assert err.total_errors == 2
    assert [e.line for e in err.errors] == [1, 1]
    assert err.errors[0].message == "missing column(s): Location"
    assert err.errors[1].message.startswith("unknown column(s): Place;")


@pytest.mark.parametrize(
    "header, named",
    [
        ([*HEADER[:11], "Month"], "Month"),
        ([*HEADER[:11], "month"], "Month, month"),
        ([*HEADER[:11], "Crime  ID"], "Crime  ID, Crime ID"),
    ],
)
def test_duplicate_header_names(rows: list[list[str]], header: list[str], named: str) -> None:
    for fmt in ("auto", "police-uk"):
        err = rejected(to_csv(rows, header), fmt=fmt)
        assert "line 1" in err.message
        assert f"more than once: {named}" in err.message


def test_blank_header_line(sample_bytes: bytes) -> None:
    err = rejected(b"\n" + sample_bytes)
    assert "line 1" in err.message and "header" in err.message


# --------------------------------------------------------------------------- empty and oversized files


@pytest.mark.parametrize("data", [b"", b"   ", b"\n\n\n", b" \t\r\n  \n", b"\xef\xbb\xbf"], ids=repr)
def test_empty_files(data: bytes) -> None:
    err = rejected(data, name="empty.csv")
    assert err.message == "empty.csv: the file is empty"
    assert not isinstance(err, PayloadTooLarge)


@pytest.mark.parametrize("ending", ["", "\n", "\r\n", "\n\n  \n"])
def test_header_only_file(ending: str) -> None:
    err = rejected((",".join(HEADER) + ending).encode(), name="h.csv")
    assert err.message == "h.csv: the file has a header but no data rows"


def test_file_above_max_bytes(sample_bytes: bytes) -> None:
    with pytest.raises(PayloadTooLarge) as info:
        read(sample_bytes, name="big.csv", max_bytes=len(sample_bytes) - 1)
    assert isinstance(info.value, InvalidInput)
    assert info.value.message.startswith("big.csv: file is 0.5 MiB, above the limit of")
    # Exactly at the limit is fine.
    assert read(sample_bytes, max_bytes=len(sample_bytes)).report.rows_read == N_ROWS


def test_size_limit_applies_to_each_file(sample_bytes: bytes) -> None:
    small = b"Month,Longitude,Latitude\n2023-02,0.14,51.58\n"
    with pytest.raises(PayloadTooLarge, match="big.csv"):
        read_incidents([Source("small.csv", small), Source("big.csv", sample_bytes)], max_bytes=1000)


# --------------------------------------------------------------------------- row problems


def test_non_numeric_longitude(rows: list[list[str]]) -> None:
    set_cell(rows, 7, LON, "0.14x")
    err = rejected(to_csv(rows), name="bd.csv")
    e = single_error(err)
    assert_names(err, e, 8, "Longitude")
    assert e.message == "is not a number"
    assert err.message == "bd.csv: 1 problem(s) found; nothing was stored"


@pytest.mark.parametrize("value", ["abc", "inf", "-inf", "1,5", "0.1.2", "--0.1", "51.5N"])
def test_non_numeric_latitude_values(rows: list[list[str]], value: str) -> None:
    set_cell(rows, 30, LAT, value)
    e = single_error(rejected(to_csv(rows)))
    assert (e.line, e.column, e.message) == (31, "Latitude", "is not a number")


@pytest.mark.parametrize("marker", ["NA", "N/A", "nan", "NULL"])
def test_missing_value_markers_count_as_empty_coordinates(rows: list[list[str]], marker: str) -> None:
    # pyarrow's null markers (as written by R, pandas, Excel) mean "no value", like an empty cell.
    set_cell(rows, 30, LON, marker)
    set_cell(rows, 30, LAT, marker)
    result = read(to_csv(rows))
    assert result.report.rows_without_location == 1
    assert result.incidents.loc[~result.incidents["has_location"], "line"].tolist() == [31]
    set_cell(rows, 30, LON, "0.1")
    e = single_error(rejected(to_csv(rows)))
    assert (e.line, e.column) == (31, "Latitude")


def test_numbers_with_surrounding_spaces_are_accepted(rows: list[list[str]]) -> None:
    set_cell(rows, 5, LON, "  0.140127 ")
    df = read(to_csv(rows)).incidents
    assert df.loc[4, "longitude"] == 0.140127


def test_latitude_out_of_range(rows: list[list[str]]) -> None:
    set_cell(rows, 9, LAT, "95")
    err = rejected(to_csv(rows))
    e = single_error(err)
    assert_names(err, e, 10, "Latitude")
    assert e.message == "is outside -90 to 90 degrees"
    assert e.value == "95"


def test_longitude_out_of_range(rows: list[list[str]]) -> None:
    set_cell(rows, 9, LON, "-200.5")
    err = rejected(to_csv(rows))
    e = single_error(err)
    assert_names(err, e, 10, "Longitude")
    assert e.message == "is outside -180 to 180 degrees"
    assert e.value == "-200.5"


def test_lat_lon_swapped_on_one_row(rows: list[list[str]]) -> None:
    r = rows[49]
    r[LON], r[LAT] = r[LAT], r[LON]
    err = rejected(to_csv(rows))
    e = single_error(err)
    assert_names(err, e, 51, "Longitude/Latitude")
    assert "swapped" in e.message
    assert f"Longitude={float(r[LON]):g}, Latitude={float(r[LAT]):g}" in e.message


def test_lat_lon_swapped_on_the_whole_file(rows: list[list[str]]) -> None:
    swapped = [[*r[:LON], r[LAT], r[LON], *r[LAT + 1 :]] for r in rows]
    err = rejected(to_csv(swapped), max_errors=N_ROWS)
    assert err.total_errors == N_ROWS
    assert [e.line for e in err.errors] == list(range(2, N_ROWS + 2))
    assert all("swapped" in e.message for e in err.errors)
    assert "swapped" in str(err)


@pytest.mark.parametrize("lon, lat", [("0", "0"), ("2.35", "48.85"), ("-74.0", "40.7"), ("10", "65")])
def test_location_outside_the_uk(rows: list[list[str]], lon: str, lat: str) -> None:
    set_cell(rows, 20, LON, lon)
    set_cell(rows, 20, LAT, lat)
    err = rejected(to_csv(rows))
    e = single_error(err)
    assert_names(err, e, 21, "Longitude/Latitude")
    assert "outside the United Kingdom" in e.message
    assert f"Longitude={float(lon):g}, Latitude={float(lat):g}" in e.message


@pytest.mark.parametrize("empty, given", [(LON, "Latitude"), (LAT, "Longitude")])
def test_one_coordinate_empty(rows: list[list[str]], empty: int, given: str) -> None:
    set_cell(rows, 15, empty, "")
    err = rejected(to_csv(rows))
    e = single_error(err)
    assert_names(err, e, 16, HEADER[empty])
    assert e.message == f"is empty but {given} is given"


@pytest.mark.parametrize(
    "value, message",
    [
        ("2023-13", "is not a month in the form YYYY-MM"),
        ("2023-00", "is not a month in the form YYYY-MM"),
        ("Jan 2023", "is not a month in the form YYYY-MM"),
        ("2023-1", "is not a month in the form YYYY-MM"),
        ("2023-01-15", "is not a month in the form YYYY-MM"),
        ("", "is empty"),
    ],
)
def test_bad_month(rows: list[list[str]], value: str, message: str) -> None:
    set_cell(rows, 40, MONTH, value)
    err = rejected(to_csv(rows))
    e = single_error(err)
    assert_names(err, e, 41, "Month")
    assert e.message == message
    assert e.value == (value or None)


def test_empty_crime_type(rows: list[list[str]]) -> None:
    set_cell(rows, 3, CRIME_TYPE, "")
    err = rejected(to_csv(rows))
    e = single_error(err)
    assert_names(err, e, 4, "Crime type")
    assert "crime type is empty" in e.message


def test_latin1_byte_names_line_and_column(rows: list[list[str]]) -> None:
    set_cell(rows, 10, LOCATION, "On or near Caf\u00e9 Road")
    data = to_csv(rows).decode("utf-8").encode("latin-1")
    err = rejected(data, name="latin.csv")
    e = single_error(err)
    assert_names(err, e, 11, "Location")
    assert "byte 0xe9" in e.message and "not valid UTF-8" in e.message
    assert "save the file as UTF-8" in e.message
    assert err.message == "latin.csv: the file is not UTF-8 text"


def test_latin1_byte_column_counts_quoted_commas(rows: list[list[str]]) -> None:
    set_cell(rows, 10, LOCATION, "On or near High Road, Chadwell Heath")
    set_cell(rows, 10, 8, "Barking and Dagenham 0\u00e901A")
    data = to_csv(rows).decode("utf-8").encode("latin-1")
    e = single_error(rejected(data))
    assert (e.line, e.column) == (11, "LSOA name")


def test_non_utf8_in_header(sample_bytes: bytes) -> None:
    data = sample_bytes.replace(b"Location", b"Locati\xf3n", 1)
    e = single_error(rejected(data))
    assert (e.line, e.column) == (1, None)


@pytest.mark.parametrize(
    "edit, found",
    [
        (lambda line: line.replace("On or near", "On or near Flat 1,", 1), 13),
        (lambda line: line + ",", 13),
        (lambda line: line.rsplit(",", 1)[0], 11),
    ],
    ids=["unquoted-comma", "trailing-comma", "missing-field"],
)
def test_wrong_number_of_fields(rows: list[list[str]], edit, found: int) -> None:
    lines = text_lines(rows)
    lines[15] = edit(lines[15])  # data row 15, line 16
    err = rejected("\n".join(lines).encode())
    e = single_error(err)
    assert_names(err, e, 16, None)
    assert e.message.startswith(f"expected 12 fields (as in the header) but found {found}")
    assert "unquoted commas" in e.message


def test_wrong_number_of_fields_on_several_rows(rows: list[list[str]]) -> None:
    lines = text_lines(rows)
    for k in (1, 500, N_ROWS):
        lines[k] += ",extra"
    err = rejected("\n".join(lines).encode())
    assert [e.line for e in err.errors] == [2, 501, N_ROWS + 1]


def test_embedded_newline_keeps_later_line_numbers_right(rows: list[list[str]]) -> None:
    set_cell(rows, 3, LOCATION, "On or near\nGibbfield Close")  # quoted over lines 4-5
    set_cell(rows, 20, LON, "east")  # data row 20 is now physical line 22
    set_cell(rows, 21, LAT, "95")
    err = rejected(to_csv(rows))
    assert [(e.line, e.column) for e in err.errors] == [(22, "Longitude"), (23, "Latitude")]


def test_embedded_newline_file_is_read_with_physical_line_numbers(rows: list[list[str]]) -> None:
    set_cell(rows, 3, LOCATION, "On or near\r\nGibbfield Close")
    df = read(to_csv(rows)).incidents
    assert len(df) == N_ROWS
    assert df.loc[2, "location"] == "On or near\nGibbfield Close"
    assert df["line"].tolist()[:5] == [2, 3, 4, 6, 7]
    assert df["line"].iloc[-1] == N_ROWS + 2


def test_embedded_newline_then_unquoted_comma(rows: list[list[str]]) -> None:
    set_cell(rows, 3, LOCATION, "On or near\nGibbfield Close")
    lines = text_lines(rows)
    lines[30] += ",oops"  # data row 29 (the quoted newline shifts it one line down): line 31
    e = single_error(rejected("\n".join(lines).encode()))
    assert e.line == 31
    assert "found 13" in e.message


def test_blank_and_whitespace_lines_are_ignored_and_do_not_shift_line_numbers(rows: list[list[str]]) -> None:
    lines = text_lines(rows)
    lines.insert(5, "")  # line 6
    lines.insert(9, "   ")  # line 10
    result = read("\n".join(lines).encode())
    assert result.report.rows_read == N_ROWS
    assert result.incidents["line"].tolist()[:10] == [2, 3, 4, 5, 7, 8, 9, 11, 12, 13]
    # And an error after them points at the right physical line.
    bad = lines[:]
    bad[20] = bad[20].replace(",51.", ",x51.", 1)
    err = rejected("\n".join(bad).encode())
    assert [(e.line, e.column) for e in err.errors] == [(21, "Latitude")]


def test_row_of_empty_fields_after_an_embedded_newline(rows: list[list[str]]) -> None:
    set_cell(rows, 3, LOCATION, "On or near\nGibbfield Close")
    rows.insert(7, [""] * 12)  # data row 8 -> physical line 10
    err = rejected(to_csv(rows))
    assert [(e.line, e.column) for e in err.errors] == [(10, "Month"), (10, "Crime type")]


def test_several_different_errors_are_all_reported_in_line_order(rows: list[list[str]]) -> None:
    rng = np.random.default_rng(7)
    picked = sorted(int(k) for k in rng.choice(np.arange(1, N_ROWS + 1), size=6, replace=False))
    for k in picked:
        set_cell(rows, k, LON, "?")
    err = rejected(to_csv(rows))
    assert err.total_errors == 6
    assert sorted(e.line for e in err.errors) == [k + 1 for k in picked]
    assert {e.column for e in err.errors} == {"Longitude"}


def test_many_errors_are_truncated_but_all_counted(rows: list[list[str]]) -> None:
    for r in rows:
        r[LON] = "x"
    err = rejected(to_csv(rows), max_errors=5)
    assert len(err.errors) == 5
    assert err.total_errors == N_ROWS
    assert [e.line for e in err.errors] == [2, 3, 4, 5, 6]
    text = str(err)
    assert f"{N_ROWS} problem(s) found" in text
    assert f"... and {N_ROWS - 5} more" in text
    assert text.count("\n") == 6


def test_many_empty_crime_types_are_truncated_but_all_counted(rows: list[list[str]]) -> None:
    for r in rows[:150]:
        r[CRIME_TYPE] = ""
    err = rejected(to_csv(rows), max_errors=100)
    assert len(err.errors) == 100
    assert err.total_errors == 150
    assert err.errors[-1].line == 101


# --------------------------------------------------------------------------- the area check


def to_lonlat(x: float, y: float) -> tuple[str, str]:
    lon, lat = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True).transform(x, y)
    return f"{lon:.6f}", f"{lat:.6f}"


@pytest.fixture(scope="module")
def outline(boundary_sets: dict[str, BoundarySet]) -> shapely.Geometry:
    return boundary_sets["wards-2018"].outline


def test_point_far_outside_is_rejected_with_its_line(
    rows: list[list[str]], outline: shapely.Geometry
) -> None:
    set_cell(rows, 25, LON, MANCHESTER[0])
    set_cell(rows, 25, LAT, MANCHESTER[1])
    err = rejected(to_csv(rows), area=outline, max_outside_m=5000, outside="reject")
    e = single_error(err)
    assert_names(err, e, 26, "Longitude/Latitude")
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True).transform(-2.24, 53.48)
    km = outline.distance(shapely.Point(x, y)) / 1000
    assert 200 < km < 300
    assert f"is {km:.1f} km outside the area" in e.message
    assert "(-2.240000, 53.480000)" in e.message
    assert "1 incident(s) lie more than 5 km outside the boundaries" in err.message
    assert "outside=exclude" in err.message and "outside=keep" in err.message


def test_rows_outside_the_area_are_kept_and_counted_by_default(
    rows: list[list[str]], outline: shapely.Geometry
) -> None:
    # A whole-force file: rows far outside the area are normal input, flagged later by the join.
    set_cell(rows, 25, LON, MANCHESTER[0])
    set_cell(rows, 25, LAT, MANCHESTER[1])
    coords = shapely.get_coordinates(outline)
    x_max, y_at = coords[coords[:, 0].argmax()]
    lon, lat = to_lonlat(x_max + 3000, y_at)
    set_cell(rows, 30, LON, lon)
    set_cell(rows, 30, LAT, lat)
    result = read(
        to_csv(rows),
        area=outline,
        outside_districts=lambda x, y: np.where(x > 450_000, "Thurrock", "Manchester"),
    )
    report = result.report
    assert report.rows_accepted == len(result.incidents) == N_ROWS
    assert report.rows_outside_area == 2
    assert report.outside_area["rows"] == 2
    assert report.outside_area["districts"] == {"Thurrock": 1, "Manchester": 1}
    assert 200 < report.outside_area["max_km"] < 300
    assert any("2 located row(s) lie outside the area" in w for w in report.warnings)
    assert report.as_dict()["rows_outside_area"] == 2


def test_point_far_outside_is_excluded_on_request(rows: list[list[str]], outline: shapely.Geometry) -> None:
    set_cell(rows, 25, LON, MANCHESTER[0])
    set_cell(rows, 25, LAT, MANCHESTER[1])
    result = read(to_csv(rows), area=outline, max_outside_m=5000, outside="exclude")
    report = result.report
    assert report.rows_read == N_ROWS
    assert report.rows_excluded_outside == 1
    assert report.rows_accepted == len(result.incidents) == N_ROWS - 1
    assert 26 not in set(result.incidents["line"])
    assert result.incidents.index.tolist() == list(range(N_ROWS - 1))
    assert sum(report.crime_types.values()) == N_ROWS - 1
    assert any("1 row(s) more than 5 km outside the boundaries were left out" in w for w in report.warnings)


def test_outside_tolerance_on_both_sides(rows: list[list[str]], outline: shapely.Geometry) -> None:
    # East of the easternmost vertex by d metres: the distance to the outline is at most d, and
    # (every vertex being further west) at least d.
    coords = shapely.get_coordinates(outline)
    x_max, y_at = coords[coords[:, 0].argmax()]
    near = to_lonlat(x_max + 2000, y_at)
    far = to_lonlat(x_max + 8000, y_at)
    set_cell(rows, 60, LON, near[0])
    set_cell(rows, 60, LAT, near[1])
    strict = {"outside": "reject", "area": outline}
    assert read(to_csv(rows), max_outside_m=5000, **strict).report.rows_accepted == N_ROWS
    set_cell(rows, 61, LON, far[0])
    set_cell(rows, 61, LAT, far[1])
    err = rejected(to_csv(rows), max_outside_m=5000, **strict)
    e = single_error(err)
    assert e.line == 62
    assert re.search(r"is 8\.0 km outside the area", e.message), e.message
    # A looser limit accepts it.
    assert read(to_csv(rows), max_outside_m=10_000, **strict).report.rows_accepted == N_ROWS


def test_whole_file_far_away(rows: list[list[str]], outline: shapely.Geometry) -> None:
    for r in rows:
        r[LON], r[LAT] = MANCHESTER
    for outside in ("keep", "exclude", "reject"):
        err = rejected(to_csv(rows), area=outline, max_outside_m=5000, outside=outside)
        assert err.message.startswith(f"none of the {N_ROWS:,} located incidents lies inside the area")
        assert "wrong columns" in err.message and "another area" in err.message


def test_whole_file_far_away_with_some_no_location_rows(
    rows: list[list[str]], outline: shapely.Geometry
) -> None:
    for r in rows:
        r[LON], r[LAT] = MANCHESTER
    rows[0][LON] = rows[0][LAT] = ""
    err = rejected(to_csv(rows), area=outline, max_outside_m=5000)
    assert err.message.startswith(f"none of the {N_ROWS - 1:,} located incidents lies inside the area")


def test_whole_file_far_away_is_excluded_entirely(rows: list[list[str]], outline: shapely.Geometry) -> None:
    for r in rows[:-1]:
        r[LON], r[LAT] = MANCHESTER
    result = read(to_csv(rows), area=outline, outside="exclude")
    assert result.report.rows_outside_area == 0
    assert result.report.rows_excluded_outside == N_ROWS - 1
    assert result.incidents["line"].tolist() == [N_ROWS + 1]


def test_outside_errors_name_the_file_when_there_are_several(
    sample_bytes: bytes, rows: list[list[str]], outline: shapely.Geometry
) -> None:
    set_cell(rows, 2, LON, MANCHESTER[0])
    set_cell(rows, 2, LAT, MANCHESTER[1])
    with pytest.raises(InvalidInput) as info:
        read_incidents(
            [Source("good.csv", sample_bytes), Source("moved.csv", to_csv(rows))],
            area=outline,
            outside="reject",
        )
    e = single_error(info.value)
    assert e.line == 3
    assert e.message.startswith("moved.csv: location")


def test_distance_to_area_per_location_equals_per_incident(points: pd.DataFrame) -> None:
    """The outside-area distances are worked out per distinct location: the same numbers as per
    incident, on the shipped sample's 28k incidents outside the tri-borough (962 locations)."""
    from hotspots.demo import demo_area
    from hotspots.geo.inputs.ingest import distance_to_area

    outline = demo_area().outline
    located = points[points["has_location"]]
    x, y = located["x"].to_numpy(), located["y"].to_numpy()
    far = ~shapely.contains_xy(outline.buffer(30.0), x, y)
    assert far.sum() > 10_000 and len(np.unique(x[far] + 1j * y[far])) < 2_000
    expected = shapely.distance(outline, shapely.points(x[far], y[far]))
    assert np.array_equal(distance_to_area(outline, x[far], y[far]), expected)
    assert len(distance_to_area(outline, x[:0], y[:0])) == 0
