"""Coverage: which months each source covered in each district ("missing is not zero").

A source (a dataset: a force's police.uk files, a council ASB log) may not cover every month
in every district: a force that did not submit a month (Greater Manchester from mid-2019),
a scrape that skipped a borough. Counting such a month as zero invents a fall in crime and
bends every trend through it. So, per source, month and district, this module decides
whether data exists, and every monthly series, trend and comparison treats a month that was
not covered as missing (``None``/NaN), never as zero.

**Rule.** Data never says "I did not cover this": it is inferred. A district-month of a source
is *missing* when the source has no incident there that month (inside the area, after the
analysis's period, source and crime type filters) while the district's median month, over the
analysed months, holds at least :data:`MIN_MEDIAN` incidents of that source. A district the
source hardly touches (median below the threshold: a neighbour reached by a few border points,
or a genuinely quiet district, or a rare crime type) is never marked missing; its empty months
stay zeros.

**Limits.** A district with a busy median that genuinely had no incident in a month would be
marked missing (at a median of 20, a Poisson month of zero has probability about 2e-9); a
source that covered only part of a district in a month (a partial submission) is not detected;
with a crime-type filter the rule judges the filtered counts, so for a rare type (median below
the threshold) gaps are not detected and show as zeros.

Months are ``YYYY-MM`` strings; districts are the boundary sets' boroughs (``borough_code``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

MIN_MEDIAN = 20
"""A district-month with no incidents is missing when the district's median month has at least this many."""

COVERAGE_RULE = (
    "a district-month of a source is missing (not covered) when the source has no incident there that "
    f"month while the district's median month has at least {MIN_MEDIAN} incidents of that source; "
    "missing months are gaps (null), never zeros, in monthly series, trends, comparisons and exports; "
    "a hotspot's month is missing when any district it touches is missing then"
)
ALL_SOURCES = "all"


def compute_coverage(
    incidents: pd.DataFrame,
    months: Sequence[str],
    districts: Mapping[str, str],
    *,
    min_median: int = MIN_MEDIAN,
) -> dict[str, Any]:
    """Which (source, month, district) the data covers.

    Parameters
    ----------
    incidents:
        The analysed incidents with ``month``, ``borough_code``, ``outside_area`` and, when
        several datasets are analysed together, ``dataset`` (the source; otherwise all rows
        are one source, ``"all"``). Rows outside the area are not counted.
    months:
        Every month of the analysis, in order.
    districts:
        District code to name: every district of the area.
    min_median:
        The rule's threshold (see the module docstring).

    Returns
    -------
    dict
        JSON-ready: ``rule``, ``min_median``, ``months``, ``districts`` (``code``, ``name``),
        ``sources``, ``missing`` (one ``{"source", "month", "district_code", "district_name"}``
        per missing district-month, sorted by month then district) and ``complete`` (no month
        missing anywhere).
    """
    codes = sorted(districts)
    month_list = [str(m) for m in months]
    keep = np.ones(len(incidents), dtype=bool)
    if "outside_area" in incidents.columns:
        keep &= ~incidents["outside_area"].to_numpy(dtype=bool)
    inside = incidents
    if "dataset" in inside.columns:
        src_codes, src_labels = pd.factorize(inside["dataset"].astype(str), sort=True)
        sources = [str(v) for v in src_labels] or [ALL_SOURCES]
    else:
        src_codes = np.zeros(len(inside), dtype=np.int64)
        sources = [ALL_SOURCES]
    missing: list[dict[str, Any]] = []
    if keep.any() and codes and month_list and "borough_code" in inside.columns:
        m_pos = _positions(inside["month"], month_list)
        d_pos = _positions(inside["borough_code"], codes)  # no district: -1
        ok = keep & (src_codes >= 0) & (m_pos >= 0) & (d_pos >= 0)
        n_m, n_d = len(month_list), len(codes)
        flat = (np.asarray(src_codes)[ok] * n_d + d_pos[ok]) * n_m + m_pos[ok]
        cube = np.bincount(flat, minlength=len(sources) * n_d * n_m).reshape(len(sources), n_d, n_m)
        busy = np.median(cube, axis=2) >= min_median
        for si, di, mi in zip(*np.nonzero(busy[:, :, None] & (cube == 0)), strict=True):
            code = codes[int(di)]
            missing.append(
                {
                    "source": sources[int(si)],
                    "month": month_list[int(mi)],
                    "district_code": code,
                    "district_name": districts[code],
                }
            )
    missing.sort(key=lambda r: (r["month"], r["district_code"], r["source"]))
    return {
        "rule": COVERAGE_RULE,
        "min_median": min_median,
        "months": month_list,
        "districts": [{"code": c, "name": districts[c]} for c in codes],
        "sources": sources,
        "missing": missing,
        "complete": not missing,
    }


