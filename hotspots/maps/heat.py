"""The heat layer's surface: a kernel density of incident locations on a grid in EPSG:27700,
coloured as an RGBA image (ColorBrewer Purples) for Leaflet's image overlay."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from pyproj import Transformer
from scipy.ndimage import gaussian_filter

from hotspots.crs import BNG, WGS84

WEB_MERCATOR = 3857


# Heat ramp: ColorBrewer Purples (single hue), drawn over the ward colours with rising opacity.
HEAT_STOPS: list[tuple[float, tuple[int, int, int]]] = [
    (0.0, (188, 189, 220)),
    (0.5, (117, 107, 177)),
    (1.0, (63, 0, 125)),
]


HEAT_LEVELS = 32


HEAT_MAX_ALPHA = 190


HEAT_MIN_SHOWN = 0.03  # share of the colour scale below which the heat layer is transparent


@dataclass(frozen=True)
class HeatSurface:
    """A kernel density surface on a grid that is regular in Web Mercator (EPSG:3857).

    Attributes
    ----------
    rgba:
        ``(rows, cols, 4)`` uint8 image, row 0 at the north edge; transparent
        where the density is about zero.
    bounds:
        ``[[lat_min, lon_min], [lat_max, lon_max]]`` of the grid's outer edges (WGS84).
    cell_m:
        Ground size of one cell in metres (at the centre of the grid).
    peak_per_km2:
        Highest density on the grid, incidents per km2.
    full_colour_per_km2:
        Density drawn with the darkest colour (higher values are clipped).
    """

    rgba: np.ndarray
    bounds: list[list[float]]
    cell_m: float
    peak_per_km2: float
    full_colour_per_km2: float


def heat_surface(
    x: np.ndarray,
    y: np.ndarray,
    extent: tuple[float, float, float, float],
    bandwidth_m: float = 150.0,
    max_cells: int = 480,
) -> HeatSurface | None:
    """Gaussian kernel density of incidents on a grid regular in Web Mercator.

    Incidents are first reduced to distinct locations weighted by their counts
    (police.uk points are snapped, so there are few). Both British National Grid
    and Web Mercator are conformal, so a circular kernel of ``bandwidth_m``
    metres in EPSG:27700 is, over a district, a circular kernel of
    ``bandwidth_m * k`` in EPSG:3857, where ``k`` is the ratio of the two scales
    measured at the centre of the grid (about 1.6 in London). The weighted
    locations are binned into the grid and convolved with that kernel.

    Parameters
    ----------
    x, y:
        Incident coordinates in EPSG:27700 (metres); NaN is ignored.
    extent:
        ``(minx, miny, maxx, maxy)`` in EPSG:27700 to cover; padded by three
        bandwidths.
    bandwidth_m:
        Kernel standard deviation in metres.
    max_cells:
        Most cells along the longer side of the grid; the cell is
        ``bandwidth / 3`` or larger.

    Returns
    -------
    HeatSurface or None
        ``None`` when there is no located incident.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    if not ok.any():
        return None
    locations, weights = np.unique(xs[ok] + 1j * ys[ok], return_counts=True)
    to_merc = transformer_for(BNG, WEB_MERCATOR)
    mx, my = to_merc.transform(locations.real, locations.imag)
    minx, miny, maxx, maxy = extent
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    (ax, bx), (ay, by) = to_merc.transform([cx, cx + 100.0], [cy, cy])
    k = math.hypot(bx - ax, by - ay) / 100.0  # Web Mercator units per ground metre here
    sigma = bandwidth_m * k
    left, bottom, right, top = to_merc.transform_bounds(minx, miny, maxx, maxy, densify_pts=11)
    left, bottom, right, top = left - 3 * sigma, bottom - 3 * sigma, right + 3 * sigma, top + 3 * sigma
    cell = max(sigma / 3.0, max(right - left, top - bottom) / max_cells)
    ncols = math.ceil((right - left) / cell)
    nrows = math.ceil((top - bottom) / cell)
    right, bottom = left + ncols * cell, top - nrows * cell
    col = np.floor((np.asarray(mx) - left) / cell).astype(np.int64)
    row = np.floor((top - np.asarray(my)) / cell).astype(np.int64)
    inside = (col >= 0) & (col < ncols) & (row >= 0) & (row < nrows)
    grid = np.bincount(
        row[inside] * ncols + col[inside], weights=weights[inside].astype(float), minlength=nrows * ncols
    ).reshape(nrows, ncols)
    smooth = gaussian_filter(grid, sigma=sigma / cell, mode="constant", truncate=3.0)
    cell_m = cell / k
    density = smooth / (cell_m * cell_m) * 1e6  # incidents per km2
    peak = float(density.max())
    shown = density[density > peak * 0.01]
    full = float(np.quantile(shown, 0.99)) if shown.size else peak
    full = full if full > 0 else 1.0
    rgba = _heat_rgba(density / full)
    to_wgs = transformer_for(WEB_MERCATOR, WGS84)
    (lon0, lon1), (lat0, lat1) = to_wgs.transform([left, right], [bottom, top])
    bounds = [[round(lat0, 6), round(lon0, 6)], [round(lat1, 6), round(lon1, 6)]]
    return HeatSurface(rgba=rgba, bounds=bounds, cell_m=cell_m, peak_per_km2=peak, full_colour_per_km2=full)


@cache
def transformer_for(src: int, dst: int) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def _heat_rgba(scaled: np.ndarray) -> np.ndarray:
    """Colour a density scaled to 0..1 (1 = full colour) as quantised RGBA."""
    v = np.clip(scaled, 0.0, 1.0)
    v = np.round(v * (HEAT_LEVELS - 1)) / (HEAT_LEVELS - 1)
    stops = np.array([t for t, _ in HEAT_STOPS])
    rgb = np.stack([np.interp(v, stops, [c[i] for _, c in HEAT_STOPS]) for i in range(3)], axis=-1)
    alpha = np.where(v < HEAT_MIN_SHOWN, 0.0, 40.0 + (HEAT_MAX_ALPHA - 40.0) * v)
    rgba = np.concatenate([rgb, alpha[..., None]], axis=-1)
    out: np.ndarray = np.round(rgba).astype(np.uint8)
    out[out[..., 3] == 0] = 0  # fully transparent pixels all alike: smaller PNG
    return out


def fmt_density(per_km2: float | None) -> str:
    return "n/a" if per_km2 is None else f"{per_km2:,.0f} incidents per km&sup2;"
