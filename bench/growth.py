"""Growth curve: end-to-end time and peak memory against the number of incidents.

Takes the rows of the synthetic end-to-end section of ``bench/run.py`` (one per data kind
and size, each measured in its own process) and prints a compact table and draws
``docs/growth.png`` (log-log, snapped and unsnapped), so both come from one command:
``bench/run.py --no-sample --sizes 100k,1m,10m --growth-figure docs/growth.png``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GrowthPoint:
    """One size of one kind of data, end to end (CSV -> ingest -> join -> DBSCAN -> hotspots)."""

    mode: str  # "snapped" (police.uk) or "unsnapped" (exact coordinates)
    incidents: int
    seconds: float
    peak_mb: float  # peak RSS of the size's own process
    base_mb: float  # RSS of that process before reading (interpreter and libraries)


def growth_table(points: list[GrowthPoint]) -> list[str]:
    """A markdown table: one row per size, time and peak memory of each kind side by side."""
    modes = sorted({p.mode for p in points}, key=lambda m: (m != "snapped", m))
    sizes = sorted({p.incidents for p in points})
    by = {(p.mode, p.incidents): p for p in points}
    head = "| incidents | " + " | ".join(f"{m} time | {m} peak RSS" for m in modes) + " |"
    rule = "|---:|" + "---:|---:|" * len(modes)
    rows = []
    for n in sizes:
        cells = []
        for m in modes:
            p = by.get((m, n))
            cells += [f"{p.seconds:.2f} s", f"{p.peak_mb:,.0f} MB"] if p else ["", ""]
        rows.append(f"| {n:,} | " + " | ".join(cells) + " |")
    return [head, rule, *rows, *_slopes(points)]


def _slopes(points: list[GrowthPoint]) -> list[str]:
    """Growth exponents between the two largest sizes of each kind (1.0 = linear)."""
    import math

    notes = []
    for mode in sorted({p.mode for p in points}):
        ps = sorted((p for p in points if p.mode == mode), key=lambda p: p.incidents)
        if len(ps) >= 2:
            a, b = ps[-2], ps[-1]
            k = math.log(b.incidents / a.incidents)
            t = math.log(b.seconds / a.seconds) / k
            mem = math.log(max(b.peak_mb - b.base_mb, 1) / max(a.peak_mb - a.base_mb, 1)) / k
            notes.append(
                f"{mode}, {a.incidents:,} -> {b.incidents:,}: time grows as n^{t:.2f}, "
                f"memory above the interpreter's as n^{mem:.2f}"
            )
    return ["", *(f"- {n}" for n in notes)] if notes else []


def growth_figure(points: list[GrowthPoint], path: Path) -> None:
    """Time and peak memory against incidents, log-log, one line per kind of data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
    styles = {"snapped": ("#1f78b4", "o", "snapped (police.uk)"), "unsnapped": ("#e31a1c", "s", "unsnapped")}
    for mode in sorted({p.mode for p in points}):
        ps = sorted((p for p in points if p.mode == mode), key=lambda p: p.incidents)
        colour, marker, label = styles.get(mode, ("#333333", "^", mode))
        n = [p.incidents for p in ps]
        ax_t.plot(n, [p.seconds for p in ps], marker=marker, color=colour, label=label)
        ax_m.plot(n, [p.peak_mb for p in ps], marker=marker, color=colour, label=label)
    sizes = sorted({p.incidents for p in points})
    plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    for ax, title, unit in ((ax_t, "End-to-end time", "seconds"), (ax_m, "Peak memory (RSS)", "MB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes, [_short(n) for n in sizes])
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("incidents")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", linewidth=0.4, alpha=0.5)
        ax.legend()
    fig.suptitle(
        "CSV -> ingest -> ward join -> DBSCAN -> hotspot summaries (synthetic tri-borough data; "
        f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')})",
        fontsize=10,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _short(n: int) -> str:
    """100000 -> "100k", 10000000 -> "10M"."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return f"{n:,}"
