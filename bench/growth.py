"""Growth curve: end-to-end time and peak memory against the number of incidents.

Takes the rows of the synthetic end-to-end section of ``bench/run.py`` (one per data kind
and size, each measured in its own process) and prints a compact table and draws
``docs/growth.png`` (log-log, snapped and unsnapped), so both come from one command:
``bench/run.py --no-sample --sizes 100k,1m,10m --growth-figure docs/growth.png``.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

STAGES = ("read", "join", "dbscan", "hotspots")


@dataclass(frozen=True)
class GrowthPoint:
    """One size of one kind of data, end to end (CSV -> ingest -> join -> DBSCAN -> hotspots)."""

    mode: str  # "snapped" (police.uk) or "unsnapped" (exact coordinates)
    incidents: int
    seconds: float
    peak_mb: float  # peak RSS of the size's own process
    base_mb: float  # RSS of that process before reading (interpreter and libraries)
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage (:data:`STAGES`)
    stage_mb: dict[str, float] = field(default_factory=dict)  # peak RSS after each stage


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


def _exponent(n0: int, v0: float, n1: int, v1: float) -> float:
    """The power of n between two sizes: 1.0 grows linearly, 2.0 quadratically."""
    return math.log(max(v1, 1e-6) / max(v0, 1e-6)) / math.log(n1 / n0)


def _slopes(points: list[GrowthPoint]) -> list[str]:
    """Growth exponents between the two largest sizes of each kind (1.0 = linear), in total and
    per stage, and which stage would dominate at ten times the largest size."""
    notes = []
    for mode in sorted({p.mode for p in points}):
        ps = sorted((p for p in points if p.mode == mode), key=lambda p: p.incidents)
        if len(ps) < 2:
            continue
        a, b = ps[-2], ps[-1]
        t = _exponent(a.incidents, a.seconds, b.incidents, b.seconds)
        above = (a.peak_mb - a.base_mb, b.peak_mb - b.base_mb)
        slope = _exponent(a.incidents, above[0], b.incidents, above[1])
        memory = (
            f"memory above the interpreter's as n^{slope:.2f}"
            if min(above) >= 100  # below that, the interpreter's own allocations dominate the ratio
            else f"memory stays within {max(above):,.0f} MB of the interpreter's"
        )
        notes.append(f"{mode}, {a.incidents:,} -> {b.incidents:,}: time grows as n^{t:.2f}, {memory}")
        stages = [s for s in STAGES if s in a.stages and s in b.stages]
        if not stages:
            continue
        per = {s: _exponent(a.incidents, a.stages[s], b.incidents, b.stages[s]) for s in stages}
        notes.append(
            f"{mode}, per stage: "
            + ", ".join(f"{s} n^{per[s]:.2f} ({b.stages[s]:.1f} s at {_short(b.incidents)})" for s in stages)
        )
        ahead = {s: b.stages[s] * 10 ** per[s] for s in stages}
        top = max(ahead, key=lambda s: ahead[s])
        notes.append(
            f"{mode}, at {_short(b.incidents * 10)} (extrapolated): {top} would take about "
            f"{ahead[top]:,.0f} s of {sum(ahead.values()):,.0f} s"
        )
    return ["", *(f"- {n}" for n in notes)] if notes else []


def growth_figure(points: list[GrowthPoint], path: Path) -> None:
    """Time and peak memory against incidents, log-log, one line per kind of data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, (ax_t, ax_s, ax_m) = plt.subplots(1, 3, figsize=(14, 4.4), constrained_layout=True)
    styles = {"snapped": ("#1f78b4", "o", "snapped (police.uk)"), "unsnapped": ("#e31a1c", "s", "unsnapped")}
    for mode in sorted({p.mode for p in points}):
        ps = sorted((p for p in points if p.mode == mode), key=lambda p: p.incidents)
        colour, marker, label = styles.get(mode, ("#333333", "^", mode))
        n = [p.incidents for p in ps]
        ax_t.plot(n, [p.seconds for p in ps], marker=marker, color=colour, label=label)
        ax_m.plot(n, [p.peak_mb for p in ps], marker=marker, color=colour, label=label)
    snapped = sorted((p for p in points if p.mode == "snapped" and p.stages), key=lambda p: p.incidents)
    stage_colours = {"read": "#1b9e77", "join": "#d95f02", "dbscan": "#7570b3", "hotspots": "#e7298a"}
    for stage in STAGES:
        ps = [p for p in snapped if stage in p.stages]
        if ps:
            ax_s.plot(
                [p.incidents for p in ps],
                [max(p.stages[stage], 1e-3) for p in ps],
                marker="o",
                color=stage_colours[stage],
                label=stage,
            )
    sizes = sorted({p.incidents for p in points})
    plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    panels = (
        (ax_t, "End-to-end time", "seconds"),
        (ax_s, "Time per stage (snapped)", "seconds"),
        (ax_m, "Peak memory (RSS)", "MB"),
    )
    for ax, title, unit in panels:
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
