"""The bridge's HTTP errors and the one place they become responses.

People get a small HTML page; machines (webhooks, the API) get plain text or JSON. Messages
say what was wrong and never carry a stack trace or a secret.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.templating import Jinja2Templates

from bridge.logsafe import mask_path

log = logging.getLogger(__name__)


class BridgeHTTPError(Exception):
    """An error that knows its HTTP status and a message safe to show."""

    status_code = 400
    title = "Bad request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InvalidLink(BridgeHTTPError):
    """A link token that was tampered with, truncated or signed by an unknown key."""

    status_code = 400
    title = "This link isn't valid"


class BadForm(BridgeHTTPError):
    """A form body that could not be parsed (too many fields, broken multipart)."""

    status_code = 400
    title = "Bad request"


class ExpiredLinkError(BridgeHTTPError):
    """A genuine link past its configured maximum age."""

    status_code = 400
    title = "This link has expired"


class InvalidBody(BridgeHTTPError):
    """A JSON body that parsed but does not say something the API understands."""

    status_code = 422
    title = "Invalid request body"


class UnsupportedMediaType(BridgeHTTPError):
    """A body in a format the endpoint does not take."""

    status_code = 415
    title = "Unsupported media type"


class TooLarge(BridgeHTTPError):
    """A body over the configured limit."""

    status_code = 413
    title = "Request too large"


class Unavailable(BridgeHTTPError):
    """The ledger could not commit, so nothing was accepted; the caller should retry."""

    status_code = 503
    title = "Temporarily unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": "30"})


_TOKEN_PAGES = ("/unsubscribe/", "/preferences/")
# A page about a link's token is never kept by caches or shown again from history.
NO_STORE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


def _wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/webhooks/", "/healthz", "/readyz", "/metrics")):
        return False
    return "text/html" in request.headers.get("accept", "text/html") or path.startswith(
        _TOKEN_PAGES
    )


def render_error(
    request: Request, status: int, title: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """The response for an error, shaped for whoever asked."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": title, "message": message}, status, headers=headers)
    if _wants_html(request):
        templates: Jinja2Templates = request.app.state.services.templates
        if request.url.path.startswith(_TOKEN_PAGES):
            headers = {**NO_STORE, **(headers or {})}
        return templates.TemplateResponse(
            request,
            "error.html",
            {
                "title": title,
                "message": message,
                "embedded": request.query_params.get("embed") == "1",
            },
            status_code=status,
            headers=headers,
        )
    return PlainTextResponse(f"{title}: {message}\n", status, headers=headers)


async def handle_bridge_error(request: Request, exc: Exception) -> Response:
    """Turn a BridgeHTTPError into its page or body."""
    assert isinstance(exc, BridgeHTTPError)
    return render_error(request, exc.status_code, exc.title, exc.message, exc.headers)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 in the same shapes as ours."""
    assert isinstance(exc, HTTPException)
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
    message = {
        404: "There is nothing at this address.",
        405: "This address does not accept that method.",
    }.get(exc.status_code, str(exc.detail))
    return render_error(request, exc.status_code, title, message, dict(exc.headers or {}))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """Log the failure with its traceback; show the caller only that it failed."""
    log.exception("unhandled error on %s %s", request.method, mask_path(request.url.path))
    return render_error(
        request, 500, "Something went wrong", "The error was logged; please try again later."
    )
