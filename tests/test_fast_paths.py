"""The fast paths give exactly what the straightforward implementations they replaced gave.

Each reference below is the earlier, simple implementation (pandas string handling and
pyproj on every row for ingest, a geopandas spatial join, ``np.unique``, scikit-learn
DBSCAN, a per-hotspot pandas loop), kept here only to prove equality on the shipped
samples and on random data with ties, duplicates and points on edges.
"""

from __future__ import annotations

import io

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely
from sklearn.cluster import DBSCAN

from hotspots.boundaries import BoundarySet
from hotspots.crs import BNG, WGS84, to_wgs84_point, transform
from hotspots.errors import InvalidInput
from hotspots.geo.clusters.dbscan import attach_border_points, canonical_labels, weighted_dbscan
from hotspots.geo.clusters.hotspots import (
    DEFAULT_MIN_LOCATIONS,
    HOTSPOT_COLUMNS,
    SUMMARY_INPUTS,
    TOP_CATEGORIES,
    build_hotspots,
)
from hotspots.geo.clusters.locations import Locations
from hotspots.geo.clusters.shapes import minimum_spanning_links
from hotspots.geo.inputs.ingest import (
    CATEGORY_COLUMNS,
    MISSING_NUMBER_TOKENS,
    TEXT_COLUMNS,
    Source,
    SourceFiles,
    _value_numbers,
    read_incidents,
)
from hotspots.geo.inputs.join import join_wards, ward_index_for_points
from hotspots.geo.stats.trend import mann_kendall, time_profile

# --------------------------------------------------------------------------- references


