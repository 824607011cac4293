"""Patrol plans for chosen hotspots over one shift, following the evidence on patrol dosage.

Koper (1995, Justice Quarterly 12:649) found that a police presence of about 10 to 16
minutes at a hot spot gives the longest "residual deterrence" after the officers leave;
Telep, Mitchell & Weisburd (2014, Justice Quarterly 31:905) tested the "Koper curve" in
Sacramento: 15-minute visits at random times, about every two hours, cut crime and calls
in the treated hot spots. So a plan here is:

* **visits** of ``visit_min`` minutes (10 to 16, default 15) at each hotspot;
* **dosage**: no stretch of more than :data:`MAX_GAP_MIN` (120) minutes of the shift without
  a visit in progress at a hotspot. Precisely: the first visit starts at most 120 minutes
  after the shift starts, each visit starts at most 120 minutes after the previous visit to
  the same hotspot ended, and the last visit ends at most 120 minutes before the shift ends.
  Every hotspot gets at least one visit; every visit lies inside the shift;
* **unpredictable times**: between visits a unit has free time (other duties); how much
  it takes before each visit is drawn at random (``numpy.random.default_rng(seed)``), within
  what keeps every hotspot's next visit in time, so the same seed gives the same plan and
  another seed another plan;
* **busy hours**: where the incidents have times of day, a visit comes sooner (less free
  time drawn, so shorter gaps and more visits) in the hours when that hotspot's incidents
  happen more often; police.uk data (month only) are spread evenly, and the plan says so;
* **travel**: straight-line distance between hotspot centres (British National Grid,
  metres) times a detour factor (default 1.3), at a stated speed (default 30 km/h, urban
  driving), rounded up to whole minutes. A unit starts the shift at its first hotspot
  (travel from the station is not included);
* **order**: one tour through all hotspots (nearest neighbour, then 2-opt), cut into one
  contiguous round per unit so the longest round is as short as it can be; each hotspot
  belongs to one unit, which goes round its hotspots in order. No two visits of a unit
  overlap and consecutive visits leave the travel time between them.

``units_needed`` is the smallest number of units for which this planner finds a plan
that meets every constraint (checked by :func:`check_plan`; for each number of units the
seeded draw, then up to :data:`ATTEMPTS` draws derived from the seed); with fewer units the
plan is still drawn, marked ``meets_dosage: false``, with its violations listed.

Times are whole minutes from midnight of the day the shift starts (a shift may cross
midnight: ``18:00-02:00`` ends at minute 1560).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hotspots.errors import InvalidInput, NotFound
from hotspots.geo.params import SPECS, parse_hotspot_ids

MAX_GAP_MIN = 120
"""Longest stretch of the shift without a visit at a hotspot, minutes (about every 2 hours)."""
DEFAULT_VISIT_MIN = 15
DEFAULT_SPEED_KMH = 30.0
DEFAULT_DETOUR = 1.3
BUSY_CLIP = (0.25, 4.0)
"""Bounds of a busy-hour factor (an hour's incidents over the hotspot's mean hour in the shift)."""
ATTEMPTS = 12
"""Seeded draws tried for one number of units before it is judged too few."""
NO_TIMES_NOTE = "the data has no times of day; visits are spread evenly"
TIMES_NOTE = (
    "visits are weighted toward each hotspot's busy hours (from the incidents' times of day): in a "
    "busier hour less free time is drawn before a visit, so visits come sooner and more often"
)
EVIDENCE = (
    "Koper (1995): visits of about 10-16 minutes give the longest residual deterrence; Telep, "
    "Mitchell & Weisburd (2014): 15-minute visits at random times about every 2 hours reduced crime "
    "at hot spots"
)
GAP_RULE = (
    "no more than 120 minutes of the shift without a visit in progress: first visit starts within "
    "120 minutes of the shift start, each visit starts within 120 minutes of the end of the one "
    "before at that hotspot, the last ends within 120 minutes of the shift end"
)
SHIFT_RE = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


@dataclass(frozen=True)
class Shift:
    """A shift in minutes from midnight of its first day; ``end`` > ``start`` (past 1440 after midnight)."""

    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> Shift:
        """``"18:00-02:00"`` (crosses midnight) or ``"07:00-15:00"``; equal ends are refused."""
        m = SHIFT_RE.match(text or "")
        if not m:
            raise InvalidInput(SPECS["shift"].message(text) + "; e.g. 18:00-02:00 (it may cross midnight)")
        start = int(m.group(1)) * 60 + int(m.group(2))
        end = int(m.group(3)) * 60 + int(m.group(4))
        if end == start:
            raise InvalidInput(
                f"shift {text!r} starts and ends at the same time; give a shift under 24 hours"
            )
        return cls(start, end if end > start else end + 1440)

    @property
    def minutes(self) -> int:
        return self.end - self.start

    def text(self) -> str:
        return f"{hhmm(self.start)}-{hhmm(self.end)}"


def hhmm(minute: int) -> str:
    """Minutes from midnight (past 1440 the next day) as ``HH:MM``."""
    m = int(minute) % 1440
    return f"{m // 60:02d}:{m % 60:02d}"


@dataclass(frozen=True)
class Site:
    """A hotspot to patrol: its id, centre (EPSG:27700 metres, and WGS84 for display) and,
    where the data has times of day, incidents by hour (24 counts)."""

    hotspot_id: int
    x: float
    y: float
    lon: float | None = None
    lat: float | None = None
    hours: tuple[int, ...] | None = None
    label: str = ""


@dataclass
class PatrolPlan:
    """A plan: visits per unit, travel legs, gaps per hotspot, and whether it meets the dosage."""

    shift: Shift
    visit_min: int
    units: int
    units_needed: int | None
    seed: int
    speed_kmh: float
    detour: float
    sites: list[Site]
    rounds: list[list[int]]
    """Per unit, the hotspot ids in the order it goes round them."""
    visits: list[dict[str, Any]]
    legs: list[dict[str, Any]]
    violations: list[str]
    timed: bool
    notes: list[str] = field(default_factory=list)

    @property
    def meets_dosage(self) -> bool:
        return not self.violations

    def gaps(self) -> dict[int, list[int]]:
        """Per hotspot, minutes without a visit: from the shift start, between visits, to the end."""
        return hotspot_gaps(self.visits, self.shift, [s.hotspot_id for s in self.sites])

    def as_dict(self) -> dict[str, Any]:
        gaps = self.gaps()
        by_site = []
        for s in self.sites:
            mine = [v for v in self.visits if v["hotspot_id"] == s.hotspot_id]
            by_site.append(
                {
                    "hotspot_id": s.hotspot_id,
                    "label": s.label,
                    "unit": mine[0]["unit"] if mine else None,
                    "visits": len(mine),
                    "times": [f"{v['start']}-{v['end']}" for v in mine],
                    "gaps_min": gaps[s.hotspot_id],
                    "longest_gap_min": max(gaps[s.hotspot_id]) if gaps[s.hotspot_id] else None,
                    "busy_hours": busy_hours(s, self.shift),
                    "centroid_lon": s.lon,
                    "centroid_lat": s.lat,
                    "easting": round(s.x),
                    "northing": round(s.y),
                }
            )
        return {
            "shift": self.shift.text(),
            "shift_minutes": self.shift.minutes,
            "visit_min": self.visit_min,
            "max_gap_min": MAX_GAP_MIN,
            "units": self.units,
            "units_used": sum(1 for r in self.rounds if r),
            "units_needed": self.units_needed,
            "meets_dosage": self.meets_dosage,
            "violations": self.violations,
            "seed": self.seed,
            "speed_kmh": self.speed_kmh,
            "detour_factor": self.detour,
            "travel_rule": f"straight-line distance x {self.detour:g} at {self.speed_kmh:g} km/h, rounded up "
            "to whole minutes; a unit starts the shift at its first hotspot (travel from the station "
            "not included); each hotspot is patrolled by one unit",
            "gap_rule": GAP_RULE,
            "evidence": EVIDENCE,
            "times_of_day": self.timed,
            "times_note": TIMES_NOTE if self.timed else NO_TIMES_NOTE,
            "notes": self.notes,
            "rounds": [{"unit": u + 1, "hotspots": r} for u, r in enumerate(self.rounds)],
            "visits": self.visits,
            "legs": self.legs,
            "hotspots": by_site,
        }


# ---- travel and order ------------------------------------------------------------------------


def travel_matrix(sites: Sequence[Site], speed_kmh: float, detour: float) -> np.ndarray:
    """Whole minutes between every two sites: straight line x detour at ``speed_kmh``, rounded up."""
    xy = np.array([[s.x, s.y] for s in sites], dtype=float).reshape(-1, 2)
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    metres_per_min = speed_kmh * 1000.0 / 60.0
    return np.ceil(d * detour / metres_per_min - 1e-9).astype(np.int64).clip(min=0)


def distances_km(sites: Sequence[Site]) -> np.ndarray:
    xy = np.array([[s.x, s.y] for s in sites], dtype=float).reshape(-1, 2)
    return np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1]) / 1000.0


def tour(dist: np.ndarray) -> list[int]:
    """A short closed tour over all points: nearest neighbour from point 0, then 2-opt."""
    n = len(dist)
    if n <= 3:
        return list(range(n))
    left = set(range(1, n))
    order = [0]
    while left:
        here = order[-1]
        nxt = min(left, key=lambda j: (dist[here, j], j))
        order.append(nxt)
        left.remove(nxt)
    return two_opt(order, dist)


def two_opt(order: list[int], dist: np.ndarray) -> list[int]:
    """Improve a closed tour by reversing segments while that shortens it."""
    n = len(order)
    if n <= 3:
        return list(order)
    best = list(order)
    improved = True
    while improved:
        improved = False
        for i in range(n - 1):
            for j in range(i + 2, n if i else n - 1):
                a, b = best[i], best[i + 1]
                c, d = best[j], best[(j + 1) % n]
                if dist[a, c] + dist[b, d] < dist[a, b] + dist[c, d] - 1e-9:
                    best[i + 1 : j + 1] = reversed(best[i + 1 : j + 1])
                    improved = True
    return best


def round_minutes(order: Sequence[int], travel: np.ndarray, visit_min: int) -> int:
    """Minutes for one round: every visit plus the travel round the loop and back to the first."""
    if not order:
        return 0
    legs = sum(int(travel[order[i], order[(i + 1) % len(order)]]) for i in range(len(order)))
    return legs + visit_min * len(order) if len(order) > 1 else visit_min


def pack_rounds(
    order: Sequence[int], travel: np.ndarray, visit_min: int, bound: int, most: int | None = None
) -> list[list[int]] | None:
    """The fewest contiguous rounds of the closed tour ``order`` each taking at most ``bound``
    minutes (:func:`round_minutes`), over every starting point; ``None`` if more than ``most``.

    From one start, closing a round when the next hotspot would make it longer than the bound
    gives the fewest rounds for that start (a round's length only grows as hotspots are added,
    by the triangle inequality)."""
    n = len(order)
    limit = n if most is None else most
    best: list[list[int]] | None = None
    for r in range(n):
        seq = [order[(r + i) % n] for i in range(n)]
        groups: list[list[int]] = [[seq[0]]]
        path = 0
        for j in seq[1:]:
            g = groups[-1]
            cost = path + int(travel[g[-1], j]) + int(travel[j, g[0]]) + visit_min * (len(g) + 1)
            if cost <= bound:
                path += int(travel[g[-1], j])
                g.append(j)
            else:
                groups.append([j])
                path = 0
            if len(groups) > limit or (best is not None and len(groups) >= len(best)):
                break
        else:
            if len(groups) <= limit and (best is None or len(groups) < len(best)):
                best = groups
                if len(best) == 1:
                    break
    return best


def split_rounds(order: Sequence[int], travel: np.ndarray, visit_min: int, units: int) -> list[list[int]]:
    """Cut the closed tour into at most ``units`` contiguous rounds, the longest as short as it
    can be (the bound of :func:`pack_rounds` found by bisection); each round then 2-opt."""
    n = len(order)
    if n == 0:
        return [[] for _ in range(units)]
    lo, hi = visit_min, round_minutes(order, travel, visit_min)
    while lo < hi:
        mid = (lo + hi) // 2
        if pack_rounds(order, travel, visit_min, mid, units) is not None:
            hi = mid
        else:
            lo = mid + 1
    groups = pack_rounds(order, travel, visit_min, lo, units) or [list(order)]
    groups = [two_opt(g, travel.astype(float)) for g in groups]
    return groups + [[] for _ in range(units - len(groups))]


# ---- busy hours ------------------------------------------------------------------------------


def shift_hours(shift: Shift) -> list[int]:
    """Clock hours (0-23) the shift touches."""
    return sorted({(m // 60) % 24 for m in range(shift.start, shift.end)})


def busy_factors(site: Site, shift: Shift) -> np.ndarray | None:
    """Per clock hour, the hotspot's incidents (plus one) over its mean hour in the shift, clipped."""
    if site.hours is None:
        return None
    counts = np.asarray(site.hours, dtype=float) + 1.0
    mean = counts[shift_hours(shift)].mean()
    return np.clip(counts / mean, *BUSY_CLIP)


