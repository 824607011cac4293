"""Is it really a hotspot? Getis-Ord Gi* hot spot analysis on hex grids and on wards.

Method (ArcGIS *Hot Spot Analysis* conventions, computed with esda)
-------------------------------------------------------------------
- **Statistic**: Getis-Ord Gi* with binary weights (as ``esda.getisord.G_Local``
  with ``star=True`` and ``transform="B"``, which the tests check it against):
  each unit's value plus its neighbours', compared with what the study-wide mean
  and variance predict, z = (sum_j w_ij x_j - mean W_i) / (s sqrt((n W_i - W_i^2) / (n - 1)))
  with W_i the unit's neighbours plus itself and s the standard deviation over all n units.
  Positive z = high values cluster there (hot), negative = low values (cold).
- **Neighbours**: on a hex grid, the cells within ``rings`` hex steps (default
  1: the six cells sharing an edge; on hexagons queen and rook contiguity
  coincide, and equal a distance band of one cell size between centres), plus
  the cell itself. For wards (any polygons), queen contiguity from the
  polygons (sharing at least one vertex), plus the ward itself, from
  :class:`libpysal.graph.Graph`. A unit with no neighbours (an island)
  is not tested: ``z``/``p`` are NaN and ``gi_bin`` 0.
- **p-values**: two-sided, from the normal approximation of Gi* (as ArcGIS
  does). Optionally ``permutations`` > 0 uses esda's conditional permutation
  inference instead, with p = min(1, 2 x esda's folded pseudo p-value) and a
  fixed seed (:data:`DEFAULT_SEED`); it is slow on big grids (esda without
  numba).
- **Multiple testing**: with ``fdr=True`` (default) the p-values of all tested
  units are adjusted with Benjamini-Hochberg
  (:func:`scipy.stats.false_discovery_control`), giving ``p_fdr``. Comparing
  ``p_fdr`` with 0.10/0.05/0.01 is the same as comparing ``p`` with the
  FDR-reduced critical p-values ArcGIS uses at 90/95/99% confidence.
- **Bins**: ``gi_bin`` in -3..3 as ArcGIS's Gi_Bin: +-3 at 99% confidence
  (adjusted p <= 0.01), +-2 at 95% (<= 0.05), +-1 at 90% (<= 0.10), 0 not
  significant; the sign is the sign of z.
- **Significant hot cell** (for :func:`hot_share`): ``gi_bin >= 1``, i.e.
  hot at 90% confidence or more (:data:`HOT_MIN_BIN`).

All geometry is in British National Grid (EPSG:27700); distances in metres,
areas in square metres.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse, stats
from shapely.geometry.base import BaseGeometry

from hotspots.crs import BNG
from hotspots.errors import InvalidInput
from hotspots.geo.geos import prepared_copy, private_copy
from hotspots.geo.stats.grid import HexGrid, Include, check_cell_size, default_cell_size

if TYPE_CHECKING:  # esda and libpysal are imported where used: loading them costs about half a second
    from libpysal.graph import Graph

DEFAULT_SEED = 20_180_201
"""Seed for permutation inference, so results are reproducible."""

HOT_MIN_BIN = 1
"""A cell counts as a significant hot cell when ``gi_bin >= HOT_MIN_BIN`` (hot at 90%+ confidence)."""

CONFIDENCE_LEVELS = ((3, 0.01), (2, 0.05), (1, 0.10))
"""(bin, largest p-value) pairs: 99%, 95% and 90% confidence."""

LABELS = {
    3: "Hot spot 99%",
    2: "Hot spot 95%",
    1: "Hot spot 90%",
    0: "Not significant",
    -1: "Cold spot 90%",
    -2: "Cold spot 95%",
    -3: "Cold spot 99%",
}
"""Text for each ``gi_bin``."""
NO_NEIGHBOURS = "Not tested (no neighbours)"
NO_DATA = "Not tested (no value)"

RESULT_COLUMNS = ["z", "p", "p_fdr", "gi_bin", "label", "n_neighbours"]


@dataclass(frozen=True)
class GiStar:
    """Gi* results for ``n`` units, aligned with the input values.

    Attributes
    ----------
    z:
        Gi* z-scores (NaN where not tested).
    p:
        Two-sided p-values before FDR (NaN where not tested).
    p_fdr:
        Benjamini-Hochberg adjusted p-values (equal to ``p`` when FDR is off).
    gi_bin:
        -3..3 as ArcGIS's Gi_Bin (int64).
    label:
        Text of ``gi_bin`` (object array of str).
    n_neighbours:
        Neighbours of each unit, itself excluded (int64).
    """

    z: np.ndarray
    p: np.ndarray
    p_fdr: np.ndarray
    gi_bin: np.ndarray
    label: np.ndarray
    n_neighbours: np.ndarray

    def to_frame(self, index: pd.Index | None = None) -> pd.DataFrame:
        return pd.DataFrame({c: getattr(self, c) for c in RESULT_COLUMNS}, index=index)


def gi_bins(z: np.ndarray, p: np.ndarray) -> np.ndarray:
    """ArcGIS Gi_Bin classes (-3..3) from z-scores and (FDR-adjusted) two-sided p-values.

    NaN p-values give 0.
    """
    z = np.asarray(z, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    level = np.zeros(len(p), dtype=np.int64)
    ok = np.isfinite(p) & np.isfinite(z)
    for value, limit in sorted(CONFIDENCE_LEVELS, key=lambda t: t[0]):
        level[ok & (p <= limit)] = value
    return (level * np.sign(np.where(ok, z, 0.0))).astype(np.int64)


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values; NaNs stay NaN and are not counted as tests."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(np.clip(p[ok], 0.0, 1.0), method="bh")
    return out


def gi_star(
    values: np.ndarray,
    graph: Graph | sparse.spmatrix | sparse.sparray,
    *,
    fdr: bool = True,
    permutations: int = 0,
    seed: int = DEFAULT_SEED,
) -> GiStar:
    """Getis-Ord Gi* for ``values`` over a binary neighbour graph, with FDR and ArcGIS bins.

    Parameters
    ----------
    values:
        One value per unit (counts, weighted counts or rates).
    graph:
        Binary neighbours as a :class:`libpysal.graph.Graph` or a square scipy
        sparse matrix aligned with ``values``, without self-neighbours (the
        unit itself is added with weight 1, which is what makes it Gi*).
    fdr:
        Adjust p-values with Benjamini-Hochberg before binning.
    permutations:
        0 (default) for analytical p-values; otherwise the number of
        conditional permutations (seeded with ``seed``).

    Returns
    -------
    GiStar
        Degenerate input does not raise: no units gives empty arrays; values all
        equal (e.g. no incidents) give z = 0, p = 1; units without neighbours
        are not tested (NaN).
    """
    y = np.asarray(values, dtype=np.float64).ravel()
    n = len(y)
    if not np.isfinite(y).all():
        raise InvalidInput("Gi* values must all be finite numbers")
    if permutations < 0:
        raise InvalidInput(f"permutations must be 0 or more, got {permutations}")
    adj = _binary_adjacency(graph, n)
    n_neighbours = np.asarray(adj.sum(axis=1)).ravel().astype(np.int64)
    island = n_neighbours == 0
    z = np.full(n, np.nan)
    p = np.full(n, np.nan)
    tested = ~island
    if n == 0 or not tested.any():
        pass
    elif np.ptp(y) == 0.0:
        z[tested] = 0.0
        p[tested] = 1.0
    else:
        if permutations:
            zs, ps = _gi_star_permuted(y, adj, permutations, seed)
        else:
            zs = _gi_star_z(y, adj, n_neighbours)
            ps = 2.0 * stats.norm.sf(np.abs(zs))
        z[tested] = zs[tested]
        p[tested] = ps[tested]
        bad = ~np.isfinite(z)
        z[bad] = np.nan
        p[bad] = np.nan
    p_adj = bh_adjust(p) if fdr else p.copy()
    bins = gi_bins(z, p_adj)
    labels = np.array([LABELS[int(b)] for b in bins], dtype=object)
    labels[island] = NO_NEIGHBOURS
    return GiStar(z, p, p_adj, bins, labels, n_neighbours)


def _gi_star_z(y: np.ndarray, adj: sparse.csr_matrix, n_neighbours: np.ndarray) -> np.ndarray:
    """Analytical Gi* z-scores, binary weights with the unit itself (see the module)."""
    n = len(y)
    w = n_neighbours.astype(np.float64) + 1.0
    lag = np.asarray(adj @ y).ravel() + y
    mean = float(y.mean())
    sd = float(np.sqrt(max(float((y**2).mean()) - mean**2, 0.0)))
    with np.errstate(divide="ignore", invalid="ignore"):
        z: np.ndarray = (lag - mean * w) / (sd * np.sqrt((n * w - w**2) / (n - 1)))
    return z


def _gi_star_permuted(
    y: np.ndarray, adj: sparse.csr_matrix, permutations: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """esda's Gi* with conditional permutation inference: z and p = min(1, 2 x folded p_sim)."""
    from esda.getisord import G_Local
    from libpysal.graph import Graph

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lg = G_Local(
            y,
            Graph.from_sparse(adj),
            transform="B",
            star=True,
            permutations=permutations,
            seed=seed,
            keep_simulations=False,
        )
    z = np.asarray(lg.Zs, dtype=np.float64)
    return z, np.minimum(1.0, 2.0 * np.asarray(lg.p_sim, dtype=np.float64))