def _positions(values: pd.Series, labels: list[str]) -> np.ndarray:
    """Position of each value in ``labels`` (-1 if absent), via a category column's codes if it has them."""
    index = pd.Index(labels)
    if isinstance(values.dtype, pd.CategoricalDtype):
        lookup = index.get_indexer(values.cat.categories.astype(str))
        codes = values.cat.codes.to_numpy()
        return np.where(codes >= 0, lookup[np.maximum(codes, 0)], -1)
    return np.asarray(index.get_indexer(pd.Index(values.astype(str))))


def missing_by_month(coverage: Mapping[str, Any] | None) -> dict[str, set[str]]:
    """Month -> district codes not covered (by any source) that month; empty for ``None``."""
    out: dict[str, set[str]] = {}
    if not isinstance(coverage, Mapping):
        return out
    for row in coverage.get("missing") or []:
        out.setdefault(str(row["month"]), set()).add(str(row["district_code"]))
    return out


def missing_months_for(districts: Collection[str], missing: Mapping[str, Collection[str]]) -> list[str]:
    """The months (sorted) in which any of ``districts`` was not covered."""
    wanted = set(districts)
    return sorted(m for m, codes in missing.items() if wanted & set(codes))


def coverage_note(meta: Mapping[str, Any] | None) -> str | None:
    """One sentence for pages and briefings naming the months missing where, or ``None`` if none.

    ``meta`` is an analysis's ``meta`` (reads ``meta["coverage"]``), e.g. "Missing months (no data
    from the source, shown as gaps, not zeros): North 2016-04; South 2016-03 to 2016-05."
    """
    coverage = meta.get("coverage") if isinstance(meta, Mapping) else None
    if not isinstance(coverage, Mapping) or not coverage.get("missing"):
        return None
    by_district: dict[str, list[str]] = {}
    for row in coverage["missing"]:
        months = by_district.setdefault(str(row.get("district_name") or row["district_code"]), [])
        if row["month"] not in months:
            months.append(str(row["month"]))
    parts = [f"{name} {_month_runs(sorted(ms))}" for name, ms in sorted(by_district.items())]
    return "Missing months (no data from the source, shown as gaps, not zeros): " + "; ".join(parts) + "."


def _month_runs(months: list[str]) -> str:
    """``2016-03, 2016-04, 2016-05, 2016-09`` as ``2016-03 to 2016-05, 2016-09``."""
    periods = [pd.Period(m, freq="M") for m in months]
    runs: list[tuple[pd.Period, pd.Period]] = []
    for p in periods:
        if runs and (p - runs[-1][1]).n == 1:
            runs[-1] = (runs[-1][0], p)
        else:
            runs.append((p, p))
    return ", ".join(str(a) if a == b else f"{a} to {b}" for a, b in runs)


NO_DATA_SHARE = 0.001
"""A source has no data in a district when the district holds under this share of its incidents."""

NO_DATA_RULE = (
    "a source has no data in a district over the period when the district holds fewer than "
    f"{NO_DATA_SHARE:.1%} of the source's incidents inside the area (all its crime types counted, so an "
    "empty district of a rare crime type is a zero, not 'no data'); a ward or district is 'no data' "
    "(not 0) when none of the analysed sources has data there, and names the sources without data "
    "when only some have none"
)


