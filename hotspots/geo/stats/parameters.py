"""Parameter help for DBSCAN: the k-distance curve and a suggested ``eps``.

Coordinates are British National Grid (EPSG:27700) and every distance is in
metres.

Convention (scikit-learn's): ``min_samples`` counts the point itself. The
*k-distance* of an incident is the smallest radius ``r`` such that the
incidents within ``r`` metres of it, itself and any co-located ones included,
number at least ``k`` (with weights: weigh at least ``k``). For ``k = 1`` it is
0; otherwise it is the distance to the ``(k-1)``-th nearest *other* incident.
So with ``k = min_samples`` an incident is a DBSCAN core point exactly when its
k-distance is at most ``eps``, and the sorted curve shows, for every ``eps``,
how many incidents would be cores.

Police.uk snaps incidents to shared map points: a location holding ``c``
incidents gives each of them ``c - 1`` other incidents at distance 0. The
computation works on the distinct locations with their counts (or summed
weights) and is identical to the brute-force one on the raw points.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from hotspots.errors import InvalidInput
from hotspots.geo.clusters.dbscan import DEFAULT_EPS_M
from hotspots.geo.clusters.locations import Locations

EPS_MIN_M = 25.0
"""Smallest ``eps`` suggested (metres): below this, snapping to street points dominates."""

EPS_MAX_M = 500.0
"""Largest ``eps`` suggested (metres): beyond this, clusters stop being street-scale hotspots."""

MAX_PLOT_POINTS = 500
"""At most this many points of the curve go to the API/plot."""

_QUERY_CELLS = 4_000_000
"""Neighbour-table entries per cKDTree query chunk (bounds memory to about 100 MB)."""

KNEE_TRIM_PERCENTILE = 99.0
"""k-distances above this percentile (the most isolated incidents) are left out of the knee search."""

KNEE_RULE = (
    "Kneedle: on the k-distance curve sorted in descending order, leaving out incidents with k-distance 0 "
    "(cores at any eps) and the top 1% (isolated incidents, which would set the scale), with both axes "
    "scaled to [0, 1], the knee is the point farthest below the straight line joining the curve's ends; "
    "eps is clamped to [25, 500] m. The knee separates isolated incidents from the rest: it is an upper "
    "guide for hotspot mapping, where hotspots are a small share of places."
)


def _check_k(k: float) -> None:
    if not (math.isfinite(k) and 0 < k <= 10_000_000):
        raise InvalidInput(f"k must be a positive number (the DBSCAN min_samples), got {k}")


def location_k_distances(locs: Locations, mass: np.ndarray, k: float) -> np.ndarray:
    """k-distance (metres) of each distinct location, ``inf`` where the whole data holds less than ``k``.

    Every incident at a location has the same neighbourhood, so the same
    k-distance: the distance to the nearest distinct location at which the
    cumulative ``mass`` (incident counts or summed weights) of the locations
    sorted by distance, the location itself first, reaches ``k``.

    Parameters
    ----------
    locs:
        Distinct locations, coordinates in metres (EPSG:27700).
    mass:
        Non-negative count or total weight per location.
    k:
        Threshold in the units of ``mass`` (``min_samples``).
    """
    n_loc = len(locs)
    out = np.full(n_loc, np.inf)
    if n_loc == 0:
        return out
    xy = np.column_stack([locs.x, locs.y])
    tree = cKDTree(xy)
    mass = np.asarray(mass, dtype=np.float64)
    # Query the m nearest locations, doubling m for the locations not yet resolved. When every
    # location holds at least 1 (counts), the ceil(k) nearest locations always suffice.
    enough = min(n_loc, max(1, math.ceil(k))) if bool(np.all(mass >= 1)) else n_loc
    m = min(enough, 16)
    pending = np.arange(n_loc)
    while len(pending):
        chunk = max(1, _QUERY_CELLS // m)
        unresolved: list[np.ndarray] = []
        for start in range(0, len(pending), chunk):
            rows = pending[start : start + chunk]
            dist, idx = tree.query(xy[rows], k=m)
            dist = dist.reshape(len(rows), m)
            idx = idx.reshape(len(rows), m)
            reached = np.cumsum(mass[idx], axis=1) >= k
            ok = reached.any(axis=1)
            first = reached.argmax(axis=1)
            out[rows[ok]] = dist[ok, first[ok]]
            unresolved.append(rows[~ok])
        pending = np.concatenate(unresolved) if unresolved else np.empty(0, dtype=np.intp)
        if m >= enough:
            break  # the whole data holds less than k around these: they stay inf
        m = min(enough, 2 * m)
    return out


def k_distances(x: np.ndarray, y: np.ndarray, k: float, weights: np.ndarray | None = None) -> np.ndarray:
    """k-distance of every incident, sorted in descending order (metres, EPSG:27700).

    Parameters
    ----------
    x, y:
        Incident coordinates in metres (EPSG:27700); exact duplicates allowed.
    k:
        ``min_samples``: incidents (or harm units when ``weights`` are given)
        an incident's neighbourhood must hold, itself included.
    weights:
        Optional non-negative weight per incident (e.g. harm); default 1.

    Returns
    -------
    numpy.ndarray
        One value per incident, largest first; ``inf`` where all the data
        together hold less than ``k``.
    """
    _check_k(k)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) == 0:
        return np.empty(0)
    locs = Locations.from_xy(x, y)
    if weights is None:
        mass = locs.counts.astype(np.float64)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != x.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise InvalidInput("weights must be one finite non-negative number per incident")
        mass = locs.sum_by_location(w)
    per_location = location_k_distances(locs, mass, k)
    return np.sort(per_location[locs.inverse])[::-1]


def _clamp(eps: float) -> float:
    return float(min(EPS_MAX_M, max(EPS_MIN_M, eps)))


def knee_index(descending: np.ndarray) -> int | None:
    """Index of the knee of a descending curve (Kneedle), or ``None`` if it has no shape.

    Both axes are scaled to [0, 1]; the knee is the point farthest below the
    chord from the first to the last point (``argmax((1 - x) - y)``).
    """
    v = np.asarray(descending, dtype=np.float64)
    n = len(v)
    if n < 3 or not v[0] > v[-1]:
        return None
    xs = np.linspace(0.0, 1.0, n)
    ys = (v - v[-1]) / (v[0] - v[-1])
    return int(np.argmax((1.0 - xs) - ys))


def suggest_eps(kdist: np.ndarray) -> float:
    """Suggested DBSCAN ``eps`` in metres: the knee of the k-distance curve, clamped to [25, 500].

    Rule (:data:`KNEE_RULE`): keep the finite, positive k-distances (an
    incident with k-distance 0 has ``k`` incidents at its own location and is
    a core at any ``eps``: it says nothing about the radius), drop those above
    the 99th percentile (a handful of isolated incidents kilometres away
    would otherwise squash the rest of the curve and pull the knee into the
    tail), sort them in descending order and take the value at the Kneedle knee - the point
    farthest below the chord joining the ends of the curve with both axes
    scaled to [0, 1]. Left of the knee the distances fall steeply (sparse
    incidents: noise); right of it they flatten (incidents in dense places).
    With fewer than 3 usable values or a flat curve, returns the clamped
    median, or :data:`~hotspots.geo.clusters.dbscan.DEFAULT_EPS_M` when there is none.
    """
    v = np.asarray(kdist, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    if len(v) == 0:
        return _clamp(DEFAULT_EPS_M)
    v = np.sort(v[v <= np.percentile(v, KNEE_TRIM_PERCENTILE)])[::-1]
    i = knee_index(v)
    if i is None:
        return _clamp(float(np.median(v)))
    return _clamp(float(v[i]))


def _subsample(n: int, max_points: int) -> np.ndarray:
    """Evenly spaced indices into ``range(n)``, first and last included."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


