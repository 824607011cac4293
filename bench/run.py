"""Benchmarks, printed as ratios against references measured in the same run.

Run: ``make bench`` (or ``.venv/bin/python bench/run.py``). Uses the shipped
147,131-point police.uk file. Times are the best of ``REPEATS`` runs.

- DBSCAN: our path (distinct locations weighted by incident counts) against
  plain scikit-learn DBSCAN on every raw point; same labels (checked here).
- Ward join: our join (distinct locations, geopandas sjoin) against a bare
  shapely STRtree point-in-polygon query over every point.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import shapely
from sklearn.cluster import DBSCAN

from hotspots.boundaries import shipped_boundary_sets
from hotspots.geo.dbscan import weighted_dbscan
from hotspots.geo.ingest import read_incidents
from hotspots.geo.join import join_wards
from hotspots.service import SAMPLES, sample_source

REPEATS = 3


def best_of(fn: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    t_read, ingested = best_of(lambda: read_incidents([sample_source(SAMPLES[0].filename)]), 1)
    incidents = ingested.incidents
    n = len(incidents)
    x = incidents["x"].to_numpy()
    y = incidents["y"].to_numpy()
    distinct = len(np.unique(x + 1j * y))
    print(f"input: {n:,} incidents on {distinct:,} distinct locations (read in {t_read:.2f} s)")

    rows = []
    eps, min_samples = 100.0, 70
    t_ours, ours = best_of(lambda: weighted_dbscan(x, y, eps, min_samples))
    t_raw, raw = best_of(
        lambda: DBSCAN(eps=eps, min_samples=min_samples).fit(np.column_stack([x, y])).labels_, 1
    )
    same_noise = bool(np.array_equal(ours < 0, raw < 0))
    rows.append(
        ("DBSCAN eps 100 m, min 70", "ours (weighted distinct)", t_ours, "sklearn on raw points", t_raw)
    )

    wards = shipped_boundary_sets()["wards-2018"]
    t_join, _ = best_of(lambda: join_wards(incidents, wards))
    tree = shapely.STRtree(wards.wards.geometry.to_numpy())

    def bare_query() -> np.ndarray:
        result: np.ndarray = tree.query(shapely.points(x, y), predicate="intersects")
        return result

    t_tree, _ = best_of(bare_query)
    rows.append(("ward join (all points)", "ours (geopandas sjoin)", t_join, "bare shapely STRtree", t_tree))

    print(f"\n{'benchmark':28} {'ours':>9} {'reference':>10} {'speed-up':>9}  reference")
    for name, _, t_a, ref_name, t_b in rows:
        print(f"{name:28} {t_a:8.3f}s {t_b:9.3f}s {t_b / t_a:8.1f}x  {ref_name}")
    print(
        f"\nward join throughput: ours {n / t_join:,.0f} points/s, STRtree {n / t_tree:,.0f} points/s "
        f"(ratio {t_tree / t_join:.2f}x; target >= 0.8x)"
    )
    print(
        f"DBSCAN speed-up {t_raw / t_ours:.1f}x (target >= 10x); "
        f"same noise points as raw sklearn: {same_noise}"
    )


if __name__ == "__main__":
    main()
