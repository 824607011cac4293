"""Rebuild the data shipped inside the package from ``../shared/data``.

Run from the repository root: ``python scripts/build_package_data.py [SHARED_DATA_DIR]``.
The outputs are committed, so users never need ``../shared``. Boundaries are
kept at full resolution (the ward join must agree with the source to 99.9%);
the maps simplify them for display at render time.

Also built here (see ``hotspots/PROVENANCE.md``, section "Shipped package data"):

- the national catalogue (``hotspots/boundaries/data/national_*.parquet``): every 2022 ward
  of England and Wales with its 2022 and 2024 district and Census 2021 population, the
  districts (2022 and 2024) with their police force area, and the 43 force areas;
- the Essex Police area (``hotspots/sample_data/essex/``): seven monthly police.uk files,
  the 2013 wards and districts and approximate ward populations;
- two more tri-borough incident files with violence (and anti-social behaviour), gzipped.
"""

from __future__ import annotations

import gzip
import shutil
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

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
    for name in ["police_uk_tri_borough_2022-01_to_2022-09.csv"]:
        _gzip(shared / "incidents" / name, ddir / f"{name}.gz")
    # Already gzipped in the source: recompressed at level 9 (same bytes once decompressed).
    _regzip(
        shared / "incidents" / "police_api_bd_havering_2016-01_to_2018-06.csv.gz",
        ddir / "police_api_bd_havering_2016-01_to_2018-06.csv.gz",
    )
    build_catalogue(shared / "national", bdir)
    build_essex(shared / "areas" / "essex", ddir / "essex")
    provenance = (shared / "PROVENANCE.md").read_text(encoding="utf-8").rstrip("\n")
    shipped = (ROOT / "scripts" / "package_provenance.md").read_text(encoding="utf-8")
    (ROOT / "hotspots" / "PROVENANCE.md").write_text(f"{provenance}\n\n---\n\n{shipped}", encoding="utf-8")


BNG = 27700
GRID_M = 1.0  # coordinates rounded to 1 m in EPSG:27700


