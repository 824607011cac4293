"""Synthetic police.uk-like street-level CSVs for benchmarks, with a fixed seed.

Points lie inside the tri-borough outline (the shipped ``wards-2018`` set, EPSG:27700)
and are written as WGS84 longitude/latitude with 6 decimal places, in the 12-column
police.uk layout, one file per month (as police.uk publishes them).

* ``snapped``: like real police.uk data. About ``n / 25`` map points; each incident sits
  exactly on one of them. Map points are clustered around a few hundred centres (plus a
  uniform background) and their incident counts are heavy-tailed (lognormal weights,
  multinomial counts), so a few points hold hundreds of incidents and most hold a few.
* ``unsnapped``: exact coordinates (e.g. a council's own log): every incident has its own
  point, Gaussian-clustered around the same kind of centres, plus a uniform background.

Usage: ``python bench/synthetic.py 1m --mode snapped --out DIR`` (sizes like 100k, 1m, 10m).
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely

from hotspots.crs import BNG, WGS84, transform

SEED = 20240601
HEADER = [
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
]
FORCE = "Metropolitan Police Service"
# police.uk's 14 categories with rough national shares.
CRIME_TYPES = {
    "Anti-social behaviour": 0.30,
    "Violence and sexual offences": 0.30,
    "Public order": 0.06,
    "Criminal damage and arson": 0.06,
    "Shoplifting": 0.05,
    "Other theft": 0.05,
    "Vehicle crime": 0.04,
    "Burglary": 0.03,
    "Drugs": 0.03,
    "Other crime": 0.02,
    "Theft from the person": 0.02,
    "Robbery": 0.02,
    "Bicycle theft": 0.01,
    "Possession of weapons": 0.01,
}
OUTCOMES = [
    "Investigation complete; no suspect identified",
    "Unable to prosecute suspect",
    "Under investigation",
    "Status update unavailable",
    "Awaiting court outcome",
    "Local resolution",
    "Offender given a caution",
]
STREETS = [
    "High",
    "Station",
    "Church",
    "Victoria",
    "Green",
    "Manor",
    "Park",
    "Queens",
    "Kings",
    "Mill",
    "London",
    "North",
    "South",
    "Grange",
    "Oak",
    "Elm",
    "Hatch",
    "Gibbfield",
    "Beansland",
    "Valence",
]
SUFFIXES = ["Road", "Street", "Avenue", "Close", "Grove", "Lane", "Way", "Gardens", "Drive", "Crescent"]
N_CENTRES = 500


def parse_size(text: str) -> int:
    """``"100k"`` -> 100_000, ``"1m"`` -> 1_000_000, ``"2500"`` -> 2500."""
    t = text.strip().lower().replace("_", "")
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def size_label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def _outline() -> shapely.Geometry:
    from hotspots.boundaries import shipped_boundary_sets

    area = shipped_boundary_sets()["wards-2018"].outline
    shapely.prepare(area)
    return area


def _uniform_in(area: shapely.Geometry, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = area.bounds
    return _inside(area, n, 2.0, lambda m: (rng.uniform(x0, x1, m), rng.uniform(y0, y1, m)))


def _clustered_in(
    area: shapely.Geometry,
    n: int,
    centres: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    cx, cy, sigma, weight = centres
    p = weight / weight.sum()

    def draw(m: int) -> tuple[np.ndarray, np.ndarray]:
        k = rng.choice(len(cx), size=m, p=p)
        x = cx[k] + rng.normal(0.0, 1.0, m) * sigma[k]
        y = cy[k] + rng.normal(0.0, 1.0, m) * sigma[k]
        return x, y

    return _inside(area, n, 1.3, draw)


def _inside(
    area: shapely.Geometry,
    n: int,
    oversample: float,
    draw: Callable[[int], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of ``draw`` that fall inside ``area`` (rejection sampling, in order)."""
    xs, ys, got = [], [], 0
    while got < n:
        x, y = draw(int((n - got) * oversample) + 16)
        keep = shapely.contains_xy(area, x, y)
        xs.append(x[keep])
        ys.append(y[keep])
        got += int(keep.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _centres(
    area: shapely.Geometry, rng: np.random.Generator, sigma: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    cx, cy = _uniform_in(area, N_CENTRES, rng)
    return cx, cy, rng.uniform(*sigma, N_CENTRES), rng.lognormal(0.0, 0.5, N_CENTRES)


def _fixed6(values: np.ndarray) -> pa.Array:
    """Decimal degrees as text with exactly 6 decimal places (no exponent form)."""
    micro = np.rint(np.asarray(values) * 1e6).astype(np.int64)
    sign = np.where(micro < 0, "-", "")
    a = np.abs(micro)
    whole = pc.cast(pa.array(a // 1_000_000), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(a % 1_000_000), pa.string()), 6, "0")
    return pc.binary_join_element_wise(pa.array(sign), pc.binary_join_element_wise(whole, frac, "."), "")


def _hex_ids(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random 64-character lower-case hex strings (police.uk crime IDs), as bytes."""
    table = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2").view(np.uint16)
    raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    return np.ascontiguousarray(table[raw]).view("S64").ravel()


def _points_meta(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[pa.Array, ...]:
    """Longitude, latitude, location, LSOA code and name for each point (text)."""
    lon, lat = transform(x, y, BNG, WGS84)
    lon = np.round(lon, 6)
    lat = np.round(lat, 6)
    streets = np.array([f"On or near {s} {f}" for s in STREETS for f in SUFFIXES], dtype=object)
    # a street per 150 m square, an LSOA per 600 m square: plausible repetition for the text columns
    sx = ((x - 539000) // 150).astype(np.int64)
    sy = ((y - 178000) // 150).astype(np.int64)
    street = streets[(sx * 7919 + sy * 104729) % len(streets)]
    lx = ((x - 539000) // 600).astype(np.int64)
    ly = ((y - 178000) // 600).astype(np.int64)
    lsoa = lx * 40 + ly
    boroughs = np.array(["Barking and Dagenham", "Havering", "Redbridge"], dtype=object)
    code = pc.binary_join_element_wise(
        "E01", pc.utf8_lpad(pc.cast(pa.array(lsoa + 1000), pa.string()), 6, "0"), ""
    )
    letter = np.array(list("ABCDE"), dtype=object)[lsoa % 5]
    number = pc.utf8_lpad(pc.cast(pa.array(lsoa // 5 % 200 + 1), pa.string()), 3, "0")
    name = pc.binary_join_element_wise(pa.array(boroughs[lsoa % 3]), number, pa.array(letter), "")
    name = pc.replace_substring_regex(name, r"^(\D+?)(\d)", r"\1 \2")
    return _fixed6(lon), _fixed6(lat), pa.array(street, pa.string()), code, name


def _write_month(
    path: Path,
    month: str,
    point_rows: np.ndarray,
    meta: tuple[pa.Array, ...],
    rng: np.random.Generator,
) -> None:
    n = len(point_rows)
    names = list(CRIME_TYPES)
    probs = np.array(list(CRIME_TYPES.values()))
    kind = rng.choice(len(names), size=n, p=probs / probs.sum())
    asb = kind == 0
    ids = np.full(n, b"", dtype="S64")
    ids[~asb] = _hex_ids(int((~asb).sum()), rng)
    outcome = np.array(OUTCOMES, dtype=object)[rng.integers(0, len(OUTCOMES), n)]
    outcome[asb] = ""
    take = pa.array(point_rows)
    lon, lat, street, code, name = (m.take(take) for m in meta)
    table = pa.table(
        [
            pa.array(ids).cast(pa.string()),
            pa.array(np.full(n, month, dtype=object), pa.string()),
            pa.array(np.full(n, FORCE, dtype=object), pa.string()),
            pa.array(np.full(n, FORCE, dtype=object), pa.string()),
            lon,
            lat,
            street,
            code,
            name,
            pa.array(np.array(names, dtype=object)[kind], pa.string()),
            pa.array(outcome, pa.string()),
            pa.array(np.full(n, "", dtype=object), pa.string()),
        ],
        names=HEADER,
    )
    with open(path, "wb") as fh:
        fh.write((",".join(HEADER) + "\n").encode())
        options = pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=1 << 16)
        pacsv.write_csv(table, fh, options)


def generate(n: int, out: Path, *, mode: str = "snapped", months: int = 12, seed: int = SEED) -> list[Path]:
    """Write ``n`` incidents as ``months`` monthly police.uk CSVs under ``out``; return the paths.

    Files are written to a temporary folder first and moved into place, so a folder that
    exists is complete. The same ``n``, ``mode``, ``months`` and ``seed`` give the same bytes.
    """
    if mode not in ("snapped", "unsnapped"):
        raise ValueError("mode must be 'snapped' or 'unsnapped'")
    out = Path(out)
    if out.is_dir():
        return sorted(out.glob("*.csv"))
    rng = np.random.default_rng([seed, n, 0 if mode == "snapped" else 1])
    area = _outline()
    if mode == "snapped":
        n_points = max(1, n // 25)
        n_clustered = int(n_points * 0.5)
        centres = _centres(area, rng, (30.0, 100.0))
        cx, cy = _clustered_in(area, n_clustered, centres, rng)
        ux, uy = _uniform_in(area, n_points - n_clustered, rng)
        x = np.concatenate([cx, ux])
        y = np.concatenate([cy, uy])
        weight = rng.lognormal(0.0, 1.3, n_points)
        weight[:n_clustered] *= 3.0
        counts = rng.multinomial(n, weight / weight.sum())
        rows = np.repeat(np.arange(n_points), counts)
        rng.shuffle(rows)
    else:
        n_clustered = int(n * 0.5)
        centres = _centres(area, rng, (30.0, 120.0))
        cx, cy = _clustered_in(area, n_clustered, centres, rng)
        ux, uy = _uniform_in(area, n - n_clustered, rng)
        x = np.concatenate([cx, ux])
        y = np.concatenate([cy, uy])
        rows = rng.permutation(n)
    meta = _points_meta(x, y, rng)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    paths = []
    bounds = np.linspace(0, n, months + 1).astype(np.int64)
    for i in range(months):
        year, mon = 2019 + i // 12, i % 12 + 1
        month = f"{year}-{mon:02d}"
        path = tmp / f"{month}-metropolitan-street.csv"
        _write_month(path, month, rows[bounds[i] : bounds[i + 1]], meta, rng)
        paths.append(out / path.name)
    os.replace(tmp, out)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("size", help="number of incidents, e.g. 100k, 1m, 10m")
    parser.add_argument("--mode", choices=["snapped", "unsnapped"], default="snapped")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, required=True, help="folder to create")
    args = parser.parse_args()
    paths = generate(parse_size(args.size), args.out, mode=args.mode, months=args.months, seed=args.seed)
    print("\n".join(str(p) for p in paths))


if __name__ == "__main__":
    main()
