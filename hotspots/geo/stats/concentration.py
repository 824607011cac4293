"""Crime concentration ("the power few"): how much of the crime and harm the busiest places hold.

A *place* is a distinct incident location (police.uk snaps every incident to one of about
750,000 map points, street centres and public places, so a location is a street-scale place).
Places are ranked by incidents (and, separately, by harm); the share of all incidents (harm)
held by the top 1%, 5% and 10% of places, the whole curve (share of places against cumulative
share of incidents or harm, a Lorenz-style curve) and the smallest share of places holding
half of it are reported, with the literature's figures beside them:

* the law of crime concentration (Weisburd 2015, Criminology 53(2)): about 50% of crime in
  a small share of street segments, about 2-6% (hotspot policing studies: "about 50% of crime
  in under 5% of places");
* harm concentrates further: 50% of harm in about 1% of street segments (Weinborn, Ariel,
  Sherman and O'Dwyer 2017, Applied Geography 86).

Only places with at least one incident exist in the data, so shares are of the places where
anything happened (the literature divides by all street segments, most of which have none):
the figures here understate concentration against those denominators. Incidents inside the
area only; coordinates in EPSG:27700.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

TOP_SHARES = (0.01, 0.05, 0.10)
CURVE_POINTS = 101
"""Points of the curve: the share of places from 0% to 100% in steps of 1%."""
LITERATURE = [
    {
        "measure": "incidents",
        "share_of_places": 0.05,
        "share": 0.50,
        "text": "about 50% of crime in under 5% of places (the law of crime concentration, Weisburd 2015)",
    },
    {
        "measure": "harm",
        "share_of_places": 0.01,
        "share": 0.50,
        "text": "50% of harm in about 1% of street segments (Weinborn et al. 2017)",
    },
]
PLACES_RULE = (
    "a place is a distinct incident location (police.uk snaps incidents to street-scale map points); "
    "shares are of the places with at least one incident inside the area"
)


def concentration(x: np.ndarray, y: np.ndarray, harm: np.ndarray | None = None) -> dict[str, Any]:
    """Concentration of incidents (and harm) over places.

    Parameters
    ----------
    x, y:
        Incident coordinates in metres (EPSG:27700), inside the area; equal coordinates are one place.
    harm:
        Harm weight per incident (e.g. Cambridge Crime Harm Index days), or ``None``.

    Returns
    -------
    dict
        JSON-ready: ``places``, ``incidents``, ``harm_total``; ``incidents_share``/``harm_share``
        each ``{"top_1pct", "top_5pct", "top_10pct", "places_for_half", "curve"}`` (shares 0..1;
        ``curve`` is :data:`CURVE_POINTS` cumulative shares at 0%, 1%, ..., 100% of places), the
        ``sentence``, the ``literature`` reference points and the ``rule``.
    """
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    out: dict[str, Any] = {
        "places": 0,
        "incidents": int(len(xa)),
        "harm_total": None,
        "incidents_share": None,
        "harm_share": None,
        "sentence": None,
        "literature": LITERATURE,
        "rule": PLACES_RULE,
        "protected": False,
    }
    if not len(xa):
        return out
    place = _places(xa, ya)
    counts = np.bincount(place).astype(float)
    out["places"] = int(len(counts))
    out["incidents_share"] = _shares(counts)
    if harm is not None:
        weights = np.nan_to_num(np.asarray(harm, dtype=float), nan=0.0)
        per_place = np.bincount(place, weights=weights)
        out["harm_total"] = round(float(per_place.sum()), 1)
        out["harm_share"] = _shares(per_place) if per_place.sum() > 0 else None
    out["sentence"] = concentration_sentence(out)
    return out


def _places(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A place code (0..places-1) per incident: equal coordinates, equal code."""
    from hotspots.geo.clusters.locations import Locations

    return Locations.from_xy(x, y).inverse


def _shares(values: np.ndarray) -> dict[str, Any]:
    ranked = np.sort(values)[::-1]
    total = float(ranked.sum())
    cum = np.concatenate([[0.0], np.cumsum(ranked)]) / total if total > 0 else np.zeros(len(ranked) + 1)
    n = len(ranked)

    def held(share_of_places: float) -> float:
        """Share held by the top ``share_of_places`` of places (interpolated between whole places)."""
        pos = share_of_places * n
        lo = int(math.floor(pos))
        if lo >= n:
            return float(cum[n])
        return float(cum[lo] + (pos - lo) * (cum[lo + 1] - cum[lo]))

    half = int(np.searchsorted(cum, 0.5 - 1e-12, side="left"))  # fewest places holding half
    return {
        **{f"top_{round(p * 100)}pct": held(p) for p in TOP_SHARES},
        "places_for_half": half / n if n else None,
        "curve": [round(held(i / (CURVE_POINTS - 1)), 4) for i in range(CURVE_POINTS)],
    }


def concentration_sentence(c: Mapping[str, Any] | None) -> str | None:
    """E.g. "Half of the incidents are at 6% of places, and half of the harm at 2% of places (...)"."""
    if not isinstance(c, Mapping) or not isinstance(c.get("incidents_share"), Mapping):
        return None
    inc = c["incidents_share"].get("places_for_half")
    if inc is None:
        return None
    text = f"Half of the incidents are at {_pct(inc)} of places"
    harm = c.get("harm_share")
    if isinstance(harm, Mapping) and harm.get("places_for_half") is not None:
        text += f", and half of the harm at {_pct(harm['places_for_half'])} of places"
    top = c["incidents_share"].get("top_5pct")
    if top is not None:
        text += f"; the busiest 5% of places hold {_pct(top)} of incidents"
    return text + " (literature: about half of crime in under 5% of places; half of harm in about 1%)."


def _pct(share: float) -> str:
    value = 100.0 * float(share)
    if 0 < value < 1:
        return "under 1%"
    return f"{value:.0f}%"


def protect_concentration(
    c: Mapping[str, Any] | None, shown_total: float | None, k: int
) -> dict[str, Any] | None:
    """What a protected view may see: shares rounded to whole percent, the place count withheld,
    and everything withheld when the protected incident total is under ``100 * k`` (then 1% of
    the incidents is fewer than ``k``, and a whole-percent share could pin down a small count)."""
    if not isinstance(c, Mapping):
        return None
    out = dict(c)
    out["protected"] = True
    out["places"] = None
    out["incidents"] = None if shown_total is None or not math.isfinite(shown_total) else int(shown_total)
    out["harm_total"] = None
    if out["incidents"] is None or out["incidents"] < 100 * k:
        out["incidents_share"] = None
        out["harm_share"] = None
        out["sentence"] = None
        out["withheld"] = (
            f"fewer than {100 * k} incidents: concentration shares are withheld (disclosure control)"
        )
        return out
    for key in ("incidents_share", "harm_share"):
        shares = c.get(key)
        if isinstance(shares, Mapping):
            out[key] = {
                name: (
                    [round(v, 2) for v in value]
                    if isinstance(value, list)
                    else None
                    if value is None
                    else round(float(value), 2)
                )
                for name, value in shares.items()
            }
    out["sentence"] = concentration_sentence(out)
    out["rounding"] = "shares rounded to whole percent (disclosure control)"
    return out
