"""Debian's Chromium for the page tests, driven by Playwright; never a downloaded browser."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

CHROMIUM = os.environ.get("BRIDGE_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "output" / "screenshots"
_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> ModuleType:
    """Playwright's sync API; skips the calling module without Chromium, fails it in CI."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)
    return sync_api


@contextlib.contextmanager
def launch_chromium(sync_api: ModuleType) -> Iterator[Any]:
    """Headless Chromium, closed afterwards."""
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextlib.contextmanager
def phone_page(browser: Any, *, timeout_ms: float = 5_000) -> Iterator[Any]:
    """A 360-px-wide phone-sized page in a fresh context (failing in seconds), closed after."""
    context = browser.new_context(viewport={"width": 360, "height": 740})
    context.set_default_timeout(timeout_ms)
    try:
        yield context.new_page()
    finally:
        context.close()
