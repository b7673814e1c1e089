"""Refuses request bodies over their route's limit before they are read into memory.

Each source has a limit that fits its real payloads: pages and the JSON API a small one, each
provider's webhook its own (a SendGrid batch is 768 KB, a Mailgun event a few KB). A body
declared too large is refused at its first read, so the route's error handling shapes the 413
as it shapes every other error (JSON for the API, a page for people); a body streamed past the
limit is refused the moment it passes it.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.web.errors import TooLarge


class BodyLimitMiddleware:
    """TooLarge from `receive` once a body is, or is declared, over its path's limit."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, by_path: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.by_path = dict(by_path or {})  # exact paths with limits of their own

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.by_path.get(scope["path"].rstrip("/"), self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        too_large = declared is not None and (not declared.isdigit() or int(declared) > limit)
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            if too_large:
                # Refused before a byte of it is read.
                raise TooLarge(f"bodies here are limited to {limit} bytes")
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLarge(f"bodies here are limited to {limit} bytes")
            return message

        await self.app(scope, limited_receive, send)
