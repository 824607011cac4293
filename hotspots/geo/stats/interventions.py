"""Did it work? Evaluating a place-based intervention (patrols, CCTV, lighting...).

Pure domain code: incidents and geometries in, a JSON-ready report out. No web imports.
All geometry is in British National Grid (EPSG:27700, metres).

Three areas and two periods:

* target **T** (where the intervention happened), buffer **D** (a ring of ``buffer_m``
  around it, where crime could be displaced to or benefits diffuse to) and control **C**
  (comparable places left alone: an uploaded polygon, chosen wards, or ``auto``: the rest
  of the area beyond the buffer and a further gap of ``buffer_m``);
* before (0: the months just before the start) and after (1: from the start), of equal
  length by default. Months the data does not cover are left out of both (missing is
  not zero), and unequal lengths are handled by time weights.

Measures:

* **Weighted Displacement Difference** (Wheeler & Ratcliffe 2018, Crime Science 7:17):
  ``local = (T1 - T0) - (C1 - C0)``, ``displacement = (D1 - D0) - (CD1 - CD0)`` (CD: the
  buffer's own control if one is given, else C), ``total = local + displacement``; the
  variance is the sum of the counts in each term (Poisson), each before count scaled by
  the squared time weight ``(n1 / n0)**2`` when the periods differ in length.
* **Weighted Displacement Quotient** (Bowers & Johnson 2003):
  ``((D1/C1) - (D0/C0)) / ((T1/C1) - (T0/C0))``.
* **Synthetic control** (Abadie, Diamond & Hainmueller 2010): non-negative ward weights
  summing to one fitted to the target's monthly series before the start (each series
  scaled by its own before-period mean); the effect is the after-period gap, its p-value
  the rank of the target's post/pre RMSPE ratio among placebo runs on each donor ward.

Disclosure: with a protected :class:`~hotspots.geo.disclosure.Disclosure` every count
(period totals and monthly series of every area and donor ward) is a cell of its own
records (cell key method) and every figure is computed from the protected counts only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.errors
from scipy.optimize import nnls
from shapely.geometry.base import BaseGeometry

from hotspots.crs import UK_LAT, UK_LON, transform
from hotspots.errors import InvalidInput
from hotspots.geo.disclosure import (
    EXACT,
    MODULUS,
    RECORD_KEY,
    Disclosure,
    protect_counts,
    protect_harm,
)

INTERVENTION_TYPES = ("patrol", "cctv", "lighting", "environmental", "youth_outreach", "licensing", "other")
DEFAULT_BUFFER_M = 250.0
MIN_BUFFER_M = 25.0
MAX_BUFFER_M = 2000.0
MAX_BEFORE_MONTHS = 60
MAX_GEOJSON_BYTES = 2 * 1024 * 1024
MAX_VERTICES = 50_000
NEAR_AREA_M = 2000.0
"""A target or control polygon must lie within this distance of the area (metres)."""
Z90 = 1.6448536269514722
"""Standard normal quantile for a two-sided 90% interval."""
MIN_WDQ_COUNT = 10
"""WDQ is not read when the target or the buffer holds fewer incidents than this over both periods."""
SMALL_COUNT = 20
"""Below this many target incidents in a period, the caveats warn about small counts."""
MIN_PRE_MONTHS = 3
MIN_DONORS = 2
SUM_PENALTY = 1e3
"""Weight of the sum-to-one row appended to the NNLS problem (larger: closer to exactly one)."""

ControlKind = Literal["auto", "polygon", "wards"]


# ---- months -----------------------------------------------------------------------------------


def _month_index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def _month_name(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def add_months(month: str, n: int) -> str:
    """``month`` (``YYYY-MM``) moved by ``n`` months."""
    return _month_name(_month_index(month) + n)


def month_span(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` inclusive."""
    return [_month_name(i) for i in range(_month_index(first), _month_index(last) + 1)]


def check_month(value: str | None, label: str) -> None:
    from hotspots.geo.inputs.ingest import MONTH_RE

    if value is not None and not MONTH_RE.match(value):
        raise InvalidInput(f"{label} must be a month in the form YYYY-MM, got {value!r}")


@dataclass(frozen=True)
class Periods:
    """The before and after months in use (months the data does not cover left out)."""

    before: list[str]
    after: list[str]
    missing: list[str]
    start: str
    end: str | None

    @property
    def time_weight(self) -> float:
        """``n1 / n0``: before counts are scaled by this to the after period's length."""
        return len(self.after) / len(self.before)

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "before": {"from": self.before[0], "to": self.before[-1], "months": len(self.before)},
            "after": {"from": self.after[0], "to": self.after[-1], "months": len(self.after)},
            "missing_months": self.missing,
            "time_weight": self.time_weight,
            "rule": "before: the months just before the start; after: from the start to the end (or the "
            "last month of data); equal lengths unless before_months is given or the data is shorter; "
            "months the data does not cover are left out of both, and unequal lengths are time-weighted",
        }


