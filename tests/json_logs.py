"""Helpers for tests of the logs: JSON lines captured, and logging put back as it was."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bridge.logging_setup import ACCESS_LOGGER, INTERCOM_LOGGER, configure_logging

# The test client's own logger: it logs every URL it fetches, tokens and all.
TEST_CLIENT = "httpx2"
# Every logger `configure_logging` (or `json_logs`) changes.
_TOUCHED = (
    "",
    "httpx",
    INTERCOM_LOGGER,
    ACCESS_LOGGER,
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
)
_TOUCHED += (TEST_CLIENT,)


@contextmanager
def logging_kept() -> Iterator[None]:
    """Put back the handlers, levels and filters a test's `configure_logging` changes."""
    loggers = [logging.getLogger(name or None) for name in _TOUCHED]
    saved = [(lg, lg.level, lg.handlers[:], lg.filters[:], lg.propagate) for lg in loggers]
    # Taken off first, so that basicConfig(force=True) does not close pytest's own handlers.
    logging.getLogger().handlers = []
    try:
        yield
    finally:
        for logger, level, handlers, filters, propagate in saved:
            logger.setLevel(level)
            logger.handlers, logger.filters, logger.propagate = handlers, filters, propagate


class JsonLines:
    """The lines written so far, each parsed as the JSON object it must be."""

    def __init__(self, buffer: io.StringIO) -> None:
        self.buffer = buffer

    @property
    def text(self) -> str:
        """Everything written, as written."""
        return self.buffer.getvalue()

    def events(self) -> list[dict[str, Any]]:
        """Every line as an object (a line that is not one fails the test here)."""
        return [json.loads(line) for line in self.text.splitlines()]

    def of(self, event: str) -> list[dict[str, Any]]:
        """The events of one kind (`http_request`, `intercom_call`, `request_settled`)."""
        return [e for e in self.events() if e.get("event") == event]


@contextmanager
def json_logs(level: str = "INFO") -> Iterator[JsonLines]:
    """Logging set up as `BRIDGE_LOG_FORMAT=json` sets it, into a buffer; put back after."""
    with logging_kept():
        buffer = io.StringIO()
        configure_logging(level, "json", stream=buffer)
        logging.getLogger(TEST_CLIENT).setLevel(logging.WARNING)  # the client, not the bridge
        yield JsonLines(buffer)