def districts_without_data(
    incidents: pd.DataFrame,
    districts: Mapping[str, str],
    *,
    weights: str | None = None,
    share: float = NO_DATA_SHARE,
) -> dict[str, Any]:
    """Which districts each source has no data for over the analysed period (see :data:`NO_DATA_RULE`).

    A partner's data (an A&E department's assaults, a council's ASB log) often covers only some
    districts of the area, and a police file for one borough covers only that one. A district it
    does not cover must read "no data", never 0.

    Parameters
    ----------
    incidents:
        Incidents (or distinct locations with a ``weights`` column of counts) with
        ``borough_code``, ``outside_area`` and, when several datasets are analysed together,
        ``dataset`` (the source). Rows outside the area or without a district are not counted.
    districts:
        District code to name: every district of the area.
    weights:
        Column holding each row's number of incidents (``None``: one per row).
    share:
        The rule's threshold.

    Returns
    -------
    dict
        JSON-ready: ``rule``, ``sources`` (the sources with incidents inside the area),
        ``districts`` (one ``{"code", "name", "sources_without_data", "no_data"}`` per district
        some source lacks, ``no_data`` true when every source lacks it, sorted by code) and
        ``no_data`` (the codes of those districts with no data at all) and ``covered`` (per
        source, the names of the districts it has data for).
    """
    codes = sorted(districts)
    keep = np.ones(len(incidents), dtype=bool)
    if "outside_area" in incidents.columns:
        keep &= ~incidents["outside_area"].to_numpy(dtype=bool)
    n = incidents[weights].to_numpy(dtype=float) if weights else np.ones(len(incidents))
    if "dataset" in incidents.columns:  # category codes, not strings: this runs on every analysis
        src, labels = pd.factorize(incidents["dataset"], sort=True)
        names = [str(v) for v in labels]
    else:
        src, names = np.zeros(len(incidents), dtype=np.int64), [ALL_SOURCES]
    d_pos = (
        _positions(incidents["borough_code"], codes)
        if "borough_code" in incidents.columns and codes
        else np.full(len(incidents), -1)
    )
    ok = keep & (d_pos >= 0) & (np.asarray(src) >= 0)
    if not ok.any():
        return {"rule": NO_DATA_RULE, "sources": [], "districts": [], "no_data": [], "covered": {}}
    n_d = len(codes)
    table = np.bincount(
        np.asarray(src)[ok] * n_d + d_pos[ok], weights=n[ok], minlength=len(names) * n_d
    ).reshape(len(names), n_d)  # sources x districts
    totals = table.sum(axis=1)
    sources = [names[i] for i in range(len(names)) if totals[i] > 0]
    lacking: dict[str, list[str]] = {}
    for i, name in enumerate(names):
        if totals[i] <= 0:
            continue
        for j in np.flatnonzero(table[i] < share * totals[i]):
            lacking.setdefault(codes[int(j)], []).append(name)
    rows = [
        {
            "code": code,
            "name": districts[code],
            "sources_without_data": sorted(lacking[code]),
            "no_data": len(lacking[code]) == len(sources),
        }
        for code in codes
        if code in lacking
    ]
    return {
        "rule": NO_DATA_RULE,
        "sources": sources,
        "districts": rows,
        "no_data": [r["code"] for r in rows if r["no_data"]],
        "covered": {s: [districts[c] for c in codes if s not in lacking.get(c, [])] for s in sources},
    }


def no_data_flags(frame: pd.DataFrame) -> np.ndarray:
    """The ``no_data`` flags of a ward or district frame (:func:`districts_without_data` set them),
    as booleans; all false for a frame without the column."""
    if "no_data" not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return frame["no_data"].fillna(False).to_numpy(dtype=bool)


def no_data_note(meta: Mapping[str, Any] | None) -> str | None:
    """One sentence for pages and briefings naming the districts with no data (and those some
    source does not cover), or ``None``; ``meta`` is an analysis's ``meta`` (reads
    ``meta["no_data"]``)."""
    report = meta.get("no_data") if isinstance(meta, Mapping) else None
    if not isinstance(report, Mapping) or not report.get("districts"):
        return None
    word = str(meta.get("district_word") or "district") if isinstance(meta, Mapping) else "district"
    named = {  # the service's sources (owner and type) where it recorded them, else dataset refs
        str(s.get("dataset")): f"{s.get('owner')} ({s.get('source_type')})"
        if s.get("owner")
        else str(s["dataset"])
        for s in (meta.get("sources") or [] if isinstance(meta, Mapping) else [])
        if isinstance(s, Mapping) and s.get("dataset")
    }
    none = [str(r["name"]) for r in report["districts"] if r["no_data"]]
    partial: dict[str, list[str]] = {}  # source -> districts it lacks (where another source has data)
    for r in report["districts"]:
        if not r["no_data"]:
            for s in r["sources_without_data"]:
                partial.setdefault(str(s), []).append(str(r["name"]))
    covered = report.get("covered") or {}
    some = []
    for s, lacks in partial.items():
        has = [str(n) for n in covered.get(s) or []]
        label = named.get(s, s)
        some.append(
            f"{label} has data for {', '.join(has)} only"
            if has and len(has) <= len(lacks)
            else f"{label} has no data for {', '.join(lacks)}"
        )
    parts = []
    if none:
        parts.append(
            f"No data for {', '.join(none)}: the data hold no incidents there, so the "
            f"{word if len(none) == 1 else word + 's'} and {'its' if len(none) == 1 else 'their'} wards "
            "are shown as no data, not 0"
        )
    if some:
        parts.append("; ".join(some) + " (elsewhere the figures are the other sources' alone)")
    return "; ".join(parts) + "."
