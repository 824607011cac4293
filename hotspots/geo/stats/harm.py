"""Harm weights per crime type, for harm-weighted hotspots.

Counting every incident as one treats a shoplifting like a robbery. Harm
weighting gives each incident a weight from a severity scale and clusters on
total harm instead of incident count (DBSCAN ``sample_weight``).

Default weights
---------------
The default table is derived from the ONS **Crime Severity Score** (CSS,
experimental statistics; ONS, "Research outputs: developing a Crime Severity
Score for England and Wales using data on crimes recorded by the police",
29 November 2016, and the offence weights of its CSS data tool). A CSS weight
is the average sentence handed down for an offence, in days of custody (fines
and community orders converted to equivalent days), from Ministry of Justice
sentencing data: murder about 7,979, possession of cannabis 3.

police.uk publishes 14 broad categories, each grouping many Home Office
offence codes with very different weights. A category weight here is the
volume-weighted mean of the CSS weights of its main offences
(:data:`CSS_COMPONENTS`). Offence weights are rounded: homicide (7,979) and
possession of cannabis (3) as reported from the ONS release; most others from
a third-party transcription of the CSS data tool; where that was ambiguous
(the violence and sexual offence sub-groups, "Other crime") a rounded central
value of the offences concerned. Volume shares are approximate, from police
recorded crime, England and Wales, year ending March 2020.

**This is an approximation**: the true mix of offences differs by area and
year (a "Violence and sexual offences" cluster of common assaults weighs far
less than the category mean), and the offence-level values should be checked
against the current ONS release before being relied on. Users can supply
their own table (:func:`parse_harm_weights`).

Anti-social behaviour is not a crime, carries no sentence and so has no CSS
weight. It gets :data:`ASB_WEIGHT` = 3, the lowest weight in the CSS
(possession of cannabis): ASB stays visible in harm maps, but no ASB incident
ever counts more than any recorded crime.

Units
-----
Weights are in CSS units (equivalent days of custody per incident). In harm
mode DBSCAN's ``min_samples`` is in the same units: a location is a core of a
hotspot when the harm of the incidents within ``eps`` metres (EPSG:27700),
itself included, reaches ``min_samples`` (see :func:`default_min_harm`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hotspots.errors import ErrorCollector, InvalidInput, RowError
from hotspots.geo.clusters.dbscan import DEFAULT_EPS_M, DENSITY_FACTOR, MIN_MIN_SAMPLES

POLICE_UK_CATEGORIES: tuple[str, ...] = (
    "Anti-social behaviour",
    "Bicycle theft",
    "Burglary",
    "Criminal damage and arson",
    "Drugs",
    "Other crime",
    "Other theft",
    "Possession of weapons",
    "Public order",
    "Robbery",
    "Shoplifting",
    "Theft from the person",
    "Vehicle crime",
    "Violence and sexual offences",
)
"""The 14 police.uk street-level crime categories (since May 2017)."""

ASB_WEIGHT = 3.0
"""Weight of anti-social behaviour: the lowest CSS weight (possession of cannabis), see module doc."""

HARM_SOURCE = (
    "Approximation derived from the ONS Crime Severity Score offence weights (experimental statistics; "
    "ONS, 'Research outputs: developing a Crime Severity Score for England and Wales using data on "
    "crimes recorded by the police', 29 November 2016, and its CSS data tool). Weight = average "
    "sentence in equivalent days of custody. Each police.uk category gets the volume-weighted mean of "
    "the CSS weights of its main offences (approximate volume shares: police recorded crime, England and "
    "Wales, year ending March 2020); offence weights rounded, some estimated, so the category weights "
    "are indicative only (check against the current ONS release). Anti-social behaviour is not a crime "
    "and has no CSS weight: it gets 3, the lowest CSS weight (possession of cannabis). Unknown "
    "categories get the median of the table's weights."
)
"""Provenance of :data:`DEFAULT_HARM`, for display and export metadata."""

MAX_TABLE_BYTES = 1_000_000
MAX_TABLE_ROWS = 1000
FALLBACK_KEY = "*"
"""Row name that sets the fallback weight in a user table."""


@dataclass(frozen=True)
class HarmComponent:
    """One offence (or offence group) inside a police.uk category.

    ``weight`` is its CSS weight in equivalent days of custody; ``share`` its
    approximate share of the category's recorded volume (0-1).
    """

    offence: str
    weight: float
    share: float


CSS_COMPONENTS: Mapping[str, tuple[HarmComponent, ...]] = {
    "Bicycle theft": (HarmComponent("Theft or unauthorised taking of a pedal cycle", 10, 1.0),),
    "Burglary": (
        HarmComponent("Burglary, residential (dwelling)", 438, 0.73),
        HarmComponent("Burglary, business and community", 117, 0.26),
        HarmComponent("Aggravated burglary in a dwelling", 2127, 0.007),
        HarmComponent("Aggravated burglary, building other than a dwelling", 1513, 0.003),
    ),
    "Criminal damage and arson": (
        HarmComponent("Criminal damage to a dwelling, building, vehicle or other", 7, 0.93),
        HarmComponent("Racially or religiously aggravated criminal damage", 19, 0.01),
        HarmComponent("Arson not endangering life", 185, 0.05),
        HarmComponent("Arson endangering life", 837, 0.01),
    ),
    "Drugs": (
        HarmComponent("Trafficking in controlled drugs", 497, 0.17),
        HarmComponent("Possession of cannabis", 3, 0.62),
        HarmComponent("Possession of other controlled drugs", 9, 0.21),
    ),
    "Other crime": (
        # No volume breakdown used: the median of the CSS weights of the
        # miscellaneous crimes against society (the least certain value here).
        HarmComponent("Miscellaneous crimes against society (median offence weight)", 123, 1.0),
    ),
    "Other theft": (HarmComponent("All other theft offences", 33, 1.0),),
    "Possession of weapons": (
        HarmComponent("Possession of article with blade or point", 55, 0.48),
        HarmComponent("Possession of other weapons", 58, 0.37),
        HarmComponent("Possession of firearms offences", 327, 0.12),
        HarmComponent("Possession of firearms with intent", 1365, 0.03),
    ),
    "Public order": (
        HarmComponent("Public fear, alarm or distress", 10, 0.84),
        HarmComponent("Racially or religiously aggravated public fear, alarm or distress", 24, 0.08),
        HarmComponent("Violent disorder", 365, 0.01),
        HarmComponent("Other offences against the state or public order", 78, 0.07),
    ),
    "Robbery": (
        HarmComponent("Robbery of personal property", 746, 0.89),
        HarmComponent("Robbery of business property", 746, 0.11),
    ),
    "Shoplifting": (HarmComponent("Shoplifting", 13, 1.0),),
    "Theft from the person": (HarmComponent("Theft from the person", 86, 1.0),),
    "Vehicle crime": (
        HarmComponent("Theft from a vehicle", 19, 0.60),
        HarmComponent("Theft or unauthorised taking of a motor vehicle", 48, 0.27),
        HarmComponent("Interfering with a motor vehicle", 7, 0.12),
        HarmComponent("Aggravated vehicle taking", 124, 0.01),
    ),
    "Violence and sexual offences": (
        HarmComponent("Homicide", 7979, 0.0004),
        HarmComponent("Attempted murder", 4663, 0.0003),
        HarmComponent("Assault with injury (ABH)", 146, 0.25),
        HarmComponent("Wounding or inflicting grievous bodily harm (s20)", 285, 0.025),
        HarmComponent("Grievous bodily harm with intent (s18)", 1000, 0.012),
        HarmComponent("Assault without injury (common assault)", 39, 0.376),
        HarmComponent("Stalking and harassment", 40, 0.247),
        HarmComponent("Rape", 3000, 0.031),
        HarmComponent("Other sexual offences", 600, 0.054),
    ),
}
"""Offence make-up of each police.uk crime category (not ASB), see the module docstring."""


def derive_category_weights(
    components: Mapping[str, tuple[HarmComponent, ...]] = CSS_COMPONENTS,
) -> dict[str, float]:
    """Category weight = volume-weighted mean of its offences' CSS weights, rounded to whole days."""
    out: dict[str, float] = {}
    for category, parts in components.items():
        total_share = sum(p.share for p in parts)
        out[category] = float(round(sum(p.weight * p.share for p in parts) / total_share))
    return out


