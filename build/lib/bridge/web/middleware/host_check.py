"""Refuses requests whose `Host` is not one of the bridge's own names.

Anything that builds a URL from the request (a redirect, a link back to the page) would
otherwise point wherever the caller's `Host` header says: `GET /healthz/` with
`Host: evil.example` was answered with a redirect to `http://evil.example/healthz`. The
bridge builds the links it sends from `BRIDGE_PUBLIC_URL`, so its host, the operator's extra
names, and localhost (for probes on the machine) are all it needs to answer to.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def host_name(header: str) -> str:
    """The host of a `Host` header, without its port, lowercased (`[::1]:8000` -> `::1`)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class HostCheckMiddleware:
    """400 for a `Host` that is not allowed; `*.example.com` allows every subdomain."""

    def __init__(self, app: ASGIApp, *, allowed: Iterable[str]) -> None:
        self.app = app
        names = [name.lower() for name in allowed]
        self.exact = {name for name in names if not name.startswith("*.")}
        self.suffixes = tuple(name[1:] for name in names if name.startswith("*."))

    def allows(self, host: str) -> bool:
        """Whether a host name (no port) is one of ours."""
        return host in self.exact or (bool(self.suffixes) and host.endswith(self.suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if not self.allows(host_name(header)):
                response = PlainTextResponse(
                    "Bad request: this server does not answer to that Host header.\n", 400
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
