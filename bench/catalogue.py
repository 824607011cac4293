"""How long picking an area from the national catalogue takes, against reading the national file.

Each measurement runs in a fresh Python process (the catalogue is read once per process), after
the imports, and reports the best and median of ``--repeat`` runs:

- ``catalogue: first pick``: load the shipped GeoParquet tables, resolve three district names,
  build the tri-borough :class:`BoundarySet` (wards, dissolved boroughs); the target is < 1 s;
- ``catalogue: later pick``: the same for the 14 Essex districts, catalogue already loaded;
- ``catalogue: whole force``: the Metropolitan Police area (32 boroughs, 679 wards), loaded;
- reference: read ``../shared/data/national/wards_may2022_ew_bsc.geojson`` (the national source
  file) with geopandas, select the three boroughs and reproject to EPSG:27700.

Run: ``python bench/catalogue.py [--repeat 5] [--shared ../shared/data]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CATALOGUE = """
import time
from hotspots.boundaries.catalogue import Catalogue
cat = Catalogue()
t0 = time.perf_counter()
cat.boundary_set(["Barking and Dagenham", "Havering", "Redbridge"])
t1 = time.perf_counter()
cat.force_boundary_set("Essex")
t2 = time.perf_counter()
cat.force_boundary_set("Metropolitan Police")
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""

REFERENCE = """
import sys, time
import geopandas as gpd
t0 = time.perf_counter()
w = gpd.read_file(sys.argv[1])
w = w[w["LAD22CD"].isin(["E09000002", "E09000016", "E09000026"])].to_crs(27700)
print(time.perf_counter() - t0)
"""


def _run(code: str, *args: str) -> list[float]:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    )
    return [float(v) for v in out.stdout.split()]


def _fmt(values: list[float]) -> str:
    return f"best {min(values) * 1000:7.1f} ms, median {statistics.median(values) * 1000:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    runs = [_run(CATALOGUE) for _ in range(args.repeat)]
    first, later, force = ([r[i] for r in runs] for i in range(3))
    print(f"catalogue: first pick (load + 3 districts) {_fmt(first)}  target < 1 s: "
          f"{'met' if max(first) < 1 else 'MISSED'}")  # fmt: skip
    print(f"catalogue: later pick (14 Essex districts) {_fmt(later)}")
    print(f"catalogue: whole force (Met, 679 wards)    {_fmt(force)}")
    source = args.shared / "national" / "wards_may2022_ew_bsc.geojson"
    if source.exists():
        ref = [_run(REFERENCE, str(source))[0] for _ in range(args.repeat)]
        print(f"reference: read national GeoJSON + select {_fmt(ref)}")
        print(
            f"first pick: {statistics.median(ref) / statistics.median(first):.1f}x faster than the reference"
        )
    else:
        print(f"reference skipped: {source} not found")


if __name__ == "__main__":
    main()
