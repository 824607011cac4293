"""What the app table's stability column costs, against the app page itself (issue #13, point 6).

On the shipped data the app opens on (``tri-borough-2022``, 2022-01..09), in one process, each
repeat with a fresh service (nothing cached): the app page uncached, then ``/app/stability`` with
the page's query (the analysis is cached by the page by then, so this is stability's own cost:
twelve monthly DBSCAN fits and the previous period's), then ``/app/stability`` again (cached).
Prints the times and the ratio stability / page: the reason the page does not wait for it.

    PYTHONPATH=. python bench/stability.py --repeat 3
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.settings import Settings


def one_run() -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "var", tiles="none")
        with TestClient(create_app(settings)) as client:
            _, key = client.app.state.service.security.create_key("bench", "police")  # type: ignore[attr-defined]
            client.headers.update({"X-API-Key": key})
            t0 = time.perf_counter()
            page = client.get("/app")
            t1 = time.perf_counter()
            src = re.search(r'data-src="([^"]+)"', page.text)
            assert page.status_code == 200 and src is not None
            url = src.group(1).replace("&amp;", "&")
            assert client.get(url).status_code == 200
            t2 = time.perf_counter()
            client.get(url)
            t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.repeat)]
    page, stab, cached = (statistics.median(r[i] for r in runs) for i in range(3))
    print(f"app page, uncached:            {page:7.2f} s (median of {args.repeat})")
    print(f"/app/stability after the page: {stab:7.2f} s")
    print(f"/app/stability, cached:        {cached * 1000:7.1f} ms")
    print(f"ratio stability / page:        {stab / page:7.2f}")


if __name__ == "__main__":
    main()
