"""Runs the parsing of large bodies off the event loop, a bounded number at a time.

A 2 MB webhook batch takes tens of milliseconds to parse; on the event loop that would stall
every other request, page views and health checks included. Small bodies are parsed in
place, where a thread hop would cost more than the parse. Parsing holds the GIL while it runs
C code (`json.loads`), so a thread frees the loop only between Python steps: the bound keeps
a burst of large deliveries from queueing more parses than there are cores, and keeps the
memory they hold bounded with them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

INLINE_BELOW = 64 * 1024  # bytes: parsed in place, faster than a thread hop


class Offload:
    """Runs a function on a worker thread when its input is large; at most `at_once` at a time."""

    def __init__(self, *, at_once: int = 2, inline_below: int = INLINE_BELOW) -> None:
        self._slots = asyncio.Semaphore(at_once)
        self._inline_below = inline_below

    async def run(self, size: int, work: Callable[[], T]) -> T:
        """`work()`, in place for an input of under `inline_below` bytes, else on a thread."""
        if size < self._inline_below:
            return work()
        async with self._slots:
            return await asyncio.to_thread(work)
