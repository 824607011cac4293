"""Distinct locations: police.uk snaps incidents to shared map points, so work per location."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
        key = np.asarray(x, dtype=np.float64) + 1j * np.asarray(y, dtype=np.float64)
        uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        return cls(uniq.real.copy(), uniq.imag.copy(), counts.astype(np.int64), inverse.ravel())

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def sum_by_location(self, values: np.ndarray) -> np.ndarray:
        """Sum a per-point array into a per-location array."""
        return np.bincount(self.inverse, weights=values, minlength=len(self))