def reference_text(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip()


def reference_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    present = values.notna() & (values != "") & ~values.str.lower().isin(MISSING_NUMBER_TOKENS)
    nums = pd.to_numeric(values.where(present), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = present.to_numpy(dtype=bool) & ~np.isfinite(nums)
    nums[bad] = np.nan
    return nums, bad


def reference_sjoin(x: np.ndarray, y: np.ndarray, boundary: BoundarySet) -> np.ndarray:
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=BNG)
    wards = boundary.wards[["ward_code", "geometry"]].reset_index(drop=True)
    hits = gpd.sjoin(points, wards, how="inner", predicate="intersects")
    hits = hits.sort_values("ward_code", kind="stable")
    first = hits[~hits.index.duplicated(keep="first")]
    out = np.full(len(x), -1, dtype=np.int64)
    out[first.index.to_numpy()] = first["index_right"].to_numpy()
    return out


def reference_dbscan(x: np.ndarray, y: np.ndarray, eps: float, min_samples: int, weights=None) -> np.ndarray:
    key = x + 1j * y
    uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    w = (
        counts.astype(float)
        if weights is None
        else np.bincount(inverse, weights=weights, minlength=len(uniq))
    )
    xy = np.column_stack([uniq.real, uniq.imag])
    model = DBSCAN(eps=eps, min_samples=min_samples).fit(xy, sample_weight=w)
    labels = attach_border_points(xy, model.labels_, model.core_sample_indices_)
    return canonical_labels(labels, w, uniq.real, uniq.imag)[inverse]


def reference_hotspots(
    incidents: pd.DataFrame, labels: np.ndarray, months: list[str], study_area: shapely.Geometry
) -> gpd.GeoDataFrame:
    """The per-hotspot loop that :func:`build_hotspots` replaced."""
    member = labels >= 0
    has_harm = "harm" in incidents.columns
    has_text = "location" in incidents.columns
    extra = (["harm"] if has_harm else []) + (["location"] if has_text else [])
    df = incidents.loc[member, SUMMARY_INPUTS + extra].copy()
    for c in df.columns:  # the loop worked on text: category columns are compared as text
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype("string")
    df["label"] = labels[member]
    total_inside = int((~incidents["outside_area"].to_numpy(dtype=bool)).sum())
    rows = []
    for label, group in df.groupby("label", sort=True):
        xy = np.unique(group[["x", "y"]].to_numpy(), axis=0)
        shape = shapely.union_all(shapely.buffer(shapely.points(xy), 15.0, quad_segs=8))
        a, b = minimum_spanning_links(xy[:, 0], xy[:, 1], 100.0)
        if len(a):
            links = shapely.buffer(shapely.linestrings(np.stack([xy[a], xy[b]], axis=1)), 7.5, quad_segs=2)
            shape = shapely.union_all([*links, shape])
        place = len(xy) < DEFAULT_MIN_LOCATIONS
        text = None
        if has_text and place:
            texts = [str(t).strip() for t in group["location"].dropna().value_counts().index]
            text = "; ".join(t for t in texts if t) or None
        area = float(shape.area)
        count = int(len(group))
        inside = group[~group["outside_area"].astype(bool)]
        wards = inside.groupby(["ward_code", "ward_name"]).size().sort_values(ascending=False, kind="stable")
        boroughs = (
            inside.groupby(["borough_code", "borough_name"])
            .size()
            .sort_values(ascending=False, kind="stable")
        )
        by_month = group["month"].value_counts()
        monthly = {m: int(by_month.get(m, 0)) for m in months}
        cats = group["crime_type"].value_counts().head(TOP_CATEGORIES)
        outside = bool(len(inside) < count)
        lon, lat = to_wgs84_point(shape.centroid.x, shape.centroid.y)
        share_inc = len(inside) / total_inside if total_inside else 0.0
        area_inside = area if study_area.contains(shape) else float(shape.intersection(study_area).area)
        share_area = area_inside / float(study_area.area)
        trend = mann_kendall(list(monthly.values()))
        rows.append(
            {
                "hotspot_id": int(label) + 1,
                "kind": "place" if place else "area",
                "rank": None,
                "count": count,
                "harm": round(float(group["harm"].sum()), 1) if has_harm else None,
                "locations": int(len(xy)),
                "location_text": text,
                "area_m2": round(area, 1),
                "density_per_km2": round(count / (area / 1e6), 1) if area > 0 else None,
                "share_of_incidents": share_inc,
                "share_of_area": share_area,
                "pai": share_inc / share_area if share_area and share_area > 0 else None,
                "trend": trend.trend,
                "trend_p": trend.p,
                "slope_per_month": trend.slope_per_month,
                "wards": [str(n) for _, n in wards.index],
                "ward_codes": [str(c) for c, _ in wards.index],
                "boroughs": [str(n) for _, n in boroughs.index],
                "borough_codes": [str(c) for c, _ in boroughs.index],
                "cross_border": bool(len(boroughs) > 1 or (outside and len(boroughs) > 0)),
                "extends_outside_area": outside,
                "top_categories": [{"crime_type": str(k), "count": int(v)} for k, v in cats.items()],
                "monthly_counts": monthly,
                "missing_months": [],  # no coverage given: no month is missing
                "first_month": str(group["month"].min()),
                "last_month": str(group["month"].max()),
                "peak_month": str(by_month.index[0]) if len(by_month) else None,
                "centroid_lon": round(lon, 6),
                "centroid_lat": round(lat, 6),
                "time_profile": time_profile(group["occurred_at"]),
                "geometry": shape,
            }
        )
    seen = {"place": 0, "area": 0}
    for row in rows:
        seen[row["kind"]] += 1
        row["rank"] = seen[row["kind"]]
    return gpd.GeoDataFrame(rows, columns=HOTSPOT_COLUMNS, geometry="geometry", crs=BNG)


def assert_same_hotspots(ours: gpd.GeoDataFrame, ref: gpd.GeoDataFrame) -> None:
    pd.testing.assert_frame_equal(
        pd.DataFrame(ours.drop(columns="geometry")), pd.DataFrame(ref.drop(columns="geometry"))
    )
    # The same region: outlines of large hotspots are unioned from fewer pieces (covered grid
    # cells, hotspots.geo.clusters.shapes), so vertices may differ by floating-point rounding only.
    for a, b in zip(ours.geometry, ref.geometry, strict=True):
        assert shapely.hausdorff_distance(a, b) < 1e-6
        assert abs(a.area - b.area) <= 1e-9 * b.area


# --------------------------------------------------------------------------- ingest


def test_ingest_matches_pandas_reference_on_the_samples(points_source: Source, bd_source: Source) -> None:
    for source in (points_source, bd_source):
        df = read_incidents([source]).incidents
        raw = pd.read_csv(io.BytesIO(source.data), dtype=str, keep_default_na=False, na_values=[""])
        raw.columns = [c.strip().lower().replace(" ", "_") for c in raw.columns]
        for column in TEXT_COLUMNS:
            if column in raw.columns and not (column == "crime_id" and raw[column].isna().all()):
                ours = df[column]
                if column in CATEGORY_COLUMNS:  # the same text, each value stored once
                    assert isinstance(ours.dtype, pd.CategoricalDtype)
                    categories = ours.cat.categories
                    assert categories.is_unique and categories.is_monotonic_increasing
                    ours = ours.astype("string")
                pd.testing.assert_series_equal(ours, reference_text(raw[column]), check_names=False)
        lon, _ = reference_numbers(reference_text(raw["longitude"]))
        lat, _ = reference_numbers(reference_text(raw["latitude"]))
        assert np.array_equal(df["longitude"].to_numpy(), lon)
        assert np.array_equal(df["latitude"].to_numpy(), lat)
        x, y = transform(lon, lat, WGS84, BNG)  # every row, as before
        assert np.array_equal(df["x"].to_numpy(), x) and np.array_equal(df["y"].to_numpy(), y)


def test_fast_and_careful_parse_give_the_same_frame(bd_source: Source) -> None:
    text = bd_source.data.decode("utf-8")
    lines = text.split("\n")
    lines[5] = lines[5].replace(",51.", ", 51.", 1)  # padded numbers are trimmed either way
    lines[7] = lines[7].replace("On or near", '"On or near, quoted"', 1)  # a quoted comma
    lf = "\n".join(lines).encode()
    crlf = "\r\n".join(lines).encode()  # carriage returns send the file down the careful path
    fast = read_incidents([Source("a.csv", lf)])
    careful = read_incidents([Source("a.csv", crlf)])
    pd.testing.assert_frame_equal(fast.incidents, careful.incidents)
    assert fast.report.as_dict() == careful.report.as_dict()


def test_source_files_read_lazily_give_the_same_result(tmp_path, bd_source: Source) -> None:
    paths = []
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_bytes(bd_source.data)
        paths.append(tmp_path / name)
    lazy = read_incidents(SourceFiles(paths))
    eager = read_incidents([Source.from_path(p) for p in paths])
    pd.testing.assert_frame_equal(lazy.incidents, eager.incidents)
    assert len(SourceFiles(paths)[0:1]) == 1
    # the next file is read ahead, but a missing file still fails when its turn comes
    files = iter(SourceFiles([paths[0], tmp_path / "missing.csv", paths[1]]))
    assert next(files).data == bd_source.data
    with pytest.raises(InvalidInput, match="missing.csv: no such file"):
        next(files)


@pytest.mark.parametrize(
    "values",
    [
        ["0.140127", "51.588913", "-0.5", "+1.5", ".5", "5.", "1e3", "1E-2", "-0", "0"],
        ["", None, "NA", "n/a", "nan", "NaN", "null", "None", "#N/A", "inf", "-Infinity", "east", "1,5"],
        ["1_000", "0x10", "١٢", "1e400", "1e-400", "  ", "12abc", "--1", "1.2.3"],
    ],
)
def test_number_parsing_matches_pandas(values: list[str | None]) -> None:
    ours, ours_bad = _value_numbers(pa.array(values, pa.large_string()))
    ref, ref_bad = reference_numbers(pd.Series(values, dtype="string"))
    assert np.array_equal(ours, ref, equal_nan=True)
    assert np.array_equal(ours_bad, ref_bad)


# --------------------------------------------------------------------------- join and locations


def test_ward_lookup_matches_geopandas_sjoin(
    points: pd.DataFrame, boundary_sets: dict[str, BoundarySet]
) -> None:
    rng = np.random.default_rng(3)
    for bset in boundary_sets.values():
        x0, y0, x1, y1 = bset.outline.bounds
        vertices = shapely.get_coordinates(bset.wards.geometry.boundary.to_numpy())[::7]
        edges = shapely.get_coordinates(
            shapely.line_interpolate_point(
                bset.wards.geometry.boundary.to_numpy()[:, None], [[0.25, 0.5, 0.75]]
            ),
        )
        x = np.concatenate(
            [
                points["x"].to_numpy()[:20000],
                rng.uniform(x0 - 1000, x1 + 1000, 20000),
                vertices[:, 0],
                edges[:, 0],
                np.round(rng.uniform(x0, x1, 2000)),
            ]
        )
        y = np.concatenate(
            [
                points["y"].to_numpy()[:20000],
                rng.uniform(y0 - 1000, y1 + 1000, 20000),
                vertices[:, 1],
                edges[:, 1],
                np.round(rng.uniform(y0, y1, 2000)),
            ]
        )
        assert np.array_equal(ward_index_for_points(x, y, bset), reference_sjoin(x, y, bset))


def test_small_lookups_skip_the_grid_with_the_same_answer(
    bd: pd.DataFrame, boundary_sets: dict[str, BoundarySet]
) -> None:
    """A few thousand points (a one-month file) are tested directly, with no lookup grid built,
    and get the same wards as the grid and as geopandas, on ward vertices and edges too."""
    import dataclasses

    from hotspots.geo.inputs import join

    rng = np.random.default_rng(11)
    for original in boundary_sets.values():
        bset = dataclasses.replace(original)  # a new set: no grid cached for it yet
        x0, y0, x1, y1 = bset.outline.bounds
        vertices = shapely.get_coordinates(bset.wards.geometry.boundary.to_numpy())[::11]
        located = bd[bd["has_location"]]
        x = np.concatenate([located["x"].to_numpy(), rng.uniform(x0 - 500, x1 + 500, 500), vertices[:, 0]])
        y = np.concatenate([located["y"].to_numpy(), rng.uniform(y0 - 500, y1 + 500, 500), vertices[:, 1]])
        assert len(x) < join.DIRECT_POINTS
        direct = ward_index_for_points(x, y, bset)
        assert join._built_grid(bset) is None, "the small lookup built no grid"
        expected = reference_sjoin(x, y, bset)
        assert np.array_equal(direct, expected)
        assert (expected >= 0).sum() > len(located) // 2 and (expected < 0).any()
        join._ward_grid(bset)
        assert np.array_equal(ward_index_for_points(x, y, bset), expected), "the grid agrees"


def test_join_of_the_sample_is_unchanged(points: pd.DataFrame, boundary_sets: dict[str, BoundarySet]) -> None:
    joined = join_wards(points, list(boundary_sets.values()))
    bset = boundary_sets["wards-2018"]
    pos = reference_sjoin(points["x"].to_numpy(), points["y"].to_numpy(), bset)
    codes = bset.wards["ward_code"].to_numpy(dtype=object)
    expected = pd.array(np.where(pos >= 0, codes[np.maximum(pos, 0)], None), dtype="string")
    assert isinstance(joined["ward_code"].dtype, pd.CategoricalDtype)
    assert joined["ward_code"].cat.categories.is_monotonic_increasing
    assert joined["ward_code"].astype("string").equals(pd.Series(expected))
    assert isinstance(joined["boundary_set"].dtype, pd.CategoricalDtype)


def test_locations_match_np_unique() -> None:
    rng = np.random.default_rng(5)
    pts = rng.uniform(0, 1e5, (3000, 2)).round(1)
    idx = rng.integers(0, len(pts), 50000)
    exact = rng.uniform(5e5, 6e5, (60000, 2))
    exact[::100, 0] = exact[1::100, 0]  # some equal eastings
    exact[::500] = exact[3::500]  # and a few repeated points
    cases = [
        (pts[idx, 0], pts[idx, 1]),  # snapped: hashing
        (exact[:, 0], exact[:, 1]),  # exact coordinates: sorting
        (np.r_[0.0, -0.0, 1.0, 1.0], np.r_[2.0, 2.0, np.nan, np.nan]),  # np.unique itself
    ]
    for x, y in cases:
        locs = Locations.from_xy(x, y)
        uniq, inverse, counts = np.unique(x + 1j * y, return_inverse=True, return_counts=True)
        assert np.array_equal(locs.x, uniq.real, equal_nan=True)
        assert np.array_equal(locs.y, uniq.imag, equal_nan=True)
        assert np.array_equal(locs.inverse, inverse.ravel())
        assert np.array_equal(locs.counts, counts)


# --------------------------------------------------------------------------- DBSCAN


def _random_case(rng: np.random.Generator, kind: int) -> tuple[np.ndarray, np.ndarray, float]:
    n = int(rng.integers(100, 2500))
    if kind == 0:  # integer grid: many pairs exactly eps apart
        return (
            rng.integers(0, 50, n).astype(float),
            rng.integers(0, 50, n).astype(float),
            float(rng.choice([1, 2, 5])),
        )
    if kind == 1:  # clusters, rounded coordinates, duplicated rows
        centres = rng.uniform(0, 2000, (8, 2))
        pts = np.round(centres[rng.integers(0, 8, n)] + rng.normal(0, rng.uniform(5, 60), (n, 2)), 1)
        pts = np.concatenate([pts, pts[rng.integers(0, n, n // 3)]])
        return pts[:, 0], pts[:, 1], float(rng.uniform(10, 100))
    if kind == 2:  # snapped: a few hundred map points, heavy counts
        locs = rng.uniform(0, 3000, (int(rng.integers(64, 300)), 2)).round(0)
        pick = rng.integers(0, len(locs), 3 * n)
        return locs[pick, 0], locs[pick, 1], float(rng.choice([50.0, 100.0, 150.0]))
    base = rng.integers(0, 80, (n, 2)) * 3.0  # 3-4-5 triangles: distances of exactly eps
    return base[:, 0] + rng.choice([0, 3, 4], n), base[:, 1] + rng.choice([0, 4, 3], n), 5.0


@pytest.mark.parametrize("seed", range(6))
def test_grid_dbscan_matches_sklearn_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for trial in range(12):
        x, y, eps = _random_case(rng, trial % 4)
        min_samples = int(rng.integers(2, 40))
        weights = rng.integers(1, 5, len(x)).astype(float) if trial % 5 == 0 else None
        ours = weighted_dbscan(x, y, eps, min_samples, weights=weights)
        ref = reference_dbscan(x, y, eps, min_samples, weights)
        assert np.array_equal(ours, ref), (seed, trial, eps, min_samples)


def test_grid_dbscan_on_the_sample(points: pd.DataFrame) -> None:
    x, y = points["x"].to_numpy(), points["y"].to_numpy()
    for eps, min_samples in [(100.0, 70), (60.0, 25)]:
        assert np.array_equal(
            weighted_dbscan(x, y, eps, min_samples), reference_dbscan(x, y, eps, min_samples)
        )


# --------------------------------------------------------------------------- hotspot summaries


def test_hotspot_summaries_match_the_per_hotspot_loop(
    points: pd.DataFrame, boundary_sets: dict[str, BoundarySet]
) -> None:
    bset = boundary_sets["wards-2018"]
    joined = pd.concat([points, join_wards(points, bset)], axis=1)
    joined["harm"] = np.random.default_rng(1).uniform(0, 50, len(joined)).round(1)
    x, y = joined["x"].to_numpy(), joined["y"].to_numpy()
    labels = weighted_dbscan(x, y, 100.0, 70)
    months = [str(p) for p in pd.period_range("2018-02", "2020-12", freq="M")]
    ours = build_hotspots(joined, labels, months=months, study_area=bset.outline)
    assert_same_hotspots(ours, reference_hotspots(joined, labels, months, bset.outline))


def test_hotspot_summaries_with_times_ties_and_outside_rows() -> None:
    rng = np.random.default_rng(11)
    n = 3000
    centres = np.array([[545000.0, 185000.0], [545400.0, 185000.0], [550000.0, 187000.0]])
    xy = np.round(centres[rng.integers(0, 3, n)] + rng.normal(0, 40, (n, 2)), 0)
    wards = np.array(["E05000001", "E05000002", "E05000003"], dtype=object)
    k = rng.integers(0, 3, n)
    frame = pd.DataFrame(
        {
            "x": xy[:, 0],
            "y": xy[:, 1],
            "month": pd.array(rng.choice(["2020-01", "2020-02", "2020-03", "2020-04"], n), dtype="string"),
            "crime_type": pd.array(rng.choice(["Burglary", "Robbery", "Drugs", "Other"], n), dtype="string"),
            "occurred_at": pd.to_datetime("2020-01-01")
            + pd.to_timedelta(rng.integers(0, 100 * 24 * 60, n), unit="min"),
            "ward_code": pd.array(wards[k], dtype="string"),
            "ward_name": pd.array(np.array(["B ward", "A ward", "A ward"], dtype=object)[k], dtype="string"),
            "borough_code": pd.array(np.where(k == 2, "E09000002", "E09000016"), dtype="string"),
            "borough_name": pd.array(np.where(k == 2, "Two", "Sixteen"), dtype="string"),
            "outside_area": rng.random(n) < 0.1,
        }
    )
    frame.loc[frame["outside_area"], ["ward_code", "ward_name", "borough_code", "borough_name"]] = pd.NA
    labels = weighted_dbscan(frame["x"].to_numpy(), frame["y"].to_numpy(), 60.0, 20)
    area = shapely.box(544800, 184800, 545300, 185300)  # part of the hotspots lies outside it
    months = ["2019-12", "2020-01", "2020-02", "2020-03", "2020-04"]
    ours = build_hotspots(frame, labels, months=months, study_area=area)
    assert len(ours) >= 2
    assert_same_hotspots(ours, reference_hotspots(frame, labels, months, area))
    # The same text as category columns: sorted categories (read as codes), unsorted ones and
    # categories no row uses (factorized) give the same hotspots.
    text = ["crime_type", "ward_code", "ward_name", "borough_code", "borough_name"]
    for order in (sorted, lambda values: sorted(values, reverse=True)):
        as_category = frame.copy()
        for c in text:
            values = as_category[c].dropna().unique().tolist()
            categories = pd.Index(order([*values, "Unused"]), dtype="string")
            as_category[c] = pd.Categorical(as_category[c], categories=categories)
        assert_same_hotspots(build_hotspots(as_category, labels, months=months, study_area=area), ours)
