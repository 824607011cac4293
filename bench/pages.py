"""Page weight and time to first render of the map page in headless Chromium.

The app is served on loopback (``bench/server.py``) from a temporary store holding the
shipped sample (police.uk, tri-borough, 2018-02..2020-12) and a synthetic year of about a
million snapped incidents inside the tri-borough outline (``bench/synthetic.py``, fixed seed).
Each case loads ``/maps/hotspots`` in headless Chromium (every request that does not go to
loopback is aborted; base tiles are off) after one request has filled the server's caches,
and records:

- bytes: the HTML and every subresource (decoded body sizes; what went over the wire, with
  headers and any compression, is shown next to it);
- first paint and first contentful paint (Paint Timing), DOMContentLoaded and load;
- map ready: navigation start to the frame painted after the ward polygons exist in the
  page (a MutationObserver installed before the page's own scripts records it).

Targets (issue #7): a month under 2 MB and 3 s to first render; a year under 5 MB.
The saved-file variant (Leaflet inlined, as ``render_standalone`` writes it) is sized too.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

import httpx
from server import LOOPBACK, serve

MONTH_BYTES = 2_000_000
MONTH_RENDER_S = 3.0
YEAR_BYTES = 5_000_000
SYNTHETIC_SIZE = 1_000_000
LOADS = 3
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Records when the ward polygons first exist, and the end of the frame that paints them.
MAP_READY_SCRIPT = """
window.__hsReady = null; window.__hsPainted = null;
new MutationObserver((_, obs) => {
  if (window.__hsReady === null && document.querySelector('path.hs-ward')) {
    window.__hsReady = performance.now();
    obs.disconnect();
    requestAnimationFrame(() => setTimeout(() => { window.__hsPainted = performance.now(); }, 0));
  }
}).observe(document, {childList: true, subtree: true});
"""
TIMINGS_SCRIPT = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = Object.fromEntries(performance.getEntriesByType('paint').map(p => [p.name, p.startTime]));
  return {response_end: nav.responseEnd, dom_content_loaded: nav.domContentLoadedEventEnd,
          load: nav.loadEventEnd, first_paint: paint['first-paint'] ?? null,
          first_contentful_paint: paint['first-contentful-paint'] ?? null,
          map_ready: window.__hsReady, map_painted: window.__hsPainted,
          paths: document.querySelectorAll('path').length};
}"""


@dataclass(frozen=True)
class Case:
    """One map page: a dataset and a period, with the default or every optional layer."""

    label: str
    period: str  # "month" or "year": which target applies
    dataset: str
    month_from: str
    month_to: str
    layers: str = "heat,significance"

    def path(self) -> str:
        query = {"dataset": self.dataset, "from": self.month_from, "to": self.month_to, "layers": self.layers}
        return "/maps/hotspots?" + urlencode(query)


CASES = [
    Case("police.uk sample, one month (2020-12)", "month", "tri-borough-2018-2020", "2020-12", "2020-12"),
    Case("police.uk sample, one year (2020)", "year", "tri-borough-2018-2020", "2020-01", "2020-12"),
    Case("synthetic, one month (2019-12, ~83k)", "month", "synthetic-1m", "2019-12", "2019-12"),
    Case("synthetic, one year (2019, 1M)", "year", "synthetic-1m", "2019-01", "2019-12"),
    Case(
        "synthetic, one year, every layer",
        "year",
        "synthetic-1m",
        "2019-01",
        "2019-12",
        "heat,significance,emerging",
    ),
]


def build_store(data_dir: Path, synthetic_dir: Path) -> dict[str, float]:
    """The shipped samples and the synthetic year as datasets of a store in ``data_dir``."""
    from synthetic import generate

    from hotspots.geo.inputs.ingest import SourceFiles
    from hotspots.service import HotspotService
    from hotspots.settings import Settings

    timings = {}
    t = time.perf_counter()
    paths = generate(SYNTHETIC_SIZE, synthetic_dir, mode="snapped")
    timings["generate"] = time.perf_counter() - t
    service = HotspotService(Settings(data_dir=data_dir))
    t = time.perf_counter()
    service.seed_samples()
    timings["seed"] = time.perf_counter() - t
    t = time.perf_counter()
    service.ingest("synthetic-1m", SourceFiles(paths), fmt="police-uk", size_limited=False)
    timings["ingest_1m"] = time.perf_counter() - t
    service.store.engine.dispose()
    return timings


def _loopback_only(route: Any) -> None:
    host = urlparse(route.request.url).hostname
    if host in (LOOPBACK, "localhost"):
        route.continue_()
    else:
        route.abort()