def _key(name: str) -> str:
    """Normalised category name: case-insensitive, hyphens/underscores as spaces, single spaces."""
    return re.sub(r"\s+", " ", re.sub(r"[-_]", " ", str(name))).strip().casefold()


_ALIASES = {
    # police.uk API slugs and older names that normalise differently from the CSV names
    "violent crime": "Violence and sexual offences",
    "criminal damage arson": "Criminal damage and arson",
    "anti social behavior": "Anti-social behaviour",
}


@dataclass(frozen=True)
class HarmWeights:
    """A harm table: weight per crime type, the fallback for unknown types and its provenance.

    ``weights`` maps category names (as given) to non-negative finite weights;
    lookups are case-insensitive and treat ``-``/``_`` as spaces, and the
    police.uk API slugs (``violent-crime``, ``criminal-damage-arson``, ...)
    match the police.uk CSV names. ``fallback`` is the weight of a crime type
    the table does not list (default: the median of the table's weights).
    """

    weights: Mapping[str, float]
    source: str
    fallback: float
    _lookup: dict[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lookup = {_key(k): float(v) for k, v in self.weights.items()}
        for alias, target in _ALIASES.items():
            if alias not in lookup and _key(target) in lookup:
                lookup[alias] = lookup[_key(target)]
        object.__setattr__(self, "_lookup", lookup)

    def get(self, crime_type: str) -> float | None:
        """The weight of ``crime_type``, or ``None`` when the table does not list it."""
        return self._lookup.get(_key(crime_type))

    @property
    def not_police_uk(self) -> list[str]:
        """Categories in the table that are not police.uk categories (allowed: other sources)."""
        known = {_key(c) for c in POLICE_UK_CATEGORIES} | set(_ALIASES)
        return [k for k in self.weights if _key(k) not in known]

    @property
    def police_uk_missing(self) -> list[str]:
        """police.uk categories the table does not list (they get the fallback)."""
        return [c for c in POLICE_UK_CATEGORIES if self.get(c) is None]

    def to_items(self) -> tuple[tuple[str, float], ...]:
        """Hashable form (for parameter cache keys): the weights in order, then ``("*", fallback)``."""
        return (*((k, float(v)) for k, v in self.weights.items()), (FALLBACK_KEY, float(self.fallback)))

    @classmethod
    def from_items(
        cls, items: tuple[tuple[str, float], ...], source: str = "user-supplied table"
    ) -> HarmWeights:
        """Inverse of :meth:`to_items`, validated like :func:`parse_harm_weights`."""
        rows: list[tuple[str, object, int | None]] = [(str(k), v, None) for k, v in items]
        return _finish(rows, ErrorCollector(), source=source)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description for the API and export metadata."""
        return {
            "weights": {k: float(v) for k, v in self.weights.items()},
            "fallback": float(self.fallback),
            "source": self.source,
            "units": "CSS units: equivalent days of custody per incident"
            if self.source == HARM_SOURCE
            else "as supplied",
        }


def _median_fallback(weights: Mapping[str, float]) -> float:
    return float(np.median(np.fromiter(weights.values(), dtype=float))) if weights else 1.0


def _default_table() -> HarmWeights:
    weights = {"Anti-social behaviour": ASB_WEIGHT, **derive_category_weights()}
    ordered = {c: weights[c] for c in POLICE_UK_CATEGORIES}
    return HarmWeights(ordered, HARM_SOURCE, _median_fallback(ordered))


DEFAULT_HARM: HarmWeights = _default_table()
"""The default harm table (CSS-derived, see the module docstring)."""


@dataclass(frozen=True)
class HarmAssignment:
    """Harm weight per incident and what had to fall back.

    ``unknown`` counts incidents per crime type the table does not list,
    ``missing`` the incidents with no crime type; both got ``fallback``.
    """

    weights: np.ndarray
    unknown: dict[str, int]
    missing: int
    fallback: float
    source: str

    @property
    def total(self) -> float:
        return float(self.weights.sum())

    def meta(self) -> dict[str, Any]:
        """Summary for analysis metadata (what fell back is reported, never silent)."""
        return {
            "harm_source": self.source,
            "harm_total": self.total,
            "harm_fallback_weight": self.fallback,
            "harm_unknown_crime_types": dict(self.unknown),
            "harm_missing_crime_type": self.missing,
        }


def _as_table(weights: Mapping[str, float] | HarmWeights | None) -> HarmWeights:
    if weights is None:
        return DEFAULT_HARM
    if isinstance(weights, HarmWeights):
        return weights
    checked = _validate_mapping(dict(weights), source="user-supplied mapping")
    return checked


def assign_harm(
    crime_types: pd.Series, weights: Mapping[str, float] | HarmWeights | None = None
) -> HarmAssignment:
    """Harm weight for each incident from its crime type.

    Parameters
    ----------
    crime_types:
        Crime type per incident (police.uk category names or any other labels).
    weights:
        A :class:`HarmWeights` table, a plain mapping (validated, fallback = its
        median), or ``None`` for :data:`DEFAULT_HARM`.

    Returns
    -------
    HarmAssignment
        Weights (float64, one per incident, in the table's units) and counts of
        the incidents that got the fallback weight.
    """
    table = _as_table(weights)
    codes, uniques = pd.factorize(pd.Series(crime_types), use_na_sentinel=True)
    per_unique = np.empty(len(uniques) + 1, dtype=np.float64)
    unknown_idx: list[int] = []
    for i, name in enumerate(uniques):
        w = table.get(str(name))
        if w is None:
            unknown_idx.append(i)
            w = table.fallback
        per_unique[i] = w
    per_unique[-1] = table.fallback  # code -1: no crime type
    codes = np.asarray(codes)
    counts = np.bincount(np.where(codes < 0, len(uniques), codes), minlength=len(uniques) + 1)
    return HarmAssignment(
        weights=per_unique[codes],
        unknown={str(uniques[i]): int(counts[i]) for i in unknown_idx},
        missing=int(counts[-1]),
        fallback=table.fallback,
        source=table.source,
    )


def harm_weights(
    crime_types: pd.Series, weights: Mapping[str, float] | HarmWeights | None = None
) -> np.ndarray:
    """Harm weight per incident (float64 array); unknown or missing types get the table's fallback.

    Use :func:`assign_harm` to also get which crime types fell back, for reporting.
    """
    return assign_harm(crime_types, weights).weights


def default_min_harm(
    total_harm: float, area_m2: float, eps_m: float = DEFAULT_EPS_M, *, n_incidents: int | None = None
) -> int:
    """Data-driven ``min_samples`` in harm units: the rule of ``default_min_samples`` applied to harm.

    If the total harm ``total_harm`` were spread evenly over ``area_m2``
    square metres (EPSG:27700), a disc of radius ``eps_m`` metres would hold
    ``total_harm * pi * eps^2 / area`` of it; a hotspot core needs
    :data:`~hotspots.geo.clusters.dbscan.DENSITY_FACTOR` times that. The floor is the
    harm of :data:`~hotspots.geo.clusters.dbscan.MIN_MIN_SAMPLES` average incidents
    (``MIN_MIN_SAMPLES * total_harm / n_incidents``) when ``n_incidents`` is
    given, else ``MIN_MIN_SAMPLES``. With every weight 1 this equals
    :func:`hotspots.geo.clusters.dbscan.default_min_samples`.

    Returns
    -------
    int
        Threshold in harm units (rounded up: scikit-learn's DBSCAN needs an integer).
    """
    if not (math.isfinite(total_harm) and total_harm >= 0):
        raise InvalidInput(f"total harm must be a finite non-negative number, got {total_harm}")
    floor = MIN_MIN_SAMPLES
    if n_incidents:
        floor = max(1, math.ceil(MIN_MIN_SAMPLES * total_harm / n_incidents))
    if area_m2 <= 0:
        return floor
    expected = total_harm * math.pi * eps_m**2 / area_m2
    return max(floor, math.ceil(DENSITY_FACTOR * expected))


# --- user-supplied tables -------------------------------------------------------------------------

_CATEGORY_HEADERS = {"crime type", "crime_type", "crimetype", "category", "type", "offence"}
_WEIGHT_HEADERS = {"weight", "harm", "harm weight", "harm_weight", "css weight", "css_weight", "score"}


def _number(value: object) -> float | None:
    """A finite non-negative float, or ``None`` if ``value`` is not a number at all."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?(nan|inf|infinity)", text, re.I):
            return None
        return float(text)
    return None


def _check_weight(
    value: object, errors: ErrorCollector, line: int | None, column: str | None
) -> float | None:
    number = _number(value)
    shown = None if value is None else str(value)
    if number is None:
        errors.add(RowError(line, column, "weight must be a number", shown))
        return None
    if not math.isfinite(number):
        errors.add(RowError(line, column, "weight must be a finite number", shown))
        return None
    if number < 0:
        errors.add(RowError(line, column, "weight must not be negative", shown))
        return None
    return number


def _finish(
    rows: list[tuple[str, object, int | None]],
    errors: ErrorCollector,
    *,
    source: str,
    fallback: object = None,
) -> HarmWeights:
    """Validate parsed (category, weight, line) rows and build the table."""
    weights: dict[str, float] = {}
    seen: dict[str, int | None] = {}
    fallback_value: float | None = None
    if fallback is not None:
        fallback_value = _check_weight(fallback, errors, None, "fallback")
    if len(rows) > MAX_TABLE_ROWS:
        raise InvalidInput(f"harm table has {len(rows)} rows; at most {MAX_TABLE_ROWS} are allowed")
    for name, raw, line in rows:
        name = str(name).strip()
        if not name:
            errors.add(RowError(line, "crime_type", "crime type is empty", None))
            continue
        if name == FALLBACK_KEY:
            fb = _check_weight(raw, errors, line, FALLBACK_KEY)
            if fb is not None:
                if fallback_value is not None:
                    errors.add(RowError(line, FALLBACK_KEY, "fallback weight given twice", str(raw)))
                fallback_value = fb
            continue
        value = _check_weight(raw, errors, line, name if line is None else "weight")
        key = _key(name)
        if key in seen:
            where = f" (first on line {seen[key]})" if seen[key] is not None else ""
            column = name if line is None else "crime_type"
            errors.add(RowError(line, column, f"duplicate crime type{where}", name))
            continue
        seen[key] = line
        if value is not None:
            weights[name] = value
    if errors:
        raise InvalidInput(
            "invalid harm weight table: each row needs a crime type and a finite weight of at least 0",
            errors.errors,
            errors.total,
        )
    if not weights:
        raise InvalidInput("harm weight table is empty: give at least one crime type and its weight")
    if not any(v > 0 for v in weights.values()):
        raise InvalidInput("harm weight table has only zero weights: at least one must be more than 0")
    if fallback_value is None:
        fallback_value = _median_fallback(weights)
    return HarmWeights(weights, source, fallback_value)


def _validate_mapping(mapping: Mapping[Any, Any], *, source: str, fallback: object = None) -> HarmWeights:
    rows: list[tuple[str, object, int | None]] = []
    errors = ErrorCollector()
    for k, v in mapping.items():
        if not isinstance(k, str):
            errors.add(RowError(None, None, "crime type must be text", str(k)))
            continue
        rows.append((k, v, None))
    return _finish(rows, errors, source=source, fallback=fallback)


def _parse_json(text: str) -> HarmWeights:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"harm weight table is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    source = "user-supplied table"
    fallback: object = None
    if isinstance(data, dict) and isinstance(data.get("weights"), dict | list):
        extra = set(data) - {"weights", "fallback", "source"}
        if extra:
            raise InvalidInput(
                f"unexpected key(s) in harm weight table: {', '.join(sorted(extra))}; "
                "expected 'weights', 'fallback', 'source'"
            )
        if "source" in data:
            source = f"user-supplied table: {str(data['source'])[:500]}"
        fallback = data.get("fallback")
        data = data["weights"]
    if isinstance(data, dict):
        return _validate_mapping(data, source=source, fallback=fallback)
    if isinstance(data, list):
        rows: list[tuple[str, object, int | None]] = []
        errors = ErrorCollector()
        for i, item in enumerate(data):
            if not (isinstance(item, dict) and "crime_type" in item and "weight" in item):
                message = "expected an object with 'crime_type' and 'weight'"
                errors.add(RowError(None, f"item {i + 1}", message))
                continue
            rows.append((str(item["crime_type"]), item["weight"], None))
        return _finish(rows, errors, source=source, fallback=fallback)
    raise InvalidInput(
        "harm weight table JSON must be an object {crime type: weight}, "
        "{'weights': {...}, 'fallback': ..., 'source': ...} or a list of {'crime_type', 'weight'}"
    )


def _parse_csv(text: str) -> HarmWeights:
    reader = csv.reader(io.StringIO(text))
    lines = [(n, row) for n, row in enumerate(reader, start=1) if any(c.strip() for c in row)]
    if not lines:
        raise InvalidInput("harm weight table is empty: give at least one crime type and its weight")
    cat_col, w_col = 0, 1
    first_line, first = lines[0]
    if len(first) >= 2 and _number(first[1]) is None:
        header = [_key(c) for c in first]
        cat_col = next((i for i, h in enumerate(header) if h in {_key(x) for x in _CATEGORY_HEADERS}), 0)
        w_col = next((i for i, h in enumerate(header) if h in {_key(x) for x in _WEIGHT_HEADERS}), 1)
        if cat_col == w_col:
            raise InvalidInput("harm weight table header: crime type and weight columns must differ")
        lines = lines[1:]
    errors = ErrorCollector()
    rows: list[tuple[str, object, int | None]] = []
    width = max(cat_col, w_col) + 1
    for n, row in lines:
        if len(row) < width:
            errors.add(RowError(n, None, f"expected {width} columns (crime type, weight), got {len(row)}"))
            continue
        rows.append((row[cat_col], row[w_col], n))
    return _finish(rows, errors, source="user-supplied table")


def parse_harm_weights(text: str | bytes) -> HarmWeights:
    """Parse and validate a user-supplied harm table (JSON or CSV).

    Accepted forms
    --------------
    * JSON object ``{"Burglary": 370, "Robbery": 750, ...}``;
    * JSON ``{"weights": {...} or [...], "fallback": 10, "source": "our force matrix"}``;
    * JSON list ``[{"crime_type": "Burglary", "weight": 370}, ...]``;
    * CSV with two columns, crime type then weight, with or without a header
      (header names such as ``crime_type,weight`` pick the columns).

    The crime type ``"*"`` sets the fallback weight for crime types the table
    does not list; without it the fallback is the median of the table's
    weights. Weights are in any unit (DBSCAN ``min_samples`` is then in the
    same unit), must be finite and at least 0, and at least one must be
    positive. Categories that are not police.uk categories are allowed (other
    sources) and listed in :attr:`HarmWeights.not_police_uk`.

    Raises
    ------
    InvalidInput
        With one :class:`~hotspots.errors.RowError` per bad row (CSV line
        numbers are 1-based, header included).
    """
    if isinstance(text, bytes):
        if len(text) > MAX_TABLE_BYTES:
            raise InvalidInput(f"harm weight table is larger than {MAX_TABLE_BYTES} bytes")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput("harm weight table must be UTF-8 text") from exc
    if len(text) > MAX_TABLE_BYTES:
        raise InvalidInput(f"harm weight table is larger than {MAX_TABLE_BYTES} characters")
    text = text.lstrip("\ufeff")
    stripped = text.strip()
    if not stripped:
        raise InvalidInput("harm weight table is empty: give at least one crime type and its weight")
    if stripped[0] in "{[":
        return _parse_json(stripped)
    return _parse_csv(text)
