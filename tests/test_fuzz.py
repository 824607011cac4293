"""Property-based fuzz of the whole HTTP API from its OpenAPI schema (schemathesis).

Every operation in ``/openapi.json`` is called with schema-valid and schema-invalid
requests (query strings, path parameters, multipart uploads) as an admin, so every
route is reachable. No response may be a 5xx, nor may the app raise, and requests
the API rejected must leave storage as it was: afterwards the store holds the two
seeded datasets plus exactly what accepted (201) uploads added and accepted deletes
removed, and no stray files.

Hooks steer the generation where random data would not get far: the analysis routes
get real datasets that answer in well under a second (the small ``bd-2023-01`` sample,
or two months of the 147k-row default; random names only reach the 404 path, and the
whole default costs seconds per parameter set); uploads sometimes carry valid files,
so some are accepted; and about half the requests put one query parameter at a
boundary value read off the schema. Bounded and deterministic: ``derandomize=True``
and 40 examples per operation (plus schemathesis' coverage cases): about 1.5 minutes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.python import asgi as schemathesis_asgi

from hotspots.api.app import create_app
from hotspots.boundaries import shipped_boundary_sets
from hotspots.demo import SAMPLES, sample_source
from hotspots.settings import Settings

SMALL = SAMPLES[1].name  # bd-2023-01: one month, ~1.6k incidents
LARGE = SAMPLES[0].name  # tri-borough-2018-2020: 147k incidents, 35 months
WINDOW = {"dataset": LARGE, "from": "2020-11", "to": "2020-12"}
SEEDED = {f"{s.name}@1" for s in SAMPLES}
MAX_EXAMPLES = 40
REQUEST_TIMEOUT_S = 60  # generous: this fuzz is about 5xx, not speed


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, tiles="none", auth_required=False)


# The schema comes from an app that is never started (building one touches no disk); requests go to the
# started app of the `fuzz` fixture. (`schemathesis.pytest.from_fixture` would be the lazy way, but in
# schemathesis 4.32.5 it sets `Node._nodeid`, which pytest 9.2 no longer has.)
def _raw_schema() -> dict[str, Any]:
    raw = create_app(_settings(Path("unused"))).openapi()
    # The boundary parser dispatches on the file name's suffix; without one every upload stops at
    # "must be GeoJSON". Declare the name the fuzz sends, so its bytes reach the GeoJSON reader.
    form = raw["paths"]["/boundaries"]["post"]["requestBody"]["content"]["multipart/form-data"]
    disposition = 'form-data; name="file"; filename="wards.geojson"'
    form["encoding"] = {
        "file": {"headers": {"Content-Disposition": {"schema": {"type": "string"}, "example": disposition}}}
    }
    return raw


schema = schemathesis.openapi.from_dict(_raw_schema())


SAMPLE_LINES = sample_source(SAMPLES[1].filename).data.splitlines(keepends=True)
UPLOADED = "fuzz-upload"  # accepted uploads of the small sample's first rows
UPLOADED_MONTHS = "fuzz-months"  # the same rows with a generated YYYY-MM month


def _csv(month: str | None = None) -> bytes:
    """The first 40 incidents of the small sample, a police.uk file the upload accepts; with ``month``
    in place of their month."""
    rows = SAMPLE_LINES[1:41]
    if month is not None:
        rows = [r.replace(b"2023-01", month.encode(), 1) for r in rows]
    return b"".join([SAMPLE_LINES[0], *rows])


def _valid_geojson() -> bytes:
    """Four shipped wards as GeoJSON: a boundary file the upload accepts."""
    wards = shipped_boundary_sets()["wards-2018"].wards.head(4).copy()
    wards["geometry"] = wards.geometry.simplify(10)
    return wards.to_crs(4326).to_json().encode()


VALID_CSV = _csv()
VALID_GEOJSON = _valid_geojson()


def _has_param(operation: Any, name: str) -> bool:
    return any(p.name == name for p in operation.iter_parameters())


def _is_analysis(operation: Any) -> bool:
    return _has_param(operation, "eps_m")


# Month parameters (free text or a pattern) and values around and outside the range they accept.
MONTH_PARAMS = {"from", "to", "a_from", "a_to", "b_from", "b_to", "test_month"}
EDGE_MONTHS = (
    "0000-01",
    "0001-01",
    "1899-12",
    "1900-01",
    "2099-12",
    "2100-01",
    "9999-12",
    "\u0662\u0660\u0662\u0663-01",
)


def _number_edges(schema: dict[str, Any]) -> list[float]:
    """The bounds of a numeric parameter schema, and the nearest doubles inside exclusive ones."""
    for alt in schema.get("anyOf", [schema]):
        if alt.get("type") in ("number", "integer"):
            edges = [alt[k] for k in ("minimum", "maximum") if k in alt]
            if "exclusiveMinimum" in alt:
                edges.append(math.nextafter(alt["exclusiveMinimum"], math.inf))
            if "exclusiveMaximum" in alt:
                edges.append(math.nextafter(alt["exclusiveMaximum"], -math.inf))
            return edges
    return []


def _edges(operation: Any) -> list[dict[str, Any]]:
    """One query parameter at a boundary value: a fuzzing dictionary read off the schema."""
    out: list[dict[str, Any]] = []
    for p in operation.iter_parameters():
        if p.location.value != "query":
            continue
        if p.name in MONTH_PARAMS:
            out += [{p.name: m} for m in EDGE_MONTHS]
        out += [{p.name: v} for v in _number_edges(p.definition.get("schema", {}))]
    return out


def _merge(query: dict[str, Any], dataset: dict[str, Any], edge: dict[str, Any]) -> dict[str, Any]:
    # Boundary months on the large dataset make /compare take minutes (the report grows with the months
    # times the hotspots found with period A's parameters): keep the edges to the small data.
    return {**query, **dataset, **({} if dataset.get("dataset") == LARGE else edge)}


@schema.hook
def flatmap_query(ctx: Any, query: Any) -> Any:
    """Analysis routes: ``dataset`` is the small sample (alone, pinned, or combined with itself), two
    months of the large one (so /evaluate and /compare get past "not enough months"), a dataset the
    upload fuzz stored, or the generated value (usually an unknown name: the 404 path). Any route: in
    about half the cases one query parameter is set to a boundary value of its schema."""
    if ctx.operation is None or not isinstance(query, dict):
        return st.just(query)
    edges = _edges(ctx.operation)
    edge: st.SearchStrategy[dict[str, Any]] = (
        st.one_of(st.just({}), st.sampled_from(edges)) if edges else st.just({})
    )
    if not _is_analysis(ctx.operation):
        return edge.map(lambda extra: {**query, **extra})
    choices: list[dict[str, Any]] = [
        {"dataset": SMALL},
        {"dataset": f"{SMALL}@1"},
        {"dataset": f"{SMALL}, {SMALL}@1"},
        {"dataset": f"{SMALL},{UPLOADED}"},
        {"dataset": UPLOADED_MONTHS},
        WINDOW,
    ]
    if _has_param(ctx.operation, "a_from"):
        choices.append(
            {**WINDOW, "a_from": "2020-11", "a_to": "2020-11", "b_from": "2020-12", "b_to": "2020-12"}
        )
    if "dataset" in query:
        choices.append({})
    return st.tuples(st.sampled_from(choices), edge).map(lambda pair: _merge(query, *pair))


# Generated form fields that would get a valid file rejected before it is read.
NOISY_FIELDS = ("mapping", "source_type", "retention_until", "valid_from", "valid_to", "area")


@schema.hook
def flatmap_body(ctx: Any, body: Any) -> Any:
    """Uploads: besides the generated form, send valid files (with the other fields generated, or the
    noisiest left out) so that some uploads are accepted, and existing names so that rejected uploads
    are tried against them. One in a few dataset uploads carries a generated month."""
    operation = ctx.operation
    if operation is None or operation.method.upper() != "POST" or not isinstance(body, dict):
        return st.just(body)
    quiet = {k: v for k, v in body.items() if k not in NOISY_FIELDS}
    if operation.path == "/datasets":
        months = st.from_regex(r"\d{4}-(0[1-9]|1[0-2])", fullmatch=True) | st.text(max_size=8)
        return st.one_of(
            st.just(body),
            st.just({**body, "name": SMALL}),  # generated files: rejected, so bd-2023-01 must stay as it was
            st.just({**body, "files": [VALID_CSV]}),
            st.just({**quiet, "files": [VALID_CSV], "name": UPLOADED}),
            st.just({**quiet, "files": [VALID_CSV, VALID_CSV], "name": UPLOADED, "format": "police-uk"}),
            months.map(lambda m: {**quiet, "files": [_csv(m)], "name": UPLOADED_MONTHS}),
        )
    if operation.path == "/boundaries":
        return st.sampled_from(
            [
                body,
                {**body, "file": VALID_GEOJSON},
                {**quiet, "file": VALID_GEOJSON, "name": "wards-2018"},  # a shipped set: 409
                {**quiet, "file": VALID_GEOJSON, "name": "fuzz-wards"},
            ]
        )
    return st.just(body)


@schema.hook
def filter_path_parameters(ctx: Any, path_parameters: Any) -> bool:
    """DELETE may hit anything but the seeded samples, which the other operations need."""
    if (
        ctx.operation is None
        or ctx.operation.method.upper() != "DELETE"
        or not isinstance(path_parameters, dict)
    ):
        return True
    ref = path_parameters.get("ref")
    return not (isinstance(ref, str) and ref.partition("@")[0].strip() in {s.name for s in SAMPLES})


@dataclass
class Ledger:
    """What accepted requests changed: datasets and boundary sets created (as their 201 bodies
    described them), dataset versions deleted, and each uploaded name's latest sharing record."""

    created: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    sharing: dict[str, dict[str, Any]] = field(default_factory=dict)
    boundaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)


