"""Refuses request bodies over the configured size before they are read into memory."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.web.errors import TooLarge


class BodyLimitMiddleware:
    """413 for a declared Content-Length over the limit; TooLarge once a streamed body passes it."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, larger: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Path prefixes allowed more (provider batches: SendGrid's reach 768 KB, Mandrill's
        # 1,000 events form-encoded can pass 1 MB).
        self.larger = dict(larger or {})

    def _limit(self, path: str) -> int:
        for prefix, limit in self.larger.items():
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            response = PlainTextResponse(
                f"Request too large: bodies are limited to {limit} bytes.\n", 413
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLarge(f"bodies are limited to {limit} bytes")
            return message

        await self.app(scope, limited_receive, send)
