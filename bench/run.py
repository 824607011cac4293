"""Benchmarks, printed as ratios against references measured in the same run.

Run: ``make bench`` (or ``.venv/bin/python bench/run.py``); ``--quick`` for a short run,
``--sizes 100k,1m,10m`` to choose the synthetic sizes (10m only when asked for: it writes
about 2.3 GB of CSV under ``bench/.cache/``). Times are the best of ``--repeats`` runs.
Results are printed and written to ``bench/results.md``; sections not run keep their last
results there.

- ``--growth-figure docs/growth.png``: the growth curve (time and peak memory against
  incidents, log-log) as a compact table and a figure (``bench/growth.py``); the README's
  figure comes from ``bench/run.py --no-sample --sizes 100k,1m,10m --growth-figure docs/growth.png``
  (``make bench-growth``).
- ``--pages``: page weight and first render of the map page in headless Chromium, a month
  and a year of data (``bench/pages.py``).
- ``--load``: 50 concurrent clients against the cached map, hotspots and OGC routes of a
  local server, p50/p95/p99 (``bench/load.py``).
- ``--startup``: ``hotspots --help``, one month analysed and ``hotspots serve`` to the first
  page, in fresh processes (``bench/startup.py``).
- ``--no-synthetic`` with ``--no-sample``: only the sections asked for.

Shipped sample (147,131 police.uk points), as before:

- DBSCAN: our path (distinct locations weighted by incident counts) against plain
  scikit-learn DBSCAN on every raw point; same labels (checked here).
- Ward join: our join against a bare shapely STRtree point-in-polygon query over every point.
- Statistics: Gi* on a 100 m hex grid over the tri-borough area and emerging hot spots over
  all 35 months, in seconds next to the DBSCAN time; the size and build time of a one-month
  map page with every layer; GeoJSON export of the whole period's layers.

Synthetic police.uk-like data (``bench/synthetic.py``, fixed seed), each size in its own
subprocess so that peak memory (``ru_maxrss``) belongs to that size alone:

- end to end: CSV files -> ingest -> ward join -> DBSCAN -> hotspot summaries, time and
  peak RSS after each stage, snapped (police.uk) and unsnapped (exact coordinates);
- DBSCAN: ours against the fastest DBSCAN library on PyPI (``dbscan``, skipped with a note
  when not installed) and scikit-learn, on the same points;
- ward join throughput on distinct points, against a bare shapely STRtree query;
- reading a stored dataset version (GeoParquet, ``Store.load_incidents``) against the CSVs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from growth import STAGES, GrowthPoint, growth_figure, growth_table  # noqa: E402
from synthetic import generate, parse_size, size_label  # noqa: E402

CACHE = HERE / ".cache"
RESULTS = HERE / "results.md"
REPEATS = 3
EPS_M = 100.0


def best_of(fn: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- the shipped sample ------------------------------------------------------------------------


def sample_section(report: list[str]) -> None:
    import numpy as np
    import shapely
    from sklearn.cluster import DBSCAN

    from hotspots.boundaries import shipped_boundary_sets
    from hotspots.demo import SAMPLES, sample_source
    from hotspots.geo.analysis import AnalysisParams, analyse
    from hotspots.geo.clusters.dbscan import weighted_dbscan
    from hotspots.geo.inputs.ingest import read_incidents
    from hotspots.geo.inputs.join import join_wards
    from hotspots.geo.outputs.export import dumps, hotspots_geojson, wards_geojson
    from hotspots.geo.stats.assessment import emerging_layer
    from hotspots.geo.stats.emerging import emerging_hot_spots
    from hotspots.geo.stats.significance import gi_star_grid
    from hotspots.maps import MapOptions, render_page

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
    lib = _dbscan_library()
    if lib is not None:
        xy = np.column_stack([x, y])
        t_lib, _ = best_of(lambda: lib(xy, eps=eps, min_samples=min_samples))
        rows.append(
            ("DBSCAN eps 100 m, min 70", "ours (weighted distinct)", t_ours, "dbscan (PyPI) raw", t_lib)
        )

    wards = shipped_boundary_sets()["wards-2018"]
    t_join, _ = best_of(lambda: join_wards(incidents, wards))
    tree = shapely.STRtree(wards.wards.geometry.to_numpy())

    def bare_query() -> np.ndarray:
        result: np.ndarray = tree.query(shapely.points(x, y), predicate="intersects")
        return result

    t_tree, _ = best_of(bare_query)
    rows.append(("ward join (all points)", "ours (distinct, grid)", t_join, "bare shapely STRtree", t_tree))

    area = wards.outline
    t_gi, gi = best_of(lambda: gi_star_grid(x, y, area, 100.0), 1)
    t_em, em = best_of(
        lambda: emerging_hot_spots(x, y, incidents["month"].to_numpy(dtype=object), area, 100.0), 1
    )
    t_an, analysed = best_of(lambda: analyse(incidents, shipped_boundary_sets(), AnalysisParams()), 1)
    month = incidents[incidents["month"] == "2020-12"]
    one_month = analyse(month, shipped_boundary_sets(), AnalysisParams())
    cells = emerging_layer(
        analyse(incidents[incidents["month"] >= "2020-01"], shipped_boundary_sets(), AnalysisParams())
    )
    try:
        t_page, page = best_of(lambda: render_page(one_month, MapOptions(tiles="none"), emerging=cells))
        page_note = "incl. emerging for 2020"
    except TypeError:  # a render_page without the emerging layer
        t_page, page = best_of(lambda: render_page(one_month, MapOptions(tiles="none")))
        page_note = "without the emerging layer (render_page does not take it)"
    page_size = len(page.encode("utf-8"))
    t_geojson, geojson = best_of(lambda: dumps(hotspots_geojson(analysed)) + dumps(wards_geojson(analysed)))

    print(f"\n{'benchmark':28} {'ours':>9} {'reference':>10} {'speed-up':>9}  reference")
    for name, _, t_a, ref_name, t_b in rows:
        print(f"{name:28} {t_a:8.3f}s {t_b:9.3f}s {t_b / t_a:8.1f}x  {ref_name}")
    print(
        f"\nward join throughput: ours {n / t_join:,.0f} points/s, STRtree {n / t_tree:,.0f} points/s "
        f"(ratio {t_tree / t_join:.2f}x; target >= 0.8x)"
    )
    print(
        f"\nstatistics on the same points (seconds, next to DBSCAN {t_ours:.3f} s):\n"
        f"  Gi* on a 100 m hex grid ({len(gi):,} cells over {area.area / 1e6:.0f} km2): {t_gi:.2f} s\n"
        f"  emerging hot spots, {len(em.attrs.get('months', []))} months x {len(em):,} cells: {t_em:.2f} s\n"
        f"  whole analysis (join, DBSCAN, summaries, Gi* grid and wards): {t_an:.2f} s "
        f"({analysed.meta['hotspots']} hotspots)\n"
        f"map page, one month (2020-12) with every layer {page_note}: "
        f"{page_size / 1e6:.2f} MB (target < 2 MB), built in {t_page:.2f} s\n"
        f"GeoJSON export, hotspots + wards of the whole period: {len(geojson) / 1e6:.2f} MB "
        f"in {t_geojson:.3f} s"
    )
    print(
        f"DBSCAN speed-up {t_raw / t_ours:.1f}x (target >= 10x); "
        f"same noise points as raw sklearn: {same_noise}"
    )
    report += [
        "## Shipped sample (147,131 police.uk points, 6,291 locations)",
        "",
        "| benchmark | ours | reference | ratio | reference is |",
        "|---|---:|---:|---:|---|",
        *(
            f"| {name} | {t_a:.3f} s | {t_b:.3f} s | {t_b / t_a:.1f}x | {ref} |"
            for name, _, t_a, ref, t_b in rows
        ),
        f"| Gi* 100 m hex grid ({len(gi):,} cells) | {t_gi:.2f} s | {t_ours:.3f} s | "
        f"{t_gi / t_ours:.1f}x | our DBSCAN on the same points |",
        f"| emerging hot spots ({len(em):,} cells) | {t_em:.2f} s | {t_ours:.3f} s | "
        f"{t_em / t_ours:.1f}x | our DBSCAN on the same points |",
        f"| whole analysis ({analysed.meta['hotspots']} hotspots) | {t_an:.2f} s | | | |",
        f"| map page, one month ({page_size / 1e6:.2f} MB) | {t_page:.2f} s | | | |",
        f"| GeoJSON export, hotspots + wards ({len(geojson) / 1e6:.2f} MB) | {t_geojson:.3f} s | | | |",
        "",
        f"Same noise points as raw scikit-learn: {same_noise}.",
        "",
    ]


def _dbscan_library() -> Callable[..., Any] | None:
    """``dbscan.DBSCAN`` (wangyiqiu's grid DBSCAN on PyPI) if installed."""
    try:
        from dbscan import DBSCAN as lib_dbscan
    except ImportError:
        return None
    fn: Callable[..., Any] = lib_dbscan
    return fn


# ---- workers: one size in one subprocess -------------------------------------------------------


def worker_pipeline(size: int, mode: str, repeats: int, parquet: bool) -> dict[str, Any]:
    """End to end on the synthetic files: stage times (best run) and peak RSS after each stage."""
    import numpy as np
    import pandas as pd

    from hotspots.boundaries import shipped_boundary_sets
    from hotspots.geo.clusters.dbscan import default_min_samples, weighted_dbscan
    from hotspots.geo.clusters.hotspots import build_hotspots
    from hotspots.geo.inputs.ingest import SourceFiles, read_incidents
    from hotspots.geo.inputs.join import join_wards

    paths = sorted(_data_dir(size, mode).glob("*.csv"))
    bset = shipped_boundary_sets()["wards-2018"]
    area = bset.outline
    join_wards(pd.DataFrame({"x": [545000.0], "y": [185000.0], "month": ["2019-01"]}), bset)  # warm up
    out: dict[str, Any] = {"size": size, "mode": mode, "base_mb": peak_mb(), "runs": []}
    for _ in range(repeats):
        run: dict[str, Any] = {}
        t = time.perf_counter()
        incidents = read_incidents(SourceFiles(paths)).incidents
        run["read"] = (time.perf_counter() - t, peak_mb())
        t = time.perf_counter()
        joined = pd.concat([incidents, join_wards(incidents, bset)], axis=1)
        run["join"] = (time.perf_counter() - t, peak_mb())
        t = time.perf_counter()
        located = joined["has_location"].to_numpy(dtype=bool)
        x = joined["x"].to_numpy()[located]
        y = joined["y"].to_numpy()[located]
        min_samples = default_min_samples(len(x), float(area.area), EPS_M)
        labels = weighted_dbscan(x, y, EPS_M, min_samples)
        run["dbscan"] = (time.perf_counter() - t, peak_mb())
        t = time.perf_counter()
        months = sorted(joined["month"].dropna().unique())
        hotspots = build_hotspots(
            joined.loc[located].reset_index(drop=True), labels, months=months, study_area=area
        )
        run["hotspots"] = (time.perf_counter() - t, peak_mb())
        out["runs"].append(run)
        out.update(
            incidents=len(incidents),
            locations=len(np.unique(x + 1j * y)),
            min_samples=min_samples,
            hotspots=len(hotspots),
            in_hotspots=int((labels >= 0).sum()),
        )
        del incidents, joined, hotspots, labels, x, y
    if parquet:
        out["parquet"] = _parquet_vs_csv(paths, repeats)
    return out


def _parquet_vs_csv(paths: list[Path], repeats: int) -> dict[str, float]:
    import tempfile

    from hotspots.geo.inputs.ingest import SourceFiles, read_incidents
    from hotspots.store import Store

    t_csv, result = best_of(lambda: read_incidents(SourceFiles(paths)), repeats)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp), f"sqlite:///{tmp}/meta.db")
        t_write, version = best_of(lambda: store.add_dataset("bench", result.incidents, result.report), 1)

        def load() -> Any:
            store._frames.clear()  # measure the read, not the in-memory cache
            return store.load_incidents(version)

        t_load, _ = best_of(load, repeats)
        size = version.path.stat().st_size
    return {"csv": t_csv, "parquet": t_load, "write": t_write, "parquet_mb": size / 1e6}


