"""CORS for `fetch` to `/forms/{form}`: each form's own `origins`, and no other site.

Starlette's CORSMiddleware takes one allow-list for everything under it; a form's list is its
own, so this answers preflights and adds `Access-Control-Allow-Origin` per form. It sits
outside the exception handlers, so a 400 or 429 carries the header too and `fetch` can read
what was wrong.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/forms/"
ALLOW_HEADERS = "Accept, Accept-Language, Content-Type"
MAX_AGE = "600"


class FormsCORSMiddleware:
    """Preflights answered, and allowed origins named, for each form's `origins`."""

    def __init__(self, app: ASGIApp, *, origins: Mapping[str, Collection[str]]) -> None:
        self.app = app
        self.origins = {name: frozenset(allowed) for name, allowed in origins.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        # Only the form's own address: its thank-you page is for browsers, not `fetch`.
        allowed = self.origins.get(path[len(PREFIX) :])
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await _preflight(allowed, origin, headers)(scope, receive, send)
            return
        named = origin if allowed is not None and origin and origin.lower() in allowed else None

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers.add_vary_header("Origin")
                if named is not None:
                    response_headers["Access-Control-Allow-Origin"] = named
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _preflight(allowed: frozenset[str] | None, origin: str | None, headers: Headers) -> Response:
    """204 with the CORS headers for one of the form's origins asking to POST; else refused."""
    vary = {"Vary": "Origin"}
    if allowed is None:
        return PlainTextResponse("Not found: no such form.\n", 404, headers=vary)
    method = headers["access-control-request-method"].upper()
    if origin is None or origin.lower() not in allowed or method != "POST":
        return PlainTextResponse(
            "Forbidden: this form does not take that from that origin.\n", 403, headers=vary
        )
    return Response(
        status_code=204,
        headers={
            **vary,
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": MAX_AGE,
        },
    )
