"""Headless Debian Chromium for the browser tests: found or skipped (never skipped under CI=true)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
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