def worker_dbscan(size: int, mode: str, repeats: int, sklearn_raw: bool) -> dict[str, Any]:
    """DBSCAN on the same points: ours, the fastest library, scikit-learn."""
    import numpy as np
    from sklearn.cluster import DBSCAN
    from sklearn.metrics import adjusted_rand_score

    from hotspots.boundaries import shipped_boundary_sets
    from hotspots.geo.clusters.dbscan import default_min_samples, weighted_dbscan
    from hotspots.geo.inputs.ingest import SourceFiles, read_incidents

    incidents = read_incidents(SourceFiles(sorted(_data_dir(size, mode).glob("*.csv")))).incidents
    x = incidents["x"].to_numpy()
    y = incidents["y"].to_numpy()
    del incidents
    xy = np.column_stack([x, y])
    min_samples = default_min_samples(
        len(x), float(shipped_boundary_sets()["wards-2018"].outline.area), EPS_M
    )
    out: dict[str, Any] = {"size": size, "mode": mode, "min_samples": min_samples}
    lib = _dbscan_library()
    # ours and the library take turns, so a busy spell on the machine slows both alike
    t_ours, t_lib = float("inf"), float("inf")
    for _ in range(repeats):
        t, ours = best_of(lambda: weighted_dbscan(x, y, EPS_M, min_samples), 1)
        t_ours = min(t_ours, t)
        if lib is not None:
            t, (lib_labels, _) = best_of(lambda: lib(xy, eps=EPS_M, min_samples=min_samples), 1)
            t_lib = min(t_lib, t)
    out["ours"] = t_ours
    out["clusters"] = int(ours.max() + 1)
    if lib is None:
        out["library"] = None
    else:
        out["library"] = t_lib
        out["library_same_noise"] = bool(np.array_equal(ours < 0, np.asarray(lib_labels) < 0))
        out["library_ari"] = float(adjusted_rand_score(ours, lib_labels))
    if sklearn_raw:
        t, raw = best_of(lambda: DBSCAN(eps=EPS_M, min_samples=min_samples).fit(xy).labels_, 1)
        out["sklearn"] = t
        out["sklearn_same_noise"] = bool(np.array_equal(ours < 0, raw < 0))
    return out


