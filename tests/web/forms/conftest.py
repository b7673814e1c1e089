"""Fixtures of the forms' tests: a hand-moved clock; for Chromium, one browser per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from bridge.clock import ManualClock
from tests.browser import launch_chromium, phone_page, require_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture
def clock() -> ManualClock:
    """Time that moves only when a test moves it."""
    return ManualClock()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless; never a downloaded browser."""
    with launch_chromium(require_chromium()) as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A phone-sized page in a fresh context, closed after the test."""
    with phone_page(browser) as opened:
        yield opened