def _to_bng(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Reproject to British National Grid and round every vertex to 1 m (valid polygons kept)."""
    out = frame.to_crs(BNG)
    geoms = shapely.make_valid(shapely.set_precision(out.geometry.to_numpy(), GRID_M))
    # make_valid may leave stray lines or points beside the polygons: keep only the polygons.
    geoms = [_polygons(g) for g in geoms]
    return out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=BNG))


def _polygons(geom: shapely.Geometry) -> shapely.Geometry:
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts)


def build_catalogue(national: Path, bdir: Path) -> None:
    """The national catalogue: wards (May 2022), districts (2022 and 2024) and police force areas.

    Writes ``national_wards_2022.parquet`` (``ward_code``, ``ward_name``, ``lad22_code``,
    ``lad24_code``, ``population``: Census 2021 usual residents, null where no LSOA centroid
    falls in the ward; geometry EPSG:27700, 1 m grid), ``national_districts.parquet`` (``code``,
    ``name``, ``in_2022``, ``in_2024``, ``successor``: the December 2024 district holding the
    district's wards, ``force_code``, ``force_name``, ``share``: the part of the district inside
    that force area; geometry EPSG:27700) and ``national_forces.parquet`` (``code``, ``name``).
    """
    wards = gpd.read_file(national / "wards_may2022_ew_bsc.geojson")
    wards = wards.dissolve(by="WD22CD", as_index=False, sort=False)  # E05014284 has two parts
    lookup = pd.read_csv(national / "lookup_wd22_lad22_lad24_pop2021.csv", dtype={"n_lsoa": int})
    wards = wards[["WD22CD", "geometry"]].merge(lookup, on="WD22CD", how="inner", validate="1:1")
    if len(wards) != len(lookup):
        raise SystemExit("ward polygons and the ward lookup disagree")
    population = lookup.set_index("WD22CD")["usual_residents_2021"].astype("Int64")
    population[lookup.set_index("WD22CD")["n_lsoa"] == 0] = pd.NA  # no LSOA centroid: unknown, not 0
    wards["population"] = wards["WD22CD"].map(population).astype("Int64")
    wards = wards.rename(
        columns={
            "WD22CD": "ward_code",
            "WD22NM": "ward_name",
            "LAD22CD": "lad22_code",
            "LAD24CD": "lad24_code",
        }
    )
    wards = wards[["ward_code", "ward_name", "lad22_code", "lad24_code", "population", "geometry"]]
    wards = _to_bng(gpd.GeoDataFrame(wards, geometry="geometry", crs=4326))
    wards = wards.sort_values(["lad22_code", "ward_code"], ignore_index=True)
    wards.to_parquet(bdir / "national_wards_2022.parquet", compression="zstd", index=False)

    lad22 = _to_bng(gpd.read_file(national / "lad_may2022_ew_bsc.geojson"))
    pfa22 = pd.read_csv(national / "lookup_lad22_pfa23_spatial.csv")
    pfa24 = pd.read_csv(national / "lookup_lad24_pfa23_spatial.csv")
    succ = lookup.drop_duplicates("LAD22CD").set_index("LAD22CD")["LAD24CD"]
    old = lad22.rename(columns={"LAD22CD": "code", "LAD22NM": "name"})[["code", "name", "geometry"]]
    old["successor"] = old["code"].map(succ)
    old = old.merge(pfa22.rename(columns={"LAD22CD": "code"}), on="code", how="left")
    # 2024 districts with new codes (the April 2023 mergers): dissolved from their 2022 districts.
    names24 = lookup.drop_duplicates("LAD24CD").set_index("LAD24CD")["LAD24NM"]
    new_codes = sorted(set(names24.index) - set(old["code"]))
    merged = old[old["successor"].isin(new_codes)].dissolve(by="successor", as_index=False)
    new = gpd.GeoDataFrame(
        {
            "code": merged["successor"],
            "name": merged["successor"].map(names24),
            "successor": merged["successor"],
        },
        geometry=merged.geometry.to_numpy(),
        crs=BNG,
    )
    new = new.merge(pfa24.rename(columns={"LAD24CD": "code"}), on="code", how="left")
    districts = pd.concat([old, new], ignore_index=True)
    districts["in_2022"] = districts["code"].isin(lookup["LAD22CD"])
    districts["in_2024"] = districts["code"].isin(lookup["LAD24CD"])
    # Current districts take the force from the 2024 lookup (its overlaps are the closer ones).
    f24 = pfa24.set_index("LAD24CD")
    cur = districts["in_2024"]
    districts.loc[cur, "PFA23CD"] = districts.loc[cur, "code"].map(f24["PFA23CD"])
    districts.loc[cur, "share"] = districts.loc[cur, "code"].map(f24["share"])
    districts = districts.rename(columns={"PFA23CD": "force_code"})
    forces = pd.read_csv(national / "lookup_lad24_pfa23_spatial.csv")[["PFA23CD", "PFA23NM"]]
    forces = forces.drop_duplicates().rename(columns={"PFA23CD": "code", "PFA23NM": "name"})
    pfa = gpd.read_file(national / "pfa_dec2023_ew_bgc.geojson")
    if set(pfa["PFA23CD"]) != set(forces["code"]):
        raise SystemExit("force areas and the district-to-force lookup disagree")
    forces = forces.sort_values("code", ignore_index=True)
    districts["force_name"] = districts["force_code"].map(forces.set_index("code")["name"])
    districts = districts[
        ["code", "name", "in_2022", "in_2024", "successor", "force_code", "force_name", "share", "geometry"]
    ]
    districts = gpd.GeoDataFrame(
        districts.sort_values("code", ignore_index=True), geometry="geometry", crs=BNG
    )
    if districts[["force_code", "successor"]].isna().any().any():
        raise SystemExit("a district has no force or successor")
    districts.to_parquet(bdir / "national_districts.parquet", compression="zstd", index=False)
    forces.to_parquet(bdir / "national_forces.parquet", compression="zstd", index=False)


def build_essex(essex: Path, out: Path) -> None:
    """The Essex Police area: 2013 wards and districts (EPSG:27700, 1 m), populations, police.uk files."""
    out.mkdir(parents=True, exist_ok=True)
    src = essex / "boundaries"
    wards = _to_bng(gpd.read_file(src / "essex_wards_2013.geojson"))
    wards = wards.rename(
        columns={
            "WD13CD": "ward_code",
            "WD13NM": "ward_name",
            "LAD13CD": "borough_code",
            "LAD13NM": "borough_name",
        }
    )[["ward_code", "ward_name", "borough_code", "borough_name", "geometry"]]
    wards.sort_values(["borough_code", "ward_code"], ignore_index=True).to_parquet(
        out / "essex_wards_2013.parquet", compression="zstd", index=False
    )
    lads = _to_bng(gpd.read_file(src / "essex_lad_2013.geojson"))
    lads = lads.rename(columns={"LAD13CD": "borough_code", "LAD13NM": "borough_name"})
    lads[["borough_code", "borough_name", "geometry"]].sort_values(
        "borough_code", ignore_index=True
    ).to_parquet(out / "essex_lad_2013.parquet", compression="zstd", index=False)
    _gzip(src / "essex_ward2013_pop2021_approx.csv", out / "essex_ward2013_pop2021_approx.csv.gz")
    shutil.copy(src / "LICENCE_martinjc_UK-GeoJSON.txt", out / "LICENCE_martinjc_UK-GeoJSON.txt")
    for path in sorted((essex / "incidents").glob("2018-0?-essex-street.csv")):
        _gzip(path, out / f"{path.name}.gz")


def _gzip(src: Path, dst: Path) -> None:
    with src.open("rb") as fin, gzip.GzipFile(dst, "wb", compresslevel=9, mtime=0) as fout:
        shutil.copyfileobj(fin, fout)


def _regzip(src: Path, dst: Path) -> None:
    with gzip.open(src, "rb") as fin, gzip.GzipFile(dst, "wb", compresslevel=9, mtime=0) as fout:
        shutil.copyfileobj(fin, fout)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data")
