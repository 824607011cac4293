"""The fit-then-test evaluation in words a partnership board reads, and its table.

:func:`hotspots.geo.stats.assessment.evaluate_hotspots` fits the hotspots on every month of the
period but the last, and counts how many of the held-out last month's incidents fall in them
(hit rate), against the share of the area they cover (PAI = hit rate / area share), the best
any set of 50 m squares of that area could have done (PEI) and how well they did on the months
they were drawn from (RRI); and does the same for simple baselines at the same area. This
module says that in plain sentences ("The hotspots cover 0.50% of the area and held 30% of
December 2020's incidents: 59 times what an even spread would give.") and as table rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hotspots.maps.fmt import count_text, num, pct_text

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

BASELINES: tuple[tuple[str, str, str], ...] = (
    ("grid", "50 m squares ranked by past counts", "the squares with most incidents in the fit months"),
    ("kde", "heat map (kernel density)", "the hottest cells of a smoothed map of the fit months"),
    ("wards", "wards ranked by past density", "the wards with most incidents per km² in the fit months"),
    ("best", "best possible (hindsight)", "the 50 m squares with most incidents in the test month itself"),
)
"""Baselines of the report: key, name on the page, how it picks its area."""


@dataclass(frozen=True)
class EvaluationRow:
    """One line of the table: a way of choosing places, and how it did on the held-out month."""

    name: str
    how: str
    hit_rate: str
    pai: str
    share: float | None  # the hit rate, 0..1 (for the bar)
    ours: bool = False


@dataclass(frozen=True)
class EvaluationWords:
    """The evaluation as sentences (``headline``, ``versus``, ``ceiling``, ``stability``) and rows."""

    test_month: str
    fit_from: str
    fit_to: str
    headline: str
    versus: str
    ceiling: str
    stability: str
    rows: list[EvaluationRow]


def month_name(month: str) -> str:
    """``"2020-12"`` as ``"December 2020"`` (unchanged when it is not ``YYYY-MM``)."""
    year, _, mm = str(month).partition("-")
    if mm.isdigit() and 1 <= int(mm) <= 12:
        return f"{MONTHS[int(mm) - 1]} {year}"
    return str(month)


def times_text(pai: float | None) -> str:
    """A PAI as "59 times", "2.5 times", or "no more than" for 1 or less."""
    if pai is None:
        return "n/a"
    if pai <= 1.0:
        return "no more than"
    return f"{pai:,.0f} times" if pai >= 10 else f"{pai:,.1f} times"


def evaluation_in_words(report: dict[str, Any], k: int | None = None) -> EvaluationWords:
    """The last test of ``report`` (``service.evaluate(..., n_tests=1)``) in words and rows.

    ``k`` is the disclosure threshold of a protected view (counts under it are withheld).
    """
    result = report["results"][-1]
    row = report["rows"][-1]
    test = month_name(result["test_month"])
    area = pct_text(result.get("area_share"))
    hit = num(result.get("hit_rate"))
    pai = num(result.get("pai"))
    incidents = count_text(result.get("incidents_test"), k)
    headline = (
        f"The hotspots cover {area} of the area and held {pct_text(hit)} of {test}'s {incidents} "
        f"incidents: {times_text(pai)} what an even spread over the area would give"
        f" (PAI {_fixed(pai)})."
    )
    baselines = result.get("baselines", {})
    grid = baselines.get("grid", {})
    grid_hit, grid_pai = num(grid.get("hit_rate")), num(grid.get("pai"))
    wards = baselines.get("wards", {})
    if grid_pai is None or pai is None:
        versus = "The simple baselines could not be computed for this month."
    else:
        ratio = pai / grid_pai if grid_pai > 0 else None
        if ratio is not None and ratio >= 1.05:
            judged = "The hotspots do better than"
        elif ratio is not None and ratio >= 0.9:
            judged = "The hotspots do about as well as"
        else:
            judged = "The hotspots do worse than"
        versus = (
            f"{judged} simply ranking 50 m squares by past counts, which would have held "
            f"{pct_text(grid_hit)} in the same area (PAI {_fixed(grid_pai)})."
        )
        ward_hit, ward_pai = num(wards.get("hit_rate")), num(wards.get("pai"))
        if ward_hit is not None and ward_pai is not None:
            versus += (
                f" Picking whole wards the same way holds {pct_text(ward_hit)} (PAI {_fixed(ward_pai)}):"
                " wards are too big to aim patrols."
            )
    best = baselines.get("best", {})
    pei = num(result.get("pei"))
    ceiling = (
        f"Even with hindsight, the best possible 50 m squares of that area would have held "
        f"{pct_text(num(best.get('hit_rate')))} (PAI {_fixed(num(best.get('pai')))}); the hotspots "
        f"reach {pct_text(pei)} of that best (PEI {_fixed(pei, 2)})."
    )
    rri = num(result.get("rri"))
    fit_hit = num(result.get("hit_rate_fit"))
    if rri is None:
        steady = "Their stability could not be measured."
    else:
        if rri >= 1.2:
            verdict = "they did better in the new month than in the months they were drawn from"
        elif rri >= 0.8:
            verdict = (
                "they are stable: they did about as well in the new month as in the months they came from"
            )
        else:
            verdict = "they did clearly worse in the new month: the problem places are shifting"
        steady = (
            f"They held {pct_text(fit_hit)} of the incidents of the months they were drawn from "
            f"and {pct_text(hit)} of {test}'s, so {verdict} (RRI {_fixed(rri, 2)})."
        )
    rows = [
        EvaluationRow(
            "Hotspots (this analysis)",
            "the hotspots found in the fit months with the app's settings",
            pct_text(hit),
            _fixed(pai),
            hit,
            ours=True,
        )
    ]
    for key, name, how in BASELINES:
        base = baselines.get(key)
        if not base:
            continue
        rows.append(
            EvaluationRow(
                name,
                how,
                pct_text(base.get("hit_rate")),
                _fixed(num(base.get("pai"))),
                num(base.get("hit_rate")),
            )
        )
    return EvaluationWords(
        test_month=test,
        fit_from=month_name(row.get("fit_from", "")),
        fit_to=month_name(row.get("fit_to", "")),
        headline=headline,
        versus=versus,
        ceiling=ceiling,
        stability=steady,
        rows=rows,
    )


def _fixed(value: float | None, decimals: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{decimals}f}"
