"""The parameter contract: every analysis parameter's range, choices, default and help, once.

FastAPI's query parameters (:mod:`hotspots.api.deps`), the command line's options
(:mod:`hotspots.cli`) and :meth:`hotspots.geo.analysis.AnalysisParams.validate` all read
this table, so the three doors accept the same values and refuse the others with the
same message (which gives the usable range and why).

The ranges are those that mean something for the method, and they bound the work one
request may ask for:

- ``eps_m`` 25 to 1,000 m: police.uk snaps each incident to one of about 750,000 map
  points (street centres, public places) that lie tens of metres apart, so below about
  25 m a "cluster" is a single snapped location; beyond 1 km it is a neighbourhood, not a
  hotspot (and DBSCAN's work grows with eps squared).
- ``min_samples`` at least 3: with 1 or 2 every busy location is a hotspot (thousands of
  them, each drawn and summarised). The number drawn is also capped
  (:data:`MAX_HOTSPOTS`, the largest first, with a note).
- ``min_cluster_size`` (HDBSCAN) at least 5, for the same reason.
- ``cell_size_m`` 50 to 500 m, and at most :data:`MAX_GRID_CELLS` hex cells over the
  study area (the message gives the smallest cell size the area allows).
- ``k`` (k-distance) 2 to 1,000: ``k`` is a ``min_samples``; the curve costs ``k``
  neighbours per location.
- ``rolling`` 1 to 12 test months, and at most :data:`MAX_EVALUATION_WORK` incidents
  times test months (each test month refits on every month before it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

from hotspots.errors import InvalidInput

AUTO = "auto"
"""The ``boundaries`` value meaning "the area's boundary set in force each month"."""

Weight = Literal["count", "harm"]
Method = Literal["dbscan", "hdbscan"]

MAX_HOTSPOTS = 500
"""At most this many hotspots are drawn and listed (the largest); the rest are left as noise, with a note."""

MAX_GRID_CELLS = 50_000
"""Most hex cells a Gi* or emerging hot spot grid may have over the study area."""

MAX_PATROL_UNITS = 50
"""Most patrol units one plan may use."""

MAX_PATROL_HOTSPOTS = 50
"""Most hotspots one patrol plan may cover."""

MAX_EVALUATION_WORK = 5_000_000
"""Most incidents times test months a rolling evaluation may fit (each test month refits)."""


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: its name, type, usable range or choices, default, unit and why."""

    name: str
    kind: type
    help: str
    minimum: float | None = None
    maximum: float | None = None
    default: Any = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    why: str = ""
    alias: str | None = None
    """Query-string name when it differs from :attr:`name`."""
    option: str | None = None
    """Command-line flag; default ``--`` plus the name with dashes."""
    form: str = ""
    """For text parameters: the form the value takes (``HH:MM-HH:MM``)."""

    @property
    def query_name(self) -> str:
        return self.alias or self.name

    @property
    def flag(self) -> str:
        return self.option or "--" + self.name.replace("_", "-")

    def range_text(self) -> str:
        """``between 25 and 1,000 metres`` / ``one of count, harm``."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.form:
            return f"in the form {self.form}"
        unit = f" {self.unit}" if self.unit else ""
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None:
            return f"between {_num(lo)} and {_num(hi)}{unit}"
        if lo is not None:
            return f"at least {_num(lo)}{unit}"
        if hi is not None:
            return f"at most {_num(hi)}{unit}"
        return "any value"

    def describe(self) -> str:
        """Help text with the range (and the default when there is one), for OpenAPI and ``--help``."""
        text = f"{self.help}; {self.range_text()}"
        return text + (f" ({self.why})" if self.why else "")

    def message(self, value: object) -> str:
        text = f"{self.query_name} must be {self.range_text()}, got {value!r}"
        return text + (f" ({self.why})" if self.why else "")

    def check(self, value: object) -> None:
        """Raise :class:`InvalidInput` (422 at the API) unless ``value`` is usable; ``None`` is."""
        if value is None:
            return
        if self.choices:
            if value not in self.choices:
                raise InvalidInput(self.message(value))
            return
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(self.message(value))
        if self.kind is int and not float(value).is_integer():
            raise InvalidInput(self.message(value))
        v = float(value)
        if not math.isfinite(v):
            raise InvalidInput(self.message(value))
        if (self.minimum is not None and v < self.minimum) or (self.maximum is not None and v > self.maximum):
            raise InvalidInput(self.message(value))


def _num(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:g}"


_SPECS = (
    ParamSpec(
        "eps_m",
        float,
        "DBSCAN radius: how close incidents must be to form a hotspot (default 100)",
        25.0,
        1000.0,
        unit="metres",
        why="police.uk snaps incidents to map points tens of metres apart: below 25 m a cluster is one "
        "location; beyond 1 km it is a neighbourhood, not a hotspot",
    ),
    ParamSpec(
        "min_samples",
        int,
        "Incidents (harm units with weight=harm) needed within eps_m (default: from the data)",
        3,
        10_000_000,
        why="with 1 or 2 every busy location becomes a hotspot",
    ),
    ParamSpec(
        "min_cluster_size",
        int,
        "HDBSCAN: smallest hotspot, incidents (default: from the data)",
        5,
        1_000_000,
        why="smaller clusters are single busy locations",
    ),
    ParamSpec(
        "shape_buffer_m",
        float,
        "Radius of the circles drawn around hotspot member locations, and width of the street links "
        "joining them (default 15)",
        5.0,
        500.0,
        default=15.0,
        unit="metres",
        alias="buffer_m",
        option="--buffer-m",
        why="street scale",
    ),
    ParamSpec(
        "min_locations",
        int,
        "Distinct locations a hotspot needs to be an area; with fewer it is a place (a shopping centre, "
        "a station), listed and ranked on its own (default 3)",
        1,
        1000,
        default=3,
        why="police.uk snaps incidents to map points: one or two points are a place, not an area",
    ),
    ParamSpec(
        "cell_size_m",
        float,
        "Hex cell size for Gi* and emerging hot spots, flat side to flat side (default: from the data)",
        50.0,
        500.0,
        unit="metres",
        why=f"street to neighbourhood scale, and at most {MAX_GRID_CELLS:,} cells over the study area",
    ),
    ParamSpec(
        "weight",
        str,
        "Cluster and rank by incident count or by harm",
        default="count",
        choices=get_args(Weight),
    ),
    ParamSpec(
        "method",
        str,
        "DBSCAN, or HDBSCAN for areas of varying density",
        default="dbscan",
        choices=get_args(Method),
    ),
    ParamSpec(
        "k",
        float,
        "k-distance: k, a min_samples in incidents (default: the min_samples in use)",
        2,
        1000,
        why="the curve costs k neighbours per location",
    ),
    ParamSpec(
        "rolling",
        int,
        "Number of consecutive test months, each fitted on all months before it",
        1,
        12,
        default=1,
        why=f"and at most {MAX_EVALUATION_WORK:,} incidents x test months",
    ),
    # ---- patrol plans (hotspots.geo.plans.patrol) ----
    ParamSpec(
        "shift",
        str,
        "Patrol shift, HH:MM-HH:MM; it may cross midnight (default 18:00-02:00)",
        default="18:00-02:00",
        form="HH:MM-HH:MM",
        why="a shift under 24 hours",
    ),
    ParamSpec(
        "visit_min",
        int,
        "Patrol visit length at each hotspot",
        10,
        16,
        default=15,
        unit="minutes",
        why="Koper (1995): 10-16 minutes gives the longest residual deterrence",
    ),
    ParamSpec(
        "units",
        int,
        "Patrol units (default: as many as the dosage needs)",
        1,
        MAX_PATROL_UNITS,
    ),
    ParamSpec(
        "seed",
        int,
        "Seed for the unpredictable visit times: the same seed gives the same plan (default: a new one)",
        0,
        2**31 - 1,
    ),
    ParamSpec(
        "speed_kmh",
        float,
        "Patrol travel speed over the road distance",
        5.0,
        100.0,
        default=30.0,
        unit="km/h",
        why="30 km/h is urban driving on patrol",
    ),
    ParamSpec(
        "detour",
        float,
        "Road distance over straight-line distance",
        1.0,
        3.0,
        default=1.3,
        why="about 1.3 on urban street networks",
    ),
)

SPECS: dict[str, ParamSpec] = {s.name: s for s in _SPECS}
"""Every parameter's contract by name (the :class:`AnalysisParams` field name)."""


