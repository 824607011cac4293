"""Uploads refuse early and never hold the event loop: auth and size before the body, parsing in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.settings import Settings
from tests.live import LiveServer, live_server

HUGE = 600 * 2**20
BOUNDARY = "hotspots-test-boundary"
CLIENT_SNDBUF = 64 * 1024


def _kernel_slack() -> int:
    """Bytes the loopback can queue unread: the largest receive buffer, our send buffer (doubled by
    Linux) and the piece in hand."""
    try:
        receive_max = int(Path("/proc/sys/net/ipv4/tcp_rmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        receive_max = 6 * 2**20
    return receive_max + 4 * CLIENT_SNDBUF


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("limits") / "var",
        tiles="none",
        seed_sample_data=False,
        auth_required=True,
        max_upload_mb=1,
    )
    with live_server(settings) as live:
        yield live


def _send_then_read(
    server: LiveServer, path: str, headers: dict[str, str], body_sent: int, chunked: bool = False
) -> tuple[str, int]:
    """Send the headers and ``body_sent`` bytes of a (much larger) body; return the status line.

    Also returns how many body bytes the server had taken when it answered. The client never
    sends the rest: a server that waited for the whole body would not answer at all.
    """
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        # A small send buffer, so "sent" is close to what the server took, not what the kernel queued.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CLIENT_SNDBUF)
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall((head + "\r\n").encode())
        preamble = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="a.csv"\r\n\r\n'
        ).encode()
        sent = 0
        chunk = preamble + b"x" * (64 * 1024 - len(preamble))
        pending = b""  # what is left of the piece being sent: a send may take only part of it
        sock.setblocking(False)
        answer = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                answer += sock.recv(65536)
                if b"\r\n" in answer:
                    break
            except BlockingIOError:
                pass
            if not pending and sent < body_sent:
                pending = chunk if not chunked else f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
                sent += len(chunk)
                chunk = b"x" * len(chunk)
            if pending:
                try:
                    pending = pending[sock.send(pending) :]
                except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                    time.sleep(0.01)
            else:
                time.sleep(0.01)
        return answer.split(b"\r\n", 1)[0].decode(), sent


def _multipart_headers(length: int | None, key: str | None = None) -> dict[str, str]:
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    if length is not None:
        headers["Content-Length"] = str(length)
    if key:
        headers["X-API-Key"] = key
    return headers


def test_no_key_is_401_before_the_body_is_read(server: LiveServer) -> None:
    status, sent = _send_then_read(server, "/datasets", _multipart_headers(HUGE), body_sent=256 * 1024)
    assert " 401 " in status, status
    assert sent <= 256 * 1024


def test_bad_key_and_wrong_role_are_refused_before_the_body(server: LiveServer) -> None:
    status, _ = _send_then_read(server, "/datasets", _multipart_headers(HUGE, "nope"), 256 * 1024)
    assert " 401 " in status, status
    viewer = server.key("viewer")
    status, _ = _send_then_read(server, "/datasets", _multipart_headers(HUGE, viewer), 256 * 1024)
    assert " 403 " in status, status


def test_a_declared_length_over_the_limit_is_413_at_once(server: LiveServer) -> None:
    status, _ = _send_then_read(
        server, "/datasets", _multipart_headers(HUGE, server.key("admin")), 256 * 1024
    )
    assert " 413 " in status, status


def test_a_streamed_body_over_the_limit_is_cut_off(server: LiveServer) -> None:
    """No Content-Length (chunked): the server stops reading once the limit is passed."""
    headers = {**_multipart_headers(None, server.key("admin")), "Transfer-Encoding": "chunked"}
    status, sent = _send_then_read(server, "/datasets", headers, body_sent=HUGE, chunked=True)
    assert " 413 " in status, status
    # The limit is 1 MB; what the kernel queues for the server is not what the server read.
    allowed = 2 * 2**20 + _kernel_slack()
    assert sent < min(allowed, HUGE // 4), f"{sent} bytes were taken before the refusal (allowed {allowed})"


def test_boundary_uploads_too(server: LiveServer) -> None:
    status, _ = _send_then_read(server, "/boundaries", _multipart_headers(HUGE), 256 * 1024)
    assert " 401 " in status, status
    status, _ = _send_then_read(
        server, "/boundaries", _multipart_headers(HUGE, server.key("admin")), 256 * 1024
    )
    assert " 413 " in status, status


def test_healthz_answers_while_an_upload_is_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hotspots.service

    started, release = threading.Event(), threading.Event()
    real = hotspots.service.read_incidents

    def slow_read(*args: Any, **kwargs: Any) -> Any:
        started.set()
        release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr("hotspots.service.read_incidents", slow_read)
    settings = Settings(data_dir=tmp_path / "var", tiles="none", seed_sample_data=False)
    csv = b"Month,Longitude,Latitude\n2024-01,0.1,51.56\n"
    with TestClient(create_app(settings)) as client:
        _, secret = client.app.state.service.security.create_key("a", "admin")  # type: ignore[attr-defined]
        result: dict[str, Any] = {}

        def upload() -> None:
            result["upload"] = client.post(
                "/datasets",
                data={"name": "slow"},
                files={"files": ("a.csv", csv)},
                headers={"X-API-Key": secret},
            )

        def health() -> None:
            result["health"] = client.get("/healthz")

        uploader = threading.Thread(target=upload)
        uploader.start()
        try:
            assert started.wait(10)
            checker = threading.Thread(target=health)
            t0 = time.monotonic()
            checker.start()
            checker.join(timeout=5)
            answered = not checker.is_alive()
            took = time.monotonic() - t0
        finally:
            release.set()
            uploader.join(timeout=30)
        checker.join(timeout=30)
        assert answered, "/healthz waited for the upload's parsing"
        assert took < 2 and result["health"].status_code == 200
        assert result["upload"].status_code == 201, result["upload"].text
