"""The concentration curve (share of places against share of incidents and harm) as a PNG."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

from hotspots.geo.stats.concentration import CURVE_POINTS


def concentration_png(c: Mapping[str, Any], *, size_in: tuple[float, float] = (5.0, 3.6)) -> bytes:
    """Cumulative share of incidents (and harm) held by the busiest places, with the literature's
    reference points (about 50% of crime in under 5% of places; 50% of harm in about 1%)."""
    fig = Figure(figsize=size_in, dpi=110)
    ax = fig.add_subplot()
    xs = [100.0 * i / (CURVE_POINTS - 1) for i in range(CURVE_POINTS)]
    drawn = False
    for key, label, colour in (
        ("incidents_share", "incidents", "#b2182b"),
        ("harm_share", "harm", "#2166ac"),
    ):
        shares = c.get(key)
        if isinstance(shares, Mapping) and isinstance(shares.get("curve"), list):
            ax.plot(xs, [100.0 * v for v in shares["curve"]], color=colour, linewidth=1.8, label=label)
            drawn = True
    ax.plot([0, 100], [0, 100], color="#999999", linewidth=0.8, linestyle=":", label="even spread")
    for ref in c.get("literature") or []:
        marker = "o" if ref.get("measure") == "incidents" else "s"
        ax.plot(
            100.0 * float(ref["share_of_places"]),
            100.0 * float(ref["share"]),
            marker=marker,
            color="black",
            markerfacecolor="white",
            linestyle="none",
            label=f"literature: {ref['share']:.0%} of {ref['measure']} "
            f"in {ref['share_of_places']:.0%} of places",
        )
    if not drawn:
        ax.text(
            50, 50, str(c.get("withheld") or "no incidents"), ha="center", va="center", fontsize=8, wrap=True
        )
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_xlabel("share of places (busiest first), %", fontsize=8)
    ax.set_ylabel("cumulative share, %", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="lower right", frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
