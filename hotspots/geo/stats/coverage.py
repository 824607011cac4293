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