def load_once(browser: Any, url: str) -> dict[str, Any]:
    """One cold-browser load of ``url``: bytes per resource and the page's timings (ms)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.route("**/*", _loopback_only)
    context.add_init_script(MAP_READY_SCRIPT)
    page = context.new_page()
    resources: list[dict[str, Any]] = []

    def finished(request: Any) -> None:
        response = request.response()
        if response is None:
            return
        sizes = request.sizes()
        resources.append(
            {
                "url": request.url,
                "type": request.resource_type,
                "decoded": len(response.body()),
                "wire": sizes["responseBodySize"] + sizes["responseHeadersSize"],
            }
        )

    failed: list[str] = []
    page.on("requestfinished", finished)
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.goto(url, wait_until="load", timeout=120_000)
    page.wait_for_function("window.__hsPainted !== null", timeout=60_000)
    timings: dict[str, Any] = page.evaluate(TIMINGS_SCRIPT)
    context.close()
    return {
        "timings": timings,
        "resources": resources,
        "decoded": sum(r["decoded"] for r in resources),
        "wire": sum(r["wire"] for r in resources),
        "html": sum(r["decoded"] for r in resources if r["type"] == "document"),
        "failed": failed,
    }


def measure_case(browser: Any, base: str, case: Case, loads: int) -> dict[str, Any]:
    """Warm the server's caches for the case, then ``loads`` fresh-browser loads (median timings)."""
    from hotspots.maps import inline_assets

    t = time.perf_counter()
    first = httpx.get(base + case.path(), timeout=600.0)
    first.raise_for_status()
    cold_s = time.perf_counter() - t
    t = time.perf_counter()
    httpx.get(base + case.path(), timeout=600.0).raise_for_status()
    warm_s = time.perf_counter() - t
    runs = [load_once(browser, base + case.path()) for _ in range(loads)]
    standalone = len(inline_assets(first.text, "/static").encode("utf-8"))

    def med(key: str) -> float | None:
        values = [r["timings"][key] for r in runs if r["timings"][key] is not None]
        return statistics.median(values) / 1000 if values else None

    return {
        "case": case,
        "cold_s": cold_s,
        "warm_s": warm_s,
        "html": runs[0]["html"],
        "decoded": runs[0]["decoded"],
        "wire": runs[0]["wire"],
        "requests": len(runs[0]["resources"]),
        "standalone": standalone,
        "first_paint": med("first_contentful_paint") or med("first_paint"),
        "fcp": med("first_contentful_paint"),
        "dcl": med("dom_content_loaded"),
        "load": med("load"),
        "map_painted": med("map_painted"),
        "paths": runs[0]["timings"]["paths"],
        "loads": loads,
    }


def verdict(row: dict[str, Any]) -> str:
    case: Case = row["case"]
    if case.period == "month":
        ok = row["decoded"] < MONTH_BYTES and (row["map_painted"] or 1e9) < MONTH_RENDER_S
        return f"< 2 MB and < 3 s: {'met' if ok else 'MISSED'}"
    ok = row["decoded"] < YEAR_BYTES
    return f"< 5 MB: {'met' if ok else 'MISSED'}"


def pages_section(report: list[str], cache: Path, loads: int = LOADS) -> None:
    """Measure every case; print a table and append it to ``report``."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("\npage weight: skipped (Debian chromium not installed)")
        report += ["## Page weight and first render", "", "Skipped: chromium not installed.", ""]
        return
    with tempfile.TemporaryDirectory(prefix="hotspots-pages-") as tmp:
        data_dir = Path(tmp)
        built = build_store(data_dir, cache / "snapped-1m")
        print(
            f"\npage weight: store built (synthetic 1m ingested in {built['ingest_1m']:.1f} s, "
            f"samples in {built['seed']:.1f} s)"
        )
        rows = []
        with serve(data_dir) as server, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                for case in CASES:
                    rows.append(measure_case(browser, server.url, case, loads))
                    _print_row(rows[-1])
            finally:
                browser.close()
    report += _report_lines(rows, loads)


def _mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB"


def _s(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f} s"


def _print_row(row: dict[str, Any]) -> None:
    print(
        f"  {row['case'].label:40} page {_mb(row['decoded'])} ({_mb(row['wire'])} on the wire, "
        f"{row['requests']} requests; HTML {_mb(row['html'])}; saved file {_mb(row['standalone'])}); "
        f"first paint {_s(row['first_paint'])}, map painted {_s(row['map_painted'])}, "
        f"load {_s(row['load'])}; server cold {row['cold_s']:.2f} s, warm {row['warm_s']:.3f} s  "
        f"{verdict(row)}"
    )


def _report_lines(rows: list[dict[str, Any]], loads: int) -> list[str]:
    lines = [
        "## Page weight and first render",
        "",
        "`/maps/hotspots` served by uvicorn on loopback, loaded in headless Chromium (fresh browser "
        f"context per load, median of {loads} loads; base tiles off, every non-loopback request "
        "blocked). Bytes: HTML plus every subresource, decoded (on the wire: with headers and "
        "compression). First paint: first contentful paint (Paint Timing). Map painted: navigation "
        "start to the end of the frame after the ward polygons exist. Server: time of the first "
        "request (analysis computed and page rendered) and of the next (cached). Saved file: the "
        "same page with Leaflet inlined (`render_standalone`).",
        "",
        "| page | layers | bytes | on the wire | requests | HTML | saved file | first paint | "
        "map painted | load | server cold / warm | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        case: Case = r["case"]
        lines.append(
            f"| {case.label} | {case.layers} | {_mb(r['decoded'])} | {_mb(r['wire'])} | {r['requests']} | "
            f"{_mb(r['html'])} | {_mb(r['standalone'])} | {_s(r['first_paint'])} | "
            f"{_s(r['map_painted'])} | {_s(r['load'])} | {r['cold_s']:.2f} s / {r['warm_s']:.3f} s | "
            f"{verdict(r)} |"
        )
    lines.append("")
    return lines


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loads", type=int, default=LOADS, help="browser loads per page (median)")
    args = parser.parse_args()
    report: list[str] = []
    pages_section(report, Path(__file__).resolve().parent / ".cache", args.loads)
    print("\n".join(report))


if __name__ == "__main__":
    main()
