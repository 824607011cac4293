"""Headless Debian Chromium for the browser tests: found or skipped (never skipped under CI=true)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_or_skip() -> str:
    """Path of Debian's chromium; skips the calling test module when it is missing (fails under CI)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("CI=true but Debian's chromium is not installed: .ci/run should install it")
        pytest.skip(
            "Chromium is not installed (apt-get install chromium); browser tests skipped",
            allow_module_level=True,
        )
    return path


@contextmanager
def headless_chromium(path: str) -> Iterator[Any]:
    """A Playwright Browser driving the given Chromium binary headless."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class WatchedPage:
    """A Playwright page whose console errors and blocked requests are recorded."""

    page: Any
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


def watched_page(
    browser: Any, allowed: tuple[str, ...], viewport: dict[str, int] | None = None
) -> WatchedPage:
    """A new page that aborts (and records) every request not starting with an ``allowed`` prefix
    or ``data:``, and records console errors and uncaught exceptions."""
    page = browser.new_page(viewport=viewport or {"width": 1280, "height": 800})
    watched = WatchedPage(page)
    page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watched.errors.append(str(e)))

    def guard(route: Any) -> None:
        if route.request.url.startswith((*allowed, "data:")):
            route.continue_()
        else:
            watched.outside.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    return watched
