"""Hostile file shapes: huge headers, huge fields, long lines, NUL bytes, gzip bombs."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hotspots.api.app import create_app
from hotspots.cli import app as cli
from hotspots.errors import InvalidInput, PayloadTooLarge
from hotspots.geo.inputs.ingest import MAX_COLUMNS, MAX_FIELD_CHARS, MAX_LINE_CHARS, Source, read_incidents
from hotspots.settings import Settings

HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,"
    "Crime type,Last outcome category,Context"
)


def _row(location: str = "On or near High Street", crime_id: str = "abc") -> str:
    return (
        f"{crime_id},2024-01,Metropolitan Police Service,Metropolitan Police Service,0.1,51.56,"
        f"{location},E01000001,Test 001A,Burglary,Under investigation,"
    )


def _file(*rows: str, newline: str = "\n") -> bytes:
    return (newline.join([HEADER, *rows]) + newline).encode()


def _error(data: bytes) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        read_incidents([Source("f.csv", data)])
    return info.value


def test_a_million_column_header_is_refused_at_once() -> None:
    data = (",".join(f"c{i}" for i in range(1_000_000)) + "\n1\n").encode()
    t0 = time.monotonic()
    err = _error(data)
    assert time.monotonic() - t0 < 2
    assert err.errors[0].line == 1 and "header" in err.message


def test_too_many_columns_and_duplicates_are_found_quickly() -> None:
    wide = ",".join(f"c{i}" for i in range(MAX_COLUMNS + 1))
    err = _error(f"{wide}\n{'1,' * MAX_COLUMNS}1\n".encode())
    assert f"at most {MAX_COLUMNS}" in err.message
    dup = ",".join(["a", "b", "A"] + [f"c{i}" for i in range(150)])
    err = _error(f"{dup}\n1\n".encode())
    assert "more than once" in err.message and "A" in err.message


def test_a_single_50_mb_line_is_refused_without_parsing() -> None:
    t0 = time.monotonic()
    err = _error(b"x" * (50 * 2**20))
    assert time.monotonic() - t0 < 2 and err.errors[0].line == 1


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["fast-path", "text-path"])
def test_a_field_over_the_limit_is_a_row_error_with_line_and_column(newline: str) -> None:
    big = "x" * (MAX_FIELD_CHARS + 1)
    err = _error(_file(_row(), _row(location=big), newline=newline))
    assert [(e.line, e.column) for e in err.errors] == [(3, "Location")]
    assert f"{MAX_FIELD_CHARS:,}" in err.errors[0].message
    # at the limit exactly it is a value like any other
    ok = read_incidents([Source("f.csv", _file(_row(location="y" * MAX_FIELD_CHARS), newline=newline))])
    assert ok.incidents["location"].iloc[0] == "y" * MAX_FIELD_CHARS


def test_a_quoted_multi_line_field_over_the_limit_is_a_row_error() -> None:
    big = '"' + ("x" * 1000 + "\n") * 200 + '"'
    err = _error(_file(_row(), _row(location=big)))
    assert err.errors[0].line == 3 and err.errors[0].column == "Location"


def test_a_line_over_the_line_limit_names_line_and_column() -> None:
    big = "x" * (MAX_LINE_CHARS + 10)
    err = _error(_file(_row(), _row(), _row(location=big)))
    assert (err.errors[0].line, err.errors[0].column) == (4, "Location")
    commas = "," * (MAX_LINE_CHARS + 10)
    err = _error(_file(_row(), commas))
    assert err.errors[0].line == 3 and "fields" in err.errors[0].message


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["fast-path", "text-path"])
def test_nul_bytes_in_text_are_refused_with_line_and_column(newline: str) -> None:
    err = _error(_file(_row(), _row(location="On or\x00near"), _row(crime_id="a\x00b"), newline=newline))
    assert sorted((e.line, e.column) for e in err.errors) == [(3, "Location"), (4, "Crime ID")]
    assert "NUL" in err.errors[0].message


def test_a_gzip_bomb_is_refused_on_what_it_expands_to(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.csv.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        fh.write(_file(_row()))
        block = b"x" * 2**20
        for _ in range(64):
            fh.write(block)
    assert bomb.stat().st_size < 2**20
    with pytest.raises(PayloadTooLarge, match="expands"):
        Source.from_path(bomb, max_bytes=8 * 2**20)
    assert len(Source.from_path(bomb).data) > 64 * 2**20  # no limit given: read in full
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(InvalidInput, match="gzip"):
        Source.from_path(broken, max_bytes=2**20)


def test_cli_reports_a_huge_field_and_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSPOTS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HOTSPOTS_SEED_SAMPLE_DATA", "false")
    src = tmp_path / "big-field.csv"
    src.write_bytes(_file(_row(), _row(location="x" * (MAX_FIELD_CHARS + 1))))
    for args in (["analyse", str(src), "--out", str(tmp_path / "out")], ["ingest", str(src), "--name", "b"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert "line 3" in result.output and "Location" in result.output
        assert "Traceback" not in result.output
    monkeypatch.setenv("HOTSPOTS_MAX_FILE_MB", "1")
    bomb = tmp_path / "bomb.csv.gz"
    with gzip.open(bomb, "wb") as fh:
        fh.write(_file(_row()) + b"x" * (2 * 2**20))
    result = CliRunner().invoke(cli, ["analyse", str(bomb), "--out", str(tmp_path / "out2")])
    assert result.exit_code == 2 and "expands" in result.output, result.output


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "var", tiles="none", seed_sample_data=False)
    with TestClient(create_app(settings)) as c:
        _, secret = c.app.state.service.security.create_key("tests-admin", "admin")  # type: ignore[attr-defined]
        c.headers.update({"X-API-Key": secret})
        yield c


def test_api_answers_hostile_shapes_with_422(client: TestClient) -> None:
    cases = {
        "field": _file(_row(), _row(location="x" * (MAX_FIELD_CHARS + 1))),
        "nul": _file(_row(location="a\x00b")),
        "columns": (",".join(f"c{i}" for i in range(100_000)) + "\n").encode(),
    }
    for name, data in cases.items():
        r = client.post("/datasets", data={"name": name}, files={"files": (f"{name}.csv", data)})
        assert r.status_code == 422, (name, r.status_code, r.text[:300])
        assert r.json()["errors"][0]["line"] in (1, 2, 3)
    assert client.get("/datasets").json() == []