def choose_periods(
    covered: Sequence[str], start: str, end: str | None = None, before_months: int | None = None
) -> Periods:
    """Before and after periods around ``start`` for data covering months ``covered``."""
    check_month(start, "start")
    check_month(end, "end")
    if end is not None and end < start:
        raise InvalidInput(f"end ({end}) is before start ({start})")
    if before_months is not None and not 1 <= before_months <= MAX_BEFORE_MONTHS:
        raise InvalidInput(f"before_months must be between 1 and {MAX_BEFORE_MONTHS}, got {before_months}")
    have = sorted(set(covered))
    if not have:
        raise InvalidInput("the data covers no months")
    first, last = have[0], have[-1]
    if start > last:
        raise InvalidInput(f"the data ends in {last}: nothing after the start ({start}) to evaluate")
    if start <= first:
        raise InvalidInput(f"the data starts in {first}: nothing before the start ({start}) to compare with")
    after_span = month_span(start, min(end or last, last))
    n = before_months or len(after_span)
    before_span = month_span(max(first, add_months(start, -n)), add_months(start, -1))
    present = set(have)
    missing = [m for m in before_span + after_span if m not in present]
    before = [m for m in before_span if m in present]
    after = [m for m in after_span if m in present]
    if not before or not after:
        raise InvalidInput("the data covers no month of the before or after period")
    return Periods(before, after, missing, start, end)


# ---- geometry ---------------------------------------------------------------------------------


