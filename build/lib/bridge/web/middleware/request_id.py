"""Gives every HTTP request an id, follows it through the logs, and logs the request once.

The id is the client's (or proxy's) `X-Request-Id` when it is short and plain, else a new
one; it is echoed in the response, bound for every log event written while the request is
answered, and stamped by `Services.record` into the consent requests it records, so the
worker's events for applying them (and their Intercom calls) carry it too. The one event per
request names its method, path (tokens masked as in the access log), status and duration.
"""

from __future__ import annotations

import logging
import os
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.clock import Clock, SystemClock
from bridge.log_context import bound
from bridge.logging_setup import ACCESS_LOGGER
from bridge.web.access_log import mask_path

HEADER = "X-Request-Id"
_HEADER_KEY = HEADER.lower().encode()  # as ASGI spells header names
# Ids as proxies and platforms make them (UUIDs, hex, base64): no spaces, quotes or `@`,
# so a client cannot write an address or a line break into the logs through it.
_SANE = re.compile(r"[A-Za-z0-9._:=/-]{1,128}")

log = logging.getLogger(ACCESS_LOGGER)


def request_id_from(header: str | None) -> str:
    """The client's id when it is sane, else a new random one."""
    if header is not None and _SANE.fullmatch(header):
        return header
    return os.urandom(16).hex()


def logged_path(scope: Scope) -> str:
    """The request's path and query as the logs may show them."""
    query = scope.get("query_string", b"").decode("latin-1")
    return mask_path(f"{scope['path']}?{query}" if query else scope["path"])


class RequestIdMiddleware:
    """Binds the request's id for its logs, echoes it, and logs the request when answered."""

    def __init__(self, app: ASGIApp, *, clock: Clock | None = None) -> None:
        self.app = app
        self.clock = clock or SystemClock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(_HEADER_KEY)
        request_id = request_id_from(None if header is None else header.decode("latin-1"))
        started = self.clock.monotonic()
        status = 500  # what the client gets if the app fails before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        with bound(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                if log.isEnabledFor(logging.INFO):
                    log_request(scope, status, self.clock.monotonic() - started)


def log_request(scope: Scope, status: int, seconds: float) -> None:
    """The one event of an answered request."""
    path = logged_path(scope)
    log.info(
        "%s %s %d",
        scope["method"],
        path,
        status,
        extra={
            "event": "http_request",
            "method": scope["method"],
            "path": path,
            "status": status,
            "seconds": round(seconds, 4),
        },
    )