def spec(name: str) -> ParamSpec:
    return SPECS[name]


def by_query_name(name: str) -> ParamSpec | None:
    """The spec whose query-string name is ``name`` (``buffer_m`` for ``shape_buffer_m``)."""
    return next((s for s in _SPECS if s.query_name == name), None)


def smallest_cell_size(area_m2: float) -> float:
    """Smallest hex cell size (metres, rounded up to 10 m) with at most :data:`MAX_GRID_CELLS` cells."""
    cells_area = 2.0 * area_m2 / (math.sqrt(3.0) * MAX_GRID_CELLS)  # d**2 for area / hex_area(d) == max
    return float(math.ceil(math.sqrt(max(cells_area, 0.0)) / 10.0) * 10.0)


def check_grid(cell_size_m: float, area_m2: float) -> None:
    """Refuse a hex grid of more than :data:`MAX_GRID_CELLS` cells over the area (EPSG:27700, m2)."""
    cells = area_m2 / (math.sqrt(3.0) / 2.0 * cell_size_m**2)
    if cells > MAX_GRID_CELLS:
        lo = max(smallest_cell_size(area_m2), SPECS["cell_size_m"].minimum or 0.0)
        hi = SPECS["cell_size_m"].maximum or lo
        raise InvalidInput(
            f"cell_size_m {cell_size_m:g} m would need about {cells:,.0f} hex cells over this "
            f"{area_m2 / 1e6:,.0f} km2 area (at most {MAX_GRID_CELLS:,}); "
            f"for this area choose cell_size_m between {_num(lo)} and {_num(hi)} metres"
        )


