"""HTTP Basic credentials, for providers that sign nothing (Postmark, Mailjet, ...).

Such a provider proves itself only by the username and password set on its webhook, sent as
`Authorization: Basic base64(user:pass)` (RFC 7617). Both parts are compared in constant time
and both comparisons always run, so a wrong username takes as long to refuse as a wrong
password.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import ClassVar

import httpx
from starlette.datastructures import Headers

from bridge.clock import Clock
from bridge.settings import SettingsError

from .base import Delivery, Provider, ProviderSettings, Rejected


def credentials(settings: ProviderSettings) -> tuple[str, str]:
    """The `username` and `password` settings; SettingsError for a username with a colon."""
    username, password = settings.secret("username"), settings.credential("password")
    if ":" in username:
        # RFC 7617: the user-id ends at the first colon, so such a username never matches.
        raise SettingsError(
            f"BRIDGE_CONFIG.providers.{settings.name}.username: must not contain ':'"
        )
    return username, password


def check_basic_auth(headers: Headers, username: str, password: str) -> None:
    """Raise Rejected unless the request carries exactly these Basic credentials."""
    header = headers.get("authorization")
    if not header:
        raise Rejected("missing Authorization header (Basic credentials)")
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise Rejected("the Authorization header is not Basic credentials")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Rejected("the Basic credentials are not base64") from None
    given_user, colon, given_password = decoded.partition(b":")
    user_ok = hmac.compare_digest(given_user, username.encode())
    password_ok = hmac.compare_digest(given_password, password.encode())
    if not (colon and user_ok and password_ok):
        raise Rejected("wrong username or password")


class BasicAuthProvider(Provider):
    """A provider that proves itself with the `username` and `password` set on its webhook."""

    required: ClassVar[tuple[str, ...]] = ("password",)

    def __init__(self, settings: ProviderSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        self._username, self._password = credentials(settings)

    def check_headers(self, headers: Headers) -> None:
        """The webhook's Basic credentials, compared in constant time, before the body is read."""
        check_basic_auth(headers, self._username, self._password)

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """The webhook's Basic credentials (all there is to check)."""
        self.check_headers(delivery.headers)
