"""Hotspot shapes and summaries from DBSCAN labels.

A hotspot is drawn tight to where its incidents are: the union of circles of
``shape_buffer_m`` metres (default 30 m, street scale) around its member
locations, in EPSG:27700. A convex hull would cover far more empty ground and
inflate the area, which makes a hotspot look weaker than it is (lower PAI).
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspots.geo.crs import BNG, to_wgs84_point
from hotspots.geo.trend import mann_kendall, time_profile

DEFAULT_SHAPE_BUFFER_M = 30.0
TOP_CATEGORIES = 3
SUMMARY_INPUTS = [
    *("x", "y", "month", "crime_type", "occurred_at", "outside_area"),
    *("ward_code", "ward_name", "borough_code", "borough_name"),
]
"""Columns :func:`build_hotspots` reads; ``harm`` (weight per incident) is used when present."""

HOTSPOT_COLUMNS = [
    "hotspot_id",
    "count",
    "harm",
    "locations",
    "area_m2",
    "density_per_km2",
    "share_of_incidents",
    "share_of_area",
    "pai",
    "trend",
    "trend_p",
    "slope_per_month",
    "wards",
    "ward_codes",
    "boroughs",
    "borough_codes",
    "cross_border",
    "extends_outside_area",
    "top_categories",
    "monthly_counts",
    "first_month",
    "last_month",
    "peak_month",
    "centroid_lon",
    "centroid_lat",
    "time_profile",
    "geometry",
]


def build_hotspots(
    incidents: pd.DataFrame,
    labels: np.ndarray,
    *,
    months: Sequence[str],
    study_area: shapely.Geometry,
    shape_buffer_m: float = DEFAULT_SHAPE_BUFFER_M,
) -> gpd.GeoDataFrame:
    """One row per cluster, in label order (``hotspot_id`` 1 = label 0 = most incidents, or most harm).

    Parameters
    ----------
    incidents:
        Located incidents with ``x``, ``y`` (EPSG:27700), ``month``,
        ``crime_type`` and the ward join columns.
    labels:
        Canonical cluster label per incident (0 = largest), -1 for noise.
    months:
        Every month of the period, so monthly counts include zeros.
    study_area:
        The area the data covers (EPSG:27700). ``share_of_incidents`` counts
        member incidents inside it over all located incidents inside it, and
        ``share_of_area`` the hotspot's area inside it over its area, so that
        ``pai`` (their ratio) compares like with like.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`HOTSPOT_COLUMNS`, geometry in EPSG:27700, areas in m2 and
        densities in incidents per km2. ``trend`` is the Mann-Kendall test of
        the monthly counts (``slope_per_month`` is Sen's slope);
        ``time_profile`` holds hour-of-day and weekday counts where the data
        has times, and says why not where it has not.
    """
    member = labels >= 0
    if not member.any():
        return gpd.GeoDataFrame({c: [] for c in HOTSPOT_COLUMNS if c != "geometry"}, geometry=[], crs=BNG)
    has_harm = "harm" in incidents.columns
    df = incidents.loc[member, SUMMARY_INPUTS + (["harm"] if has_harm else [])].copy()
    df["label"] = labels[member]
    total_inside = int((~incidents["outside_area"].to_numpy(dtype=bool)).sum())
    study_area_m2 = float(study_area.area)
    shapely.prepare(study_area)
    rows = []
    for label, group in df.groupby("label", sort=True):
        assert isinstance(label, int | np.integer)
        xy = np.unique(group[["x", "y"]].to_numpy(), axis=0)
        shape = shapely.union_all(shapely.buffer(shapely.points(xy), shape_buffer_m, quad_segs=8))
        area = float(shape.area)
        count = int(len(group))
        inside = group[~group["outside_area"].astype(bool)]
        ward_counts = (
            inside.groupby(["ward_code", "ward_name"]).size().sort_values(ascending=False, kind="stable")
        )
        borough_counts = (
            inside.groupby(["borough_code", "borough_name"])
            .size()
            .sort_values(ascending=False, kind="stable")
        )
        by_month = group["month"].value_counts()
        monthly = {m: int(by_month.get(m, 0)) for m in months}
        cats = group["crime_type"].value_counts().head(TOP_CATEGORIES)
        outside = bool(len(inside) < count)
        centroid = shape.centroid
        lon, lat = to_wgs84_point(centroid.x, centroid.y)
        share_inc = len(inside) / total_inside if total_inside else 0.0
        area_inside = area if study_area.contains(shape) else float(shape.intersection(study_area).area)
        share_area = area_inside / study_area_m2 if study_area_m2 > 0 else float("nan")
        trend = mann_kendall(list(monthly.values()))
        rows.append(
            {
                "hotspot_id": int(label) + 1,
                "count": count,
                "harm": round(float(group["harm"].sum()), 1) if has_harm else None,
                "locations": int(len(xy)),
                "area_m2": round(area, 1),
                "density_per_km2": round(count / (area / 1e6), 1) if area > 0 else None,
                "share_of_incidents": share_inc,
                "share_of_area": share_area,
                "pai": share_inc / share_area if share_area and share_area > 0 else None,
                "trend": trend.trend,
                "trend_p": trend.p,
                "slope_per_month": trend.slope_per_month,
                "wards": [str(n) for _, n in ward_counts.index],
                "ward_codes": [str(c) for c, _ in ward_counts.index],
                "boroughs": [str(n) for _, n in borough_counts.index],
                "borough_codes": [str(c) for c, _ in borough_counts.index],
                "cross_border": bool(len(borough_counts) > 1 or (outside and len(borough_counts) > 0)),
                "extends_outside_area": outside,
                "top_categories": [{"crime_type": str(k), "count": int(v)} for k, v in cats.items()],
                "monthly_counts": monthly,
                "first_month": str(group["month"].min()),
                "last_month": str(group["month"].max()),
                "peak_month": str(by_month.index[0]) if len(by_month) else None,
                "centroid_lon": round(lon, 6),
                "centroid_lat": round(lat, 6),
                "time_profile": time_profile(group["occurred_at"]),
                "geometry": shape,
            }
        )
    return gpd.GeoDataFrame(rows, columns=HOTSPOT_COLUMNS, geometry="geometry", crs=BNG)