@dataclass
class Fuzz:
    app: FastAPI
    headers: dict[str, str]
    data_dir: Path
    ledger: Ledger
    datasets_before: list[dict[str, Any]]
    boundaries_before: list[dict[str, Any]]


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "var"
    app = create_app(_settings(data_dir))
    # Entering schemathesis' own ASGI client runs the app's lifespan start-up (seeding the samples) once;
    # schemathesis keeps the app up for every request it sends it, until the shutdown at teardown.
    with schemathesis_asgi.get_client(cast(Any, app)):
        pass
    _, secret = app.state.service.security.create_key("fuzz", "admin")
    headers = {"X-API-Key": secret}
    client = TestClient(app, headers=headers)  # no `with`: the app is up already
    datasets, boundaries = client.get("/datasets").json(), client.get("/boundaries").json()
    assert {d["ref"] for d in datasets} == SEEDED
    yield Fuzz(app, headers, data_dir, Ledger(), datasets, boundaries)
    schemathesis_asgi.shutdown_lifespans()


def _describe(case: Any) -> str:
    body = "" if case.body is None or case.body is NOT_SET else f" body={case.body!r}"
    return f"{case.method.upper()} {case.formatted_path} query={case.query!r}{body}"[:4000]


def _record(ledger: Ledger, case: Any, response: Any) -> None:
    method, path, status = case.method.upper(), case.operation.path, response.status_code
    ledger.statuses[(f"{method} {path}", status)] += 1
    if method == "POST" and path == "/datasets" and status == 201:
        body = response.json()
        body.pop("links")
        ledger.created[body["ref"]] = body
        ledger.sharing[body["dataset"]] = body["sharing"]
    elif method == "POST" and path == "/boundaries" and status == 201:
        ledger.boundaries[response.json()["name"]] = response.json()
    elif method == "DELETE" and path == "/datasets/{ref}" and status == 200:
        ledger.deleted.update(response.json()["deleted"])


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_no_server_errors(case: Any, fuzz: Fuzz) -> None:
    # Cases of schemathesis' coverage phase skip the hooks: keep them off the large default dataset too.
    if _is_analysis(case.operation) and isinstance(case.query, dict) and "dataset" not in case.query:
        case.query["dataset"] = SMALL
    try:
        response = case.call(app=fuzz.app, headers=fuzz.headers, timeout=REQUEST_TIMEOUT_S)
    except Exception as exc:  # the app raised: behind a server this is a 500
        raise AssertionError(f"{type(exc).__name__}: {exc} for {_describe(case)}") from exc
    assert response.status_code < 500, f"{response.status_code} for {_describe(case)}: {response.text[:2000]}"
    _record(fuzz.ledger, case, response)
    case.validate_response(response, checks=[not_a_server_error], headers=fuzz.headers)