def parse_geojson_polygon(
    data: bytes | str | dict[str, Any],
    *,
    what: str = "target",
    max_bytes: int = MAX_GEOJSON_BYTES,
    max_vertices: int = MAX_VERTICES,
) -> BaseGeometry:
    """A polygon or multipolygon from GeoJSON (RFC 7946: WGS84 longitude, latitude), in EPSG:27700.

    Accepts a Geometry, a Feature or a FeatureCollection (its polygons joined). Parsed with
    ``json`` and shapely only; refused (:class:`InvalidInput`) when too large, not polygonal,
    outside Great Britain or invalid.
    """
    if isinstance(data, dict):
        doc: Any = data
    elif not isinstance(data, str | bytes):
        raise InvalidInput(f"{what}: give a GeoJSON object, got {type(data).__name__}")
    else:
        raw = data.encode() if isinstance(data, str) else data
        if len(raw) > max_bytes:
            raise InvalidInput(f"{what}: GeoJSON may be at most {max_bytes // 1024} KiB")
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"{what}: not valid GeoJSON ({exc})") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"{what}: GeoJSON must be an object")
    kind = doc.get("type")
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list) or not features:
            raise InvalidInput(f"{what}: the FeatureCollection has no features")
        geometries = [f.get("geometry") if isinstance(f, dict) else None for f in features]
    elif kind == "Feature":
        geometries = [doc.get("geometry")]
    else:
        geometries = [doc]
    shapes = []
    for g in geometries:
        if not isinstance(g, dict) or g.get("type") not in ("Polygon", "MultiPolygon"):
            got = g.get("type") if isinstance(g, dict) else type(g).__name__
            raise InvalidInput(f"{what}: only Polygon and MultiPolygon geometries are accepted, got {got}")
        try:
            shape = shapely.geometry.shape(g)
        except (
            ValueError,
            TypeError,
            AttributeError,
            IndexError,
            KeyError,
            shapely.errors.ShapelyError,
        ) as exc:
            raise InvalidInput(f"{what}: a polygon's coordinates are malformed ({exc})") from None
        if len(shapely.get_coordinates(shape)) > max_vertices:
            raise InvalidInput(f"{what}: at most {max_vertices:,} vertices")
        if not shape.is_valid:
            raise InvalidInput(f"{what}: the polygon is not valid ({shapely.is_valid_reason(shape)})")
        shapes.append(shape)
    geom = shapely.union_all(shapes) if len(shapes) > 1 else shapes[0]
    coords = shapely.get_coordinates(geom)
    if len(coords) > max_vertices:
        raise InvalidInput(f"{what}: at most {max_vertices:,} vertices, got {len(coords):,}")
    if geom.is_empty or not len(coords):
        raise InvalidInput(f"{what}: the polygon is empty")
    lon, lat = coords[:, 0], coords[:, 1]

    def in_gb(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(
            a.min() >= UK_LON[0] and a.max() <= UK_LON[1] and b.min() >= UK_LAT[0] and b.max() <= UK_LAT[1]
        )

    if not np.isfinite(coords).all() or not in_gb(lon, lat):
        hint = " (longitude and latitude swapped?)" if np.isfinite(coords).all() and in_gb(lat, lon) else ""
        raise InvalidInput(
            f"{what}: coordinates must be WGS84 longitude, latitude in Great Britain (RFC 7946); "
            f"got longitudes {lon.min():g} to {lon.max():g}, latitudes {lat.min():g} to {lat.max():g}{hint}"
        )
    if not geom.is_valid:
        raise InvalidInput(f"{what}: the polygon is not valid ({shapely.is_valid_reason(geom)})")
    return to_bng(geom)


def to_bng(geom: BaseGeometry) -> BaseGeometry:
    """A WGS84 geometry in EPSG:27700."""
    return shapely.transform(geom, lambda c: np.column_stack(transform(c[:, 0], c[:, 1], 4326, 27700)))


def to_wgs84(geom: BaseGeometry) -> BaseGeometry:
    """An EPSG:27700 geometry in WGS84 (round with ``rfc7946_geometry`` when writing GeoJSON)."""
    return shapely.transform(geom, lambda c: np.column_stack(transform(c[:, 0], c[:, 1], 27700, 4326)))


def check_polygon(geom: BaseGeometry, outline: BaseGeometry, what: str) -> BaseGeometry:
    """``geom`` (EPSG:27700) polygonal, valid, with area, and within :data:`NEAR_AREA_M` of ``outline``."""
    if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
        raise InvalidInput(f"{what}: must be a polygon, got {geom.geom_type}")
    if not geom.is_valid:
        raise InvalidInput(f"{what}: the polygon is not valid ({shapely.is_valid_reason(geom)})")
    if geom.area < 1.0:
        raise InvalidInput(f"{what}: the polygon has no area")
    gap = float(outline.distance(geom))
    if gap > NEAR_AREA_M:
        raise InvalidInput(
            f"{what}: lies {gap / 1000:.1f} km outside the area (at most {NEAR_AREA_M / 1000:g} km)"
        )
    return geom


@dataclass(frozen=True)
class Control:
    """How the control area is chosen: ``auto``, an uploaded ``polygon`` or ``wards`` by code."""

    kind: ControlKind = "auto"
    geometry: BaseGeometry | None = None
    wards: tuple[str, ...] = ()

    def describe(self, buffer_m: float) -> str:
        if self.kind == "auto":
            return (
                f"auto: the rest of the area beyond the buffer and a further gap of {buffer_m:g} m "
                f"(everything more than {2 * buffer_m:g} m from the target)"
            )
        if self.kind == "wards":
            return f"wards: {', '.join(self.wards)} (less any part in the target, buffer or gap)"
        return "an uploaded polygon (less any part in the target, buffer or gap)"


@dataclass
class Areas:
    target: BaseGeometry
    buffer: BaseGeometry
    control: BaseGeometry
    buffer_control: BaseGeometry | None
    control_rule: str


def build_areas(
    target: BaseGeometry,
    outline: BaseGeometry,
    wards: gpd.GeoDataFrame,
    buffer_m: float = DEFAULT_BUFFER_M,
    control: Control | None = None,
    buffer_control: BaseGeometry | None = None,
) -> Areas:
    """Target, buffer ring, control (and the buffer's own control), in EPSG:27700."""
    if not MIN_BUFFER_M <= buffer_m <= MAX_BUFFER_M:
        raise InvalidInput(
            f"buffer_m must be between {MIN_BUFFER_M:g} and {MAX_BUFFER_M:g} metres, got {buffer_m:g}"
        )
    control = control or Control()
    check_polygon(target, outline, "target")
    ring = target.buffer(buffer_m).difference(target)
    gap = target.buffer(2 * buffer_m)
    if control.kind == "auto":
        geom = outline.difference(gap)
    elif control.kind == "wards":
        codes = wards["ward_code"].astype(str)
        unknown = sorted(set(control.wards) - set(codes))
        if unknown or not control.wards:
            raise InvalidInput(f"control wards not in the area: {', '.join(unknown[:10]) or 'none given'}")
        geom = shapely.union_all(wards.geometry[codes.isin(control.wards).to_numpy()].to_numpy())
        geom = geom.difference(gap)
    else:
        if control.geometry is None:
            raise InvalidInput("control: a polygon is needed")
        geom = check_polygon(control.geometry, outline, "control").difference(gap)
    if geom.is_empty or geom.area < 1.0:
        raise InvalidInput("the control area is empty once the target, buffer and gap are taken out")
    cd = None
    if buffer_control is not None:
        cd = check_polygon(buffer_control, outline, "buffer control").difference(gap)
        if cd.is_empty:
            raise InvalidInput("the buffer control is empty once the target, buffer and gap are taken out")
    return Areas(target, ring, geom, cd, control.describe(buffer_m))


# ---- the arithmetic ---------------------------------------------------------------------------


def _p_two_sided(z: float) -> float:
    return float(math.erfc(abs(z) / math.sqrt(2.0)))


def wdd(
    t: tuple[float, float],
    c: tuple[float, float],
    d: tuple[float, float] = (0.0, 0.0),
    cd: tuple[float, float] | None = None,
    *,
    time_weight: float = 1.0,
    control_weight: float = 1.0,
    buffer_control_weight: float = 1.0,
    variances: dict[str, tuple[float, float]] | None = None,
    unit: str = "incidents",
) -> dict[str, Any]:
    """The Weighted Displacement Difference of (before, after) pairs.

    ``time_weight`` is ``n1 / n0`` (after months over before months): before figures are
    scaled by it. ``control_weight`` and ``buffer_control_weight`` multiply the control's and
    the buffer control's figures (ptools' area weights, as multipliers: 1 gives the plain
    formula; the service scales a control to the target's before-period size), their
    variances by the weight squared. ``variances`` gives each area's (before, after) variance
    when the figures are not counts (harm: the sums of squared weights); by default a count
    is its own variance.
    """
    cd = c if cd is None else cd
    r = time_weight
    var = variances or {}

    wc, wcd = control_weight, buffer_control_weight

    def v(name: str, pair: tuple[float, float], weight: float = 1.0) -> float:
        v0, v1 = var.get(name, pair)
        return float(v1 + v0 * r * r) * weight * weight

    local = (t[1] - r * t[0]) - wc * (c[1] - r * c[0])
    disp = (d[1] - r * d[0]) - wcd * (cd[1] - r * cd[0])
    var_local = v("target", t) + v("control", c, wc)
    var_disp = v("buffer", d) + v("buffer_control" if "buffer_control" in var else "control", cd, wcd)
    total = local + disp
    var_total = var_local + var_disp
    se = math.sqrt(var_total)
    z = total / se if se > 0 else 0.0
    return {
        "local": local,
        "local_se": math.sqrt(var_local),
        "displacement": disp,
        "displacement_se": math.sqrt(var_disp),
        "total": total,
        "variance": var_total,
        "se": se,
        "z": z,
        "p": _p_two_sided(z) if se > 0 else 1.0,
        "ci90": [total - Z90 * se, total + Z90 * se],
        "time_weight": r,
        "control_weight": wc,
        "buffer_control_weight": wcd,
        "reading": _wdd_reading(total, se, unit),
    }


def _wdd_reading(total: float, se: float, unit: str = "incidents") -> str:
    if se <= 0:
        return "no incidents to compare"
    low, high = total - Z90 * se, total + Z90 * se
    direction = "fewer" if total < 0 else "more"
    size = f"{abs(total):.1f} {direction} {unit} than the control's change predicts"
    if high < 0:
        return f"{size}: a reduction (the 90% interval lies below zero)"
    if low > 0:
        return f"{size}: an increase (the 90% interval lies above zero)"
    return f"{size}, but the 90% interval includes zero: no clear change"


def wdq(
    t: tuple[float, float],
    c: tuple[float, float],
    d: tuple[float, float],
    *,
    min_count: float = MIN_WDQ_COUNT,
) -> dict[str, Any]:
    """The Weighted Displacement Quotient with its reading, or ``None`` with the reason."""
    if c[0] <= 0 or c[1] <= 0:
        return {"value": None, "reading": "not read: the control has no incidents in one of the periods"}
    if t[0] + t[1] < min_count or d[0] + d[1] < min_count or c[0] + c[1] < min_count:
        return {
            "value": None,
            "reading": f"not read: fewer than {min_count:g} incidents in the target, buffer or control over "
            "both periods, too few for a ratio of ratios",
        }
    success = t[1] / c[1] - t[0] / c[0]
    if abs(success) < 1e-12:
        return {
            "value": None,
            "reading": "not read: the target term is zero (no change relative to the control)",
        }
    buffer_term = d[1] / c[1] - d[0] / c[0]
    value = buffer_term / success
    if success > 0:
        reading = (
            "not meaningful: the target did not improve relative to the control, so there is no effect "
            "to be displaced"
        )
    elif value < 0:
        reading = (
            "negative: displacement (the buffer worsened relative to the control while the target improved)"
        )
    elif value == 0:
        reading = "zero: neither displacement nor diffusion of benefit"
    elif value <= 1:
        reading = "between 0 and 1: diffusion of benefit to the buffer, smaller than the direct effect"
    else:
        reading = "above 1: diffusion of benefit to the buffer, larger than the direct effect"
    return {
        "value": value,
        "success_measure": success,
        "buffer_displacement_measure": buffer_term,
        "reading": reading,
    }


def _fit_weights(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to one with ``x @ w`` close to ``y`` (NNLS with a penalty row)."""
    a = np.vstack([x, np.full((1, x.shape[1]), SUM_PENALTY)])
    b = np.concatenate([y, [SUM_PENALTY]])
    w, _ = nnls(a, b, maxiter=50 * x.shape[1] + 100)
    s = w.sum()
    return w / s if s > 0 else np.full(x.shape[1], 1.0 / x.shape[1])


def _rmspe(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(a * a))) if len(a) else 0.0


def synthetic_control(
    target: np.ndarray, donors: np.ndarray, n_pre: int, names: Sequence[str] | None = None
) -> dict[str, Any]:
    """A synthetic target from donor series (months x donors), fitted on the first ``n_pre`` months.

    Each series is scaled by its own before-period mean (so a small target can be matched by
    large wards); donors with no incident before the start are left out. The effect is the
    after-period gap (target minus synthetic, in incidents); the p-value is the share of runs
    (the target and a placebo run on each donor, fitted on the other donors) whose ratio of
    after to before RMSPE is at least the target's.
    """
    y = np.asarray(target, dtype=float)
    x = np.asarray(donors, dtype=float)
    names = list(names) if names is not None else [str(i) for i in range(x.shape[1])]
    n_post = len(y) - n_pre
    base: dict[str, Any] = {"effect": None, "p": None, "weights": [], "method": SYNTHETIC_METHOD}
    if n_pre < MIN_PRE_MONTHS or n_post < 1:
        return {**base, "reason": f"needs at least {MIN_PRE_MONTHS} months before the start and one after"}
    pre_mean_y = float(y[:n_pre].mean())
    if pre_mean_y <= 0:
        return {**base, "reason": "the target had no incidents before the start"}
    means = x[:n_pre].mean(axis=0)
    keep = means > 0
    if keep.sum() < MIN_DONORS:
        return {**base, "reason": f"fewer than {MIN_DONORS} donor wards with incidents before the start"}
    xs = x[:, keep] / means[keep]
    kept = [n for n, k in zip(names, keep, strict=True) if k]
    ys = y / pre_mean_y

    def run(
        series: np.ndarray, pool: np.ndarray, level: float, levels: np.ndarray
    ) -> tuple[np.ndarray, float]:
        w = _fit_weights(series[:n_pre], pool[:n_pre])
        gap = series - pool @ w
        # the before-period misfit, floored at the gap's expected Poisson noise once scaled
        # (sqrt(1 / mean + sum w_j**2 / mean_j)): with more donors than months a series is fitted almost
        # exactly before the start, and an unfloored ratio would rank a smooth, busy target above every
        # noisier placebo ward with no effect at all
        noise = math.sqrt(1.0 / level + float(np.sum(w * w / levels)))
        pre = max(_rmspe(gap[:n_pre]), noise, 1e-9)
        return w, _rmspe(gap[n_pre:]) / pre

    levels = means[keep]
    w, ratio = run(ys, xs, pre_mean_y, levels)
    synthetic = (xs @ w) * pre_mean_y
    gap = y - synthetic
    placebo = []
    for j in range(xs.shape[1]):
        others = np.delete(xs, j, axis=1)
        _, r = run(xs[:, j], others, float(levels[j]), np.delete(levels, j))
        placebo.append(r)
    ratios = np.asarray(placebo)
    p = float((1 + np.sum(ratios >= ratio - 1e-12)) / (1 + len(ratios)))
    effect = float(gap[n_pre:].sum())
    synth_after = float(synthetic[n_pre:].sum())
    return {
        "effect": effect,
        "effect_per_month": effect / n_post,
        "relative_effect": effect / synth_after if synth_after > 0 else None,
        "p": p,
        "weights": sorted(
            ({"ward": n, "weight": round(float(v), 4)} for n, v in zip(kept, w, strict=True) if v >= 5e-4),
            key=lambda d: -float(d["weight"]),
        ),
        "donors": len(kept),
        "placebos": len(ratios),
        "rmspe_before": _rmspe(gap[:n_pre]),
        "rmspe_after": _rmspe(gap[n_pre:]),
        "rmspe_ratio": ratio,
        "synthetic": [float(v) for v in synthetic],
        "method": SYNTHETIC_METHOD,
    }


SYNTHETIC_METHOD = (
    "synthetic control: non-negative donor-ward weights summing to 1 (NNLS with a sum-to-one penalty "
    "row), fitted to the target's monthly series before the start, every series scaled by its own "
    "before-period mean; effect = after-period target minus synthetic target; p = share of runs "
    "(target and one placebo per donor ward) whose after-period RMSPE over before-period RMSPE (floored at "
    "the gap's expected Poisson noise) is at least the target's"
)


# ---- counting ---------------------------------------------------------------------------------


@dataclass
class _Tally:
    """Per unit and month: count, harm, harm squared, cell key (sum of record keys mod 2**32)."""

    months: list[str]
    count: np.ndarray
    harm: np.ndarray
    harm2: np.ndarray
    key: np.ndarray
    names: list[str] = field(default_factory=list)


def _tally(
    unit: np.ndarray,
    month: np.ndarray,
    weights: np.ndarray,
    keys: np.ndarray,
    n_units: int,
    months: list[str],
) -> _Tally:
    """``unit``: index per incident (-1: none); ``month``: index into ``months`` (-1: none)."""
    ok = (unit >= 0) & (month >= 0)
    flat = unit[ok] * len(months) + month[ok]
    size = n_units * len(months)
    shape = (n_units, len(months))
    count = np.bincount(flat, minlength=size).reshape(shape).astype(np.int64)
    harm = np.bincount(flat, weights=weights[ok], minlength=size).reshape(shape)
    harm2 = np.bincount(flat, weights=weights[ok] ** 2, minlength=size).reshape(shape)
    # cell keys: sums of uint64 keys mod 2**32, exactly (split into 16-bit halves to stay in float64 range)
    k = keys[ok].astype(np.uint64)
    lo = np.bincount(flat, weights=(k & np.uint64(0xFFFF)).astype(np.float64), minlength=size)
    hi = np.bincount(flat, weights=(k >> np.uint64(16)).astype(np.float64), minlength=size)
    key = (
        (lo.astype(np.uint64) + (hi.astype(np.uint64) % np.uint64(MODULUS >> 16)) * np.uint64(1 << 16))
        % np.uint64(MODULUS)
    ).reshape(shape)
    return _Tally(months, count, harm, harm2, key)


def _period_cells(tally: _Tally, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = tally.count[:, cols].sum(axis=1)
    h = tally.harm[:, cols].sum(axis=1)
    h2 = tally.harm2[:, cols].sum(axis=1)
    key = (tally.key[:, cols].sum(axis=1, dtype=np.uint64)) % np.uint64(MODULUS)
    return n, h, h2, key


def _shown(
    n: np.ndarray, h: np.ndarray, h2: np.ndarray, key: np.ndarray, view: Disclosure, harm: bool, salt: int
) -> tuple[np.ndarray, np.ndarray]:
    """Published value and variance per cell: exact, or from the protected counts only."""
    if not view.protected:
        return (h, h2) if harm else (n.astype(float), n.astype(float))
    # no salt: the same records always make the same cell and show the same value (``salt`` is kept
    # for callers that publish a different measure of the same records)
    keyed = (key.astype(np.uint64) ^ np.uint64(salt)) % np.uint64(MODULUS)
    counts = protect_counts(n, keyed, view.k)
    if not harm:
        return counts, counts
    shown = protect_harm(h, n, counts, keyed)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, shown / counts, 0.0)
    return shown, shown * mean


def evaluate(
    incidents: pd.DataFrame,
    areas: Areas,
    wards: gpd.GeoDataFrame,
    periods: Periods,
    *,
    weights: np.ndarray | None = None,
    view: Disclosure = EXACT,
    scale_control: bool = False,
) -> dict[str, Any]:
    """The evaluation report of one intervention on ``incidents`` (x, y in EPSG:27700, month).

    ``wdd`` is the plain formula unless ``scale_control``; both variants are always reported as
    ``wdd_plain`` and ``wdd_scaled`` (each with ``formula`` and a ``reading`` naming it).

    ``incidents`` are already filtered to the crime types wanted; ``weights`` (one per
    incident) makes it a harm evaluation; ``wards`` (``ward_code``, ``ward_name``, geometry)
    are the synthetic control's donor pool (those touching the target or buffer left out).
    """
    harm = weights is not None
    months = periods.before + periods.after
    month_of = {m: i for i, m in enumerate(months)}
    located = incidents["has_location"].to_numpy(dtype=bool)
    x = incidents["x"].to_numpy(dtype=float)
    y = incidents["y"].to_numpy(dtype=float)
    mon = np.array([month_of.get(str(m), -1) for m in incidents["month"].astype(str)], dtype=np.int64)
    mon[~located] = -1
    w = np.ones(len(incidents)) if weights is None else np.asarray(weights, dtype=float)
    keys = (
        incidents[RECORD_KEY].to_numpy(dtype=np.uint64)
        if RECORD_KEY in incidents.columns
        else np.zeros(len(incidents), dtype=np.uint64)
    )
    use = mon >= 0
    xs, ys = np.where(use, x, 0.0), np.where(use, y, 0.0)

    def inside(geom: BaseGeometry | None) -> np.ndarray:
        if geom is None:
            return np.zeros(len(x), dtype=bool)
        shapely.prepare(geom)
        return use & shapely.contains_xy(geom, xs, ys)

    named = [("target", areas.target), ("buffer", areas.buffer), ("control", areas.control)]
    if areas.buffer_control is not None:
        named.append(("buffer_control", areas.buffer_control))
    n_before = len(periods.before)
    before_cols = np.arange(n_before)
    after_cols = np.arange(n_before, len(months))
    figures: dict[str, dict[str, Any]] = {}
    pairs: dict[str, tuple[float, float]] = {}
    variances: dict[str, tuple[float, float]] = {}
    monthly: dict[str, list[float | None]] = {}
    for _i, (name, geom) in enumerate(named):
        unit = np.where(inside(geom), 0, -1)
        t = _tally(unit, mon, w, keys, 1, months)
        v_month, _ = _shown(t.count[0], t.harm[0], t.harm2[0], t.key[0], view, harm, 0)
        n0, h0, q0, k0 = _period_cells(t, before_cols)
        n1, h1, q1, k1 = _period_cells(t, after_cols)
        b, vb = _shown(n0, h0, q0, k0, view, harm, 0)
        a, va = _shown(n1, h1, q1, k1, view, harm, 0)
        pairs[name] = (float(b[0]), float(a[0]))
        variances[name] = (float(vb[0]), float(va[0]))
        monthly[name] = [_num(v) for v in v_month]
        figures[name] = {
            "before": _num(b[0]),
            "after": _num(a[0]),
            "months": {"before": periods.before, "after": periods.after},
            "monthly": dict(zip(months, monthly[name], strict=True)),
            "area_km2": round(float(geom.area) / 1e6, 4),
        }
    suppressed = [n for n, (b0, a1) in pairs.items() if not (np.isfinite(b0) and np.isfinite(a1))]
    measure = "harm" if harm else "incidents"
    if suppressed:
        reason = (
            f"not computed: the {', '.join(suppressed)} count(s) are fewer than {view.k} in a period and "
            "withheld (disclosure control)"
        )
        plain: dict[str, Any] = dict.fromkeys(("local", "displacement", "total", "se", "z", "p"))
        plain["reading"] = reason
        scaled: dict[str, Any] = dict(plain)
        wdq_out: dict[str, Any] = {"value": None, "reading": reason}
    else:
        plain, scaled = _wdd_both(pairs, variances if harm or view.protected else None, periods, measure)
        wdq_out = wdq(pairs["target"], pairs["control"], pairs["buffer"])
    plain["formula"], scaled["formula"] = "plain", "scaled"
    plain["control_scaling"], scaled["control_scaling"] = PLAIN_NOTE, SCALED_NOTE
    wdd_out = dict(scaled if scale_control else plain)
    synthetic = _synthetic(
        incidents, inside, mon, w, keys, months, n_before, areas, wards, view, harm, monthly
    )
    return {
        "target": figures["target"],
        "buffer": figures["buffer"],
        "control": {**figures["control"], "rule": areas.control_rule},
        **({"buffer_control": figures["buffer_control"]} if "buffer_control" in figures else {}),
        "wdd": wdd_out,
        "wdd_plain": plain,
        "wdd_scaled": scaled,
        "wdq": wdq_out,
        "synthetic": synthetic,
        "periods": periods.as_dict(),
        "chart": _chart(months, periods, monthly, synthetic),
        "caveats": caveats(monthly["target"], periods, pairs["target"], view),
        "weight": "harm" if harm else "count",
    }


PLAIN_NOTE = (
    "plain formula (as issue #15 and Wheeler and Ratcliffe 2018 give it): the control's change is taken "
    "in incidents as it is, right when the control holds about as many incidents as the target; "
    "wdd_scaled weights the control to the target's size"
)
SCALED_NOTE = (
    "control scaled: the control's counts are weighted so that its before count equals the target's (and "
    "the buffer control's so that it equals the buffer's): the control says by what share crime changed, "
    "not by how many incidents (ptools' area weights); wdd_plain is the plain formula"
)


def _wdd_both(
    pairs: dict[str, tuple[float, float]],
    variances: dict[str, tuple[float, float]] | None,
    periods: Periods,
    measure: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The plain WDD and the one with the control(s) scaled to the target's (buffer's) before size."""
    cd = pairs.get("buffer_control", pairs["control"])
    out = []
    for label, wc, wcd in (
        ("plain formula", 1.0, 1.0),
        (
            "control scaled to the target's size",
            _scale(pairs["target"][0], pairs["control"][0]),
            _scale(pairs["buffer"][0], cd[0]),
        ),
    ):
        one = wdd(
            pairs["target"],
            pairs["control"],
            pairs["buffer"],
            pairs.get("buffer_control"),
            time_weight=periods.time_weight,
            control_weight=wc,
            buffer_control_weight=wcd,
            variances=variances,
            unit=measure,
        )
        one["reading"] = f"{label}: {one['reading']}"
        one["units"] = measure
        out.append(one)
    return out[0], out[1]


def _scale(own: float, control: float) -> float:
    """The weight making ``control`` the size of ``own`` (1 when either is empty)."""
    return own / control if own > 0 and control > 0 else 1.0


def _num(v: Any) -> float | None:
    f = float(v)
    if not np.isfinite(f):
        return None
    return int(f) if f.is_integer() else round(f, 3)


def _synthetic(
    incidents: pd.DataFrame,
    inside: Any,
    mon: np.ndarray,
    w: np.ndarray,
    keys: np.ndarray,
    months: list[str],
    n_before: int,
    areas: Areas,
    wards: gpd.GeoDataFrame,
    view: Disclosure,
    harm: bool,
    monthly: dict[str, list[float | None]],
) -> dict[str, Any]:
    exclude = shapely.union(areas.target, areas.buffer)
    geoms = wards.geometry.to_numpy()
    overlap = shapely.area(shapely.intersection(geoms, exclude)) > 1.0
    donors = wards.loc[~overlap].reset_index(drop=True)
    codes = donors["ward_code"].astype(str).tolist()
    labels = [f"{c} {n}" for c, n in zip(codes, donors["ward_name"].astype(str), strict=True)]
    if len(donors) < MIN_DONORS:
        return {
            "effect": None,
            "p": None,
            "weights": [],
            "reason": "too few wards outside the target and buffer",
        }
    x = incidents["x"].to_numpy(dtype=float)
    y = incidents["y"].to_numpy(dtype=float)
    use = mon >= 0
    unit = np.full(len(x), -1, dtype=np.int64)
    tree = shapely.STRtree(donors.geometry.to_numpy())
    idx = np.flatnonzero(use)
    pts, polys = tree.query(shapely.points(x[idx], y[idx]), predicate="intersects")
    first = np.unique(pts, return_index=True)[1]
    unit[idx[pts[first]]] = polys[first]
    t = _tally(unit, mon, w, keys, len(donors), months)
    shown = np.vstack(
        [_shown(t.count[j], t.harm[j], t.harm2[j], t.key[j], view, harm, 0)[0] for j in range(len(donors))]
    ).T
    target = np.array([np.nan if v is None else float(v) for v in monthly["target"]])
    note = None
    if view.protected:
        # withheld cells (true count 1..k-1) enter the fit at the middle of their range
        mid = (1 + view.k - 1) / 2.0
        target = np.where(np.isnan(target), mid, target)
        shown = np.where(np.isnan(shown), mid, shown)
        note = (
            f"computed from protected monthly counts; withheld cells (fewer than {view.k}) taken as {mid:g}"
        )
    out = synthetic_control(target, shown, n_before, labels)
    if note:
        out["disclosure_note"] = note
    out["donor_monthly"] = {
        lab: [_num(v) for v in shown[:, j]]
        for j, lab in enumerate(labels)
        if any(d["ward"] == lab for d in out.get("weights", []))
    }
    return out


def _chart(
    months: list[str], periods: Periods, monthly: dict[str, list[float | None]], synthetic: dict[str, Any]
) -> dict[str, Any]:
    """The chart's series: target, synthetic target, and the control scaled to the target's before level."""
    n0 = len(periods.before)
    t = np.array([np.nan if v is None else v for v in monthly["target"]], dtype=float)
    c = np.array([np.nan if v is None else v for v in monthly["control"]], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.nanmean(t[:n0]) / np.nanmean(c[:n0]) if n0 else np.nan
    control_scaled = [_num(v) if np.isfinite(v) else None for v in c * scale]
    synth = synthetic.get("synthetic") or [None] * len(months)
    return {
        "months": months,
        "start": periods.start,
        "target": monthly["target"],
        "synthetic": [None if v is None else round(float(v), 2) for v in synth],
        "control_scaled": control_scaled,
        "control_scale": None if not np.isfinite(scale) else float(scale),
        "note": "control scaled to the target's before-period monthly mean, so the two can share an axis",
    }


def caveats(
    target_monthly: list[float | None], periods: Periods, target: tuple[float, float], view: Disclosure
) -> list[str]:
    """The cautions in words (regression to the mean, small counts, month-only dates, snapping)."""
    out = []
    before = list(target_monthly[: len(periods.before)])
    known = [v for v in before if v is not None]
    peak = bool(known) and len(before) >= 3 and max(known) in [v for v in before[-3:] if v is not None]
    if peak:
        out.append(
            "Regression to the mean: the target peaked in the last three months before the start. A place "
            "picked because it was at its worst tends to improve on its own; part of any fall may be that."
        )
    else:
        out.append(
            "Regression to the mean: if the place was picked because it had a bad spell, part of any fall "
            "would have happened anyway; the control and synthetic control only partly allow for it."
        )
    t0, t1 = target
    if not (np.isfinite(t0) and np.isfinite(t1)) or min(t0, t1) < SMALL_COUNT:
        out.append(
            f"Small counts: the target holds fewer than {SMALL_COUNT} incidents in a period; the normal "
            "approximation behind the p-values is rough and a few incidents either way change the verdict."
        )
    out.append(
        "Month-only dates: police.uk gives the month, not the day. The start month counts as 'after' even if "
        "the intervention began late in it, which dilutes the measured effect."
    )
    out.append(
        "Snapping: police.uk moves each incident to a nearby map point (street centre or public place). "
        "Incidents near the target's edge may be counted in the buffer or the other way round; a buffer "
        "narrower than about 100 m is unreliable."
    )
    if periods.missing:
        out.append(f"Missing months left out of both periods: {', '.join(periods.missing)}.")
    if view.protected:
        out.append(
            "Counts shown are protected (cell key method): small counts are withheld and others moved by "
            "up to 2; every figure here is computed from the protected counts."
        )
    return out


def verdict(report: dict[str, Any]) -> str:
    """One plain-words sentence for a board."""
    w = report.get("wdd") or {}
    s = report.get("synthetic") or {}
    if w.get("total") is None:
        return f"Cannot say: {w.get('reading', 'no estimate')}."
    parts = [f"Weighted displacement difference, {w['reading']} (p = {w['p']:.3f})."]
    other = report.get("wdd_scaled" if w.get("formula") == "plain" else "wdd_plain") or {}
    if other.get("total") is not None:
        parts.append(f"With the {other['reading']} (p = {other['p']:.3f}).")
    if s.get("effect") is not None:
        direction = "fewer" if s["effect"] < 0 else "more"
        unit = "harm" if report.get("weight") == "harm" else "incidents"
        strength = (
            "unusual among the placebo wards" if s["p"] <= 0.1 else "not unusual among the placebo wards"
        )
        parts.append(
            f"Synthetic control: {abs(s['effect']):.1f} {direction} {unit} than the synthetic target over "
            f"the after period, {strength} (placebo p = {s['p']:.2f})."
        )
    q = report.get("wdq") or {}
    if q.get("value") is not None:
        parts.append(f"Displacement quotient {q['value']:.2f}: {q['reading']}.")
    return " ".join(parts)
