"""Disclosure control: small counts in small areas can point at people.

Viewers and councils see *protected* figures; police, admins and the CLI's own
output files see exact ones. Which applies is a property of the caller, a
:class:`Disclosure` (made once per request from the caller's role, see
:meth:`hotspots.service.HotspotService.disclosure_for`), and every output the
service hands out passes through it.

The rule (stated in every protected output's metadata as ``meta.disclosure``):
the **cell key method** (ONS Census 2021, ABS TableBuilder) with small-cell
suppression.

* Every incident record carries a fixed pseudo-random key (:func:`record_keys`:
  a keyed hash of a per-store secret and the dataset version seeds a generator
  over the stored rows), the same on every request and after restarts.
* A published count is a *cell* (a ward, a hotspot, a hotspot's month or
  category, an hour of the day, a hex cell, a total...). Its cell key is the
  sum of its records' keys modulo 2**32, so the same records always give the
  same key, and the perturbation is looked up from a fixed table (:data:`NOISE`,
  :data:`NOISE_PROBABILITIES`: -2..+2, zero mean) by (cell key, count).
* Published value: 0 stays 0 (no record); a true count from 1 to k-1 is
  suppressed (``null``, "fewer than k"); otherwise count + perturbation, and
  suppressed if that falls below k. No value from 1 to k-1 is ever shown.
* Totals are cells of their own records, so a total minus its visible parts
  (or one month range minus another, one category set minus another) gives the
  hidden part plus the sum of several independent perturbations.
* Harm is perturbed apart from the count (scaled to the protected count, then
  a further multiplicative noise of up to :data:`HARM_NOISE` from the cell
  key), so harm / weight does not give the count back; shares, PAI, rates and
  densities are computed from protected counts.
* Incident-level rows are not aggregates: protected callers get coordinates
  only (:data:`LOCATION_ONLY`), for the smoothed heat surface.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from hotspots.geo.analysis import AnalysisResult
from hotspots.geo.stats.concentration import protect_concentration
from hotspots.geo.stats.coverage import no_data_flags
from hotspots.geo.stats.grid import HexGrid, axial_coords
from hotspots.geo.stats.significance import RESULT_COLUMNS, gi_star, gi_star_polygons, hot_share

LOCATION_ONLY = ("x", "y", "has_location", "outside_area")
"""What stays of the incidents: coordinates only, for the smoothed heat surface (no attributes)."""

RECORD_KEY = "record_key"
"""Incident column holding each record's fixed key (0 .. 2**32-1); added by the service on load."""

MODULUS = 2**32
NOISE = np.array([-2, -1, 0, 1, 2], dtype=np.int64)
NOISE_PROBABILITIES = np.array([0.1, 0.2, 0.4, 0.2, 0.1])
MAX_PERTURBATION = int(np.abs(NOISE).max())
HARM_NOISE = 0.15
"""Harm is multiplied by a factor in [1 - HARM_NOISE, 1 + HARM_NOISE] from the cell key."""
PTABLE_COUNT_CAP = 64
"""The p-table row is chosen by min(count, cap) (and the cell key)."""
_CUMULATIVE = np.cumsum(NOISE_PROBABILITIES)
_HARM_SALT = np.uint64(0x9E3779B97F4A7C15)

METHOD = "cell key perturbation + small-cell suppression"


@dataclass(frozen=True)
class Disclosure:
    """What a caller may see: exact figures, or protected ones (see the module docstring)."""

    exact: bool
    k: int = 5
    secret: bytes = field(default=b"", repr=False)

    @property
    def identity(self) -> tuple[object, ...]:
        """Cache key part: results for different disclosures never mix."""
        if self.exact:
            return ("exact",)
        return ("protected", self.k, hashlib.blake2b(self.secret, digest_size=8).hexdigest())

    @property
    def protected(self) -> bool:
        return not self.exact and self.k > 1

    def describe(self) -> dict[str, Any]:
        """The rule, for ``meta.disclosure``."""
        return disclosure_meta(self.k)


EXACT = Disclosure(exact=True)
"""Police, admins and the CLI: exact counts."""


def disclosure_rule(k: int) -> str:
    return (
        f"Cell key method: each record has a fixed random key; each published count is perturbed by "
        f"-{MAX_PERTURBATION}..+{MAX_PERTURBATION} (zero mean) looked up from its records' keys, so the "
        f"same cell always shows the same value. True counts from 1 to {k - 1}, and perturbed values "
        f"below {k}, are suppressed (null, 'fewer than {k}'); zero stays zero. Totals are perturbed as cells "
        f"of their own; harm, shares, rates, PAI and densities come from protected counts (harm with its own "
        f"noise of up to {HARM_NOISE:.0%}). Police and admin see exact counts."
    )


def disclosure_meta(k: int) -> dict[str, Any]:
    return {
        "k": k,
        "method": METHOD,
        "max_perturbation": MAX_PERTURBATION,
        "perturbations": NOISE.tolist(),
        "probabilities": NOISE_PROBABILITIES.tolist(),
        "harm_noise": HARM_NOISE,
        "rule": disclosure_rule(k),
        "suppressed": True,
        "protected": True,
    }