def _binary_adjacency(graph: Graph | sparse.spmatrix | sparse.sparray, n: int) -> sparse.csr_matrix:
    """Square 0/1 CSR matrix without diagonal, checked against ``n`` units."""
    mat = graph.sparse if hasattr(graph, "sparse") else graph
    adj = sparse.csr_matrix(mat, dtype=np.float64)
    if adj.shape != (n, n):
        raise InvalidInput(f"neighbour graph has shape {adj.shape}, expected ({n}, {n})")
    adj.setdiag(0.0)
    adj.eliminate_zeros()
    adj.data[:] = 1.0
    return adj


def gi_star_grid(
    x: np.ndarray,
    y: np.ndarray,
    area: BaseGeometry,
    cell_size_m: float | None = None,
    weights: np.ndarray | None = None,
    fdr: bool = True,
    *,
    rings: int = 1,
    include: Include = "intersects",
    permutations: int = 0,
    seed: int = DEFAULT_SEED,
) -> gpd.GeoDataFrame:
    """Gi* hot spot analysis of incident counts on a hexagonal grid over ``area``.

    Parameters
    ----------
    x, y:
        Incident coordinates in metres, British National Grid (EPSG:27700).
    area:
        Study area, a shapely (multi)polygon in EPSG:27700.
    cell_size_m:
        Hexagon size in metres, flat side to flat side (cell area
        ``sqrt(3)/2 * d**2``). ``None`` chooses it from the data with
        :func:`hotspots.geo.stats.grid.default_cell_size` (incidents inside the area
        and its area).
    weights:
        Optional weight per incident (e.g. harm); counts become sums.
    fdr:
        Benjamini-Hochberg correction before binning (default on).
    rings:
        Neighbourhood radius in hex steps (1 = the six adjacent cells, about
        ``cell_size_m`` metres between centres).
    include:
        Which cells make the grid: ``"intersects"`` (any part in the area) or
        ``"centre"``; see :func:`hotspots.geo.stats.grid.hex_grid`.
    permutations, seed:
        See :func:`gi_star`.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cell (EPSG:27700): ``cell_id``, ``q``, ``r``, ``count``,
        ``z``, ``p``, ``p_fdr``, ``gi_bin``, ``label``, ``n_neighbours``,
        ``geometry``. ``attrs`` holds ``cell_size_m`` and a ``gi_method``
        dict describing the rules, for metadata.
    """
    xa, ya, w = check_points(x, y, weights)
    area = check_area(area)
    if cell_size_m is None:
        # contains_xy prepares its geometry in place, and ``area`` is usually a shared outline
        inside = int(shapely.contains_xy(prepared_copy(area), xa, ya).sum()) if len(xa) else 0
        cell_size_m = default_cell_size(inside, float(area.area))
    check_cell_size(cell_size_m)
    grid = HexGrid.covering(area, float(cell_size_m), include)
    counts = grid.count(xa, ya, w)
    result = gi_star(counts, grid.neighbours(rings), fdr=fdr, permutations=permutations, seed=seed)
    out = grid.to_geodataframe()
    out.insert(3, "count", counts)
    for col in RESULT_COLUMNS:
        out[col] = getattr(result, col)
    out = out[["cell_id", "q", "r", "count", *RESULT_COLUMNS, "geometry"]]
    out.attrs["cell_size_m"] = float(cell_size_m)
    out.attrs["gi_method"] = method_description(
        neighbours=f"hex cells within {rings} step(s) ({_ring_size(rings)} cells) plus the cell itself",
        fdr=fdr,
        permutations=permutations,
        seed=seed,
        extra={
            "cell_size_m": float(cell_size_m),
            "cell_size_rule": "distance between opposite flat sides of a hexagon",
            "cells": len(grid),
            "grid_include": include,
            "points": len(xa),
            "points_counted": int((grid.locate(xa, ya) >= 0).sum()),
        },
    )
    return out


