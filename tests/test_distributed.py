"""The distributed path (Dask) gives the single-machine results: join, counts, DBSCAN labels, hotspots.

One local cluster (two worker processes, loopback only) serves the whole module. DBSCAN tiles
are made small (1 km, or 2 x eps) so that planted clusters are cut by tile borders.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hotspots.boundaries import BoundarySet
from hotspots.cli import app
from hotspots.errors import InvalidInput
from hotspots.geo.analysis import AnalysisParams, AnalysisResult, analyse
from hotspots.geo.clusters.dbscan import weighted_dbscan
from hotspots.geo.clusters.locations import Locations
from hotspots.geo.inputs.ingest import Source, read_incidents
from hotspots.geo.inputs.join import join_wards
from hotspots.geo.outputs.export import hotspots_csv
from hotspots.geo.scale.distributed import (
    ROW,
    aggregate,
    analyse_distributed,
    dask_client,
    join_partitioned,
    read_partitioned,
    tile_dbscan,
    write_partitioned,
)
from tests.planting import planted_incidents, to_csv_source

TILE_M = 1000.0
EPS_M = 100.0
MIN_SAMPLES = 20
CORNER = (547000.0, 186000.0)  # a tile corner (multiples of TILE_M) inside Barking and Dagenham
CHAIN_Y = 188500.0  # a line of locations from x = 549100 to 551900: three tiles
NEAR_CORE, FAR_CORE, BORDER = (552930.0, 187500.0), (553110.0, 187500.0), (553015.0, 187500.0)


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    with dask_client(n_workers=2) as c:
        yield c


def planted_frame(seed: int = 7) -> pd.DataFrame:
    """police.uk rows (WGS84, 6 decimals) with three planted structures cut by 1 km tile borders.

    * a dense cluster centred on the tile corner :data:`CORNER`, snapped to a 10 m grid;
    * a chain of locations 60 m apart along y = :data:`CHAIN_Y`, 12 incidents each, over 3 tiles;
    * two small clusters 180 m apart with a one-incident location (:data:`BORDER`) within eps of
      a core location of each (85 m and 95 m away): the nearer core is across a tile border;
    * 400 background incidents over the three boroughs; months spread over 2024-01..2024-04.
    """
    rng = np.random.default_rng(seed)
    corner = np.round(rng.normal(CORNER, 40.0, (600, 2)) / 10.0) * 10.0
    chain_x = np.repeat(np.arange(549100.0, 551900.0 + 1, 60.0), 12)
    chain = np.column_stack([chain_x, np.full(len(chain_x), CHAIN_Y)])
    near = [(NEAR_CORE[0] - 45.0 * k, NEAR_CORE[1]) for k in range(3)]
    far = [(FAR_CORE[0] + 45.0 * k, FAR_CORE[1]) for k in range(3)]
    pair = np.repeat(np.array(near + far), 8, axis=0)
    points = np.concatenate([corner, chain, pair, [BORDER]])
    from hotspots.boundaries import shipped_boundary_sets

    area = shipped_boundary_sets()["wards-2018"].outline
    frame, _ = planted_incidents(
        [(float(x), float(y)) for x, y in points],
        per_cluster=1,
        spread_m=0.0,
        background=400,
        area=area,
        seed=seed,
    )
    frame["Month"] = rng.choice(["2024-01", "2024-02", "2024-03", "2024-04"], len(frame))
    return frame


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    return read_incidents([to_csv_source(planted_frame())]).incidents


@pytest.fixture(scope="module")
def planted_dir(planted: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("planted")
    paths = write_partitioned(planted, directory, rows_per_file=150)
    assert len(paths) >= 8  # several files a month: partitions are not months
    return directory


def assert_same_hotspots(ours: gpd.GeoDataFrame, ref: gpd.GeoDataFrame) -> None:
    pd.testing.assert_frame_equal(
        pd.DataFrame(ours.drop(columns="geometry")), pd.DataFrame(ref.drop(columns="geometry"))
    )
    assert all(a.equals_exact(b, 0.0) for a, b in zip(ours.geometry, ref.geometry, strict=True))


def hotspot_of_rows(single: AnalysisResult) -> pd.Series:
    """Hotspot id (1-based) of each incident of a single-machine result in a hotspot, by row."""
    ids = single.incidents["hotspot_id"]
    return ids[ids > 0].astype(np.int64).rename("hotspot_id")


def nearest_row(incidents: pd.DataFrame, point: tuple[float, float]) -> int:
    d2 = (incidents["x"] - point[0]) ** 2 + (incidents["y"] - point[1]) ** 2
    return int(d2.to_numpy().argmin())


def test_planted_clusters_cut_by_tiles_give_the_single_machine_hotspots(
    client: object, planted: pd.DataFrame, planted_dir: Path, boundary_sets: dict[str, BoundarySet]
) -> None:
    params = AnalysisParams(eps_m=EPS_M, min_samples=MIN_SAMPLES)
    single = analyse(planted, boundary_sets, params, statistics=False)
    ours = analyse_distributed(
        client,  # type: ignore[arg-type]
        read_partitioned(planted_dir),
        boundary_sets,
        params,
        tile_m=TILE_M,
        statistics=False,
    )
    # the planted structures are there and really are cut by tile borders
    ids = single.incidents["hotspot_id"].to_numpy()
    x, y = single.incidents["x"].to_numpy(), single.incidents["y"].to_numpy()
    corner = ids[nearest_row(single.incidents, CORNER)]
    chain = ids[nearest_row(single.incidents, (550500.0, CHAIN_Y))]
    near = ids[nearest_row(single.incidents, NEAR_CORE)]
    far = ids[nearest_row(single.incidents, FAR_CORE)]
    border = ids[nearest_row(single.incidents, BORDER)]
    assert min(corner, chain, near, far) > 0 and len({corner, chain, near, far}) == 4
    tiles = pd.Series(list(zip(np.floor(x / TILE_M), np.floor(y / TILE_M), strict=True)))
    assert tiles[ids == corner].nunique() == 4
    assert tiles[ids == chain].nunique() >= 3
    assert border == near  # the nearer core, in the next tile, wins the border location
    assert np.floor(BORDER[0] / TILE_M) != np.floor(NEAR_CORE[0] / TILE_M)
    # ... and the distributed path gives exactly the same hotspots, members and noise
    assert_same_hotspots(ours.hotspots, single.hotspots)
    members = ours.members.set_index(ROW)["hotspot_id"].astype(np.int64)
    pd.testing.assert_series_equal(
        members, hotspot_of_rows(single), check_names=False, check_index_type=False
    )
    pd.testing.assert_frame_equal(pd.DataFrame(ours.wards), pd.DataFrame(single.wards))
    pd.testing.assert_frame_equal(pd.DataFrame(ours.boroughs), pd.DataFrame(single.boroughs))
    assert {k: single.meta[k] for k in ours.meta if k in single.meta} == {
        k: v for k, v in ours.meta.items() if k in single.meta
    }


@pytest.mark.parametrize("seed", range(4))
def test_tile_dbscan_labels_equal_weighted_dbscan(client: object, seed: int) -> None:
    """Random snapped data over many small tiles (2 x eps): labels per incident equal."""
    rng = np.random.default_rng(seed)
    eps = float(rng.choice([50.0, 80.0, 100.0]))
    centres = rng.uniform(0, 3000, (12, 2))
    sites = np.round(centres[rng.integers(0, 12, 900)] + rng.normal(0, 70, (900, 2)), 1)
    sites = np.concatenate([sites, np.round(rng.uniform(0, 3000, (300, 2)), 1)])
    pick = rng.integers(0, len(sites), 6000)
    x, y = sites[pick, 0] + 540000.0, sites[pick, 1] + 180000.0
    min_samples = int(rng.integers(8, 40))
    expected = weighted_dbscan(x, y, eps, min_samples)
    locs = Locations.from_xy(x, y)
    labels = tile_dbscan(
        client,  # type: ignore[arg-type]
        locs.x,
        locs.y,
        locs.counts.astype(float),
        eps,
        min_samples,
        tile_m=2 * eps,
    )
    assert len(np.unique(expected)) > 3  # clusters and noise, not a trivial case
    assert np.array_equal(labels[locs.inverse], expected)


def test_sample_slice_gives_the_single_machine_analysis(
    client: object, points: pd.DataFrame, boundary_sets: dict[str, BoundarySet], tmp_path: Path
) -> None:
    """Shipped police.uk points, six months stored; four selected, default min_samples, Gi* on wards."""
    months = points["month"].astype(str)
    data = points[(months >= "2019-01") & (months <= "2019-06")].reset_index(drop=True)
    write_partitioned(data, tmp_path, rows_per_file=10_000)
    params = AnalysisParams(
        month_from="2019-02", month_to="2019-05", crime_types=("Vehicle crime", "Burglary")
    )
    single = analyse(data, boundary_sets, params)
    ours = analyse_distributed(
        client,  # type: ignore[arg-type]
        read_partitioned(tmp_path),
        boundary_sets,
        params,
        tile_m=2000.0,
    )
    assert len(single.hotspots) >= 5
    assert_same_hotspots(ours.hotspots.drop(columns="hot_share"), single.hotspots.drop(columns="hot_share"))
    pd.testing.assert_frame_equal(pd.DataFrame(ours.wards), pd.DataFrame(single.wards))
    pd.testing.assert_frame_equal(pd.DataFrame(ours.boroughs), pd.DataFrame(single.boroughs))
    assert ours.params == single.params
    common = [k for k in ours.meta if k in single.meta]
    assert len(common) > 20
    assert {k: ours.meta[k] for k in common} == {k: single.meta[k] for k in common}


def test_partitioned_join_and_counts_equal_the_single_machine_join(
    client: object, planted: pd.DataFrame, planted_dir: Path, boundary_sets: dict[str, BoundarySet]
) -> None:
    sets = list(boundary_sets.values())
    joined = join_partitioned(read_partitioned(planted_dir), sets)
    ours = joined.compute().sort_values(ROW, ignore_index=True)
    reference = pd.concat([planted, join_wards(planted, sets)], axis=1)
    pd.testing.assert_frame_equal(ours[reference.columns], reference)
    agg = aggregate(joined)
    located = reference[reference["has_location"]]
    inside = located[~located["outside_area"]]
    assert (agg.incidents, agg.located, agg.inside) == (len(reference), len(located), len(inside))
    pd.testing.assert_series_equal(
        agg.ward_counts, inside.groupby(["boundary_set", "ward_code"]).size(), check_index_type=False
    )
    pd.testing.assert_series_equal(
        agg.ward_month_counts,
        inside.groupby(["boundary_set", "ward_code", "month"]).size(),
        check_index_type=False,
    )
    locs = Locations.from_xy(located["x"].to_numpy(), located["y"].to_numpy())
    assert np.array_equal(agg.locations["x"], locs.x) and np.array_equal(agg.locations["y"], locs.y)
    assert np.array_equal(agg.locations["count"], locs.counts)


def test_unsupported_parameters_are_refused(
    client: object, planted_dir: Path, boundary_sets: dict[str, BoundarySet]
) -> None:
    with pytest.raises(InvalidInput, match="incident counts only"):
        analyse_distributed(
            client,  # type: ignore[arg-type]
            read_partitioned(planted_dir),
            boundary_sets,
            AnalysisParams(weight="harm"),
        )
    with pytest.raises(InvalidInput, match="unknown crime type"):
        analyse_distributed(
            client,  # type: ignore[arg-type]
            read_partitioned(planted_dir),
            boundary_sets,
            AnalysisParams(crime_types=("Piracy",)),
        )


def test_cli_validates_csvs_on_the_cluster_and_writes_the_single_machine_hotspots(
    client: object,
    tmp_path: Path,
    boundary_sets: dict[str, BoundarySet],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = planted_frame(seed=11)
    files = []
    for name, part in (("a.csv", frame.iloc[:900]), ("b.csv", frame.iloc[900:])):
        files.append(tmp_path / name)
        files[-1].write_bytes(to_csv_source(part).data)
    monkeypatch.setenv("HOTSPOTS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HOTSPOTS_DASK_SCHEDULER", client.scheduler.address)  # type: ignore[attr-defined]
    out = tmp_path / "out"
    args = ["analyse-distributed", *map(str, files), "--out", str(out), "--min-samples", "20"]
    result = CliRunner().invoke(app, [*args, "--tile-m", "1000"])
    assert result.exit_code == 0, result.output
    # the CSVs were validated on this module's cluster, found through HOTSPOTS_DASK_SCHEDULER
    prefixes = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))  # type: ignore[attr-defined]
    assert "ingest_one" in prefixes
    single = analyse(
        read_incidents([Source.from_path(p) for p in files]).incidents,
        boundary_sets,
        AnalysisParams(min_samples=20),
        statistics=False,
    )
    assert len(single.hotspots) >= 4
    assert (out / "hotspots.csv").read_text(encoding="utf-8") == hotspots_csv(single)
    assert sorted(p.name for p in (out / "partitions").iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    for name in ("hotspots.geojson", "wards.geojson", "boroughs.geojson", "ward_months.csv"):
        assert (out / name).stat().st_size > 0


def test_cli_refuses_mixed_or_missing_inputs_before_starting_a_cluster(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x\n1\n", encoding="utf-8")
    (tmp_path / "b.parquet").write_bytes(b"")
    cases = {
        "no such file": [str(tmp_path / "missing.csv")],
        "give CSV files": [str(tmp_path / "a.csv"), str(tmp_path / "b.parquet")],
    }
    for message, paths in cases.items():
        result = CliRunner().invoke(app, ["analyse-distributed", *paths, "--out", str(tmp_path / "out")])
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
        assert not (tmp_path / "out").exists()