def worker_join(size: int, repeats: int) -> dict[str, Any]:
    """Ward join on ``size`` distinct random points over the tri-borough extent."""
    import numpy as np
    import shapely

    from hotspots.boundaries import shipped_boundary_sets
    from hotspots.geo.inputs.join import _ward_grid, ward_index_for_points

    bset = shipped_boundary_sets()["wards-2018"]
    x0, y0, x1, y1 = bset.outline.bounds
    rng = np.random.default_rng(7)
    x = rng.uniform(x0 - 500, x1 + 500, size)
    y = rng.uniform(y0 - 500, y1 + 500, size)
    _ward_grid(bset)  # the lookup grid is built once per boundary set
    t_ours, _ = best_of(lambda: ward_index_for_points(x, y, bset), repeats)
    tree = shapely.STRtree(bset.wards.geometry.to_numpy())
    t_tree, _ = best_of(lambda: tree.query(shapely.points(x, y), predicate="intersects"), repeats)
    return {"size": size, "ours": t_ours, "strtree": t_tree}


def _data_dir(size: int, mode: str) -> Path:
    return CACHE / f"{mode}-{size_label(size)}"


def _spawn(args: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:] or ["failed"]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ---- the synthetic section -------------------------------------------------------------------


def synthetic_section(sizes: list[int], repeats: int, quick: bool, report: list[str]) -> list[GrowthPoint]:
    """Every synthetic benchmark; returns the end-to-end points of the growth curve."""
    growth: list[GrowthPoint] = []
    modes = [("snapped", s) for s in sizes] + [("unsnapped", s) for s in sizes if s <= 1_000_000]
    for mode, size in modes:
        t = time.perf_counter()
        fresh = not _data_dir(size, mode).is_dir()
        generate(size, _data_dir(size, mode), mode=mode)
        if fresh:
            print(f"generated {mode} {size_label(size)} in {time.perf_counter() - t:.1f} s")

    print("\nend to end: CSV -> ingest -> ward join -> DBSCAN (eps 100 m, default min_samples) -> hotspots")
    head = (
        f"{'data':18} {'read':>7} {'join':>7} {'dbscan':>7} {'hotspots':>8} {'total':>7} "
        f"{'peak RSS':>9}  target"
    )
    print(head)
    table = [
        "## Synthetic police.uk-like data, end to end",
        "",
        "CSV files (12 monthly files) -> `read_incidents` -> `join_wards` -> `weighted_dbscan` "
        "(eps 100 m, default min_samples) -> `build_hotspots`. Seconds (best of the runs); "
        "peak RSS of the size's own process after each stage.",
        "",
        "| data | incidents | locations | hotspots | read | join | DBSCAN | hotspots | total | "
        "peak RSS (read / join / DBSCAN / hotspots) | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    parquet_rows: list[str] = []
    for mode, size in modes:
        reps = 1 if size >= 10_000_000 else repeats
        parquet = size <= 1_000_000 and mode == "snapped"
        res = _spawn(["--worker", "pipeline", str(size), mode, str(reps), str(int(parquet))])
        label = f"{mode} {size_label(size)}"
        if "error" in res:
            print(f"{label:18} failed: {res['error']}")
            table.append(f"| {label} | failed: {res['error']} |")
            continue
        best = min(res["runs"], key=lambda r: sum(v[0] for v in r.values()))
        total = sum(v[0] for v in best.values())
        peaks = [max(r[s][1] for r in res["runs"][:1]) for s in ("read", "join", "dbscan", "hotspots")]
        target = _target(mode, size, total, max(peaks))
        growth.append(
            GrowthPoint(
                mode,
                res["incidents"],
                total,
                max(peaks),
                res["base_mb"],
                stages={s: best[s][0] for s in STAGES},
                stage_mb=dict(zip(STAGES, peaks, strict=True)),
            )
        )
        print(
            f"{label:18} {best['read'][0]:6.2f}s {best['join'][0]:6.2f}s {best['dbscan'][0]:6.2f}s "
            f"{best['hotspots'][0]:7.2f}s {total:6.2f}s {max(peaks):7.0f}MB  {target}"
        )
        table.append(
            f"| {label} | {res['incidents']:,} | {res['locations']:,} | {res['hotspots']} | "
            f"{best['read'][0]:.2f} | {best['join'][0]:.2f} | {best['dbscan'][0]:.2f} | "
            f"{best['hotspots'][0]:.2f} | **{total:.2f}** | "
            + " / ".join(f"{p:,.0f}" for p in peaks)
            + f" MB | {target} |"
        )
        if "parquet" in res:
            pq = res["parquet"]
            line = (
                f"read stored version ({label}): GeoParquet {pq['parquet']:.2f} s vs CSV {pq['csv']:.2f} s "
                f"= {pq['csv'] / pq['parquet']:.1f}x faster ({pq['parquet_mb']:.0f} MB file, written in "
                f"{pq['write']:.1f} s)"
            )
            print("  " + line)
            parquet_rows.append(
                f"| {label} | {pq['parquet']:.2f} s | {pq['csv']:.2f} s | {pq['csv'] / pq['parquet']:.1f}x | "
                f"{pq['parquet_mb']:.0f} MB |"
            )
    report += [*table, ""]
    if parquet_rows:
        report += [
            "## Reading a stored dataset version",
            "",
            "| data | `Store.load_incidents` (GeoParquet) | `read_incidents` (CSV) | speed-up | file |",
            "|---|---:|---:|---:|---:|",
            *parquet_rows,
            "",
        ]

    print("\nDBSCAN on the same points (eps 100 m, default min_samples)")
    print(f"{'data':18} {'ours':>8} {'dbscan lib':>11} {'ratio':>6} {'sklearn':>9} {'ratio':>7}  notes")
    drows = []
    db_sizes = [(m, s) for m, s in modes if s <= 1_000_000]
    for mode, size in db_sizes:
        sk = size <= 150_000 and not quick
        res = _spawn(["--worker", "dbscan", str(size), mode, str(repeats), str(int(sk))])
        label = f"{mode} {size_label(size)}"
        if "error" in res:
            print(f"{label:18} failed: {res['error']}")
            continue
        lib = res.get("library")
        sk_t = res.get("sklearn")
        lib_s = f"{lib:10.2f}s {res['ours'] / lib:5.2f}x" if lib else f"{'skipped':>11} {'':>6}"
        sk_s = f"{sk_t:8.2f}s {sk_t / res['ours']:6.1f}x" if sk_t else f"{'skipped':>9} {'':>7}"
        notes = []
        if lib is None:
            notes.append("dbscan (PyPI) not installed: skipped")
        else:
            notes.append(
                f"same noise as library: {res['library_same_noise']}, "
                f"adjusted Rand index {res['library_ari']:.4f}"
            )
        if sk_t is None:
            notes.append("sklearn on raw points skipped (too slow / too much memory at this size)")
        else:
            notes.append(f"same noise as sklearn: {res['sklearn_same_noise']}")
        print(f"{label:18} {res['ours']:7.2f}s {lib_s} {sk_s}  {'; '.join(notes)}")
        drows.append(
            f"| {label} | {res['ours']:.2f} s | "
            + (f"{lib:.2f} s | {res['ours'] / lib:.2f}x |" if lib else "skipped (not installed) | |")
            + (f" {sk_t:.2f} s | {sk_t / res['ours']:.1f}x |" if sk_t else " skipped | |")
            + f" {res['clusters']} | {'; '.join(notes)} |"
        )
    report += [
        "## DBSCAN on the same points",
        "",
        "Ours: `weighted_dbscan` (distinct locations weighted by counts, grid algorithm, identical labels "
        "to scikit-learn). Library: `dbscan` from PyPI on the raw points. Ratio ours/library: "
        "target <= 1.2 (issue #16). scikit-learn: plain `DBSCAN` on raw points; ratio sklearn/ours.",
        "",
        "| data | ours | dbscan (PyPI) | ours / lib | sklearn raw | sklearn / ours | clusters | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        *drows,
        "",
    ]

    n_join = 200_000 if quick else 1_000_000
    res = _spawn(["--worker", "join", str(n_join), str(repeats)])
    if "error" not in res:
        rate, ref_rate = n_join / res["ours"], n_join / res["strtree"]
        line = (
            f"ward join, {n_join:,} distinct points: ours {rate:,.0f} points/s, bare STRtree "
            f"{ref_rate:,.0f} points/s ({rate / ref_rate:.1f}x; target >= 1,000,000 points/s)"
        )
        print("\n" + line)
        report += ["## Ward join", "", line, ""]
    return growth


def growth_section(points: list[GrowthPoint], figure: Path | None, report: list[str]) -> None:
    """The compact growth table (printed and reported) and, if asked for, the figure."""
    table = growth_table(points)
    print("\ngrowth curve: end to end (CSV -> ingest -> join -> DBSCAN -> hotspots)")
    print("\n".join(table))
    report += [
        "## Growth curve",
        "",
        "End-to-end time (best run) and peak RSS of each size's own process, from the synthetic "
        "section above.",
        "",
        *table,
        "",
    ]
    if figure is not None:
        growth_figure(points, figure)
        print(f"figure written to {figure}")
        report += [f"Figure: `{figure.as_posix()}`.", ""]


def _target(mode: str, size: int, total: float, peak: float) -> str:
    if mode == "snapped" and size == 1_000_000:
        return f"< 3 s: {'met' if total < 3 else 'MISSED'}"
    if mode == "snapped" and size == 10_000_000:
        return f"< 30 s and < 4 GB: {'met' if total < 30 and peak < 4096 else 'MISSED'}"
    if mode == "unsnapped" and size == 1_000_000:
        return f"< 3 s and < 1 GB: {'met' if total < 3 and peak < 1024 else 'MISSED'}"
    return ""


def machine_info() -> list[str]:
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    libs = ["numpy", "pandas", "pyarrow", "shapely", "geopandas", "pyproj", "scipy", "scikit-learn", "dbscan"]
    versions = []
    for name in libs:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return [
        f"- CPU cores: {os.cpu_count()} ({platform.processor() or platform.machine()})",
        f"- RAM: {mem}",
        f"- Python {platform.python_version()} on {platform.system()} {platform.release()}",
        f"- {', '.join(versions)}",
        f"- last run: `bench/run.py {' '.join(sys.argv[1:])}` at {time.strftime('%Y-%m-%d %H:%M')} (sections "
        "it did not run are kept from earlier runs)",
        f"- best of {REPEATS} unless stated; load average at the "
        f"start {os.getloadavg()[0]:.2f} (other processes on the machine slow every timing)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100k,1m", help="synthetic sizes, e.g. 100k,1m,10m")
    parser.add_argument("--quick", action="store_true", help="100k only, one repeat, no sample section")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--no-sample", action="store_true", help="skip the shipped-sample section")
    parser.add_argument("--no-synthetic", action="store_true", help="skip the synthetic-data sections")
    parser.add_argument(
        "--growth-figure",
        type=Path,
        help="draw time and peak memory against size (e.g. docs/growth.png)",
    )
    parser.add_argument("--pages", action="store_true", help="page weight and first render (Chromium)")
    parser.add_argument("--loads", type=int, default=3, help="browser loads per page for --pages")
    parser.add_argument("--load", action="store_true", help="load test of the cached routes (50 clients)")
    parser.add_argument("--startup", action="store_true", help="start-up times (bench/startup.py)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per route for --load")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "pipeline":
            res = worker_pipeline(int(rest[0]), rest[1], int(rest[2]), bool(int(rest[3])))
        elif kind == "dbscan":
            res = worker_dbscan(int(rest[0]), rest[1], int(rest[2]), bool(int(rest[3])))
        else:
            res = worker_join(int(rest[0]), int(rest[1]))
        print(json.dumps(res))
        return
    sizes = [100_000] if args.quick else [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    repeats = 1 if args.quick else args.repeats
    report = ["# Benchmarks", "", *machine_info(), ""]
    if not (args.quick or args.no_sample):
        sample_section(report)
    if not args.no_synthetic:
        points = synthetic_section(sizes, repeats, args.quick, report)
        growth_section(points, args.growth_figure, report)
    if args.pages:
        from pages import pages_section

        pages_section(report, CACHE, 1 if args.quick else args.loads)
    if args.load:
        from load import load_section

        load_section(report, duration=5.0 if args.quick else args.duration)
    if args.startup:
        from startup import startup_section

        startup_section(report, 1 if args.quick else repeats)
    args.out.write_text(merge_report(args.out.read_text() if args.out.exists() else "", report))
    print(f"\nwritten to {args.out} (sections not run this time are kept from the last run)")


def merge_report(old: str, new: list[str]) -> str:
    """``new`` (a header and ``## `` sections) with the sections of ``old`` that ``new`` lacks.

    A run of a few sections (``--load`` alone, the growth curve alone) refreshes those and
    keeps the others, in their old order, with the new header (machine, date) on top.
    """

    def split(lines: list[str]) -> tuple[list[str], dict[str, list[str]]]:
        head: list[str] = []
        sections: dict[str, list[str]] = {}
        current: list[str] = head
        for line in lines:
            if line.startswith("## "):
                current = sections.setdefault(line, [])
            current.append(line)
        return head, sections

    _, old_sections = split(old.splitlines())
    head, new_sections = split(new)
    merged = dict(old_sections)
    merged.update(new_sections)
    order = list(old_sections) + [k for k in new_sections if k not in old_sections]
    lines = head + [line for key in order for line in merged[key]]
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
