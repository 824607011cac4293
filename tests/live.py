"""A real uvicorn server on a free loopback port, for browser and GIS-client tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from hotspots.api.app import create_app
from hotspots.settings import Settings


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: FastAPI

    def key(self, role: str, name: str | None = None) -> str:
        """A fresh API key for ``role`` on this server."""
        security = self.app.state.service.security
        _, secret = security.create_key(name or f"live-{role}-{time.monotonic_ns()}", role)
        return str(secret)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    """Start the app for ``settings`` in a thread; stop it on exit."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