def hotspots_note(n_clusters: int) -> str | None:
    """The note an analysis carries when it found more clusters than :data:`MAX_HOTSPOTS`."""
    if n_clusters <= MAX_HOTSPOTS:
        return None
    return (
        f"{n_clusters:,} clusters found; the {MAX_HOTSPOTS:,} largest are drawn and counted as "
        "hotspots: raise min_samples or eps_m for fewer, larger ones"
    )


def parse_hotspot_ids(text: str | None) -> tuple[int, ...]:
    """``"1,2,5"`` as hotspot ranks (each once, at least one, at most :data:`MAX_PATROL_HOTSPOTS`)."""
    parts = [p.strip() for p in (text or "").split(",") if p.strip()]
    if not parts or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise InvalidInput(
            f"hotspots must be hotspot ids (ranks) separated by commas, e.g. 1,2,5; got {text!r}"
        )
    ids = tuple(dict.fromkeys(int(p) for p in parts))
    if len(ids) > MAX_PATROL_HOTSPOTS:
        raise InvalidInput(f"a patrol plan covers at most {MAX_PATROL_HOTSPOTS} hotspots, got {len(ids)}")
    return ids


def check_patrol(
    visit_min: int, units: int | None, seed: int | None, speed_kmh: float, detour: float
) -> None:
    """Refuse patrol parameters outside the contract (:data:`SPECS`), one message each."""
    for name, value in (
        ("visit_min", visit_min),
        ("units", units),
        ("seed", seed),
        ("speed_kmh", speed_kmh),
        ("detour", detour),
    ):
        SPECS[name].check(value)


def check_evaluation(rolling: int, incidents: int) -> None:
    """Refuse a rolling evaluation whose refits would fit more than :data:`MAX_EVALUATION_WORK` incidents."""
    SPECS["rolling"].check(rolling)
    if rolling * incidents > MAX_EVALUATION_WORK:
        most = min(MAX_EVALUATION_WORK // max(incidents, 1), int(SPECS["rolling"].maximum or 1))
        advice = f"choose rolling between 1 and {most}, or " if most >= 1 else "choose "
        raise InvalidInput(
            f"rolling={rolling} on {incidents:,} incidents is more work than one request may ask "
            f"(at most {MAX_EVALUATION_WORK:,} incidents x test months): {advice}fewer months or crime types"
        )
