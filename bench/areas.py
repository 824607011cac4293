"""Any area as fast as the demo: Essex Police's seven whole-force months against the tri-borough's 2020.

Both run ``hotspots analyse`` end to end in a fresh process (reading the CSVs, validating against
the area, the ward join, DBSCAN, summaries, Gi*, emerging hot spots and every output file):

- reference: the shipped tri-borough points, ``--from 2020-01 --to 2020-12`` (the demo area);
- Essex: the seven shipped monthly files of Essex Police (115k rows) with ``--police-force Essex``
  (the area picked from the national catalogue, in the same process).

It prints the wall time of each (best of ``--repeat``), the incidents each analysed and the
ratio of the time per incident, Essex over the tri-borough; the target is at most 1.5.

Run: ``python bench/areas.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def unpack(name: str, folder: Path) -> Path:
    """A shipped gzipped sample as a plain CSV in ``folder`` (what a partner downloads)."""
    source = resources.files("hotspots") / "sample_data" / name
    target = folder / Path(name).name.removesuffix(".gz")
    target.write_bytes(gzip.decompress(source.read_bytes()))
    return target


def run(args: list[str], out: Path) -> tuple[float, int]:
    """Wall seconds of one ``hotspots analyse`` and the incidents it analysed (from its outputs)."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "hotspots.cli", "analyse", *args, "--out", str(out)],
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - start
    wards = json.loads((out / "wards.geojson").read_text())
    inside = sum(f["properties"]["count"] or 0 for f in wards["features"])
    return elapsed, inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tri = unpack("police_api_points_tri_borough_2018-02_to_2020-12.csv.gz", folder)
        essex = [unpack(f"essex/2018-{m:02d}-essex-street.csv.gz", folder) for m in range(1, 8)]
        cases = {
            "tri-borough 2020": [str(tri), "--from", "2020-01", "--to", "2020-12"],
            "Essex 2018-01..07": [*map(str, essex), "--police-force", "Essex"],
        }
        results: dict[str, tuple[float, int]] = {}
        for label, args in cases.items():
            times = []
            for i in range(options.repeat):
                elapsed, n = run(args, folder / f"out-{i}")
                times.append(elapsed)
            results[label] = (min(times), n)
            print(f"{label}: {min(times):.2f} s best of {options.repeat}, {n:,} incidents inside the area")
    (t_ref, n_ref), (t_essex, n_essex) = results.values()
    ratio = (t_essex / n_essex) / (t_ref / n_ref)
    print(f"time per incident, Essex / tri-borough: {ratio:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
