"""Distinct locations: police.uk snaps incidents to shared map points, so work per location."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Locations:
    """Distinct (x, y) locations and, for each input point, the index of its location.

    ``x``/``y`` are in the input's units (metres in EPSG:27700 throughout this project);
    ``counts[i]`` is how many input points sit on location ``i``; ``inverse`` maps
    each input point to its location, so ``x[inverse]`` recovers the input.
    """

    x: np.ndarray
    y: np.ndarray
    counts: np.ndarray
    inverse: np.ndarray

    @classmethod
    def from_xy(cls, x: np.ndarray, y: np.ndarray) -> Locations:
        """Group points with exactly equal coordinates (no tolerance: snapping is exact)."""
        xf = np.ascontiguousarray(x, dtype=np.float64)
        yf = np.ascontiguousarray(y, dtype=np.float64)
        key = xf + 1j * yf
        if len(key) and np.isfinite(key).all() and (xf != 0).all() and (yf != 0).all():
            # The same result as np.unique (ordered by x, then y), found faster: by sorting on x
            # when locations are mostly distinct, by hashing when they repeat (snapped data).
            # (a sample that repeats less than 1 in 50 is taken as exact, unsnapped coordinates)
            sample = key[:: max(1, len(key) // 16384)]
            if len(np.unique(sample)) > 0.98 * len(sample):
                return cls._by_sorting(xf, yf)
            codes, uniq = pd.factorize(key, sort=True)
            inverse = np.asarray(codes, dtype=np.int64)
            counts = np.bincount(inverse, minlength=len(uniq))
        else:  # NaN or signed zeros: np.unique's rules for them
            uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        return cls(uniq.real.copy(), uniq.imag.copy(), counts.astype(np.int64), inverse.ravel())

    @classmethod
    def _by_sorting(cls, x: np.ndarray, y: np.ndarray) -> Locations:
        order = np.argsort(x, kind="stable")
        xs = x[order]
        same = xs[1:] == xs[:-1]
        if same.any():  # runs of equal x: order each run by y as well
            in_run = np.zeros(len(x), dtype=bool)
            in_run[1:] |= same
            in_run[:-1] |= same
            at = np.flatnonzero(in_run)
            sub = order[at]
            order[at] = sub[np.lexsort((y[sub], x[sub]))]
            xs = x[order]
        ys = y[order]
        new = np.ones(len(x), dtype=bool)
        new[1:] = (xs[1:] != xs[:-1]) | (ys[1:] != ys[:-1])
        ids = np.cumsum(new) - 1
        inverse = np.empty(len(x), dtype=np.int64)
        inverse[order] = ids
        counts = np.bincount(ids)
        return cls(xs[new].copy(), ys[new].copy(), counts.astype(np.int64), inverse)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def sum_by_location(self, values: np.ndarray) -> np.ndarray:
        """Sum a per-point array into a per-location array."""
        return np.bincount(self.inverse, weights=values, minlength=len(self))