def busy_hours(site: Site, shift: Shift, top: int = 3) -> list[str]:
    """The hotspot's busiest clock hours within the shift (``"22:00"``), most incidents first."""
    if site.hours is None or not any(site.hours):
        return []
    inside = [h for h in shift_hours(shift) if site.hours[h] > 0]
    inside.sort(key=lambda h: (-site.hours[h], h))  # type: ignore[index]
    return [f"{h:02d}:00" for h in inside[:top]]


# ---- schedule --------------------------------------------------------------------------------


def _schedule_unit(
    order: list[int],
    travel: np.ndarray,
    shift: Shift,
    visit_min: int,
    rng: np.random.Generator,
    factors: list[np.ndarray | None],
) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int, int, int, int]]]:
    """Visits ``(site, start, end, free)`` and legs ``(from, to, depart, arrive, free)`` of one unit.

    The unit goes round ``order``, skipping hotspots that need no more visits. Before each
    visit it takes free time drawn at random, at most the *slack*: how far the rest of the
    shift, driven with no free time at all, could be pushed back and still start every visit
    by its deadline (120 minutes after the hotspot's last visit ended, and in time to end
    before the shift does). A round of at most 120 minutes (:func:`round_minutes`) then stays
    feasible to the end whatever is drawn; a longer one (up to 120 minutes plus one visit) may
    miss the end of the shift for some draws, so :func:`plan_patrol` tries :data:`ATTEMPTS`.
    """
    m = len(order)
    if m == 0:
        return [], []
    latest_start = shift.end - visit_min
    position = {j: i for i, j in enumerate(order)}

    def rest(t: int, here: int | None, idx: int, last_end: dict[int, int | None]) -> tuple[int, int, int]:
        """Drive the rest of the shift with no free time: (first site, its arrival, slack)."""
        ends = dict(last_end)
        fixed = set(order)  # deadline set by a visit already made (or by the shift start)
        first: tuple[int, int] | None = None
        slack = latest_start - t
        while True:
            nxt = None
            for i in range(m):
                j = order[(idx + i) % m]
                e = ends[j]
                if e is None or shift.end - e > MAX_GAP_MIN:
                    nxt = j
                    break
            if nxt is None:
                break
            arrive = t + (0 if here is None else int(travel[here, nxt]))
            if first is None:
                first = (nxt, arrive)
            e = ends[nxt]
            gap_deadline = (shift.start if e is None else e) + MAX_GAP_MIN
            slack = min(slack, latest_start - arrive)
            if nxt in fixed:  # its deadline is fixed: free time taken now brings the visit closer to it
                slack = min(slack, gap_deadline - arrive)
                fixed.discard(nxt)
            elif arrive > gap_deadline:  # a gap within this drive: free time now does not move it
                slack = min(slack, 0)
            if arrive > latest_start:
                break
            ends[nxt] = arrive + visit_min
            t, here, idx = arrive + visit_min, nxt, (position[nxt] + 1) % m
        assert first is not None
        return first[0], first[1], slack

    last_end: dict[int, int | None] = dict.fromkeys(order)
    visits: list[tuple[int, int, int, int]] = []
    legs: list[tuple[int, int, int, int, int]] = []
    t, here, idx = shift.start, None, 0  # idx: position in the round of the next hotspot
    while True:
        if all(e is not None and shift.end - e <= MAX_GAP_MIN for e in last_end.values()):
            break
        j0, arrival, slack = rest(t, here, idx, last_end)
        if arrival > latest_start:
            break  # no visit fits before the shift ends (a plan that cannot meet the dosage)
        free = 0
        if slack > 0:
            f = factors[j0]
            b = 1.0 if f is None else float(f[(arrival // 60) % 24])
            free = min(max(int(math.floor(slack * float(rng.random()) ** b + 0.5)), 0), slack)
        start = arrival + free
        if here is not None:
            legs.append((here, j0, t, arrival, free))
        visits.append((j0, start, start + visit_min, free))
        last_end[j0] = start + visit_min
        t, here, idx = start + visit_min, j0, (position[j0] + 1) % m
    return visits, legs


def plan_patrol(
    sites: Sequence[Site],
    shift: Shift,
    *,
    visit_min: int = DEFAULT_VISIT_MIN,
    units: int | None = None,
    seed: int = 0,
    speed_kmh: float = DEFAULT_SPEED_KMH,
    detour: float = DEFAULT_DETOUR,
    max_units: int = 50,
) -> PatrolPlan:
    """The plan for ``sites`` over ``shift`` with ``units`` units (``None``: as many as needed).

    ``units_needed`` is the smallest number of units (up to ``max_units``) whose plan meets
    every constraint of :func:`check_plan`; ``None`` when even ``max_units`` cannot.
    """
    if not sites:
        raise InvalidInput("choose at least one hotspot to patrol")
    if len({s.hotspot_id for s in sites}) != len(sites):
        raise InvalidInput("each hotspot may be chosen once")
    if shift.minutes < visit_min:
        raise InvalidInput(f"the shift ({shift.minutes} min) is shorter than one visit ({visit_min} min)")
    travel = travel_matrix(sites, speed_kmh, detour)
    order = tour(travel.astype(float) + distances_km(sites) * 1e-6)
    factors = [busy_factors(s, shift) for s in sites]
    timed = any(s.hours is not None for s in sites)

    lookup = _travel_lookup(sites, travel)

    def build(k: int) -> PatrolPlan:
        """The plan with ``k`` units: the first of :data:`ATTEMPTS` seeded draws that meets every
        constraint (rounds close to the limit can miss it near the shift end for some draws)."""
        rounds = split_rounds(order, travel, visit_min, k)
        plan = draw(rounds, k, np.random.default_rng(seed))
        longest = max(round_minutes(r, travel, visit_min) for r in rounds)
        if longest > MAX_GAP_MIN + visit_min and long_shift:
            return plan  # no draw can help (see below)
        for attempt in range(1, ATTEMPTS):
            if plan.meets_dosage:
                break
            plan = draw(rounds, k, np.random.default_rng([seed, attempt]))
        return plan

    def draw(rounds: list[list[int]], k: int, rng: np.random.Generator) -> PatrolPlan:
        visits: list[dict[str, Any]] = []
        legs: list[dict[str, Any]] = []
        km = distances_km(sites)
        actual: list[list[int]] = [[] for _ in rounds]
        for u, r in enumerate(rounds):
            if not r:
                continue
            shift_by = int(rng.integers(0, len(r)))
            direction = -1 if len(r) > 2 and rng.random() < 0.5 else 1
            ordered = (r[shift_by:] + r[:shift_by])[::direction]
            actual[u] = ordered
            vs, ls = _schedule_unit(ordered, travel, shift, visit_min, rng, factors)
            prev: int | None = None
            for j, s, e, free in vs:
                hop = None if prev is None else int(travel[prev, j])
                prev = j
                visits.append(
                    {
                        "hotspot_id": sites[j].hotspot_id,
                        "unit": u + 1,
                        "start": hhmm(s),
                        "end": hhmm(e),
                        "start_min": s - shift.start,
                        "end_min": e - shift.start,
                        "minutes": e - s,
                        "travel_before_min": hop,
                        "free_before_min": free,
                        "next_day": s >= 1440,
                    }
                )
            for a, b, dep, arr, _free in ls:
                legs.append(
                    {
                        "unit": u + 1,
                        "from_hotspot": sites[a].hotspot_id,
                        "to_hotspot": sites[b].hotspot_id,
                        "depart": hhmm(dep),
                        "arrive": hhmm(arr),
                        "travel_min": arr - dep,
                        "km": round(float(km[a, b]) * detour, 2),
                    }
                )
        visits.sort(key=lambda v: (v["unit"], v["start_min"]))
        plan = PatrolPlan(
            shift=shift,
            visit_min=visit_min,
            units=k,
            units_needed=None,
            seed=seed,
            speed_kmh=speed_kmh,
            detour=detour,
            sites=list(sites),
            rounds=[[sites[j].hotspot_id for j in r] for r in actual],
            visits=visits,
            legs=legs,
            violations=[],
            timed=timed,
        )
        plan.violations = check_plan(plan, travel_of=lookup)
        return plan

    needed: int | None = None
    found: PatrolPlan | None = None
    # In a shift over 2 x MAX_GAP_MIN + one visit, every hotspot needs a second visit, and the
    # first hotspot of a round waits the whole round (all the others' first visits) for it: a
    # round longer than MAX_GAP_MIN + one visit cannot meet the dosage, whatever is drawn. So
    # fewer units than the fewest rounds within that bound are too few.
    long_shift = shift.minutes > 2 * MAX_GAP_MIN + visit_min
    fewest = pack_rounds(order, travel, visit_min, MAX_GAP_MIN + visit_min) if long_shift else None
    first = len(fewest) if fewest is not None else 1
    for k in range(first, min(len(sites), max_units) + 1):
        candidate = build(k)
        if candidate.meets_dosage:
            needed, found = k, candidate
            break
    plan = (
        found if units is None and found is not None else build(units or max(1, min(len(sites), max_units)))
    )
    plan.units_needed = needed
    if needed is None:
        plan.notes.append(
            f"even {min(len(sites), max_units)} units cannot visit every hotspot at least every "
            f"{MAX_GAP_MIN} minutes: choose fewer hotspots or a longer visit gap"
        )
    elif not plan.meets_dosage:
        plan.notes.append(
            f"{plan.units} unit(s) cannot meet the dosage (a visit at every hotspot at least every "
            f"{MAX_GAP_MIN} minutes); {needed} unit(s) are needed"
        )
    elif plan.units > needed:
        plan.notes.append(f"{needed} unit(s) would be enough; the plan uses up to {plan.units}")
    if plan.units > len(sites):
        plan.notes.append(f"{plan.units - len(sites)} unit(s) have no hotspot (one unit per hotspot at most)")
    return plan


def _travel_lookup(sites: Sequence[Site], travel: np.ndarray) -> dict[tuple[int, int], int]:
    ids = [s.hotspot_id for s in sites]
    return {(a, b): int(travel[i, j]) for i, a in enumerate(ids) for j, b in enumerate(ids)}


# ---- checks ----------------------------------------------------------------------------------


def hotspot_gaps(visits: Sequence[dict[str, Any]], shift: Shift, ids: Sequence[int]) -> dict[int, list[int]]:
    """Per hotspot, the minutes without a visit: shift start to first start, each end to the next
    start, last end to the shift end (the whole shift when there is no visit)."""
    out: dict[int, list[int]] = {}
    for hid in ids:
        mine = sorted((v["start_min"], v["end_min"]) for v in visits if v["hotspot_id"] == hid)
        if not mine:
            out[hid] = [shift.minutes]
            continue
        gaps = [mine[0][0]]
        gaps += [b[0] - a[1] for a, b in zip(mine, mine[1:], strict=False)]
        gaps.append(shift.minutes - mine[-1][1])
        out[hid] = gaps
    return out


def check_plan(plan: PatrolPlan, *, travel_of: dict[tuple[int, int], int] | None = None) -> list[str]:
    """Every broken constraint of ``plan``, in words (empty: the plan meets them all)."""
    problems: list[str] = []
    if travel_of is None:
        travel_of = _travel_lookup(plan.sites, travel_matrix(plan.sites, plan.speed_kmh, plan.detour))
    span = plan.shift.minutes
    for v in plan.visits:
        if v["end_min"] - v["start_min"] != plan.visit_min or not 10 <= plan.visit_min <= 16:
            problems.append(
                f"hotspot {v['hotspot_id']}: visit {v['start']}-{v['end']} is not {plan.visit_min} min"
            )
        if v["start_min"] < 0 or v["end_min"] > span:
            problems.append(f"hotspot {v['hotspot_id']}: visit {v['start']}-{v['end']} is outside the shift")
    for unit in sorted({v["unit"] for v in plan.visits}):
        mine = sorted((v for v in plan.visits if v["unit"] == unit), key=lambda v: v["start_min"])
        for a, b in zip(mine, mine[1:], strict=False):
            need = travel_of.get((a["hotspot_id"], b["hotspot_id"]), 0)
            if b["start_min"] < a["end_min"] + need:
                problems.append(
                    f"unit {unit}: visit at hotspot {b['hotspot_id']} {b['start']} leaves less than the "
                    f"{need} min travel from hotspot {a['hotspot_id']} (ends {a['end']})"
                )
    for hid, gaps in plan.gaps().items():
        if not any(v["hotspot_id"] == hid for v in plan.visits):
            problems.append(f"hotspot {hid}: no visit")
        elif max(gaps) > MAX_GAP_MIN:
            problems.append(f"hotspot {hid}: {max(gaps)} min without a visit (at most {MAX_GAP_MIN})")
    return problems


# ---- from an analysis ------------------------------------------------------------------------


def sites_from_hotspots(hotspots: Any, ids: Sequence[int] | str) -> list[Site]:
    """The chosen hotspots of an analysis (``hotspot_id`` ranks; geometry EPSG:27700) as sites,
    with incidents by hour where the data has times of day."""
    wanted = parse_hotspot_ids(ids) if isinstance(ids, str) else tuple(ids)
    if not wanted:
        raise InvalidInput("choose at least one hotspot to patrol")
    by_id = {int(r["hotspot_id"]): r for r in hotspots.to_dict("records")}
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise NotFound(
            f"no hotspot {', '.join(f'#{i}' for i in missing)} in this analysis ({len(by_id)} hotspots); "
            "hotspot ids are the ranks 'analyse' gives with the same options"
        )
    sites = []
    for i in wanted:
        r = by_id[i]
        centre = r["geometry"].centroid
        profile = r.get("time_profile") or {}
        hours = (profile.get("hours") or {}) if isinstance(profile, dict) else {}
        counts = hours.get("counts") if hours.get("available") else None
        wards = r.get("wards")
        label = ", ".join(list(wards)[:2]) if wards is not None and len(wards) else ""
        sites.append(
            Site(
                hotspot_id=i,
                x=float(centre.x),
                y=float(centre.y),
                lon=_float(r.get("centroid_lon")),
                lat=_float(r.get("centroid_lat")),
                hours=tuple(int(c) if c == c else 0 for c in counts) if counts is not None else None,
                label=label,
            )
        )
    return sites


def _float(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


PLAN_CSV_NUMERIC = ("unit", "hotspot_id", "minutes", "travel_before_min", "lat", "lon")
PLAN_CSV_COLUMNS = [
    "unit", "hotspot_id", "start", "end", "minutes", "next_day", "travel_before_min", "where", "lat", "lon",
]  # fmt: skip


def plan_table(plan: PatrolPlan) -> list[dict[str, Any]]:
    """The visits as rows for the CSV and the printable page (one row per visit, unit then time)."""
    sites = {s.hotspot_id: s for s in plan.sites}
    return [
        {
            "unit": v["unit"],
            "hotspot_id": v["hotspot_id"],
            "start": v["start"],
            "end": v["end"],
            "minutes": v["minutes"],
            "next_day": "yes" if v["next_day"] else "",
            "travel_before_min": v["travel_before_min"],
            "where": sites[v["hotspot_id"]].label,
            "lat": sites[v["hotspot_id"]].lat,
            "lon": sites[v["hotspot_id"]].lon,
        }
        for v in plan.visits
    ]
