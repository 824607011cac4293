"""A bounded load test of the cached read routes against a local server (loopback only).

Starts uvicorn on 127.0.0.1 with a temporary data directory (seeded with the shipped sample),
fills the caches with one request per route, then, route by route, runs 50 concurrent
clients (asyncio + httpx, one keep-alive connection each, each sending its next request as
soon as the last one is answered) for a fixed duration. Reports requests/s, p50/p95/p99
latency and errors, with PASS/MISS against p95 < 200 ms.

The load generator is written here (about sixty lines of asyncio) rather than taken from
locust, which is not a dependency of the project. Client and server share the machine:
on 2 cores the client's own work is part of every figure.

Run: ``python bench/load.py [--clients 50] [--duration 15]``, or ``bench/run.py --load``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from server import Server, serve

CLIENTS = 50
DURATION_S = 15.0
P95_TARGET_S = 0.200


@dataclass(frozen=True)
class Route:
    name: str
    path: str


ROUTES = [
    Route("map page (HTML)", "/maps/hotspots"),
    Route("hotspots (GeoJSON)", "/hotspots.geojson"),
    Route("hotspots (JSON table)", "/hotspots"),
    Route("OGC hotspots items", "/ogc/collections/hotspots/items?limit=100"),
    Route("OGC wards items", "/ogc/collections/wards/items?limit=100"),
]


@dataclass(frozen=True)
class RouteResult:
    route: Route
    requests: int
    errors: int
    seconds: float
    latencies: np.ndarray  # seconds, successful requests
    body_bytes: int  # of one response, as received (decoded)
    encoding: str
    server_cpu_s: float  # CPU time of the server process during the run

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.server_cpu_s / max(self.requests, 1)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if len(self.latencies) else float("nan")

    @property
    def passed(self) -> bool:
        return self.errors == 0 and len(self.latencies) > 0 and self.pct(95) < P95_TARGET_S


async def _client(
    client: httpx.AsyncClient, path: str, stop: float, latencies: list[float], errors: list[str]
) -> None:
    while time.perf_counter() < stop:
        start = time.perf_counter()
        try:
            response = await client.get(path)
            await response.aread()
            if response.status_code == 200:
                latencies.append(time.perf_counter() - start)
            else:
                errors.append(f"HTTP {response.status_code}")
        except httpx.HTTPError as exc:
            errors.append(type(exc).__name__)


async def hammer(server: Server, route: Route, clients: int, duration: float) -> RouteResult:
    """``clients`` concurrent clients requesting ``route`` for ``duration`` seconds."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60.0) as client:
        first = await client.get(route.path)  # cache warm-up, not counted
        first.raise_for_status()
        latencies: list[float] = []
        errors: list[str] = []
        cpu = server.cpu_seconds()
        start = time.perf_counter()
        stop = start + duration
        await asyncio.gather(*(_client(client, route.path, stop, latencies, errors) for _ in range(clients)))
        seconds = time.perf_counter() - start
        server_cpu = server.cpu_seconds() - cpu
    return RouteResult(
        route=route,
        requests=len(latencies) + len(errors),
        errors=len(errors),
        seconds=seconds,
        latencies=np.asarray(latencies),
        body_bytes=len(first.content),
        encoding=first.headers.get("content-encoding", "identity"),
        server_cpu_s=server_cpu,
    )


def run_load(clients: int = CLIENTS, duration: float = DURATION_S) -> list[RouteResult]:
    """Serve the seeded sample on loopback and load every route in turn."""
    results = []
    with tempfile.TemporaryDirectory(prefix="hotspots-load-") as tmp, serve(Path(tmp)) as server:
        for route in ROUTES:
            result = asyncio.run(hammer(server, route, clients, duration))
            results.append(result)
            print(_line(result), flush=True)
    return results


def _line(r: RouteResult) -> str:
    return (
        f"  {r.route.name:24} {r.rate:8.1f} req/s  p50 {r.pct(50) * 1000:7.1f} ms  "
        f"p95 {r.pct(95) * 1000:7.1f} ms  p99 {r.pct(99) * 1000:7.1f} ms  errors {r.errors}  "
        f"server CPU {r.cpu_ms_per_request:.1f} ms/request  "
        f"{'PASS' if r.passed else 'MISS'}"
    )


def load_section(report: list[str], clients: int = CLIENTS, duration: float = DURATION_S) -> None:
    """Run the load test; print it and append a table to ``report``."""
    print(
        f"\nload test: {clients} concurrent clients, {duration:.0f} s per route, cached results "
        f"(target p95 < {P95_TARGET_S * 1000:.0f} ms, no errors)"
    )
    results = run_load(clients, duration)
    report += [
        "## Load test",
        "",
        f"`bench/load.py`: uvicorn (one process) on 127.0.0.1 serving the shipped sample (whole period, "
        f"default parameters, anonymous viewer); {clients} concurrent asyncio/httpx clients with keep-alive "
        f"connections, {duration:.0f} s per route after one warm-up request; client and server on the "
        "same 2-core machine. Target: p95 < 200 ms for cached results, no errors.",
        "",
        "| route | path | body | requests | req/s | p50 | p95 | p99 | errors | server CPU per request "
        "| p95 < 200 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        *(
            f"| {r.route.name} | `{r.route.path}` | {r.body_bytes / 1e3:,.0f} kB ({r.encoding}) | "
            f"{r.requests:,} | {r.rate:,.1f} | {r.pct(50) * 1000:.1f} ms | {r.pct(95) * 1000:.1f} ms | "
            f"{r.pct(99) * 1000:.1f} ms | {r.errors} | {r.cpu_ms_per_request:.1f} ms | "
            f"{'PASS' if r.passed else 'MISS'} |"
            for r in results
        ),
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--duration", type=float, default=DURATION_S, help="seconds per route")
    args = parser.parse_args()
    report: list[str] = []
    load_section(report, args.clients, args.duration)
    print("\n".join(report))


if __name__ == "__main__":
    main()
