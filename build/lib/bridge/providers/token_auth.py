"""A shared token, for senders that can't sign: `Authorization: Bearer` or `?token=`.

Jotform can only call a URL, and Zapier, Make, n8n or a script can set a header more easily
than compute a signature; both prove themselves with a long random token. The token is
compared in constant time; in a URL it is kept out of access logs (`web/access_log.py`).
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import Headers

from .base import Rejected


def bearer(headers: Headers) -> str | None:
    """The bearer token in the Authorization header; None when there is no such header."""
    header = headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Rejected("the Authorization header is not a bearer token")
    return token.strip()


def query_token(url: str) -> str | None:
    """The `token` query parameter of the URL called (the last, if several)."""
    found = [value for key, value in parse_qsl(urlsplit(url).query) if key == "token"]
    return found[-1] if found else None


def check_token(given: str | None, token: str) -> None:
    """Raise Rejected unless `given` is the token (compared in constant time)."""
    if given is None:
        raise Rejected("missing token (Authorization: Bearer, or ?token= in the URL)")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise Rejected("wrong token")
