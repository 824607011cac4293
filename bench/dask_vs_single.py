"""The distributed path against the single-machine path: time and peak memory per process.

(Not named ``distributed.py``: run as a script, that would shadow the ``distributed`` package.)

Run: ``.venv/bin/python bench/dask_vs_single.py [--size 1m] [--workers 2]``.

Snapped police.uk-like incidents (``bench/synthetic.py``, fixed seed) are validated once into
monthly GeoParquet partitions (``ingest_csv_partitioned`` on the local cluster, cached under
``bench/.cache/``). Then, each in its own process so that peak memory is its own:

- single machine: the partitions read into one frame, then
  :func:`hotspots.geo.analysis.analyse` (``statistics=False``: ward join, DBSCAN, summaries);
- distributed: :func:`hotspots.geo.scale.distributed.analyse_distributed` on a local Dask cluster
  of ``--workers`` processes reading the same partitions.

It checks that both give the same hotspots and prints time and peak RSS: of the single process,
and of the distributed client and its largest worker. Time shows what the distributed path costs
on one machine; memory shows where it pays back: the single process holds every incident, while
no distributed process holds more than a partition and the aggregates, so a machine (or a cluster)
whose processes are each smaller than the data can still run it.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from synthetic import generate, parse_size, size_label  # noqa: E402

CACHE = HERE / ".cache"


def _peak_mb() -> float:
    """Peak resident memory of the calling process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _partitions(n: int, workers: int) -> Path:
    """The cached GeoParquet partitions of the ``n``-incident snapped set (written once)."""
    from hotspots.geo.scale.distributed import dask_client, ingest_csv_partitioned

    out = CACHE / f"partitions-snapped-{size_label(n)}"
    if (out / ".complete").exists():
        return out
    paths = generate(n, CACHE / f"snapped-{size_label(n)}", mode="snapped")
    with dask_client(n_workers=workers) as client:
        ingest_csv_partitioned(client, paths, out)
    (out / ".complete").touch()
    return out


def worker_single(directory: Path, out: Path) -> dict[str, Any]:
    from hotspots.boundaries import shipped_boundary_sets
    from hotspots.geo.analysis import AnalysisParams, analyse
    from hotspots.geo.scale.distributed import read_partitioned

    sets = shipped_boundary_sets()
    base = _peak_mb()
    start = time.perf_counter()
    incidents = read_partitioned(directory).compute(scheduler="synchronous")
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    result = analyse(incidents, sets, AnalysisParams(), statistics=False)
    analyse_s = time.perf_counter() - start
    result.hotspots.drop(columns="geometry").to_parquet(out)
    return {"read": read_s, "analyse": analyse_s, "peak_mb": _peak_mb(), "base_mb": base}


def worker_distributed(directory: Path, out: Path, workers: int) -> dict[str, Any]:
    import pandas as pd

    from hotspots.boundaries import shipped_boundary_sets
    from hotspots.geo.analysis import AnalysisParams
    from hotspots.geo.scale.distributed import analyse_distributed, dask_client, read_partitioned

    sets = shipped_boundary_sets()
    base = _peak_mb()
    with dask_client(n_workers=workers) as client:
        start = time.perf_counter()
        result = analyse_distributed(
            client, read_partitioned(directory), sets, AnalysisParams(), statistics=False
        )
        seconds = time.perf_counter() - start
        worker_peaks = client.run(_peak_mb)
    pd.DataFrame(result.hotspots.drop(columns="geometry")).to_parquet(out)
    return {
        "seconds": seconds,
        "client_peak_mb": _peak_mb(),
        "base_mb": base,
        "worker_peak_mb": max(worker_peaks.values()),
    }


def _spawn(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr or done.stdout)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="1m")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, directory, out, *rest = args.worker
        if kind == "single":
            res = worker_single(Path(directory), Path(out))
        else:
            res = worker_distributed(Path(directory), Path(out), int(rest[0]))
        print(json.dumps(res))
        return

    import pandas as pd

    n = parse_size(args.size)
    directory = _partitions(n, args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        single = _spawn("single", str(directory), f"{tmp}/single.parquet")
        dist = _spawn("distributed", str(directory), f"{tmp}/dist.parquet", str(args.workers))
        a = pd.read_parquet(f"{tmp}/single.parquet")
        b = pd.read_parquet(f"{tmp}/dist.parquet")
    pd.testing.assert_frame_equal(b, a)
    single_s = single["read"] + single["analyse"]
    print(f"{size_label(n)} snapped incidents, {len(a)} hotspots (identical on both paths)")
    print(
        f"single process: {single_s:.2f} s (read {single['read']:.2f} s, analyse {single['analyse']:.2f} s), "
        f"peak RSS {single['peak_mb']:,.0f} MB ({single['peak_mb'] - single['base_mb']:,.0f} MB above start)"
    )
    print(
        f"distributed ({args.workers} local workers): {dist['seconds']:.2f} s = "
        f"{dist['seconds'] / single_s:.1f}x the single process's time; peak RSS of the client "
        f"{dist['client_peak_mb']:,.0f} MB ({dist['client_peak_mb'] - dist['base_mb']:,.0f} MB above start), "
        f"of the largest worker {dist['worker_peak_mb']:,.0f} MB; largest distributed process "
        f"{max(dist['client_peak_mb'], dist['worker_peak_mb']) / single['peak_mb']:.2f}x the single process"
    )


if __name__ == "__main__":
    main()