def _ring_size(rings: int) -> int:
    return 3 * rings * (rings + 1)


def gi_star_polygons(
    polygons: gpd.GeoDataFrame,
    value_col: str = "count",
    fdr: bool = True,
    *,
    permutations: int = 0,
    seed: int = DEFAULT_SEED,
) -> gpd.GeoDataFrame:
    """Gi* hot spot analysis of a value per polygon (e.g. ward counts or rates).

    Parameters
    ----------
    polygons:
        Polygons (e.g. wards) with a numeric ``value_col``. Any CRS (only
        contiguity is used); the project's are EPSG:27700.
    value_col:
        Column to analyse. Rows where it is missing are not tested and are
        left out of the neighbour graph.
    fdr, permutations, seed:
        See :func:`gi_star`.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of ``polygons`` (same index and CRS) with ``z``, ``p``,
        ``p_fdr``, ``gi_bin``, ``label`` and ``n_neighbours`` added.
        Neighbours: queen contiguity (a shared vertex or edge).
    """
    if value_col not in polygons.columns:
        raise InvalidInput(f"no column {value_col!r} to analyse; columns are {', '.join(polygons.columns)}")
    values = pd.to_numeric(polygons[value_col], errors="coerce").to_numpy(dtype=np.float64)
    has_value = np.isfinite(values)
    geoms = polygons.geometry.reset_index(drop=True)
    n = len(polygons)
    z = np.full(n, np.nan)
    p = np.full(n, np.nan)
    p_adj = np.full(n, np.nan)
    bins = np.zeros(n, dtype=np.int64)
    labels = np.full(n, NO_DATA, dtype=object)
    n_nb = np.zeros(n, dtype=np.int64)
    pos = np.flatnonzero(has_value & ~geoms.is_empty.to_numpy() & geoms.notna().to_numpy())
    if len(pos):
        sub = geoms.iloc[pos].reset_index(drop=True)
        from libpysal.graph import Graph

        graph = Graph.build_contiguity(sub, rook=False)
        res = gi_star(values[pos], graph.sparse, fdr=fdr, permutations=permutations, seed=seed)
        z[pos], p[pos], p_adj[pos] = res.z, res.p, res.p_fdr
        bins[pos], labels[pos], n_nb[pos] = res.gi_bin, res.label, res.n_neighbours
    out = polygons.copy()
    out["z"] = z
    out["p"] = p
    out["p_fdr"] = p_adj
    out["gi_bin"] = bins
    out["label"] = labels
    out["n_neighbours"] = n_nb
    out.attrs["gi_method"] = method_description(
        neighbours="queen contiguity of the polygons plus the polygon itself",
        fdr=fdr,
        permutations=permutations,
        seed=seed,
        extra={"value": value_col, "units": n, "units_tested": int(np.isfinite(z).sum())},
    )
    return out