def k_distance_json(
    x: np.ndarray,
    y: np.ndarray,
    k: float,
    weights: np.ndarray | None = None,
    *,
    max_points: int = MAX_PLOT_POINTS,
    current_eps_m: float | None = None,
) -> dict[str, Any]:
    """The k-distance curve and suggested ``eps`` for the API.

    Returns
    -------
    dict
        ``k``; ``n`` (incidents); ``n_unreachable`` (incidents whose k-distance
        is infinite, left out of the curve); ``rank`` and ``distances_m``, the
        curve (descending, metres) subsampled to at most ``max_points`` points
        with the incident rank of each; ``suggested_eps_m``; ``core_share_at_eps``
        (share of incidents that would be cores at the suggested eps, and at
        ``current_eps_m`` if given); ``rule``, ``units``, ``crs``.
    """
    kd = k_distances(x, y, k, weights)
    finite = np.isfinite(kd)
    n_unreachable = int((~finite).sum())
    curve = kd[finite]
    idx = _subsample(len(curve), max(2, max_points))
    eps = suggest_eps(kd)
    out: dict[str, Any] = {
        "k": k,
        "weighted": weights is not None,
        "n": int(len(kd)),
        "n_unreachable": n_unreachable,
        "rank": (idx + n_unreachable).tolist(),
        "distances_m": [round(float(d), 1) for d in curve[idx]],
        "suggested_eps_m": round(eps, 1),
        "core_share_at_suggested_eps": float((kd <= eps).mean()) if len(kd) else None,
        "rule": KNEE_RULE,
        "units": "metres",
        "crs": "EPSG:27700",
    }
    if current_eps_m is not None:
        out["current_eps_m"] = current_eps_m
        out["core_share_at_current_eps"] = float((kd <= current_eps_m).mean()) if len(kd) else None
    return out


