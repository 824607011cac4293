"""Shared fixtures: the shipped sample data, boundary sets and planted clusters."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from hotspots.boundaries import BoundarySet, shipped_boundary_sets
from hotspots.demo import SAMPLES, sample_source
from hotspots.geo.inputs.ingest import Source, read_incidents

POINTS_FILE = SAMPLES[0].filename
BD_FILE = SAMPLES[1].filename


@pytest.fixture(scope="session")
def boundary_sets() -> dict[str, BoundarySet]:
    return shipped_boundary_sets()


@pytest.fixture(scope="session")
def points_source() -> Source:
    return sample_source(POINTS_FILE)


@pytest.fixture(scope="session")
def bd_source() -> Source:
    return sample_source(BD_FILE)


@pytest.fixture(scope="session")
def points_raw(points_source: Source) -> pd.DataFrame:
    """The 147k police.uk API points exactly as shipped, with their precomputed ward codes."""
    import io

    return pd.read_csv(io.BytesIO(points_source.data))


@pytest.fixture(scope="session")
def points(points_source: Source) -> pd.DataFrame:
    """The 147k points ingested (auto-detected generic layout)."""
    return read_incidents([points_source]).incidents


@pytest.fixture(scope="session")
def bd(bd_source: Source) -> pd.DataFrame:
    return read_incidents([bd_source]).incidents


@pytest.fixture
def tmp_data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL template of a PostgreSQL server started for the test session (skipped if not installed)."""
    import os

    from tests.pg import pg_bin, postgres_server

    if pg_bin() is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("CI=true but PostgreSQL is not installed: .ci/run should install postgresql")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql); PostgreSQL tests skipped")
    import shutil
    import tempfile

    # Not under pytest's tmp dir: its parents are private to root and the server runs as 'postgres'.
    base = Path(tempfile.mkdtemp(prefix="hotspots-pg-"))
    try:
        with postgres_server(base) as template:
            yield template
    finally:
        shutil.rmtree(base, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each schemathesis operation test its own node id (``test_no_server_errors[GET /app]``).

    schemathesis 4.32.5 names its items by operation but, under pytest 9.2, every one gets the node
    id of the bare function. pytest-xdist schedules by node id, so without this it would run one
    operation and silently drop the others.
    """
    for item in items:
        label = getattr(item, "operation_label", None)
        if label and isinstance(item, pytest.Function) and "[" not in item.nodeid:
            item._id = item.parent.id.child(item.originalname).with_params(label)  # type: ignore[union-attr]
    repeated = sorted(nodeid for nodeid, n in Counter(i.nodeid for i in items).items() if n > 1)
    if repeated:
        raise pytest.UsageError(f"tests share a node id, and pytest-xdist would drop all but one: {repeated}")
