"""Shared fixtures: the shipped sample data, boundary sets and planted clusters."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from hotspots.boundaries import BoundarySet, shipped_boundary_sets
from hotspots.geo.ingest import Source, read_incidents
from hotspots.service import SAMPLES, sample_source

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
