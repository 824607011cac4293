"""The distributed path: the same analysis on a Dask cluster, from partitioned GeoParquet.

For national or multi-year volumes that no longer fit one machine. Incidents are stored as
GeoParquet files (one or more per month); dask-geopandas reads them as partitions, and
every row-level step (selection, ward join) runs per partition on the workers with the
same functions as the single-machine path. Only small aggregates come back: counts per
ward, borough and month, the distinct snapped locations with their incident counts, and
the incidents of the hotspots.

DBSCAN is partitioned by space. The distinct locations (EPSG:27700 metres) are cut into
square tiles ``tile_m`` wide (a multiple of ``eps``); each task gets one tile plus every
location within ``eps`` of it (the halo). A location inside the tile has its whole
``eps`` neighbourhood in the task, so its core status is exact there. A second pass links
core locations within ``eps`` of each other in every tile plus halo; a core location seen
by two tasks ties their clusters together (connected components over all tasks), and each
non-core location takes the cluster of its nearest core location, as
:func:`hotspots.geo.clusters.dbscan.attach_border_points` does. Labels are then made canonical
with :func:`hotspots.geo.clusters.dbscan.canonical_labels`, so they equal the single-machine
labels; hotspots are built with :func:`hotspots.geo.clusters.hotspots.build_hotspots`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import dask_geopandas
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from distributed import Client, LocalCluster
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from sklearn.cluster import DBSCAN

from hotspots.boundaries.model import BoundarySet
from hotspots.crs import BNG
from hotspots.errors import InvalidInput
from hotspots.geo import params as params_module
from hotspots.geo.analysis import (
    AnalysisParams,
    AnalysisResult,
    _choose_sets,
    _coverage,
    _district_names,
    _month_range,
    _name_outside_districts,
    _owned_clusters,
    borough_layer,
    ward_layer,
)
from hotspots.geo.clusters.dbscan import (
    DEFAULT_EPS_M,
    GRID_MIN_LOCATIONS,
    MIN_SAMPLES_RULE,
    OCCUPIED_CELL_M,
    canonical_labels,
    check_parameters,
    default_min_samples,
    grid_dbscan,
)
from hotspots.geo.clusters.hotspots import SUMMARY_INPUTS, build_hotspots
from hotspots.geo.inputs.ingest import Source, read_incidents
from hotspots.geo.inputs.join import join_wards
from hotspots.geo.params import hotspots_note
from hotspots.geo.stats.coverage import districts_without_data
from hotspots.geo.stats.harm import assign_harm

ROW = "row"
"""Column holding each incident's place in the input order (kept so results never depend on
how the rows were partitioned)."""

ANALYSIS_INPUTS = ["month", "crime_type", "occurred_at", "x", "y", "has_location", ROW]
"""Columns :func:`analyse_distributed` reads (the ward columns come from the join)."""

DEFAULT_TILE_EPS = 50
"""Default tile width in multiples of eps: 5 km tiles for eps = 100 m."""

DEFAULT_ROWS_PER_FILE = 1_000_000


# --------------------------------------------------------------------------- the cluster


@contextmanager
def dask_client(scheduler: str | None = None, n_workers: int | None = None) -> Iterator[Client]:
    """A Dask client: connected to ``scheduler`` (e.g. ``tcp://host:8786``) if given, else to a
    new :class:`distributed.LocalCluster` of ``n_workers`` processes (default: one per core,
    one thread each) listening on the loopback interface only, with no dashboard.

    The local cluster is closed on exit; a remote cluster is left running.
    """
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,  # no dashboard; the health endpoint on a free loopback port:
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


# --------------------------------------------------------------------------- partitioned GeoParquet


def write_partitioned(
    incidents: pd.DataFrame, directory: Path, *, rows_per_file: int = DEFAULT_ROWS_PER_FILE
) -> list[Path]:
    """Write an incidents frame (as :func:`hotspots.geo.inputs.ingest.read_incidents` returns it) as
    GeoParquet files under ``directory``, one or more per month, in EPSG:27700.

    Each file holds at most ``rows_per_file`` rows of one month, with point geometries in
    British National Grid metres (none where the incident has no location), the ``x``/``y``
    columns and :data:`ROW`, the row's position in ``incidents``. Files are written under a
    temporary name and renamed. Returns the paths in order.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    frame = incidents.reset_index(drop=True)
    frame[ROW] = np.arange(len(frame), dtype=np.int64)
    month = frame["month"].astype("string").fillna("unknown")
    paths = []
    for key, part in frame.groupby(month.to_numpy(dtype=object), sort=True):
        for k, start in enumerate(range(0, len(part), rows_per_file)):
            path = directory / f"incidents-{key}-{k:04d}.parquet"
            _write_geoparquet(part.iloc[start : start + rows_per_file], path)
            paths.append(path)
    return paths


def _write_geoparquet(frame: pd.DataFrame, path: Path) -> None:
    x, y = frame["x"].to_numpy(dtype=float), frame["y"].to_numpy(dtype=float)
    geometry = gpd.points_from_xy(x, y, crs=BNG)
    missing = ~frame["has_location"].to_numpy(dtype=bool)
    if missing.any():
        geometry[missing] = None
    tmp = path.with_name(f".{path.name}.tmp")
    gpd.GeoDataFrame(frame, geometry=geometry, crs=BNG).to_parquet(tmp, compression="zstd")
    tmp.replace(path)


def ingest_csv_partitioned(
    client: Client,
    files: Sequence[Path],
    directory: Path,
    *,
    area: shapely.Geometry | None = None,
    max_outside_m: float = 5000.0,
    max_bytes: int | None = None,
) -> list[Path]:
    """Validate police.uk (or auto-detected) CSV files on the workers, one task per file, and
    write each as GeoParquet under ``directory`` (EPSG:27700; see :func:`write_partitioned`).

    Every row is checked as :func:`hotspots.geo.inputs.ingest.read_incidents` checks it; the first
    file with errors raises its :class:`~hotspots.errors.InvalidInput`. :data:`ROW` numbers
    follow the files' order, then the rows' order. Workers must see ``files`` and ``directory``.
    Partition files left in ``directory`` by an earlier ingest are removed first.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("part-*.parquet"):  # a reused directory holds only this ingest
        stale.unlink()
    futures = client.map(
        _ingest_one,
        [Path(f) for f in files],
        [directory / f"part-{i:05d}.parquet" for i in range(len(files))],
        list(range(len(files))),
        area=area,
        max_outside_m=max_outside_m,
        max_bytes=max_bytes,
        pure=False,
    )
    return [Path(p) for p in client.gather(futures)]


def _ingest_one(
    path: Path,
    out: Path,
    number: int,
    *,
    area: shapely.Geometry | None,
    max_outside_m: float,
    max_bytes: int | None,
) -> str:
    incidents = read_incidents(
        [Source.from_path(path, max_bytes)], area=area, max_outside_m=max_outside_m
    ).incidents
    incidents[ROW] = (np.int64(number) << 32) + np.arange(len(incidents), dtype=np.int64)
    _write_geoparquet(incidents, out)
    return str(out)


def read_partitioned(path: Path | Sequence[Path]) -> dd.DataFrame:
    """Incidents from GeoParquet (a directory of files, or a list of files), one partition per
    file, as a dask DataFrame with ``x``/``y`` in EPSG:27700 metres.

    Files written by :func:`write_partitioned` or stored by the service (WGS84 geometry with
    ``x``/``y`` columns) are both read; files without ``x``/``y`` get them from the geometry,
    projected to British National Grid (and ``has_location`` where they are known). Files
    without :data:`ROW` get one that keeps the files' and rows' order.
    """
    if isinstance(path, str | Path):
        root = Path(path)
        files = sorted(root.glob("*.parquet")) if root.is_dir() else [root]
    else:
        files = [Path(p) for p in path]
    if not files:
        raise InvalidInput(f"{path}: no GeoParquet files")
    gddf = dask_geopandas.read_parquet([str(f) for f in files])
    if "x" not in gddf.columns or "y" not in gddf.columns:
        points = gddf.geometry.to_crs(BNG)
        gddf = gddf.assign(x=points.x, y=points.y)
    frame = gddf.drop(columns=gddf.geometry.name)
    if "has_location" not in frame.columns:
        frame = frame.assign(has_location=frame["x"].notnull() & frame["y"].notnull())
    if ROW not in frame.columns:
        frame = frame.map_partitions(_number_rows, meta=frame._meta.assign(**{ROW: np.int64(0)}))
    return frame.map_partitions(_string_categories, meta=_string_categories(frame._meta))


STRING = pd.StringDtype()  # na_value pd.NA: the "string" dtype of ingested text


def _string_categories(part: pd.DataFrame) -> pd.DataFrame:
    """Category columns with ``string`` categories, as :func:`hotspots.geo.inputs.ingest.read_incidents`
    makes them (a Parquet round trip brings them back as Python ``str``)."""
    changed = {}
    for name in part.columns:
        dtype = part[name].dtype
        if isinstance(dtype, pd.CategoricalDtype) and dtype.categories.dtype != STRING:
            wanted = pd.CategoricalDtype(dtype.categories.astype(STRING), ordered=dtype.ordered)
            changed[name] = part[name].astype(wanted)
    return part.assign(**changed) if changed else part


def _number_rows(part: pd.DataFrame, partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    number = 0 if partition_info is None else int(partition_info["number"])
    return part.assign(**{ROW: (np.int64(number) << 32) + np.arange(len(part), dtype=np.int64)})


# --------------------------------------------------------------------------- selection and join


def select_incidents(incidents: dd.DataFrame, params: AnalysisParams) -> dd.DataFrame:
    """The incidents of the period, crime types and sources in ``params``, per partition.

    Raises :class:`InvalidInput` for a crime type the data does not have (as
    :func:`hotspots.geo.analysis.analyse` does).
    """
    if params.sources and "source_type" not in incidents.columns:
        raise InvalidInput("these incidents carry no source type to filter on")
    if params.crime_types:
        present = {str(c) for c in incidents["crime_type"].dropna().unique().compute()}
        known = {c.casefold() for c in present}
        unknown = sorted({c.casefold() for c in params.crime_types} - known)
        if unknown:
            raise InvalidInput(
                f"unknown crime type(s): {', '.join(unknown)}; the dataset has: " + ", ".join(sorted(present))
            )
    return incidents.map_partitions(_select_partition, params, meta=incidents._meta)


def _select_partition(part: pd.DataFrame, params: AnalysisParams) -> pd.DataFrame:
    mask = np.ones(len(part), dtype=bool)
    month = part["month"].astype("string")
    if params.month_from:
        mask &= (month >= params.month_from).fillna(False).to_numpy(dtype=bool)
    if params.month_to:
        mask &= (month <= params.month_to).fillna(False).to_numpy(dtype=bool)
    if params.sources:
        mask &= part["source_type"].astype("string").isin(params.sources).fillna(False).to_numpy(bool)
    if params.crime_types:
        wanted = {c.casefold() for c in params.crime_types}
        crime = part["crime_type"].astype("string").str.casefold()
        mask &= crime.isin(wanted).fillna(False).to_numpy(bool)
    return part.loc[mask]


def join_partitioned(incidents: dd.DataFrame, boundary_sets: Sequence[BoundarySet]) -> dd.DataFrame:
    """Ward and borough of every incident, per partition, with
    :func:`hotspots.geo.inputs.join.join_wards` (EPSG:27700): the columns :data:`JOIN_COLUMNS` added."""
    sets = dask.delayed(list(boundary_sets), pure=True)
    meta = _join_partition(incidents._meta, list(boundary_sets))
    return incidents.map_partitions(_join_partition, sets, meta=meta)


def _join_partition(part: pd.DataFrame, sets: list[BoundarySet]) -> pd.DataFrame:
    part = part.reset_index(drop=True)
    return pd.concat([part, join_wards(part, sets)], axis=1)


# --------------------------------------------------------------------------- aggregates


@dataclass(frozen=True)
class Aggregates:
    """What the workers sum up for the driver (counts are incidents).

    ``locations``: distinct located positions (``x``, ``y`` in EPSG:27700 metres) with
    ``count``. ``ward_counts``: incidents inside the area per ``boundary_set`` and
    ``ward_code``; ``ward_month_counts`` also per ``month``; ``borough_counts`` per
    ``borough_code``. ``occupied_m2``: area of the 500 m squares holding incidents inside.
    """

    incidents: int
    located: int
    inside: int
    occupied_m2: float
    locations: pd.DataFrame
    ward_counts: pd.Series
    ward_month_counts: pd.Series
    borough_counts: pd.Series
    source_borough_counts: pd.DataFrame  # ``borough_code``, ``dataset`` (when there), ``n``


def aggregate(joined: dd.DataFrame) -> Aggregates:
    """Counts and distinct locations of the joined selection, with dask groupby, in one pass."""
    located = joined[joined["has_location"]]
    inside = located[~located["outside_area"]]
    cells = inside.assign(cx=inside["x"] // OCCUPIED_CELL_M, cy=inside["y"] // OCCUPIED_CELL_M)
    by_source = ["dataset", "borough_code"] if "dataset" in inside.columns else ["borough_code"]
    n, n_located, n_inside, n_cells, locs, wards, ward_months, boroughs, sources = dask.compute(
        joined.shape[0],
        located.shape[0],
        inside.shape[0],
        cells[["cx", "cy"]].drop_duplicates(split_out=1).shape[0],
        located.groupby(["x", "y"]).size(split_out=1),
        inside.groupby(["boundary_set", "ward_code"]).size(split_out=1),
        inside.groupby(["boundary_set", "ward_code", "month"]).size(split_out=1),
        inside.groupby("borough_code").size(split_out=1),
        inside.groupby(by_source).size(split_out=1),
    )
    locations = locs.rename("count").reset_index().sort_values(["x", "y"], ignore_index=True)
    return Aggregates(
        incidents=int(n),
        located=int(n_located),
        inside=int(n_inside),
        occupied_m2=float(n_cells) * OCCUPIED_CELL_M**2,
        locations=locations,
        ward_counts=wards.sort_index(),
        ward_month_counts=ward_months.sort_index(),
        borough_counts=boroughs.sort_index(),
        source_borough_counts=sources.rename("n").reset_index(),
    )


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


# --------------------------------------------------------------------------- spatial DBSCAN


def tile_dbscan(
    client: Client,
    x: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    eps_m: float,
    min_samples: int,
    *,
    tile_m: float | None = None,
) -> np.ndarray:
    """DBSCAN of distinct locations partitioned by space; the labels of the single-machine path.

    Parameters
    ----------
    x, y:
        Distinct locations, EPSG:27700 metres.
    weight:
        Incidents at each location (``sample_weight``); ``min_samples`` in the same units.
    eps_m:
        Neighbourhood radius in metres.
    tile_m:
        Width of the square tiles in metres, aligned on multiples of ``tile_m`` from the
        grid's origin; rounded up to a whole multiple of ``eps_m`` (at least 2), default
        :data:`DEFAULT_TILE_EPS` times ``eps_m``.

    Returns
    -------
    numpy.ndarray
        Canonical label per location (0 = most incidents, -1 = noise), equal to
        :func:`hotspots.geo.clusters.dbscan.weighted_dbscan` on the incidents. Only where a border
        location is at exactly the same distance from core locations of two clusters may the
        choice differ (neither path defines it).
    """
    check_parameters(eps_m, min_samples)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.asarray(weight, dtype=float)
    n = len(x)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    side = eps_m * max(2, math.ceil((tile_m or DEFAULT_TILE_EPS * eps_m) / eps_m))
    tiles = _tiles(x, y, side, eps_m)
    # Pass 1: exact core status of the locations each tile owns.
    pass1 = client.map(
        _owned_cores,
        [x[t.members] for t in tiles],
        [y[t.members] for t in tiles],
        [w[t.members] for t in tiles],
        [t.owned for t in tiles],
        eps=eps_m,
        min_samples=min_samples,
        pure=False,
    )
    core = np.zeros(n, dtype=bool)
    for t, owned_core in zip(tiles, client.gather(pass1), strict=True):
        core[t.members[t.owned][owned_core]] = True
    # Pass 2: components of core locations in each tile plus halo; nearest core of the others.
    pass2 = client.map(
        _link_tile,
        [x[t.members] for t in tiles],
        [y[t.members] for t in tiles],
        [core[t.members] for t in tiles],
        [t.owned for t in tiles],
        eps=eps_m,
        pure=False,
    )
    labels = _merge_tiles(n, core, tiles, client.gather(pass2))
    return canonical_labels(labels, w, x, y)


@dataclass(frozen=True)
class _Tile:
    members: np.ndarray  # locations in the tile or its halo (indices into the input)
    owned: np.ndarray  # per member: inside the tile itself


def _tiles(x: np.ndarray, y: np.ndarray, side: float, eps: float) -> list[_Tile]:
    """Square tiles ``side`` metres wide (on multiples of ``side``), each with a halo a little
    wider than ``eps``; tiles that own no location are left out."""
    tx = np.floor(x / side).astype(np.int64)
    ty = np.floor(y / side).astype(np.int64)
    kx, ky = tx - tx.min() + 1, ty - ty.min() + 1  # a free row and column on each side
    width = int(ky.max()) + 2
    code = kx * width + ky
    keys, owner = np.unique(code, return_inverse=True)
    owner = owner.ravel()
    halo = eps * (1 + 1e-6) + 1e-6  # a hair more than eps: a halo too wide costs nothing
    to_left, to_right = x - tx * side, (tx + 1) * side - x  # distances to the tile's edges
    to_bottom, to_top = y - ty * side, (ty + 1) * side - y
    tile_of, loc_of = [owner], [np.arange(len(x))]
    for dx, near_x in ((-1, to_left <= halo), (0, np.ones(len(x), bool)), (1, to_right <= halo)):
        for dy, near_y in ((-1, to_bottom <= halo), (0, np.ones(len(x), bool)), (1, to_top <= halo)):
            if dx == 0 and dy == 0:
                continue
            near = np.flatnonzero(near_x & near_y)  # within the halo of tile (tx + dx, ty + dy)
            target = code[near] + dx * width + dy
            pos = np.minimum(np.searchsorted(keys, target), len(keys) - 1)
            hit = keys[pos] == target
            tile_of.append(pos[hit])
            loc_of.append(near[hit])
    tiles = np.concatenate(tile_of)
    locs = np.concatenate(loc_of)
    order = np.lexsort((locs, tiles))
    tiles, locs = tiles[order], locs[order]
    cut = np.searchsorted(tiles, np.arange(len(keys) + 1))
    out = []
    for k in range(len(keys)):
        members = locs[cut[k] : cut[k + 1]]
        out.append(_Tile(members, owner[members] == k))
    return out


def _owned_cores(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, owned: np.ndarray, *, eps: float, min_samples: int
) -> np.ndarray:
    """Core flag of each owned location, by the single-machine DBSCAN on the tile plus halo."""
    xy = np.column_stack([x, y])
    whole = bool(np.all(w == np.round(w)) and float(np.abs(w).sum()) < 2.0**52)
    if len(xy) >= GRID_MIN_LOCATIONS and whole:
        _, core_indices = grid_dbscan(xy, w, eps, min_samples)
    else:
        core_indices = DBSCAN(eps=eps, min_samples=min_samples).fit(xy, sample_weight=w).core_sample_indices_
    core = np.zeros(len(xy), dtype=bool)
    core[core_indices] = True
    return core[owned]


def _link_tile(
    x: np.ndarray, y: np.ndarray, core: np.ndarray, owned: np.ndarray, *, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """In one tile plus halo: the component of each core location (core locations within
    ``eps`` linked, by DBSCAN with ``min_samples=1`` on them), and for each owned non-core
    location within ``eps`` of a core location, its nearest core location.

    Returns (core positions, their local component, border positions, their nearest core's
    position), positions counted in the tile's members.
    """
    core_pos = np.flatnonzero(core)
    if len(core_pos) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty, empty
    xy = np.column_stack([x, y])
    ones = np.ones(len(core_pos))
    if len(core_pos) >= GRID_MIN_LOCATIONS:
        component, _ = grid_dbscan(xy[core_pos], ones, eps, 1)
    else:
        component = DBSCAN(eps=eps, min_samples=1).fit(xy[core_pos]).labels_
    candidates = np.flatnonzero(owned & ~core)
    _, nearest = cKDTree(xy[core_pos]).query(xy[candidates], k=1, distance_upper_bound=eps * (1 + 1e-6))
    found = nearest < len(core_pos)
    cand, near = candidates[found], core_pos[nearest[found]]
    d2 = (x[cand] - x[near]) ** 2 + (y[cand] - y[near]) ** 2
    border = d2 <= eps * eps
    return core_pos, np.asarray(component, dtype=np.int64), cand[border], near[border]


def _merge_tiles(
    n: int,
    core: np.ndarray,
    tiles: list[_Tile],
    links: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Global cluster of every location: core locations shared by tiles join the tiles'
    components (connected components of a graph of locations and tile components)."""
    loc_nodes, comp_nodes = [], []
    offset = n
    for t, (core_pos, component, _, _) in zip(tiles, links, strict=True):
        loc_nodes.append(t.members[core_pos])
        comp_nodes.append(component + offset)
        offset += int(component.max()) + 1 if len(component) else 0
    a = np.concatenate(loc_nodes) if loc_nodes else np.empty(0, dtype=np.int64)
    b = np.concatenate(comp_nodes) if comp_nodes else np.empty(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(offset, offset))
    _, cluster = connected_components(graph, directed=False)
    labels = np.full(n, -1, dtype=np.int64)
    labels[core] = cluster[np.flatnonzero(core)]
    for t, (_, _, border, nearest) in zip(tiles, links, strict=True):
        labels[t.members[border]] = cluster[t.members[nearest]]
    present = labels >= 0
    labels[present] = np.unique(labels[present], return_inverse=True)[1].ravel()
    return labels


# --------------------------------------------------------------------------- the whole analysis


@dataclass
class DistributedResult:
    """Outputs of :func:`analyse_distributed`; geometries in EPSG:27700.

    ``hotspots``, ``wards`` and ``boroughs`` equal those of
    :func:`hotspots.geo.analysis.analyse` with ``statistics=False`` on the same incidents
    (``hot_share`` is empty: the Gi* hex grid needs every point on one machine; ward Gi*
    is computed when ``statistics`` is on). ``members``: the incidents in hotspots, in
    input order, with the columns the summaries need, ``harm`` and
    ``hotspot_id``. ``ward_month_counts``: incidents inside the area per boundary set, ward
    and month.
    """

    params: AnalysisParams
    hotspots: gpd.GeoDataFrame
    wards: gpd.GeoDataFrame
    boroughs: gpd.GeoDataFrame
    ward_month_counts: pd.Series
    members: pd.DataFrame
    boundary_sets: list[BoundarySet]
    months: list[str]
    study_area: shapely.Geometry
    meta: dict[str, Any] = field(default_factory=dict)

    def as_analysis_result(self) -> AnalysisResult:
        """The layers as an :class:`AnalysisResult` for the exporters (hotspots, wards, boroughs);
        its ``incidents`` are the hotspot members only and its Gi* grid is empty."""
        return AnalysisResult(
            self.params,
            self.members,
            self.hotspots,
            self.wards,
            self.boroughs,
            self.boundary_sets,
            self.months,
            self.study_area,
            gpd.GeoDataFrame({"gi_bin": []}, geometry=[], crs=BNG),
            self.meta,
        )


def analyse_distributed(
    client: Client,
    incidents: dd.DataFrame,
    boundary_sets: Mapping[str, BoundarySet],
    params: AnalysisParams,
    *,
    tile_m: float | None = None,
    statistics: bool = True,
) -> DistributedResult:
    """:func:`hotspots.geo.analysis.analyse` on a Dask cluster: same hotspots, ward and borough
    counts, from partitioned incidents (see :func:`read_partitioned`).

    Only DBSCAN weighted by incident counts is distributed (``method="dbscan"``,
    ``weight="count"``). ``tile_m`` is the DBSCAN tile width in metres (see
    :func:`tile_dbscan`). ``statistics`` adds Getis-Ord Gi* of the ward counts.

    Raises
    ------
    InvalidInput
        For bad or unsupported parameters, or a selection with no incidents.
    NotFound
        For an unknown boundary set name.
    """
    params.validate()
    if params.method != "dbscan" or params.weight != "count":
        raise InvalidInput("the distributed path runs DBSCAN weighted by incident counts only")
    wanted = [*ANALYSIS_INPUTS, *(["source_type"] if params.sources else [])]
    incidents = incidents[[c for c in wanted if c in incidents.columns]]  # read only these
    selected = client.persist(select_incidents(incidents, params))
    lo, hi, n, all_lo, all_hi = dask.compute(
        selected["month"].min(),
        selected["month"].max(),
        selected.shape[0],
        incidents["month"].min(),
        incidents["month"].max(),
    )
    if int(n) == 0:
        raise InvalidInput("no incidents match the chosen period and crime types")
    months = _month_range(
        pd.Series([_text(lo), _text(hi)]), params, pd.Series([_text(all_lo), _text(all_hi)])
    )
    sets = _choose_sets(boundary_sets, params.boundaries, months)
    joined = client.persist(join_partitioned(selected, sets))
    del selected  # released on the workers once the join has used it
    agg = aggregate(joined)
    inside_boroughs = pd.DataFrame({"borough_code": agg.borough_counts.index, "outside_area": False})
    coverage = _coverage(inside_boroughs, sets[-1])
    study_area = float(coverage.area)
    eps = params.eps_m if params.eps_m is not None else DEFAULT_EPS_M
    min_samples = (
        params.min_samples
        if params.min_samples is not None
        else default_min_samples(agg.inside, min(agg.occupied_m2, study_area), eps)
    )
    locs = agg.locations
    loc_labels = tile_dbscan(
        client,
        locs["x"].to_numpy(float),
        locs["y"].to_numpy(float),
        locs["count"].to_numpy(float),
        eps,
        min_samples,
        tile_m=tile_m,
    )
    members = _members(joined, locs.assign(label=loc_labels)[loc_labels >= 0])
    labels = members.pop("label").to_numpy(dtype=np.int64)
    labels, _ = _owned_clusters(labels, ~members["outside_area"].to_numpy(dtype=bool))
    # as analyse() does: clusters of the area counted, the MAX_HOTSPOTS largest drawn
    n_clusters = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    labels = np.where(labels >= params_module.MAX_HOTSPOTS, -1, labels)
    members["harm"] = assign_harm(members["crime_type"], params.harm()).weights
    hotspots = build_hotspots(
        members,
        labels,
        months=months,
        study_area=coverage,
        shape_buffer_m=params.shape_buffer_m,
        link_m=eps,
        min_locations=params.min_locations,
    )
    _name_outside_districts(hotspots, members, labels, members["outside_area"].to_numpy(dtype=bool), None)
    hotspots = _shares_of_all(hotspots, members, labels, agg.inside)
    hotspots.insert(hotspots.columns.get_loc("pai") + 1, "hot_share", np.full(len(hotspots), np.nan))
    members["hotspot_id"] = np.where(labels >= 0, labels + 1, -1)
    # which districts no source covers, from each source's counts per district (of the selected
    # crime types: the single-machine path judges a crime-type selection on all crime types)
    reach = agg.source_borough_counts.assign(outside_area=False)
    no_data = districts_without_data(reach, _district_names(sets), weights="n")
    wards = ward_layer(agg.ward_counts, sets, statistics, no_data["no_data"])
    boroughs = borough_layer(agg.borough_counts, sets, no_data["no_data"])
    resolved = replace(params, eps_m=eps, min_samples=min_samples, min_cluster_size=None)
    meta = _meta(params, agg, months, sets, eps, min_samples, hotspots, members, coverage)
    meta.update(clusters_found=n_clusters, hotspots_note=hotspots_note(n_clusters), no_data=no_data)
    client.cancel(joined)
    return DistributedResult(
        resolved, hotspots, wards, boroughs, agg.ward_month_counts, members, sets, months, coverage, meta
    )


def _members(joined: dd.DataFrame, clustered: pd.DataFrame) -> pd.DataFrame:
    """The located incidents at clustered locations, with the columns hotspot summaries read
    and their ``label``, in input order."""
    table = clustered[["x", "y", "label"]]
    located = joined[joined["has_location"]][[*SUMMARY_INPUTS, ROW]]
    meta = located._meta.merge(table, on=["x", "y"], how="inner")
    picked = located.map_partitions(lambda p: p.merge(table, on=["x", "y"], how="inner"), meta=meta)
    frame = picked.compute()
    return frame.sort_values(ROW, kind="stable", ignore_index=True)


def _shares_of_all(
    hotspots: gpd.GeoDataFrame, members: pd.DataFrame, labels: np.ndarray, total_inside: int
) -> gpd.GeoDataFrame:
    """``share_of_incidents`` and ``pai`` over all located incidents inside the area (the hotspots
    were built from their members only), computed as :func:`build_hotspots` computes them."""
    if hotspots.empty:
        return hotspots
    inside = ~members["outside_area"].to_numpy(dtype=bool)
    n_inside = np.bincount(labels[inside], minlength=len(hotspots))
    share_inc = [int(k) / total_inside if total_inside else 0.0 for k in n_inside]
    share_area = hotspots["share_of_area"].tolist()
    hotspots["share_of_incidents"] = share_inc
    hotspots["pai"] = [s / a if a and a > 0 else None for s, a in zip(share_inc, share_area, strict=True)]
    return hotspots


def _meta(
    params: AnalysisParams,
    agg: Aggregates,
    months: list[str],
    sets: list[BoundarySet],
    eps: float,
    min_samples: int,
    hotspots: gpd.GeoDataFrame,
    members: pd.DataFrame,
    coverage: shapely.Geometry,
) -> dict[str, Any]:
    """The metadata keys of :func:`analyse` that aggregates can give, computed the same way."""
    study_area = float(coverage.area)
    n_members_inside = int((~members["outside_area"].to_numpy(dtype=bool)).sum())
    union = shapely.union_all(hotspots.geometry.to_numpy()) if len(hotspots) else None
    union_share = float(union.intersection(coverage).area) / study_area if union is not None else 0.0
    hit_rate = n_members_inside / agg.inside if agg.inside else None
    return {
        "months": months,
        "month_from": months[0] if months else None,
        "month_to": months[-1] if months else None,
        "crime_types": list(params.crime_types) or "all",
        "eps_m": eps,
        "min_samples": min_samples,
        "min_samples_rule": None if params.min_samples is not None else MIN_SAMPLES_RULE,
        "min_samples_units": "incidents",
        "weight": params.weight,
        "method": params.method,
        "shape_buffer_m": params.shape_buffer_m,
        "boundary_sets": [s.name for s in sets],
        "boundary_notes": [n for s in sets for n in s.notes],
        "incidents": agg.incidents,
        "incidents_located": agg.located,
        "incidents_without_location": agg.incidents - agg.located,
        "incidents_outside_area": agg.located - agg.inside,
        "incidents_in_hotspots": int((members["hotspot_id"] > 0).sum()),
        "hotspots": int(len(hotspots)),
        "hit_rate": hit_rate,
        "hotspot_area_share": union_share,
        "pai": hit_rate / union_share if hit_rate is not None and union_share > 0 else None,
        "population_sources": {s.name: s.population_source for s in sets if s.population_source},
        "study_area_km2": round(study_area / 1e6, 3),
        "study_area_rule": "area of the boroughs that hold incidents",
        "crs_note": "distances and areas computed in British National Grid (EPSG:27700)",
        "distributed": {"locations": int(len(agg.locations))},
    }
