"""The distributed path against the single-machine path, on the same synthetic data and machine.

(Not named ``distributed.py``: run as a script, that would shadow the ``distributed`` package.)

Run: ``.venv/bin/python bench/dask_vs_single.py [--size 1m] [--workers 2] [--repeats 1]``.

On 1M snapped police.uk-like incidents (``bench/synthetic.py``, fixed seed), stored as monthly
GeoParquet, it times

- single machine: :func:`hotspots.geo.analysis.analyse` (``statistics=False``) on the frame in
  memory (ward join, DBSCAN, hotspot summaries);
- distributed: :func:`hotspots.geo.scale.distributed.analyse_distributed` on a local Dask cluster of
  ``--workers`` processes, from the GeoParquet files (read, join, counts, tiled DBSCAN, hotspots);

checks that both give the same hotspots and prints the ratio. On one small machine the
distributed path is expected to be slower: it pays for processes, scheduling and moving data,
and only pays back when the data no longer fit one machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from synthetic import generate, parse_size, size_label  # noqa: E402

CACHE = HERE / ".cache"


def main() -> None:
    import pandas as pd

    from hotspots.boundaries import shipped_boundary_sets
    from hotspots.geo.analysis import AnalysisParams, analyse
    from hotspots.geo.inputs.ingest import SourceFiles, read_incidents
    from hotspots.geo.scale.distributed import (
        analyse_distributed,
        dask_client,
        read_partitioned,
        write_partitioned,
    )

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="1m")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    n = parse_size(args.size)
    paths = generate(n, CACHE / f"snapped-{size_label(n)}", mode="snapped")
    incidents = read_incidents(SourceFiles(paths)).incidents
    sets = shipped_boundary_sets()
    params = AnalysisParams()

    single_s, single = float("inf"), None
    for _ in range(args.repeats):
        start = time.perf_counter()
        single = analyse(incidents, sets, params, statistics=False)
        single_s = min(single_s, time.perf_counter() - start)
    assert single is not None

    with tempfile.TemporaryDirectory() as tmp, dask_client(n_workers=args.workers) as client:
        write_partitioned(incidents, Path(tmp))
        dist_s, ours = float("inf"), None
        for _ in range(args.repeats):
            start = time.perf_counter()
            ours = analyse_distributed(client, read_partitioned(Path(tmp)), sets, params, statistics=False)
            dist_s = min(dist_s, time.perf_counter() - start)
    assert ours is not None
    pd.testing.assert_frame_equal(
        pd.DataFrame(ours.hotspots.drop(columns="geometry")),
        pd.DataFrame(single.hotspots.drop(columns="geometry")),
    )
    print(f"{size_label(n)} snapped incidents, {len(single.hotspots)} hotspots (identical on both paths)")
    print(f"single machine: {single_s:.2f} s")
    print(
        f"distributed ({args.workers} local workers): {dist_s:.2f} s, "
        f"{dist_s / single_s:.1f} x the single-machine time"
    )


if __name__ == "__main__":
    main()
