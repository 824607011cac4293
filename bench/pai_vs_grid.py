"""Do the default hotspots predict as well as a 50 m grid? Per shipped dataset, fit then test.

For each shipped dataset (the tri-borough points 2018-02..2020-12, the 2022 tri-borough
violence data, seven whole-force Essex months) the default hotspots are fitted on the months
before a test month and scored on it, and the 50 m grid ranking (cells by past counts) is
scored at the same area share. Printed: the next-month result (the last month) and the mean
over a rolling window of the last 12 test months (fewer where the data have fewer months),
with the ratio hotspot PAI / grid PAI. DESIGN's bar: at least 0.9 everywhere.

    PYTHONPATH=. .venv/bin/python bench/pai_vs_grid.py [--rolling 12] [--only tri,violence,essex]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from hotspots.boundaries.essex import ESSEX_DATA, INCIDENT_FILES
from hotspots.demo import SAMPLES, sample_source
from hotspots.geo.analysis import AnalysisParams
from hotspots.geo.inputs.ingest import Source, read_incidents
from hotspots.service import HotspotService
from hotspots.settings import Settings

VIOLENCE = "police_uk_tri_borough_2022-01_to_2022-09.csv.gz"


def datasets(service: HotspotService, only: set[str]) -> list[tuple[str, pd.DataFrame, Any]]:
    out = []
    if "tri" in only:
        inc = read_incidents([sample_source(SAMPLES[0].filename)]).incidents
        out.append(("tri-borough points 2018-02..2020-12", inc, service.area("tri-borough")))
    if "violence" in only:
        inc = read_incidents([sample_source(VIOLENCE)]).incidents
        out.append(("tri-borough 2022-01..09 (generic CSV)", inc, service.area("tri-borough")))
    if "essex" in only:
        sources = []
        for name in INCIDENT_FILES:
            with resources.as_file(ESSEX_DATA / name) as path:
                sources.append(Source.from_path(path))
        area = service.add_area("essex", police_force="Essex")
        out.append(("Essex Police area 2018-01..07", read_incidents(sources).incidents, area))
    return out


def ratio(pai: float | None, grid: float | None) -> float | None:
    return None if pai is None or not grid else pai / grid


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rolling", type=int, default=12, help="test months in the rolling window (max 12)")
    parser.add_argument("--only", default="tri,violence,essex")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        service = HotspotService(Settings(data_dir=Path(tmp), seed_sample_data=False))
        print(
            "| data | test | hit rate | area share | PAI | 50 m grid PAI | ratio | KDE PAI | wards PAI | s |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, inc, area in datasets(service, set(args.only.split(","))):
            months = sorted(inc["month"].dropna().astype(str).unique())
            n = min(args.rolling, len(months) - 1)
            for label, tests in (("next month", 1), (f"rolling {n}", n)):
                t0 = time.perf_counter()
                report = service.evaluate_incidents(inc, AnalysisParams(), None, tests, area=area)
                rows = report["rows"]
                mean = report["mean"]
                pick = rows[-1] if tests == 1 else mean
                r = ratio(pick["pai"], pick["grid_pai"])
                # the rolling ratio is the mean of the monthly ratios
                if tests > 1:
                    ratios = [ratio(row["pai"], row["grid_pai"]) for row in rows]
                    r = sum(x for x in ratios if x is not None) / max(1, sum(x is not None for x in ratios))
                print(
                    f"| {name} | {label} ({rows[0]['test_month']}..{rows[-1]['test_month']}) "
                    f"| {pick['hit_rate']:.1%} | {pick['area_share']:.2%} | {pick['pai']:.1f} "
                    f"| {pick['grid_pai']:.1f} | {r:.2f} | {pick['kde_pai']:.1f} | {pick['wards_pai']:.1f} "
                    f"| {time.perf_counter() - t0:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