def method_description(
    *, neighbours: str, fdr: bool, permutations: int, seed: int, extra: dict[str, object] | None = None
) -> dict[str, object]:
    """A JSON-ready statement of the Gi* rules used, for output metadata."""
    desc: dict[str, object] = {
        "statistic": "Getis-Ord Gi* (esda G_Local, star=True, binary weights)",
        "neighbours": neighbours,
        "p_values": f"conditional permutations ({permutations}, seed {seed}), two-sided"
        if permutations
        else "two-sided, normal approximation",
        "multiple_testing": "Benjamini-Hochberg false discovery rate" if fdr else "none",
        "bins": "+-3: p<=0.01 (99%), +-2: p<=0.05 (95%), +-1: p<=0.10 (90%)"
        + (" on FDR-adjusted p" if fdr else ""),
        "hot_cell_rule": f"gi_bin >= {HOT_MIN_BIN} (hot at 90% confidence or more)",
        "crs": "EPSG:27700",
    }
    if extra:
        desc.update(extra)
    return desc


def hot_share(
    hotspot_geoms: gpd.GeoSeries | np.ndarray,
    gi_grid: gpd.GeoDataFrame,
    min_bin: int = HOT_MIN_BIN,
) -> np.ndarray:
    """Share of each hotspot's area that lies in significant hot cells.

    Parameters
    ----------
    hotspot_geoms:
        Hotspot polygons, a GeoSeries in EPSG:27700 (reprojected if in another
        CRS) or an array of shapely geometries in EPSG:27700.
    gi_grid:
        Output of :func:`gi_star_grid` (non-overlapping cells with ``gi_bin``).
    min_bin:
        Cells with ``gi_bin >= min_bin`` count as hot; default 1 = hot at 90%
        confidence or more (2 = 95%+, 3 = 99%).

    Returns
    -------
    numpy.ndarray
        float64 in [0, 1] per hotspot, in input order: (area of hotspot inside
        hot cells) / (hotspot area), both in m2. NaN for empty or zero-area
        geometries.
    """
    if isinstance(hotspot_geoms, gpd.GeoSeries):
        if hotspot_geoms.crs is not None and hotspot_geoms.crs.to_epsg() != BNG:
            hotspot_geoms = hotspot_geoms.to_crs(BNG)
        geoms = np.asarray(hotspot_geoms.values, dtype=object)
    else:
        geoms = np.asarray(hotspot_geoms, dtype=object)
    if gi_grid.crs is not None and gi_grid.crs.to_epsg() != BNG:
        gi_grid = gi_grid.to_crs(BNG)
    if "gi_bin" not in gi_grid.columns:
        raise InvalidInput("gi_grid needs a 'gi_bin' column (see gi_star_grid)")
    areas = np.asarray(shapely.area(geoms), dtype=np.float64) if len(geoms) else np.empty(0)
    share = np.full(len(geoms), np.nan)
    valid = np.isfinite(areas) & (areas > 0)
    share[valid] = 0.0
    hot = np.asarray(gi_grid.geometry.values[gi_grid["gi_bin"].to_numpy() >= min_bin], dtype=object)
    if len(hot) == 0 or not valid.any():
        return share
    tree = shapely.STRtree(hot)
    valid_idx = np.flatnonzero(valid)
    # a predicate query prepares its inputs in place: query with copies (see geo.geos)
    pairs = tree.query(private_copy(geoms[valid_idx]), predicate="intersects")
    if pairs.shape[1] == 0:
        return share
    src = valid_idx[pairs[0]]
    inter = shapely.area(shapely.intersection(geoms[src], hot[pairs[1]]))
    covered = np.bincount(src, weights=inter, minlength=len(geoms))
    share[valid] = np.clip(covered[valid] / areas[valid], 0.0, 1.0)
    return share