def record_keys(secret: bytes, dataset_ref: str, n: int) -> np.ndarray:
    """The fixed keys of the ``n`` stored rows of one dataset version (uint64 in 0 .. 2**32-1)."""
    seed = hashlib.blake2b(dataset_ref.encode(), key=secret[:64], digest_size=16, person=b"hs-rkey").digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
    return rng.integers(0, MODULUS, size=n, dtype=np.uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: well-spread 64-bit values from cell keys."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _uniform(ckeys: np.ndarray, salt: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        mixed = _mix(ckeys.astype(np.uint64) ^ (salt.astype(np.uint64) << np.uint64(32)))
    return (mixed >> np.uint64(11)).astype(np.float64) / float(2**53)


def perturbation(counts: np.ndarray, ckeys: np.ndarray) -> np.ndarray:
    """The p-table look-up: the perturbation of cells with these true counts and cell keys."""
    n = np.asarray(counts, dtype=np.int64)
    u = _uniform(np.asarray(ckeys, dtype=np.uint64), np.minimum(np.maximum(n, 0), PTABLE_COUNT_CAP))
    return NOISE[np.minimum(np.searchsorted(_CUMULATIVE, u, side="right"), len(NOISE) - 1)]


def protect_counts(counts: Any, ckeys: Any, k: int) -> np.ndarray:
    """Published values (float, NaN = suppressed) of cells with true ``counts`` and ``ckeys``."""
    raw = np.asarray(counts, dtype=np.float64)
    n = np.nan_to_num(np.rint(raw), nan=0).astype(np.int64)
    v = n + perturbation(n, np.asarray(ckeys, dtype=np.uint64))
    out = np.where(v < k, np.nan, v.astype(np.float64))
    out = np.where(n <= 0, 0.0, np.where(n < k, np.nan, out))
    return np.where(np.isnan(raw), np.nan, out)


def protect_harm(harm: Any, counts: Any, protected: Any, ckeys: Any) -> np.ndarray:
    """Harm of cells: null where the count is suppressed, else scaled to the protected count with
    multiplicative noise from the cell key (rounded to 0.1)."""
    h = np.asarray(harm, dtype=np.float64)
    n = np.asarray(counts, dtype=np.float64)
    p = np.asarray(protected, dtype=np.float64)
    u = _uniform(np.asarray(ckeys, dtype=np.uint64) ^ _HARM_SALT, np.full(len(np.atleast_1d(h)), 7))
    factor = 1.0 + HARM_NOISE * (2.0 * u - 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(n > 0, h * p / n, 0.0) * factor
    return np.round(np.where(np.isnan(p), np.nan, out), 1)


def _none(values: np.ndarray) -> list[Any]:
    """Floats with NaN as ``None`` and whole numbers as ``int``."""
    return [None if not np.isfinite(v) else int(v) if float(v).is_integer() else float(v) for v in values]


def _objects(values: np.ndarray, index: pd.Index, whole: bool = True) -> pd.Series:
    """An object column: whole numbers as ``int`` (``float`` unless ``whole``), NaN as ``None``."""
    out = [
        None if not np.isfinite(v) else int(v) if whole and float(v).is_integer() else float(v)
        for v in np.asarray(values, dtype=float)
    ]
    return pd.Series(out, index=index, dtype=object)


def _one(value: float) -> int | None:
    return None if not np.isfinite(value) else int(value)


class _Cells:
    """Cell keys of a result's incidents, for groups of them."""

    def __init__(self, incidents: pd.DataFrame, secret: bytes) -> None:
        self.incidents = incidents
        if RECORD_KEY in incidents.columns:
            self.keys = incidents[RECORD_KEY].to_numpy(dtype=np.uint64)
        else:  # a result built outside the service: keys from the row order (still fixed per result)
            self.keys = record_keys(secret, "unkeyed", len(incidents))

        self._tables: dict[str, pd.DataFrame] = {}
        self._lookups: dict[int, dict[Any, int]] = {}
        self.hid = (
            incidents["hotspot_id"].to_numpy()
            if "hotspot_id" in incidents.columns
            else np.full(len(incidents), -1)
        )
        if "occurred_at" in incidents.columns:
            ts = pd.to_datetime(incidents["occurred_at"], errors="coerce")
        else:
            ts = pd.Series(pd.NaT, index=incidents.index, dtype="datetime64[ns]")
        self.dated = ts.notna().to_numpy(dtype=bool)
        self.hours = ts.dt.hour.fillna(-1).astype(int).to_numpy()
        self.weekdays = ts.dt.day_of_week.fillna(-1).astype(int).to_numpy()

    def cached(self, name: str, make: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        if name not in self._tables:
            self._tables[name] = make()
        return self._tables[name]

    def total(self, mask: np.ndarray | None = None) -> tuple[int, int]:
        keys = self.keys if mask is None else self.keys[mask]
        return len(keys), int(keys.sum(dtype=np.uint64) % np.uint64(MODULUS))

    def table(self, columns: Sequence[Any], mask: np.ndarray | None = None) -> pd.DataFrame:
        """``count`` and ``ckey`` per group of ``columns`` (arrays or incident column names)."""
        data: dict[str, Any] = {}
        for i, col in enumerate(columns):
            values = self.incidents[col] if isinstance(col, str) else pd.Series(col)
            data[f"g{i}"] = np.asarray(values.astype(object) if values.dtype.name == "category" else values)
        data["key"] = self.keys
        frame = pd.DataFrame(data)
        if mask is not None:
            frame = frame[mask]
        groups = [f"g{i}" for i in range(len(columns))]
        agg = frame.groupby(groups, dropna=True)["key"].agg(["size", "sum"])
        agg["ckey"] = agg["sum"].to_numpy(dtype=np.uint64) % np.uint64(MODULUS)
        return agg.rename(columns={"size": "count"})[["count", "ckey"]]

    def keys_for(self, table: pd.DataFrame, index: Iterable[Any]) -> np.ndarray:
        """Cell keys of the groups ``index`` (0 for a group with no record)."""
        lookup = self._lookups.get(id(table))
        if lookup is None:
            lookup = dict(zip(table.index, table["ckey"].astype(np.uint64).tolist(), strict=True))
            self._lookups[id(table)] = lookup
            self._tables.setdefault(f"_held{id(table)}", table)  # keep it alive while its id is used
        return np.array([lookup.get(i, 0) for i in index], dtype=np.uint64)


def _profile(profile: Any, cells: _Cells, k: int, hotspot: int | None = None) -> Any:
    """A time profile (hours and weekdays) with every count a cell: over all incidents, or over
    those of ``hotspot`` (its id in the incidents' ``hotspot_id``)."""
    if not isinstance(profile, dict):
        return profile
    out = copy.deepcopy(profile)
    dated = cells.dated
    for part, values in (("hours", cells.hours), ("weekdays", cells.weekdays)):
        counts = out.get(part, {}).get("counts")
        if not counts:
            continue
        columns: list[Any] = [values] if hotspot is None else [cells.hid, values]
        name = part if hotspot is None else f"hotspot-{part}"
        table = cells.cached(name, partial(cells.table, columns, dated))
        wanted: list[Any] = (
            list(range(len(counts))) if hotspot is None else [(hotspot, i) for i in range(len(counts))]
        )
        out[part]["counts"] = _none(protect_counts(counts, cells.keys_for(table, wanted), k))
    if hotspot is None:
        _, ckey = cells.total()
        _, dkey = cells.total(dated)
    else:
        ckey = int(cells.keys_for(cells.cached("hotspot", lambda: cells.table([cells.hid])), [hotspot])[0])
        by_dated = cells.cached("hotspot-dated", lambda: cells.table([cells.hid], dated))
        dkey = int(cells.keys_for(by_dated, [hotspot])[0])
    if out.get("incidents") is not None:
        out["incidents"] = protect_number(out["incidents"], ckey, k)
    if out.get("incidents_with_date") is not None:
        out["incidents_with_date"] = protect_number(out["incidents_with_date"], dkey, k)
    return out


def _grid_counts(cells_frame: pd.DataFrame, cells: _Cells, keep: np.ndarray, k: int) -> pd.DataFrame:
    """Hex cells (``q``, ``r``, ``count``) with their counts protected."""
    out = cells_frame.copy()
    out.attrs = dict(cells_frame.attrs)
    if "count" not in out.columns or not len(out) or "q" not in out.columns:
        return out
    size = cells_frame.attrs.get("cell_size_m")
    inc = cells.incidents
    if size is None or not len(inc):
        ckeys = np.zeros(len(out), dtype=np.uint64)
    else:
        x, y = inc["x"].to_numpy(dtype=float), inc["y"].to_numpy(dtype=float)
        finite = np.isfinite(x) & np.isfinite(y)
        q, r = axial_coords(np.where(finite, x, 0.0), np.where(finite, y, 0.0), float(size))
        table = cells.table([q, r], keep & finite)
        ckeys = cells.keys_for(table, zip(out["q"].astype(int), out["r"].astype(int), strict=True))
    out["count"] = _objects(protect_counts(out["count"].to_numpy(dtype=float), ckeys, k), out.index)
    return out


def _ward_gi(wards: pd.DataFrame, counts: np.ndarray) -> None:
    """Gi* of the wards recomputed from their protected counts (withheld as 0), per boundary set:
    z-scores of exact counts over a known neighbour graph would give the counts back. Wards no
    source covers (``no_data``) are not tested, as in the exact analysis."""
    measured = np.where(no_data_flags(wards), np.nan, counts)
    work = gpd.GeoDataFrame(wards[["boundary_set"]].assign(count=measured), geometry=wards.geometry)
    for _, part in work.groupby("boundary_set", sort=False):
        gi = gi_star_polygons(part, "count")
        wards.loc[part.index, "gi_z"] = gi["z"].round(3).to_numpy()
        wards.loc[part.index, "gi_p"] = gi["p_fdr"].to_numpy()
        wards.loc[part.index, "gi_bin"] = gi["gi_bin"].to_numpy()
        wards.loc[part.index, "gi_label"] = gi["label"].to_numpy()


def _grid_gi(frame: pd.DataFrame) -> None:
    """Gi* of the hex cells recomputed from their protected counts (withheld as 0), as
    :func:`~hotspots.geo.stats.significance.gi_star_grid` computes it (one ring, FDR)."""
    grid = HexGrid.from_geodataframe(frame)
    pos = grid.index_of(frame["q"].to_numpy(dtype=np.int64), frame["r"].to_numpy(dtype=np.int64))
    values = np.zeros(len(grid))
    values[pos] = pd.to_numeric(frame["count"], errors="coerce").fillna(0).to_numpy(dtype=float)
    result = gi_star(values, grid.neighbours(1))
    for col in RESULT_COLUMNS:
        frame[col] = np.asarray(getattr(result, col))[pos]


def _method_counts(method: Any, total: int | None) -> Any:
    if not isinstance(method, dict):
        return method
    out = dict(method)
    for key in ("points", "points_counted"):
        if key in out:
            out[key] = total
    for key in ("points_without_location", "points_without_month"):
        if key in out:
            out[key] = None
    return out


def coarse_area_km2(km2: float) -> float:
    """An area to 2 significant figures: the occupied area (500 m squares holding incidents) moves
    by 0.25 km2 per square, so an exact figure would tell two requests' small differences apart."""
    if not math.isfinite(km2) or km2 <= 0:
        return km2
    return float(f"{km2:.2g}")


def protect(result: AnalysisResult, view: Disclosure) -> AnalysisResult:
    """A copy of ``result`` as ``view`` may see it (``result`` itself for an exact view).

    Wards and boroughs: ``count`` and ``rate_per_1000``; hotspots: ``count``, ``harm``,
    shares, PAI and density, monthly counts, category counts and time profiles; Gi*
    cells: ``count``; metadata counts, harm total, hit rate, sources and Gi* point counts.
    """
    if not view.protected:
        return result
    k = view.k
    inc = result.incidents
    cells = _Cells(inc, view.secret)
    located = inc["has_location"].to_numpy(dtype=bool) if len(inc) else np.zeros(0, dtype=bool)
    outside = inc["outside_area"].to_numpy(dtype=bool) if len(inc) else np.zeros(0, dtype=bool)
    inside = located & ~outside
    hid = inc["hotspot_id"].to_numpy() if "hotspot_id" in inc.columns else np.full(len(inc), -1)
    out = copy.copy(result)

    # wards and boroughs
    wards = result.wards.copy()
    if len(wards) and "boundary_set" in inc.columns and "ward_code" in inc.columns:
        table = cells.table(["boundary_set", "ward_code"], ~outside)
        ckeys = cells.keys_for(table, zip(wards["boundary_set"], wards["ward_code"], strict=True))
        shown_wards = protect_counts(wards["count"].to_numpy(dtype=float), ckeys, k)
        pop = pd.to_numeric(wards.get("population"), errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(pop > 0, np.round(shown_wards / pop * 1000, 2), np.nan)
        wards["count"] = _objects(shown_wards, wards.index)
        wards["rate_per_1000"] = _objects(rate, wards.index, whole=False)
        if "gi_z" in wards.columns and wards["gi_z"].notna().any():
            _ward_gi(wards, np.nan_to_num(shown_wards, nan=0.0))
    out.wards = wards
    boroughs = result.boroughs.copy()
    if len(boroughs) and "borough_code" in inc.columns:
        table = cells.table(["borough_code"], ~outside)
        ckeys = cells.keys_for(table, boroughs["borough_code"])
        boroughs["count"] = _objects(
            protect_counts(boroughs["count"].to_numpy(dtype=float), ckeys, k), boroughs.index
        )
    out.boroughs = boroughs

    # totals
    meta = dict(result.meta)
    masks = {
        "incidents": None,
        "incidents_located": located,
        "incidents_without_location": ~located,
        "incidents_outside_area": located & outside,
        "incidents_in_hotspots": hid > 0,
    }
    for key, mask in masks.items():
        if meta.get(key) is not None:
            n, ckey = cells.total(mask)
            meta[key] = _one(float(protect_counts([meta[key]], [ckey], k)[0]))
    n_inside, inside_key = cells.total(inside)
    inside_total = protect_counts([n_inside], [inside_key], k)[0]
    n_hit, hit_key = cells.total(inside & (hid > 0))
    hits = protect_counts([n_hit], [hit_key], k)[0]
    if meta.get("harm_total") is not None:
        meta["harm_total"] = _one_float(
            protect_harm([meta["harm_total"]], [n_inside], [inside_total], [inside_key])
        )
    hit_rate = (
        hits / inside_total if np.isfinite(hits) and np.isfinite(inside_total) and inside_total > 0 else None
    )
    if meta.get("hit_rate") is not None:
        meta["hit_rate"] = None if hit_rate is None else round(float(min(hit_rate, 1.0)), 3)
        share = meta.get("hotspot_area_share")
        meta["pai"] = meta["hit_rate"] / share if meta["hit_rate"] is not None and share else None
    meta["time_profile"] = _profile(meta.get("time_profile"), cells, k)
    sources = meta.get("sources")
    if isinstance(sources, list) and "dataset" in inc.columns:
        table = cells.table(["dataset"])
        meta["sources"] = [
            {
                **s,
                "incidents": _one(
                    float(
                        protect_counts([s.get("incidents", 0)], cells.keys_for(table, [s.get("dataset")]), k)[
                            0
                        ]
                    )
                ),
            }
            if isinstance(s, dict)
            else s
            for s in sources
        ]
    harm_meta = meta.get("harm")
    if isinstance(harm_meta, dict):
        meta["harm"] = _protect_harm_meta(harm_meta, cells, k)
    inside_shown = _one(float(inside_total))
    if isinstance(meta.get("gi_star"), dict):
        meta["gi_star"] = _method_counts(meta["gi_star"], inside_shown)
    if meta.get("occupied_area_km2") is not None:
        meta["occupied_area_km2"] = coarse_area_km2(float(meta["occupied_area_km2"]))
    if "concentration" in meta:
        meta["concentration"] = protect_concentration(meta["concentration"], float(inside_total), k)
    meta["disclosure"] = view.describe()

    # hotspots
    hotspots = result.hotspots.copy()
    if len(hotspots):
        table = cells.table([hid], hid > 0)
        ckeys = cells.keys_for(table, hotspots["hotspot_id"].astype(int))
        exact_count = hotspots["count"].to_numpy(dtype=float)
        shown = protect_counts(exact_count, ckeys, k)
        hotspots["count"] = shown
        if "harm" in hotspots.columns and hotspots["harm"].notna().any():
            hotspots["harm"] = protect_harm(hotspots["harm"].to_numpy(dtype=float), exact_count, shown, ckeys)
        n_inside_h = cells.table([hid], (hid > 0) & inside)
        inside_counts = n_inside_h["count"].reindex(hotspots["hotspot_id"].astype(int)).fillna(0).to_numpy()
        inside_keys = cells.keys_for(n_inside_h, hotspots["hotspot_id"].astype(int))
        shown_inside = protect_counts(inside_counts, inside_keys, k)
        with np.errstate(invalid="ignore", divide="ignore"):
            if np.isfinite(inside_total) and inside_total > 0:
                share = np.round(shown_inside / inside_total, 4)
            else:
                share = np.full(len(hotspots), np.nan)
            hotspots["share_of_incidents"] = share
            area_share = pd.to_numeric(hotspots["share_of_area"], errors="coerce").to_numpy(dtype=float)
            hotspots["pai"] = np.where(area_share > 0, share / area_share, np.nan).round(2)
            area_km2 = pd.to_numeric(hotspots["area_m2"], errors="coerce").to_numpy(dtype=float) / 1e6
            hotspots["density_per_km2"] = np.where(area_km2 > 0, shown / area_km2, np.nan).round(1)
        for col in ("count", "harm", "share_of_incidents", "pai", "density_per_km2"):
            hotspots[col] = _objects(
                hotspots[col].to_numpy(dtype=float), hotspots.index, whole=col == "count"
            )
        months = cells.table([hid, "month"], hid > 0) if "month" in inc.columns else None
        types = cells.table([hid, "crime_type"], hid > 0) if "crime_type" in inc.columns else None
        monthly, tops, profiles = [], [], []
        for h, mc, tc, tp in zip(
            hotspots["hotspot_id"].astype(int),
            hotspots["monthly_counts"],
            hotspots["top_categories"],
            hotspots["time_profile"],
            strict=True,
        ):
            if isinstance(mc, dict) and months is not None:
                keys = cells.keys_for(months, [(h, m) for m in mc])
                monthly.append(dict(zip(mc, _none(protect_counts(list(mc.values()), keys, k)), strict=True)))
            else:
                monthly.append(mc)
            if isinstance(tc, list) and types is not None:
                keys = cells.keys_for(types, [(h, c.get("crime_type")) for c in tc])
                values = _none(protect_counts([c.get("count") for c in tc], keys, k))
                tops.append([{**c, "count": v} for c, v in zip(tc, values, strict=True)])
            else:
                tops.append(tc)
            profiles.append(_profile(tp, cells, k, h))
        hotspots["monthly_counts"] = monthly
        gaps = hotspots["missing_months"] if "missing_months" in hotspots.columns else [()] * len(hotspots)
        _protected_trends(hotspots, monthly, list(gaps))
        hotspots["top_categories"] = tops
        hotspots["time_profile"] = profiles
    out.hotspots = hotspots

    # Gi* grid (and the hotspots' share of hot cells), incidents
    out.gi_grid = _grid_counts(result.gi_grid, cells, inside, k)
    if len(out.gi_grid) and "z" in out.gi_grid.columns:
        _grid_gi(out.gi_grid)
        if len(out.hotspots) and "hot_share" in out.hotspots.columns:
            out.hotspots["hot_share"] = hot_share(out.hotspots.geometry, out.gi_grid)
    out.incidents = inc[list(LOCATION_ONLY)].copy()
    out.meta = meta
    return out


def _protected_trends(hotspots: pd.DataFrame, monthly: list[Any], missing: list[Any] | None = None) -> None:
    """Trend, its p-value, Sen's slope and the peak month from the protected monthly counts
    (suppressed months as 0), so they reveal nothing the months shown do not. Months in
    ``missing`` (per hotspot: not covered by the source, ``None`` in the exact counts too) are
    left out of the trend, as in the exact analysis: a missing month is not a count."""
    from hotspots.geo.stats.trend import mann_kendall

    gaps_of = missing if missing is not None else [()] * len(monthly)
    seen: dict[tuple[float, ...], Any] = {}
    trends: list[Any] = []
    ps: list[Any] = []
    slopes: list[Any] = []
    peaks: list[Any] = []
    for months, gaps in zip(monthly, gaps_of, strict=True):
        if not isinstance(months, dict) or not months:
            trends.append(None)
            ps.append(None)
            slopes.append(None)
            peaks.append(None)
            continue
        skip = set(gaps) if isinstance(gaps, list | tuple | set) else set()
        values: list[float] = [
            math.nan if m in skip else 0.0 if v is None else float(v) for m, v in months.items()
        ]
        series = tuple(values)
        if series not in seen:  # small hotspots share series (all withheld: all 0)
            present = [i for i, v in enumerate(values) if not math.isnan(v)]
            seen[series] = mann_kendall([values[i] for i in present], times=present)
        result = seen[series]
        trends.append(result.trend)
        ps.append(result.p)
        slopes.append(result.slope_per_month)
        best = max((v for v in values if not math.isnan(v)), default=0.0)
        peaks.append(next(m for m, v in zip(months, values, strict=True) if v == best) if best > 0 else None)
    for col, values in (
        ("trend", trends),
        ("trend_p", ps),
        ("slope_per_month", slopes),
        ("peak_month", peaks),
    ):
        if col in hotspots.columns:
            hotspots[col] = pd.Series(values, index=hotspots.index, dtype=object)


def _protect_harm_meta(harm: dict[str, Any], cells: _Cells, k: int) -> dict[str, Any]:
    """``meta.harm``: its total harm and its counts of unknown and missing crime types, protected."""
    out = dict(harm)
    n, ckey = cells.total()
    if out.get("harm_total") is not None:
        shown = protect_counts([n], [ckey], k)
        out["harm_total"] = _one_float(protect_harm([out["harm_total"]], [n], shown, [ckey]))
    unknown = out.get("harm_unknown_crime_types")
    if isinstance(unknown, dict) and unknown and "crime_type" in cells.incidents.columns:
        table = cells.table(["crime_type"])
        keys = cells.keys_for(table, list(unknown))
        out["harm_unknown_crime_types"] = dict(
            zip(unknown, _none(protect_counts(list(unknown.values()), keys, k)), strict=True)
        )
    if out.get("harm_missing_crime_type") and "crime_type" in cells.incidents.columns:
        missing = cells.incidents["crime_type"].isna().to_numpy(dtype=bool)
        _, mkey = cells.total(missing)
        out["harm_missing_crime_type"] = protect_number(out["harm_missing_crime_type"], mkey, k)
    return out


def _one_float(values: np.ndarray) -> float | None:
    v = float(values[0])
    return None if not np.isfinite(v) else v


def protect_cells(cells_frame: pd.DataFrame, result: AnalysisResult, view: Disclosure) -> pd.DataFrame:
    """Emerging hot spot cells (exact ``result``'s incidents) with their total counts protected."""
    if not view.protected:
        return cells_frame
    inc = result.incidents
    cells = _Cells(inc, view.secret)
    keep = inc["has_location"].to_numpy(dtype=bool) & ~inc["outside_area"].to_numpy(dtype=bool)
    out = _grid_counts(cells_frame, cells, keep, view.k)
    n, ckey = cells.total(keep)
    shown = _one(float(protect_counts([n], [ckey], view.k)[0]))
    out.attrs["method"] = _method_counts(out.attrs.get("method"), shown)
    out.attrs["disclosure"] = view.describe()
    return out


def protect_number(count: Any, ckey: int, k: int) -> int | None:
    """One cell's published value."""
    if count is None:
        return None
    return _one(float(protect_counts([count], [ckey], k)[0]))


def coarse(value: float, k: int) -> float:
    """A figure that moves with the number of incidents, shown to protected callers only in steps
    of k (rounded to the nearest multiple)."""
    return float(max(k, k * math.floor(value / k + 0.5)))


# ---- outputs beyond an analysis ----------------------------------------------------------------


def _salted(ckey: int, salt: int) -> int:
    return int(_mix(np.array([ckey ^ (salt << 32)], dtype=np.uint64))[0] % np.uint64(MODULUS))


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or not np.isfinite(num) or not np.isfinite(den) or den <= 0:
        return None
    return float(num / den)


def protect_evaluation(
    report: dict[str, Any], selected: pd.DataFrame, view: Disclosure, *, weighted: bool = False
) -> dict[str, Any]:
    """An evaluation report as a protected ``view`` may see it.

    ``selected``: the incidents the evaluation drew on (crime types and first month applied),
    with their record keys; ``weighted``: the totals are harm (``weight=harm``), not counts.
    Each test month's and fit period's incident count is a cell of its records; the hits (of
    the hotspots and of each baseline) are cells keyed by the test or fit records with a salt
    per measure; hit rates, PAI, PEI and RRI come from those. The data-driven
    ``min_samples`` of each fit period is withheld (it moves with the count).
    """
    k = view.k
    cells = _Cells(selected.reset_index(drop=True), view.secret)
    month = selected["month"].astype("string").to_numpy(dtype=object)
    located = selected["has_location"].to_numpy(dtype=bool)
    outside = (
        selected["outside_area"].to_numpy(dtype=bool) if "outside_area" in selected.columns else ~located
    )
    ok = located & ~outside
    out = copy.deepcopy({key: v for key, v in report.items() if key not in ("results", "rows", "mean")})
    if out.get("curve") is not None:  # PAI at many nested area shares would difference to cell counts
        out["curve"] = None
        out["curve_note"] = "the PAI curve is shown to police and admin keys only (disclosure control)"
    results = []
    rows = []
    for r in report.get("results", []):
        r = copy.deepcopy(r)
        fit = np.isin(month, np.asarray(r.get("fit_months", []), dtype=object))
        test = month == r.get("test_month")
        n_fit, key_fit = cells.total(fit & ok)
        n_test, key_test = cells.total(test & ok)
        n_exc, key_exc = cells.total((fit | test) & ~ok)
        fit_shown = protect_counts([n_fit], [key_fit], k)[0]
        test_shown = protect_counts([n_test], [key_test], k)[0]
        if weighted and r.get("incidents_fit") is not None and r.get("incidents_test") is not None:
            r["incidents_fit"] = _one_float(
                protect_harm([r["incidents_fit"]], [n_fit], [fit_shown], [key_fit])
            )
            r["incidents_test"] = _one_float(
                protect_harm([r["incidents_test"]], [n_test], [test_shown], [key_test])
            )
        else:
            r["incidents_fit"] = _one(float(fit_shown))
            r["incidents_test"] = _one(float(test_shown))
        r["incidents_excluded"] = _one(float(protect_counts([n_exc], [key_exc], k)[0]))

        def rate(value: Any, n: int, shown: float, ckey: int, salt: int) -> float | None:
            if value is None or not np.isfinite(shown) or shown <= 0:
                return None
            hits = int(round(float(value) * n))
            hit_shown = protect_counts([hits], [_salted(ckey, salt)], k)[0]
            got = _ratio(float(hit_shown) if np.isfinite(hit_shown) else None, float(shown))
            return None if got is None else round(min(got, 1.0), 3)

        share = r.get("area_share")
        r["hit_rate"] = rate(r.get("hit_rate"), n_test, test_shown, key_test, 1)
        r["hit_rate_fit"] = rate(r.get("hit_rate_fit"), n_fit, fit_shown, key_fit, 2)
        r["pai"] = _ratio(r["hit_rate"], share)
        r["pai_fit"] = _ratio(r["hit_rate_fit"], share)
        r["rri"] = _ratio(r["pai"], r["pai_fit"])
        for i, (_name, base) in enumerate(sorted((r.get("baselines") or {}).items())):
            if isinstance(base, dict):
                base["hit_rate"] = rate(base.get("hit_rate"), n_test, test_shown, key_test, 10 + i)
                base_share = base.get("area_share", share)
                base["pai"] = _ratio(base["hit_rate"], base_share)
                for extra in ("hits", "incidents"):
                    if extra in base:
                        base[extra] = None
        best = (r.get("baselines") or {}).get("best")
        r["best_pai"] = best.get("pai") if isinstance(best, dict) else None
        pei = _ratio(r["pai"], r["best_pai"])
        r["pei"] = None if pei is None else min(1.0, pei)
        results.append(r)
        row: dict[str, Any] = {
            "test_month": r.get("test_month"),
            "fit_from": r["fit_months"][0] if r.get("fit_months") else None,
            "fit_to": r["fit_months"][-1] if r.get("fit_months") else None,
            "fit_months": len(r.get("fit_months", [])),
            "incidents_test": r["incidents_test"],
            "hit_rate": r["hit_rate"],
            "area_share": share,
            "pai": r["pai"],
            "pei": r["pei"],
            "rri": r["rri"],
        }
        for name in ("wards", "kde", "grid", "best"):
            base = (r.get("baselines") or {}).get(name)
            row[f"{name}_hit_rate"] = base.get("hit_rate") if isinstance(base, dict) else None
            row[f"{name}_pai"] = base.get("pai") if isinstance(base, dict) else None
        rows.append(row)
    out["results"] = results
    out["rows"] = rows
    mean: dict[str, float | None] = {}
    for col in report.get("mean", {}) or {}:
        values = [float(row[col]) for row in rows if isinstance(row.get(col), int | float)]
        mean[col] = float(np.mean(values)) if values else None
    out["mean"] = mean
    used = out.get("parameters_by_fit_period_end")
    if isinstance(used, dict):
        for params in used.values():
            if isinstance(params, dict) and "min_samples" in params:
                params["min_samples"] = None
    out["disclosure"] = {
        **view.describe(),
        "note": "the data-driven min_samples of each fit period is withheld (it moves with the count)",
    }
    return out


def protect_compare(report: dict[str, Any], view: Disclosure) -> dict[str, Any]:
    """A period comparison as a protected ``view`` may see it: both results protected, the
    period totals from them, the ward change recomputed from the protected ward counts, and
    the data-driven ``min_samples`` (which moves with period A's count) withheld."""
    from hotspots.geo.stats.assessment import _ward_change_covered

    a, b = (protect(r, view) for r in report["results"])
    out = dict(report)
    out["results"] = (a, b)
    out["period_a"] = {**report["period_a"], "incidents": a.meta.get("incidents")}
    out["period_b"] = {**report["period_b"], "incidents": b.meta.get("incidents")}
    dbscan = dict(report.get("dbscan", {}))
    if str(dbscan.get("rule", "")).startswith("period B keeps"):
        dbscan["min_samples"] = None
        dbscan["min_samples_b"] = None
        dbscan["note"] = "the data-driven min_samples is withheld from this role (it moves with the count)"
    out["dbscan"] = dbscan

    def ward_counts(result: AnalysisResult) -> pd.DataFrame:
        wards = result.wards
        name = result.boundary_sets[-1].name
        columns = [c for c in ("ward_code", "borough_code", "count", "no_data") if c in wards.columns]
        return wards[wards["boundary_set"] == name][columns]

    wa, wb = ward_counts(a), ward_counts(b)
    withheld = set(wa.loc[wa["count"].isna(), "ward_code"]) | set(wb.loc[wb["count"].isna(), "ward_code"])
    filled_a = wa.assign(count=pd.to_numeric(wa["count"], errors="coerce").fillna(0).astype(int))
    filled_b = wb.assign(count=pd.to_numeric(wb["count"], errors="coerce").fillna(0).astype(int))
    change = _ward_change_covered(a, b, filled_a, filled_b)  # missing months are not exposure
    old = report["wards"]
    extra = [c for c in old.columns if c not in change.columns]
    if extra:
        change = change.join(old.set_index("ward_code")[extra], on="ward_code")
    change = change[[c for c in old.columns if c in change.columns]]
    mask = change["ward_code"].isin(withheld).to_numpy()
    for col in change.columns:
        if col not in ("ward_code", "ward_name", "borough_name", *extra):
            change[col] = change[col].astype(object)
            change.loc[mask, col] = None
    out["wards"] = change
    out["disclosure"] = view.describe()
    return out


def protect_k_distance(
    body: dict[str, Any], result: AnalysisResult, view: Disclosure, points: int = 100
) -> dict[str, Any]:
    """A k-distance curve as a protected ``view`` may see it: the incident count a cell, the curve
    resampled to ``points`` points over ranks rescaled to that count, shares to 2 decimals."""
    inc = result.incidents
    located = inc["has_location"].to_numpy(dtype=bool)
    cells = _Cells(inc, view.secret)
    n, ckey = cells.total(located)
    shown = protect_number(n, ckey, view.k)
    out = dict(body)
    out["n"] = shown
    out["n_unreachable"] = None
    ranks = np.asarray(body.get("rank", []), dtype=float)
    dist = np.asarray(body.get("distances_m", []), dtype=float)
    if shown and len(ranks) >= 2 and n > 1:
        target = np.linspace(0.0, 1.0, points)
        where = (ranks - ranks[0]) / max(ranks[-1] - ranks[0], 1.0)
        out["distances_m"] = [round(float(d), 1) for d in np.interp(target, where, dist)]
        out["rank"] = [int(round(t * (shown - 1))) for t in target]
    else:
        out["distances_m"] = []
        out["rank"] = []
    for key in ("core_share_at_suggested_eps", "core_share_at_current_eps"):
        if out.get(key) is not None:
            out[key] = round(float(out[key]), 2)
    out["disclosure"] = view.describe()
    return out


def protect_description(
    described: dict[str, Any], incidents: pd.DataFrame, view: Disclosure
) -> dict[str, Any]:
    """A dataset version's description as a protected ``view`` may see it: the row count and
    the per-crime-type counts as cells of the stored records' keys, the rows without location
    a cell too; rows left out at ingest (no records stored) a cell keyed by the stored rows."""
    k = view.k
    cells = _Cells(incidents.reset_index(drop=True), view.secret)
    n, ckey = cells.total()
    out = copy.deepcopy(described)
    types = cells.table(["crime_type"]) if "crime_type" in incidents.columns else None
    crime_types = described.get("crime_types") or {}
    if types is not None:
        keys = cells.keys_for(types, list(crime_types))
        shown = dict(
            zip(crime_types, _none(protect_counts(list(crime_types.values()), keys, k)), strict=True)
        )
    else:
        shown = dict.fromkeys(crime_types)
    out["crime_types"] = shown
    out["rows"] = protect_number(described.get("rows"), ckey, k)
    report = out.get("report")
    if isinstance(report, dict):
        report["crime_types"] = shown
        report["rows_accepted"] = out["rows"]
        if "rows_without_location" in report and "has_location" in incidents.columns:
            _, nkey = cells.total(~incidents["has_location"].to_numpy(dtype=bool))
            report["rows_without_location"] = protect_number(report["rows_without_location"], nkey, k)
        for i, key in enumerate(("rows_read", "rows_excluded_outside")):
            if key in report:
                report[key] = protect_number(report[key], _salted(ckey, 100 + i), k)
        report.pop("errors", None)
        if isinstance(report.get("warnings"), list):
            report["warnings"] = [re.sub(r"\d[\d,]*", "#", str(w)) for w in report["warnings"]]
    out["disclosure"] = view.describe()
    return out
