"""The three inner kernels the app leans on, each timed against the library it replaces.

On the shipped 147k police.uk points (``SAMPLES[0]``), in one process:

- ``k_distances`` (the k-distance plot behind the eps advice) against scikit-learn's
  ``NearestNeighbors.kneighbors`` on the raw points;
- ``hdbscan_labels`` against scikit-learn's ``HDBSCAN`` on the raw points;
- ``heat_surface`` (the heat layer) on 150,000 incidents at 6,000 snapped sites against
  ``scipy.stats.gaussian_kde`` evaluated on the same grid from a 5,000-point subsample.

These were timed assertions in the tests (which are flaky on a shared machine); the claim
is the ratio printed here, measured in the same run.

    PYTHONPATH=. python bench/kernels.py --repeat 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import best_of  # noqa: E402


def report(name: str, ours: float, reference: str, ref: float) -> None:
    print(f"{name:<20} ours {ours:6.2f} s  {reference:<20} {ref:6.2f} s  ratio {ref / ours:5.1f}x")


def main() -> None:
    from scipy.stats import gaussian_kde
    from sklearn.cluster import HDBSCAN
    from sklearn.neighbors import NearestNeighbors

    from hotspots.demo import SAMPLES, sample_source
    from hotspots.geo.clusters.hdbscan import hdbscan_labels
    from hotspots.geo.inputs.ingest import read_incidents
    from hotspots.geo.stats.parameters import k_distances
    from hotspots.maps.heat import heat_surface

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    points = read_incidents([sample_source(SAMPLES[0].filename)]).incidents
    located = points["has_location"].to_numpy(bool)
    x, y = points["x"].to_numpy()[located], points["y"].to_numpy()[located]
    xy = np.column_stack([x, y])
    print(f"{len(x):,} located incidents; best of {args.repeat}")

    ours = best_of(lambda: k_distances(x, y, 70), args.repeat)[0]
    ref = best_of(lambda: NearestNeighbors(n_neighbors=70).fit(xy).kneighbors(xy), 1)[0]
    print(
        f"k-distances, k=70:   ours {ours:6.2f} s  sklearn kneighbors {ref:6.2f} s  ratio {ref / ours:5.1f}x"
    )

    ours = best_of(lambda: hdbscan_labels(x, y, 50), args.repeat)[0]
    ref = best_of(lambda: HDBSCAN(min_cluster_size=50, copy=False).fit(xy), 1)[0]
    print(
        f"HDBSCAN, min 50:     ours {ours:6.2f} s  sklearn HDBSCAN    {ref:6.2f} s  ratio {ref / ours:5.1f}x"
    )

    rng = np.random.default_rng(7)
    sites = np.column_stack([rng.uniform(540_000, 560_000, 6_000), rng.uniform(180_000, 195_000, 6_000)])
    pick = rng.integers(0, len(sites), 150_000)
    extent = (540_000.0, 180_000.0, 560_000.0, 195_000.0)
    ours = best_of(lambda: heat_surface(sites[pick, 0], sites[pick, 1], extent), args.repeat)[0]
    sub = sites[pick[:5_000]].T
    gx, gy = np.meshgrid(np.linspace(extent[0], extent[2], 480), np.linspace(extent[1], extent[3], 360))
    ref = best_of(lambda: gaussian_kde(sub)(np.vstack([gx.ravel(), gy.ravel()])), 1)[0]
    print(
        f"heat surface, 150k:  ours {ours:6.2f} s  scipy KDE (5k)     {ref:6.2f} s  ratio {ref / ours:5.1f}x"
    )


if __name__ == "__main__":
    main()