def check_points(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Coordinates as float arrays in EPSG:27700 metres; rows with a missing coordinate are dropped."""
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    if xa.shape != ya.shape:
        raise InvalidInput(f"x and y differ in length ({len(xa)} and {len(ya)})")
    w = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.shape != xa.shape:
            raise InvalidInput(f"weights has {len(w)} values for {len(xa)} points")
        if not np.isfinite(w).all() or (w < 0).any():
            raise InvalidInput("weights must be finite and not negative")
    ok = np.isfinite(xa) & np.isfinite(ya)
    if len(xa) and ok.any():
        ax, ay = np.abs(xa[ok]), np.abs(ya[ok])
        if ax.max() <= 180 and ay.max() <= 90:
            raise InvalidInput(
                "coordinates look like longitude/latitude degrees; expected British National Grid "
                "(EPSG:27700) metres"
            )
    if not ok.all():
        xa, ya = xa[ok], ya[ok]
        w = None if w is None else w[ok]
    return xa, ya, w


def check_area(area: BaseGeometry) -> BaseGeometry:
    if not isinstance(area, BaseGeometry):
        raise InvalidInput("the study area must be a shapely polygon in EPSG:27700")
    if area.is_empty or not math.isfinite(area.area) or area.area <= 0:
        raise InvalidInput("the study area is empty or has no area")
    return area
