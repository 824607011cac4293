"""Start-up: ``hotspots --help``, one month analysed, ``hotspots serve`` to the first page.

Run: ``.venv/bin/python bench/startup.py`` (or ``bench/run.py --startup``). Each figure is
the best of ``--repeats`` fresh processes, printed next to references measured in the same
run: an empty interpreter (``python -c pass``) and the imports the command line used to
make before its first line of output (``import sklearn.cluster, geopandas, esda, folium``).

- ``hotspots --help`` and ``hotspots analyse --help``: wall time and peak RSS;
- ``hotspots analyse`` on the shipped one-month Barking and Dagenham file (2,000 rows,
  every output written): wall time and peak RSS;
- ``hotspots serve`` to the first ``200`` from ``/app``: cold (a fresh, empty data
  directory: the shipped samples are seeded) and warm (the same directory, started again).

``--baseline REF`` also measures the same commands on git commit ``REF`` (extracted with
``git archive`` into a temporary directory) in the same run, for the before/after ratio. The
children may write bytecode caches (``__pycache__``), as an installed package has them.

Targets (issue #16): ``--help`` under 0.5 s; one month under 1.5 s; serve under 10 s cold
and 3 s warm. The results are written to the "Start-up" section of ``bench/results.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

PY = sys.executable
SAMPLE = ROOT / "hotspots" / "sample_data" / "2023-01-metropolitan-street_barking-and-dagenham.csv.gz"
OLD_IMPORTS = "import sklearn.cluster, geopandas, esda, folium"
SERVE_TIMEOUT_S = 180.0
SECTION = "## Start-up"


def _env(data_dir: Path, root: Path = ROOT) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(HOTSPOTS_DATA_DIR=str(data_dir), HOTSPOTS_TILES="none", PYTHONPATH=str(root))
    return env


def run_once(args: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of one fresh process, run in
    the code tree on its ``PYTHONPATH`` (``python -m`` looks in the working directory first)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        args, env=env, cwd=env["PYTHONPATH"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited with {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def best(args: list[str], env: dict[str, str], repeats: int) -> tuple[float, float, float]:
    """The best wall and CPU time of ``repeats`` runs, and the largest peak RSS."""
    runs = [run_once(args, env) for _ in range(repeats)]
    return min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a running process has used (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve_to_first_page(data_dir: Path, root: Path = ROOT) -> tuple[float, float]:
    """Wall and server CPU seconds from starting ``hotspots serve`` on ``data_dir`` to the first
    200 from ``/app``."""
    port = _free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [PY, "-m", "hotspots.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=_env(data_dir, root),
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - start < SERVE_TIMEOUT_S:
            if proc.poll() is not None:
                raise SystemExit(f"hotspots serve exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/app", timeout=60) as resp:
                    if resp.status == 200:
                        resp.read()
                        return time.perf_counter() - start, _cpu_seconds(proc.pid)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise SystemExit(f"no page from hotspots serve within {SERVE_TIMEOUT_S:.0f} s")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(root: Path, work: Path, repeats: int) -> dict[str, tuple[float, float, float | None]]:
    """Wall, CPU and peak RSS of each start-up run of the code tree at ``root``."""
    env = _env(work / "var-cli", root)
    cli = [PY, "-m", "hotspots.cli"]
    sample = root / SAMPLE.relative_to(ROOT)
    out: dict[str, tuple[float, float, float | None]] = {
        "help": best([*cli, "--help"], env, repeats),
        "sub_help": best([*cli, "analyse", "--help"], env, repeats),
        "month": best([*cli, "analyse", str(sample), "--out", str(work / "out")], env, repeats),
    }
    colds, warms = [], []
    for i in range(max(1, repeats - 1)):
        data = work / f"var-serve-{i}"
        colds.append(serve_to_first_page(data, root))
        warms.append(serve_to_first_page(data, root))
    for key, runs in (("cold", colds), ("warm", warms)):
        out[key] = (min(r[0] for r in runs), min(r[1] for r in runs), None)
    return out


ROWS = [
    ("help", "`hotspots --help`", 0.5),
    ("sub_help", "`hotspots analyse --help`", 0.5),
    ("month", "`hotspots analyse` one month (B&D 2023-01, 2,000 rows, all outputs)", 1.5),
    ("cold", "`hotspots serve` to first `/app` 200, cold (empty data dir: seeds the samples)", 10.0),
    ("warm", "`hotspots serve` to first `/app` 200, warm (second start)", 3.0),
]


def startup_section(report: list[str], repeats: int = 3, baseline: str | None = None) -> None:
    """Measure and append the start-up section (markdown lines) to ``report``."""
    work = Path(tempfile.mkdtemp(prefix="hotspots-startup-"))
    try:
        env = _env(work / "var-ref")
        empty = best([PY, "-c", "pass"], env, repeats)
        old_imports = best([PY, "-c", OLD_IMPORTS], env, repeats)
        now = measure(ROOT, work / "now", repeats)
        before = None
        if baseline:
            tree = work / "baseline"
            tree.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", baseline], check=True, capture_output=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
            before = measure(tree, work / "before", repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def row(name: str, m: tuple[float, float, float | None], target: float | None, old: object) -> str:
        wall, cpu, mb = m
        verdict = "" if target is None else f"under {target:g} s: " + ("met" if wall < target else "NOT met")
        rss = f"{mb:,.0f} MB" if mb is not None else ""
        was = ""
        if isinstance(old, tuple):
            was = f" | {old[0]:.2f} s ({old[1]:.2f} s) | {wall / old[0]:.2f}"
        elif before is not None:
            was = " | |"
        return (
            f"| {name} | {wall:.2f} s | {cpu:.2f} s | {wall / empty[0]:.1f} | {wall / old_imports[0]:.2f} "
            f"| {rss}{was} | {verdict} |"
        )

    was_head = f" {baseline} wall (CPU) | now / {baseline} |" if before is not None else ""
    was_rule = "---:|---:|" if before is not None else ""
    lines = [
        SECTION,
        "",
        f"`python bench/startup.py --repeats {repeats}"
        + (f" --baseline {baseline}" if baseline else "")
        + f"` at {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} ({os.cpu_count()} cores, Python "
        f"{platform.python_version()}); load average at the start {os.getloadavg()[0]:.2f} (other "
        "processes on the machine slow every wall time: CPU time, user + system of the process, is "
        f"what a quiet machine's wall time would be). Best of {repeats} fresh processes (serve: best of "
        f"{max(1, repeats - 1)}); ratios against an empty interpreter and against the imports the "
        f"command line used to make before printing anything (`{OLD_IMPORTS}`), measured in the same "
        "run.",
        "",
        "| run | wall | CPU | / `python -c pass` | / old imports | peak RSS |" + was_head + " target |",
        "|---|---:|---:|---:|---:|---:|" + was_rule + "---|",
        row("reference: `python -c pass`", empty, None, None),
        row(f"reference: `python -c '{OLD_IMPORTS}'`", old_imports, None, None),
        *(row(label, now[key], target, before[key] if before else None) for key, label, target in ROWS),
        "",
    ]
    print("\n".join(lines))
    report.extend(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results.md")
    parser.add_argument("--baseline", help="also measure this git commit (e.g. HEAD~3), in the same run")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    lines: list[str] = []
    startup_section(lines, args.repeats, args.baseline)
    if not args.no_write:
        from run import merge_report

        old = args.out.read_text() if args.out.exists() else ""
        head = old.split("\n## ", 1)[0].splitlines() if old else ["# Benchmarks", ""]
        merged = merge_report(old, [*head, *lines])
        args.out.write_text(re.sub(r"\n+(## )", r"\n\n\1", merged))  # a blank line before each section
        print(f"written to {args.out} (section {SECTION!r})")


if __name__ == "__main__":
    main()