def k_distance_png(
    x: np.ndarray,
    y: np.ndarray,
    k: float,
    weights: np.ndarray | None = None,
    *,
    current_eps_m: float | None = None,
    width_px: int = 800,
    height_px: int = 450,
    relative: bool = False,
) -> bytes:
    """PNG plot of the k-distance curve with the suggested ``eps`` marked (and the current one if given).

    ``relative`` puts the share of incidents (0 to 1) on the x axis instead of their rank, so
    the plot does not show how many incidents there are (for disclosure-controlled callers).

    Drawn with matplotlib's Agg canvas on a private ``Figure`` (no pyplot
    global state, safe in a web server thread).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    kd = k_distances(x, y, k, weights)
    finite = kd[np.isfinite(kd)]
    eps = suggest_eps(kd)
    dpi = 100
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    idx = _subsample(len(finite), 2000)
    xs = idx / max(len(finite) - 1, 1) if relative else idx
    ax.plot(xs, finite[idx], color="#1f4e79", linewidth=1.5, label="k-distance")
    unit = "harm units" if weights is not None else "incidents"
    ax.axhline(eps, color="#c0392b", linestyle="--", linewidth=1.2, label=f"suggested eps = {eps:.0f} m")
    if current_eps_m is not None:
        ax.axhline(
            current_eps_m,
            color="#7f8c8d",
            linestyle=":",
            linewidth=1.2,
            label=f"current eps = {current_eps_m:g} m",
        )
    ax.set_xlabel(
        "Share of incidents, sorted by k-distance (largest first)"
        if relative
        else "Incidents, sorted by k-distance (largest first)"
    )
    ax.set_ylabel("Distance to reach k (m, EPSG:27700)")
    ax.set_title(f"k-distance plot, k = min_samples = {k:g} {unit}")
    top = float(np.percentile(finite, 99.5)) if len(finite) else 1.0
    ax.set_ylim(0, max(top, eps, current_eps_m or 0.0) * 1.1 or 1.0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
