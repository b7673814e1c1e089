"""The bridge's HTTP errors: each knows its status, its words, and how to say them to people.

`bridge.web.error_pages` turns them into responses. Messages say what was wrong and never
carry a stack trace or a secret.
"""

from __future__ import annotations

# A page about a link's token is never kept by caches or shown again from history.
NO_STORE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


class BridgeHTTPError(Exception):
    """An error that knows its HTTP status and a message safe to show.

    `key` names the catalog entry (`errors.<key>.title` and `.message`) that says the same to
    a person in their language; without one, pages show the English title and message.
    """

    status_code = 400
    title = "Bad request"
    key: str | None = None

    def __init__(
        self, message: str, *, headers: dict[str, str] | None = None, key: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        if key is not None:
            self.key = key

    def details(self) -> dict[str, str]:
        """More for a JSON answer than the title and message (e.g. the field that is wrong)."""
        return {}


class BadForm(BridgeHTTPError):
    """A form body that could not be parsed (too many fields, broken multipart)."""

    status_code = 400
    title = "Bad request"


class InvalidUndo(BridgeHTTPError):
    """An undo button's token that is not ours, or not for this link."""

    status_code = 400
    title = "This button isn't valid"
    key = "invalid_undo"


class ExpiredUndo(BridgeHTTPError):
    """An undo button pressed after its token's short life."""

    status_code = 400
    title = "This button has expired"
    key = "expired_undo"


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
    """Something the request needs is down, so nothing was accepted; the caller should retry."""

    status_code = 503
    title = "Temporarily unavailable"

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": "30"}, key=key)
