"""A bounded load test of the cached read routes against a local server (loopback only).

Starts uvicorn on 127.0.0.1 with a temporary data directory (seeded with the shipped sample),
fills the caches with one request per route, then, route by route, runs 50 concurrent
clients (asyncio + httpx, one keep-alive connection each, each sending its next request as
soon as the last one is answered) for a fixed duration. Reports requests/s, p50/p95/p99
latency and errors, with PASS/MISS against p95 and p99 < 200 ms. Then the same again, route by
route, while ``--uncached`` more clients (default 2) keep asking for analyses never asked before
(a slow analysis must not stall cached requests), and the length of a full garbage collection in
a process serving the sample, with and without the start-up objects frozen.

The load generator is written here (a minimal keep-alive HTTP/1.1 client on asyncio streams,
about eighty lines) rather than taken from locust, which is not a dependency of the project,
and rather than httpx, whose own CPU time per request was larger than the server's. Client
and server share the machine: on 2 cores the client's work is part of every figure, so the
CPU time per request of each is reported next to the latencies.

Run: ``python bench/load.py [--clients 50] [--duration 15] [--uncached 2]``, or ``bench/run.py --load``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from server import Server, serve

CLIENTS = 50
DURATION_S = 15.0
P95_TARGET_S = 0.200
P99_TARGET_S = 0.200
UNCACHED_CLIENTS = 2
"""Clients asking for uncached analyses (new parameters each time) during the contention run."""


@dataclass(frozen=True)
class Route:
    name: str
    path: str


ROUTES = [
    Route("map page (HTML)", "/maps/hotspots"),
    Route("app page (HTML)", "/app"),
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
    body_bytes: int  # of one response, as sent (gzip-encoded where the route compresses)
    encoding: str
    server_cpu_s: float  # CPU time of the server process during the run
    client_cpu_s: float  # CPU time of this load generator during the run
    uncached: np.ndarray | None = None  # seconds, uncached analyses answered during the run

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
        return (
            self.errors == 0
            and len(self.latencies) > 0
            and self.pct(95) < P95_TARGET_S
            and self.pct(99) < P99_TARGET_S
        )


class Connection:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads ``Content-Length`` bodies.

    Far lighter than a general client: on a 2-core machine the load generator's own CPU time
    competes with the server's, so it must cost much less per request than the server does.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Accept-Encoding: gzip\r\nConnection: keep-alive\r\n\r\n"
        )
        self.writer.write(request.encode("ascii"))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines if h)}
        if "content-length" not in headers:
            raise ValueError(f"{path}: response without Content-Length")
        body = await self.reader.readexactly(int(headers["content-length"]))
        return int(status_line.split()[1]), body, headers

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def _client(
    host: str,
    port: int,
    paths: Iterator[str],
    stop: float,
    latencies: list[float],
    errors: list[str],
    label: str = "",
) -> None:
    """Request the next of ``paths`` on one keep-alive connection until ``stop``; 200s go to
    ``latencies``, anything else to ``errors`` (prefixed with ``label``)."""
    conn = Connection(host, port)
    try:
        while time.perf_counter() < stop:
            path = next(paths)
            start = time.perf_counter()
            try:
                status, _, _ = await conn.get(path)
                if status == 200:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors.append(f"{label}HTTP {status}")
            except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                errors.append(f"{label}{type(exc).__name__}")
                await conn.close()
                conn = Connection(host, port)
    finally:
        await conn.close()


def _uncached_paths(fresh: itertools.count[int]) -> Iterator[str]:
    """One uncached analysis after another: parameters never asked before (shared by the clients)."""
    for k in fresh:
        yield f"/hotspots?eps_m={50 + (k % 500) * 0.5:g}&min_samples={20 + k // 500}"


async def hammer(
    server: Server, route: Route, clients: int, duration: float, uncached: int = 0
) -> RouteResult:
    """``clients`` concurrent clients requesting ``route`` for ``duration`` seconds.

    With ``uncached`` > 0, that many more clients ask for uncached analyses meanwhile; the
    result's ``uncached`` holds their latencies (their errors count with the route's).
    """
    url = urlparse(server.url)
    host, port = str(url.hostname), int(url.port or 80)
    warm = Connection(host, port)
    status, body, headers = await warm.get(route.path)  # cache warm-up, not counted
    await warm.close()
    if status != 200:
        raise RuntimeError(f"{route.path}: HTTP {status}")
    latencies: list[float] = []
    errors: list[str] = []
    cpu = server.cpu_seconds()
    own = time.process_time()
    start = time.perf_counter()
    stop = start + duration
    slow: list[float] = []
    fresh = itertools.count(int(start * 1000) % 100_000 * 500)  # parameters no earlier run asked for
    await asyncio.gather(
        *(_client(host, port, itertools.repeat(route.path), stop, latencies, errors) for _ in range(clients)),
        *(
            _client(host, port, _uncached_paths(fresh), stop, slow, errors, "uncached: ")
            for _ in range(uncached)
        ),
    )
    seconds = time.perf_counter() - start
    return RouteResult(
        route=route,
        requests=len(latencies) + len(errors),
        errors=len(errors),
        seconds=seconds,
        latencies=np.asarray(latencies),
        body_bytes=len(body),
        encoding=headers.get("content-encoding", "identity"),
        server_cpu_s=server.cpu_seconds() - cpu,
        client_cpu_s=time.process_time() - own,
        uncached=np.asarray(slow) if uncached else None,
    )


def run_load(
    clients: int = CLIENTS, duration: float = DURATION_S, uncached: int = UNCACHED_CLIENTS
) -> tuple[list[RouteResult], list[RouteResult]]:
    """Serve the seeded sample on loopback and load every route in turn: alone, then while
    ``uncached`` clients keep the server computing new analyses."""
    results, contended = [], []
    with tempfile.TemporaryDirectory(prefix="hotspots-load-") as tmp, serve(Path(tmp)) as server:
        for route in ROUTES:
            result = asyncio.run(hammer(server, route, clients, duration))
            results.append(result)
            print(_line(result), flush=True)
        if uncached:
            print(f"  with {uncached} clients asking for uncached analyses meanwhile:")
            for route in ROUTES:
                result = asyncio.run(hammer(server, route, clients, duration, uncached))
                contended.append(result)
                print(_line(result), flush=True)
    return results, contended


def _line(r: RouteResult) -> str:
    return (
        f"  {r.route.name:24} {r.rate:8.1f} req/s  p50 {r.pct(50) * 1000:7.1f} ms  "
        f"p95 {r.pct(95) * 1000:7.1f} ms  p99 {r.pct(99) * 1000:7.1f} ms  errors {r.errors}  "
        f"CPU per request: server {r.cpu_ms_per_request:.1f} ms, "
        f"client {1000 * r.client_cpu_s / max(r.requests, 1):.1f} ms  "
        f"{'PASS' if r.passed else 'MISS'}"
        + (f"  uncached answered {len(r.uncached)}" if r.uncached is not None else "")
    )


def gc_pauses(repeats: int = 5) -> dict[str, float]:
    """A full garbage collection in a process serving the sample, with and without ``gc.freeze``.

    Starts the app in this process (its start-up freezes what is alive then), fills the caches
    of the load-tested routes, and times ``gc.collect()`` (best of ``repeats``): as served, then
    after ``gc.unfreeze()`` (the reference: every object back in the collector's view).
    """
    import gc
    import warnings

    from hotspots.api.app import create_app
    from hotspots.settings import Settings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    def full() -> float:
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            gc.collect()
            best = min(best, time.perf_counter() - start)
        return best

    with tempfile.TemporaryDirectory(prefix="hotspots-gc-") as tmp:
        app = create_app(Settings(data_dir=Path(tmp) / "var", tiles="none"))
        with TestClient(app) as client:
            for route in ROUTES:
                client.get(route.path)
            frozen = gc.get_freeze_count()
            served = full()
            gc.unfreeze()
            reference = full()
    return {"frozen": frozen, "served": served, "reference": reference, "tracked": len(gc.get_objects())}


def _rows(results: list[RouteResult]) -> list[str]:
    return [
        f"| {r.route.name} | `{r.route.path}` | {r.body_bytes / 1e3:,.0f} kB ({r.encoding}) | "
        f"{r.requests:,} | {r.rate:,.1f} | {r.pct(50) * 1000:.1f} ms | {r.pct(95) * 1000:.1f} ms | "
        f"{r.pct(99) * 1000:.1f} ms | {r.errors} | {r.cpu_ms_per_request:.1f} / "
        f"{1000 * r.client_cpu_s / max(r.requests, 1):.1f} ms | {r.server_cpu_s / r.seconds:.0%} | "
        + (
            f"{len(r.uncached)} ({np.median(r.uncached):.2f} s) | "
            if r.uncached is not None and len(r.uncached)
            else ("0 | " if r.uncached is not None else "")
        )
        + f"{'PASS' if r.passed else 'MISS'} |"
        for r in results
    ]


def load_section(
    report: list[str], clients: int = CLIENTS, duration: float = DURATION_S, uncached: int = UNCACHED_CLIENTS
) -> None:
    """Run the load test; print it and append its tables to ``report``."""
    print(
        f"\nload test: {clients} concurrent clients, {duration:.0f} s per route, cached results "
        f"(target p95 and p99 < {P95_TARGET_S * 1000:.0f} ms, no errors)"
    )
    results, contended = run_load(clients, duration, uncached)
    head = (
        "| route | path | body sent | requests | req/s | p50 | p95 | p99 | errors | CPU per request "
        "(server / client) | server busy |"
    )
    report += [
        "## Load test",
        "",
        f"`bench/load.py`: uvicorn (one process) on 127.0.0.1 serving the shipped sample (whole period, "
        f"default parameters, anonymous viewer); {clients} concurrent clients (asyncio, one keep-alive "
        f"connection each, gzip accepted), {duration:.0f} s per route after one warm-up request; client "
        "and server on the same 2-core machine, CPU time per request of each shown. Target: p95 and p99 "
        "< 200 ms for cached results, no errors.",
        "",
        head + " p95, p99 < 200 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        *_rows(results),
        "",
        "Server busy: the server's CPU time over the run's wall time (100% = one core; uvicorn "
        "runs one Python process, so about 100% is its ceiling). With every client sending its next "
        "request as soon as the last is answered, p50 is about clients / requests per second.",
        "",
    ]
    pauses = gc_pauses()
    line = (
        f"Full garbage collection in a process serving the sample: {pauses['served'] * 1000:.1f} ms as "
        f"served ({pauses['frozen']:,} start-up objects frozen), {pauses['reference'] * 1000:.1f} ms with "
        f"them unfrozen ({pauses['reference'] / max(pauses['served'], 1e-6):.0f}x): the pause a request "
        "that triggers one waits."
    )
    print("  " + line)
    report += [line, ""]
    if contended:
        report += [
            f"While uncached analyses run: the same {clients} clients on each cached route, and "
            f"{uncached} more clients each asking for one uncached analysis after another "
            "(`/hotspots?eps_m=..&min_samples=..`, parameters never asked before, so each is computed: "
            "about a second of server CPU each). Uncached: analyses answered during the run (median "
            "latency).",
            "",
            head + " uncached | p95, p99 < 200 ms |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            *_rows(contended),
            "",
        ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--duration", type=float, default=DURATION_S, help="seconds per route")
    parser.add_argument(
        "--uncached",
        type=int,
        default=UNCACHED_CLIENTS,
        help="clients asking for uncached analyses (0: none)",
    )
    args = parser.parse_args()
    report: list[str] = []
    load_section(report, args.clients, args.duration, args.uncached)
    print("\n".join(report))


if __name__ == "__main__":
    main()
