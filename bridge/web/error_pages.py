"""The one place errors become responses: a page for people, JSON or text for machines.

A page is in the person's language (from `?lang=` and Accept-Language: a broken link carries
no locale of its own) when the error has a catalog entry. The API and webhooks answer in
English, which is what their callers log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bridge.links import ExpiredLink
from bridge.web.access_log import mask_path
from bridge.web.audiences import Audience, area_of
from bridge.web.errors import BridgeHTTPError, Unavailable
from bridge.web.forms.answers import wants_json
from bridge.web.pages.common import choose_language, render

log = logging.getLogger(__name__)


def _audience(request: Request) -> Audience:
    """Who asked: the route table's answer, else a browser's Accept header (or its absence)."""
    area = area_of(request.url.path)
    if area is not None and area.audience is Audience.FORMS:
        # A form posted with `fetch` reads JSON; one a browser submitted shows a page.
        return Audience.API if wants_json(request) else Audience.PEOPLE
    accepts = request.headers.get("accept", "text/html")
    if area is not None and area.audience is Audience.ADMIN:
        # An operator's browser gets a page; a script with the bearer token, plain text.
        return Audience.PEOPLE if "text/html" in accepts else Audience.OPS
    if area is not None:
        return area.audience
    return Audience.PEOPLE if "text/html" in accepts else Audience.OPS


def render_error(
    request: Request,
    status: int,
    title: str,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    key: str | None = None,
    details: Mapping[str, str] | None = None,
) -> Response:
    """The response for an error, shaped (and, for people, worded) for whoever asked."""
    audience = _audience(request)
    if audience is Audience.API:
        body = {"error": title, "message": message, **(details or {})}
        return JSONResponse(body, status, headers=headers)
    if audience is not Audience.PEOPLE:
        return PlainTextResponse(f"{title}: {message}\n", status, headers=headers)
    language = choose_language(request, None)
    if key is not None:
        title = language.catalog.gettext(f"errors.{key}.title")
        message = language.catalog.gettext(f"errors.{key}.message")
    return render(
        request,
        "error.html",
        language,
        {"title": title, "message": message},
        status_code=status,
        headers=headers,
        # An error's address may be a broken link or a POST-only one: nothing to link to.
        switcher=False,
    )


async def handle_bridge_error(request: Request, exc: Exception) -> Response:
    """Turn a BridgeHTTPError into its page or body."""
    assert isinstance(exc, BridgeHTTPError)
    return render_error(
        request,
        exc.status_code,
        exc.title,
        exc.message,
        exc.headers,
        key=exc.key,
        details=exc.details(),
    )


async def handle_bad_link(request: Request, exc: Exception) -> Response:
    """A link token that is not ours, or is past its age: say which, and what to do."""
    if isinstance(exc, ExpiredLink):
        title, message, key = (
            "This link has expired",
            "This link is too old. Use the link in a more recent message.",
            "expired_link",
        )
    else:
        title, message, key = (
            "This link isn't valid",
            "The address may have been cut short or changed. Copy the whole link from the "
            "message, or use the link in a more recent one.",
            "invalid_link",
        )
    return render_error(request, 400, title, message, key=key)


async def handle_ledger_unavailable(request: Request, exc: Exception) -> Response:
    """The ledger could not commit: nothing was recorded, so every caller is told to retry."""
    log.warning("nothing recorded for %s %s: %s", request.method, mask_path(request.url.path), exc)
    unavailable = Unavailable(
        "The ledger could not commit; nothing was recorded. Retry later.", key="not_recorded"
    )
    return await handle_bridge_error(request, unavailable)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 in the same shapes as ours."""
    assert isinstance(exc, HTTPException)
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
    message = {
        404: "There is nothing at this address.",
        405: "This address does not accept that method.",
    }.get(exc.status_code, str(exc.detail))
    key = "not_found" if exc.status_code == 404 else None
    return render_error(request, exc.status_code, title, message, dict(exc.headers or {}), key=key)


async def handle_client_gone(request: Request, exc: Exception) -> Response:
    """The client went away, or missed a deadline, mid-body: nobody is left to answer."""
    log.info("client disconnected before its request was read: %s", mask_path(request.url.path))
    return PlainTextResponse("Client disconnected.\n", 400)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """Log the failure with its traceback; show the caller only that it failed."""
    log.exception("unhandled error on %s %s", request.method, mask_path(request.url.path))
    return render_error(
        request,
        500,
        "Something went wrong",
        "The error was logged; please try again later.",
        key="server_error",
    )
