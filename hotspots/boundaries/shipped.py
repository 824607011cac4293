"""The boundary sets shipped with the package (tri-borough: B&D, Havering, Redbridge).

Built by ``scripts/build_package_data.py`` from the public files listed in
``hotspots/PROVENANCE.md`` (ONS / GLA, OGL v3.0).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import geopandas as gpd
import pandas as pd

from hotspots.boundaries.model import WARD_COLUMNS, BoundarySet
from hotspots.crs import BNG

DATA = resources.files("hotspots.boundaries") / "data"


def _read(name: str) -> gpd.GeoDataFrame:
    with resources.as_file(DATA / name) as path:
        return gpd.read_parquet(path).to_crs(BNG)


def _population_from_lsoas(wards: gpd.GeoDataFrame, csv_name: str) -> pd.Series:
    """Residents per ward: LSOA populations summed by the ward holding each LSOA's representative point."""
    lsoas = _read("lsoa_2011.parquet")
    with resources.as_file(DATA / csv_name) as path:
        pop = pd.read_csv(path, usecols=["LSOA11CD", "Persons_All-Ages"])
    points = gpd.GeoDataFrame(lsoas[["LSOA11CD"]], geometry=lsoas.geometry.representative_point(), crs=BNG)
    points = points.merge(pop, on="LSOA11CD", how="left")
    hits = gpd.sjoin(points, wards[["ward_code", "geometry"]], predicate="within")
    totals = hits.groupby("ward_code")["Persons_All-Ages"].sum()
    return wards["ward_code"].map(totals).astype(float)


@cache
def shipped_boundary_sets() -> dict[str, BoundarySet]:
    """The shipped sets by name, oldest first. Cached: treat the frames as read-only."""
    boroughs = _read("boroughs.parquet")
    w18 = _read("wards_2018.parquet")[[*WARD_COLUMNS, "geometry"]]
    w18["population"] = _population_from_lsoas(w18, "tri_borough_lsoa11_population_ons_mid2020.csv.gz")
    w22 = _read("wards_2022_approx.parquet").rename(columns={"population_2021": "population"})
    pop22 = pd.to_numeric(w22["population"], errors="coerce")
    w22["population"] = pop22
    sets = [
        BoundarySet(
            name="wards-2018",
            title="Tri-borough wards in force May 2018 to April 2022",
            wards=w18,
            boroughs=boroughs,
            valid_from=None,
            valid_to="2022-04",
            source="GLA Statistical GIS Boundary Files for London (London-wards-2018), OGL v3.0",
            shipped=True,
            notes=[
                "Redbridge adopted these wards in May 2018; earlier months are joined to them too.",
            ],
            population_source=(
                "ONS mid-2020 population estimates for 2011 LSOAs, summed to each ward by the ward that "
                "holds each LSOA's representative point (best fit). OGL v3.0"
            ),
        ),
        BoundarySet(
            name="wards-2022",
            title="Tri-borough wards from May 2022 (approximate: best fit of 2021 LSOAs)",
            wards=w22,
            boroughs=boroughs,
            valid_from="2022-05",
            valid_to=None,
            approximate=True,
            source=(
                "Dissolved from ONS 2021 LSOAs with the ONS LSOA21-to-ward-2025 best-fit lookup; "
                "edges follow LSOAs, not the legal ward boundaries. OGL v3.0"
            ),
            shipped=True,
            notes=["Approximate: ward edges follow 2021 LSOA edges (ONS best-fit lookup)."],
            population_source=(
                "Census 2021 usual residents (ONS TS007A) summed from 2021 LSOAs with the ONS "
                "LSOA21-to-ward-2025 best-fit lookup. OGL v3.0"
            ),
        ),
    ]
    return {s.name: s for s in sets}
