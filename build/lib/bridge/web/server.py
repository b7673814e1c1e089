"""How `bridge serve` and `bridge demo` run uvicorn: deadlines and limits for the open internet.

uvicorn closes a kept-alive connection that sits idle between requests, but sets no deadline
on a request itself: a socket that never sends a request, a request head sent a byte at a
time, or a body trickling in one byte every few seconds each held a connection for as long
as the sender liked, and nothing limited how many. Here:

* a request's head (request line and headers) must arrive within `header_seconds` of the
  connection opening or of the request's first byte, and be at most `max_head_bytes`;
* its body must arrive within `body_seconds` of the head;
* `limit_concurrency` (BRIDGE_MAX_CONNECTIONS) bounds connections and requests in flight;
  past it, uvicorn answers 503.

A deadline missed before any response gets a 408 (a head that is too large, 431) and the
connection is closed. These bound what one process holds; the proxy in front should still
buffer requests and apply its own limits (README, Security).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bridge.logging_setup import uvicorn_logging
from bridge.settings import Settings

KEEP_ALIVE_SECONDS = 5  # idle between requests on one connection (uvicorn's own timer)


def _status(code: int, reason: bytes) -> bytes:
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s\n"
        % (code, reason, len(reason) + 1, reason)
    )


_TIMEOUT = _status(408, b"Request Timeout")
_HEAD_TOO_LARGE = _status(431, b"Request Header Fields Too Large")


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines on each request's head and body."""

    header_seconds: ClassVar[float] = 10.0
    body_seconds: ClassVar[float] = 30.0
    max_head_bytes: ClassVar[int] = 64 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase = "idle"  # idle (no request under way), head, or body
        self._head_bytes = 0
        self._answered = False  # the request under way has had its response

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        self._refuse(_TIMEOUT)

    def _refuse(self, answer: bytes) -> None:
        if self.transport.is_closing():
            return
        # A request nobody has answered gets an answer; a connection that never sent a
        # byte, or a client still trickling a body after its answer, is simply closed.
        started = self._phase != "idle" or self._head_bytes > 0
        if started and not self._answered:
            self.transport.write(answer)
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app's next receive() is a disconnect
            self.cycle.message_event.set()
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Open: the first request's head must come within `header_seconds`."""
        super().connection_made(transport)
        self._arm(self.header_seconds)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; refuse a head that grows past `max_head_bytes`."""
        if self._phase != "body":
            self._head_bytes += len(data)
        super().data_received(data)
        # Checked after parsing: a chunk that completed the head carries body bytes too.
        if self._phase != "body" and self._head_bytes > self.max_head_bytes:
            self._disarm()
            self._refuse(_HEAD_TOO_LARGE)

    def on_message_begin(self) -> None:
        """A request begins: its head has `header_seconds` (from the connection, if first)."""
        super().on_message_begin()
        self._phase, self._answered = "head", False
        if self._deadline is None:
            self._arm(self.header_seconds)

    def on_headers_complete(self) -> None:
        """The head is in: the body has `body_seconds`."""
        self._phase = "body"
        self._arm(self.body_seconds)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The whole request is in: no deadline until the next one begins."""
        super().on_message_complete()
        self._phase, self._head_bytes = "idle", 0
        self._disarm()

    def on_response_complete(self) -> None:
        """Answered: a deadline that passes now closes without a second answer."""
        self._answered = True
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """Gone: nothing to time out."""
        self._disarm()
        super().connection_lost(exc)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn settings `bridge serve` and `bridge demo` run with."""
    return {
        "http": GuardedHttpToolsProtocol,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "limit_concurrency": settings.max_connections,
        "proxy_headers": True,
        "log_level": settings.log_level.lower(),
        **uvicorn_logging(settings.log_format),
    }
