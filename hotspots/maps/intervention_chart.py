"""The monthly chart of an intervention evaluation: target, synthetic target and scaled control, as PNG.

Drawn with matplotlib's Agg canvas on a private ``Figure`` (no pyplot state, safe in threads).
Withheld months (protected counts below k) are gaps in the target line.
"""

from __future__ import annotations

import io
from typing import Any

from matplotlib.figure import Figure

TARGET_COLOUR = "#b2182b"
SYNTHETIC_COLOUR = "#2166ac"
CONTROL_COLOUR = "#777777"


def _series(values: list[Any]) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]


def evaluation_png(report: dict[str, Any], *, size_in: tuple[float, float] = (7.0, 3.2)) -> bytes:
    """The chart of ``report['chart']`` (see :func:`hotspots.geo.stats.interventions.evaluate`)."""
    chart = report["chart"]
    months: list[str] = chart["months"]
    fig = Figure(figsize=size_in, dpi=110)
    ax = fig.add_subplot()
    xs = list(range(len(months)))
    unit = "harm" if report.get("weight") == "harm" else "incidents"
    ax.plot(xs, _series(chart["target"]), color=TARGET_COLOUR, marker="o", markersize=3, label="target")
    if any(v is not None for v in chart.get("synthetic", [])):
        ax.plot(
            xs, _series(chart["synthetic"]), color=SYNTHETIC_COLOUR, linestyle="--", label="synthetic target"
        )
    ax.plot(
        xs,
        _series(chart.get("control_scaled", [])),
        color=CONTROL_COLOUR,
        linestyle=":",
        label="control (scaled to target's before level)",
    )
    if chart["start"] in months:
        at = months.index(chart["start"]) - 0.5
        ax.axvline(at, color="black", linewidth=1)
        ax.annotate("start", (at, 1.0), xycoords=("data", "axes fraction"), fontsize=7, ha="left", va="top")
    step = max(1, len(months) // 8)
    ax.set_xticks(xs[::step], months[::step], fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel(f"{unit} per month", fontsize=8)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, frameon=False, loc="lower left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()
