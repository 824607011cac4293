"""A real uvicorn server on loopback for the page and load benchmarks, in its own process.

The server gets its own process (not a thread of the benchmark) so that the client's work
(Chromium, the load generator) and the server's do not share one Python interpreter lock.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def store_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a server or a service on ``data_dir``: no base tiles (no network)."""
    env = dict(os.environ)
    env.update(
        HOTSPOTS_DATA_DIR=str(data_dir),
        HOTSPOTS_TILES="none",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    env.update(extra)
    return env


@dataclass(frozen=True)
class Server:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux ``/proc``)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serve(data_dir: Path, *, timeout_s: float = 300.0, **extra_env: str) -> Iterator[Server]:
    """Run ``uvicorn hotspots.api.app:create_app`` on a free loopback port in its own process."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "hotspots.api.app:create_app",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    proc = subprocess.Popen(cmd, env=store_env(data_dir, **extra_env), cwd=str(ROOT))
    url = f"http://{LOOPBACK}:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with code {proc.returncode}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in time")
            time.sleep(0.2)
        yield Server(url, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
