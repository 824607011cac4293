"""Bounds on the weight within ``eps`` of points, from a fine grid of cell weights.

DBSCAN needs, for each point, whether the weight within ``eps`` (itself included) reaches
``min_samples``. Counting every neighbour is what makes unsnapped data slow (a million points,
a thousand neighbours each), so :func:`hotspots.geo.clusters.dbscan.grid_dbscan` first settles
most points with bounds: a lower bound (cells wholly within ``eps``) at or above
``min_samples`` makes a point core, an upper bound (cells that come within ``eps``) below it
rules it out, and only the points in between are counted exactly.

:class:`FineGrid` sums the weights in square cells ``eps / FINE_CELLS_PER_EPS`` wide
(EPSG:27700 metres, like the points) and keeps running totals along each column of cells, so
the weight of a run of cells in one column is one subtraction. Two bounds from it:

* :meth:`FineGrid.cell_bounds`: the same bounds for every point of a cell (cells wholly
  within ``eps`` of anywhere in it, cells within ``eps`` of somewhere in it), worked out once
  per occupied cell: cheap, and enough for most points away from the threshold;
* :meth:`FineGrid.point_bounds`: the bounds for the point's own position, tighter.

Cells are taken a micrometre larger than they are, so rounding can only loosen the bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FINE_CELLS_PER_EPS = 8
"""Cells per ``eps`` of the grid."""

FINE_MAX_CELLS = 1 << 24
"""Largest grid built (beyond it, :meth:`FineGrid.build` gives ``None``)."""

_SLACK_M = 1e-6
"""Metres a point binned by rounding may sit outside its cell."""


@dataclass(frozen=True)
class FineGrid:
    """Weights of square cells ``h`` metres wide, with running totals per column of cells."""

    x0: float
    y0: float
    h: float
    eps: float
    nx: int
    ny: int
    ci: np.ndarray
    """Column of each point's cell."""
    cj: np.ndarray
    """Row of each point's cell."""
    totals: np.ndarray
    """``totals[i, j]``: weight of cells ``0 .. j - 1`` of column ``i`` (shape ``nx, ny + 1``)."""

    @classmethod
    def build(cls, x: np.ndarray, y: np.ndarray, weight: np.ndarray, eps: float) -> FineGrid | None:
        """The grid over the points' extent, or ``None`` beyond :data:`FINE_MAX_CELLS` cells."""
        h = eps / FINE_CELLS_PER_EPS
        x0, y0 = float(x.min()), float(y.min())
        nx = int((float(x.max()) - x0) // h) + 1
        ny = int((float(y.max()) - y0) // h) + 1
        if nx * ny > FINE_MAX_CELLS:
            return None
        ci = np.minimum(((x - x0) // h).astype(np.int64), nx - 1)
        cj = np.minimum(((y - y0) // h).astype(np.int64), ny - 1)
        totals = np.zeros((nx, ny + 1))
        cells = np.bincount(ci * ny + cj, weights=weight, minlength=nx * ny).reshape(nx, ny)
        totals[:, 1:] = np.cumsum(cells, axis=1)
        return cls(x0, y0, h, eps, nx, ny, ci, cj, totals)

    def _run_sum(self, col: np.ndarray, lo: np.ndarray, hi: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Weight of cells ``lo..hi`` (inclusive, clipped to the grid) of column ``col`` where ``ok``."""
        lo = np.clip(lo, 0, self.ny)
        hi = np.clip(hi + 1, 0, self.ny)
        ok = ok & (hi > lo) & (col >= 0) & (col < self.nx)
        c = np.where(ok, col, 0)
        return np.where(ok, self.totals[c, np.where(ok, hi, 0)] - self.totals[c, np.where(ok, lo, 0)], 0.0)

    def _limits(self) -> tuple[float, float]:
        """Squared distances below which a pair is surely within ``eps``, above which surely not."""
        return (self.eps * self.eps) * (1 - 1e-9), (self.eps * self.eps) * (1 + 1e-9)

    def cell_bounds(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds on the weight within ``eps`` of each point in ``rows``, by cell.

        For a point anywhere in cell (i, j), cell (i + di, j + dj) lies wholly within ``eps``
        when its far corner is, ``((|di| + 1) h)^2 + ((|dj| + 1) h)^2 <= eps^2``, and can hold
        a neighbour only when its near corner is, ``((|di| - 1) h)^2 + ((|dj| - 1) h)^2 <=
        eps^2`` (zero for an offset of at most one cell). For each column offset ``di`` both
        are one run of ``dj``, the same for every cell, summed from the running totals once
        per occupied cell.
        """
        h, s = self.h, 2 * _SLACK_M  # both cells may be a slack larger
        cells, inverse = np.unique(self.ci[rows] * self.ny + self.cj[rows], return_inverse=True)
        gi, gj = cells // self.ny, cells % self.ny
        inner, outer = self._limits()
        lower = np.zeros(len(cells))
        upper = np.zeros(len(cells))
        everywhere = np.ones(len(cells), dtype=bool)
        reach = math.ceil(self.eps / h) + 1
        for di in range(-reach, reach + 1):
            far_x = (abs(di) + 1) * h + s
            if far_x * far_x <= inner:
                span = math.floor((math.sqrt(inner - far_x * far_x) - s) / h) - 1
                if span >= 0:
                    lower += self._run_sum(gi + di, gj - span, gj + span, everywhere)
            near_x = max((abs(di) - 1) * h - s, 0.0)
            if near_x * near_x <= outer:
                span = math.floor((math.sqrt(outer - near_x * near_x) + s) / h) + 1
                upper += self._run_sum(gi + di, gj - span, gj + span, everywhere)
        inverse = inverse.ravel()
        return lower[inverse], upper[inverse]

    def point_bounds(self, x: np.ndarray, y: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds on the weight within ``eps`` of each point in ``rows``.

        Column by column of cells, the cells wholly within ``eps`` of the point (lower bound)
        and those that come within ``eps`` of it (upper bound) form one run of rows each.
        """
        h, x0, y0, slack = self.h, self.x0, self.y0, _SLACK_M
        px, py = x[rows], y[rows]
        pci = self.ci[rows]
        inner, outer = self._limits()
        lower = np.zeros(len(rows))
        upper = np.zeros(len(rows))
        reach = math.ceil(self.eps / h) + 1
        for di in range(-reach, reach + 1):
            col = pci + di
            left = x0 + col * h - slack
            right = x0 + (col + 1) * h + slack
            far_x = np.maximum(np.abs(px - left), np.abs(right - px))
            near_x = np.maximum(np.maximum(left - px, px - right), 0.0)
            # wholly within eps: every corner of the (enlarged) cell within eps
            r_in = np.sqrt(np.maximum(inner - far_x * far_x, 0.0))
            has_in = far_x * far_x <= inner
            lo_in = np.ceil((py - r_in - y0 + slack) / h).astype(np.int64)
            hi_in = np.floor((py + r_in - y0 - slack) / h).astype(np.int64) - 1
            lower += self._run_sum(col, lo_in, hi_in, has_in)
            # within eps somewhere: the nearest point of the (enlarged) cell within eps
            r_out = np.sqrt(np.maximum(outer - near_x * near_x, 0.0))
            has_out = near_x * near_x <= outer
            lo_out = np.floor((py - r_out - y0 - slack) / h).astype(np.int64) - 1
            hi_out = np.ceil((py + r_out - y0 + slack) / h).astype(np.int64)
            upper += self._run_sum(col, lo_out, hi_out, has_out)
        return lower, upper