def _comparable(entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Entries with ``created_at`` as an instant: a 201 body has it with +00:00, while a listing read back
    from SQLite has it without an offset (both UTC)."""

    def instant(text: str) -> datetime:
        t = datetime.fromisoformat(text)
        return t if t.tzinfo else t.replace(tzinfo=UTC)

    return {ref: {**e, "created_at": instant(e["created_at"])} for ref, e in entries.items()}


def test_rejected_requests_left_storage_unchanged(fuzz: Fuzz) -> None:
    """After the fuzz the store lists exactly the seeded datasets as they were, plus what accepted uploads
    reported, minus accepted deletes; likewise the boundary sets; and it holds no other files."""
    ledger = fuzz.ledger
    fuzzed = {op for op, _ in ledger.statuses}
    if "POST /datasets" in fuzzed:
        assert ledger.created, "no dataset upload was accepted: the check below would prove little"
    if "POST /boundaries" in fuzzed:
        assert ledger.boundaries, "no boundary upload was accepted: the check below would prove little"
    client = TestClient(fuzz.app, headers=fuzz.headers)
    expected = {d["ref"]: d for d in fuzz.datasets_before} | ledger.created
    for ref in ledger.deleted:
        expected.pop(ref, None)
    expected = {  # sharing records are per name: the latest accepted upload's applies to every version
        ref: {**e, "sharing": ledger.sharing.get(e["dataset"], e["sharing"])} for ref, e in expected.items()
    }
    listed = {d["ref"]: d for d in client.get("/datasets").json()}
    assert sorted(listed) == sorted(expected)
    assert _comparable(listed) == _comparable(expected)
    boundaries = {b["name"]: b for b in client.get("/boundaries").json()}
    assert boundaries == {b["name"]: b for b in fuzz.boundaries_before} | ledger.boundaries

    dataset_files = [p for p in (fuzz.data_dir / "datasets").rglob("*") if p.is_file()]
    # each version's file is v{version}-{unique token}.parquet
    refs = [f"{p.parent.name}@{p.stem.removeprefix('v').split('-', 1)[0]}" for p in dataset_files]
    assert sorted(refs) == sorted(listed)
    boundary_files = [p for p in (fuzz.data_dir / "boundaries").rglob("*") if p.is_file()]
    assert sorted(p.stem for p in boundary_files) == sorted(ledger.boundaries)
