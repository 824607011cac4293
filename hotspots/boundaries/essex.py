"""The Essex Police area shipped for tests and demos: 2013 wards, 14 districts, police.uk files.

Files in ``hotspots/sample_data/essex/`` (built by ``scripts/build_package_data.py``; sources and
licences in ``hotspots/PROVENANCE.md``): seven monthly whole-force police.uk street files
(2018-01 to 2018-07, gzipped, unchanged rows), the 2013 wards and districts as GeoParquet in
EPSG:27700 (1 m grid) and approximate Census 2021 ward populations.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import geopandas as gpd
import pandas as pd

from hotspots.boundaries.model import WARD_COLUMNS, BoundarySet
from hotspots.crs import BNG

ESSEX_DATA = resources.files("hotspots") / "sample_data" / "essex"
INCIDENT_FILES = tuple(f"2018-{month:02d}-essex-street.csv.gz" for month in range(1, 8))
"""The police.uk street files, one per month, relative to :data:`ESSEX_DATA`."""


def _read(name: str) -> gpd.GeoDataFrame:
    with resources.as_file(ESSEX_DATA / name) as path:
        return gpd.read_parquet(path).to_crs(BNG)


@cache
def essex_boundary_set() -> BoundarySet:
    """Essex's 304 wards of 2013 in its 14 districts (EPSG:27700), with approximate population.

    ``population`` is Census 2021 usual residents summed from 2021 LSOAs to the 2013 wards
    (NaN for the 3 wards left without a value). Cached: treat the frames as read-only.
    """
    wards = _read("essex_wards_2013.parquet")[[*WARD_COLUMNS, "geometry"]]
    with resources.as_file(ESSEX_DATA / "essex_ward2013_pop2021_approx.csv.gz") as path:
        pop = pd.read_csv(path, usecols=["WD13CD", "usual_residents_2021_approx"])
    wards["population"] = wards["ward_code"].map(pop.set_index("WD13CD")["usual_residents_2021_approx"])
    return BoundarySet(
        name="essex-wards-2013",
        title="Essex Police area: wards of 2013 (14 districts)",
        wards=wards,
        boroughs=_read("essex_lad_2013.parquet"),
        valid_from=None,
        valid_to=None,
        source=(
            "ONS/OS generalised 2013 ward boundaries via martinjc/UK-GeoJSON (CC-BY-4.0; "
            "OGL v3.0 and OS OpenData)"
        ),
        shipped=True,
        notes=["2013 wards: some Essex districts have had ward reviews since; older than the data."],
        population_source=(
            "Approximate: Census 2021 usual residents (ONS TS001) by 2021 LSOA, summed to the 2013 "
            "ward holding each 2011 LSOA's representative point; LSOAs whose code changed in 2021 "
            "left out (3 wards without a value). OGL v3.0"
        ),
    )
