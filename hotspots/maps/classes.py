"""Class breaks for choropleths: quantiles or natural breaks (Fisher-Jenks), and ColorBrewer
palettes safe for colour-blind readers."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

# ColorBrewer YlOrRd (sequential, colour-blind safe), by number of classes.
YLORRD: dict[int, list[str]] = {
    1: ["#fd8d3c"],
    2: ["#fecc5c", "#e31a1c"],
    3: ["#ffeda0", "#feb24c", "#f03b20"],
    4: ["#ffffb2", "#fecc5c", "#fd8d3c", "#e31a1c"],
    5: ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"],
    6: ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"],
    7: ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"],
}


@dataclass(frozen=True)
class ClassBreaks:
    """Choropleth classes: ``upper[i]`` is the inclusive upper bound of class ``i``."""

    upper: list[float]
    colours: list[str]
    labels: list[str]

    def colour(self, value: float) -> str:
        """Colour of the class that holds ``value`` (values above the top class get the top colour)."""
        i = int(np.searchsorted(np.asarray(self.upper), value, side="left"))
        return self.colours[min(i, len(self.colours) - 1)]


def class_breaks(
    values: Sequence[float] | np.ndarray, k: int = 5, method: Literal["quantile", "natural"] = "quantile"
) -> ClassBreaks:
    """Quantile or natural-breaks classes for non-negative values, merged where bounds coincide.

    Parameters
    ----------
    values:
        The counts or rates to classify (NaN ignored).
    k:
        Wanted number of classes (1 to 7); fewer when the data have fewer
        distinct values.
    method:
        ``"quantile"``: the upper bound of class ``i`` is the smallest value
        with at least ``(i + 1) / k`` of the data at or below it.
        ``"natural"``: Fisher-Jenks optimal breaks (``mapclassify.FisherJenks``),
        which minimise the spread of values within each class.

    Returns
    -------
    ClassBreaks
        Inclusive upper bounds, ColorBrewer YlOrRd colours and legend labels.
    """
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        arr = np.zeros(1)
    k = max(1, min(int(k), max(YLORRD)))
    ordered = np.sort(arr)
    distinct = np.unique(arr)
    if method == "natural" and distinct.size > k:
        import mapclassify  # only for natural breaks: its import costs more than the default's work

        with warnings.catch_warnings():  # "Numba not installed": the pure-Python path is fast enough here
            warnings.simplefilter("ignore", UserWarning)
            qs = np.asarray(mapclassify.FisherJenks(arr, k=k).bins, dtype=float)
    else:
        # Upper bound of class i: the smallest value with at least (i + 1) / k of the data at or below it.
        ranks = [max(math.ceil(ordered.size * (i + 1) / k - 1e-9), 1) - 1 for i in range(k)]
        qs = ordered[ranks]
    integer = bool(np.all(arr == np.round(arr)))
    upper = sorted({float(q) for q in qs})
    colours = YLORRD[len(upper)]
    labels = []
    low = float(arr.min())
    for up in upper:
        labels.append(_fmt_range(low, up, integer))
        low = up + 1 if integer else up
    return ClassBreaks(upper=upper, colours=colours, labels=labels)


def _fmt_range(low: float, high: float, integer: bool) -> str:
    fmt: Callable[[float], str] = (lambda v: f"{v:,.0f}") if integer else (lambda v: f"{v:,.2f}")
    if low >= high:
        return fmt(high)
    return f"{fmt(low)} to {fmt(high)}"
