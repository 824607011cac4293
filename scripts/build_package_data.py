"""Rebuild the data shipped inside the package from ``../shared/data``.

Run from the repository root: ``python scripts/build_package_data.py [SHARED_DATA_DIR]``.
The outputs are committed, so users never need ``../shared``. Boundaries are
kept at full resolution (the ward join must agree with the source to 99.9%);
the maps simplify them for display at render time.
"""

from __future__ import annotations

import gzip
import shutil
import sys
from pathlib import Path

import geopandas as gpd

ROOT = Path(__file__).resolve().parents[1]
TRI_BOROUGH = ["E09000002", "E09000016", "E09000026"]


def main(shared: Path) -> None:
    bdir = ROOT / "hotspots" / "boundaries" / "data"
    ddir = ROOT / "hotspots" / "sample_data"
    bdir.mkdir(parents=True, exist_ok=True)
    ddir.mkdir(parents=True, exist_ok=True)
    src = shared / "boundaries"
    keep = ["ward_code", "ward_name", "borough_code", "borough_name", "geometry"]
    w18 = gpd.read_file(src / "tri_borough_wards_2018.geojson")[keep]
    w18.to_parquet(bdir / "wards_2018.parquet", compression="zstd")
    w22 = gpd.read_file(src / "tri_borough_wards_2022_approx_from_lsoa21_bestfit.geojson")
    w22[[*keep[:-1], "population_2021", "geometry"]].to_parquet(
        bdir / "wards_2022_approx.parquet", compression="zstd"
    )
    boroughs = gpd.read_file(src / "london_boroughs.geojson")
    boroughs = boroughs[boroughs["borough_code"].isin(TRI_BOROUGH)]
    boroughs[["borough_code", "borough_name", "geometry"]].to_parquet(
        bdir / "boroughs.parquet", compression="zstd"
    )
    pops = [
        "tri_borough_ward25_population_census2021_bestfit.csv",
        "tri_borough_lsoa11_population_ons_mid2019.csv",
        "tri_borough_lsoa11_population_ons_mid2020.csv",
        "tri_borough_lsoa21_to_ward25_bestfit_lookup.csv",
    ]
    for name in pops:
        _gzip(shared / "population" / name, bdir / f"{name}.gz")
    lsoa11 = gpd.read_file(src / "tri_borough_lsoa_2011.geojson")
    lsoa11[["LSOA11CD", "LSOA11NM", "LAD11CD", "geometry"]].to_parquet(
        bdir / "lsoa_2011.parquet", compression="zstd"
    )
    for name in [
        "police_api_points_tri_borough_2018-02_to_2020-12.csv",
        "2023-01-metropolitan-street_barking-and-dagenham.csv",
    ]:
        _gzip(shared / "incidents" / name, ddir / f"{name}.gz")
    shutil.copy(shared / "PROVENANCE.md", ROOT / "hotspots" / "PROVENANCE.md")


def _gzip(src: Path, dst: Path) -> None:
    with src.open("rb") as fin, gzip.GzipFile(dst, "wb", compresslevel=9, mtime=0) as fout:
        shutil.copyfileobj(fin, fout)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data")
