"""HMAC-SHA256 over a delivery's raw body (Typeform, Tally), and millisecond windows: pure.

Typeform and Tally put no time in what they sign, so a captured delivery verifies forever;
its own submission id makes a replay a duplicate, never a second change. Webflow and HubSpot
sign a millisecond timestamp, checked with `check_fresh_ms`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime, timedelta

from .base import Rejected

TOLERANCE = timedelta(minutes=5)


def body_hmac(secret: str, body: bytes) -> bytes:
    """HMAC-SHA256 of `body` with the secret as its key."""
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def sign_body(secret: str, body: bytes, prefix: str = "") -> str:
    """The header value a tool sends with `body`: `prefix` and the base64 HMAC (tests use it)."""
    return prefix + base64.b64encode(body_hmac(secret, body)).decode()


def check_body_signature(
    header: str | None, name: str, secret: str, *bodies: bytes, prefix: str = ""
) -> None:
    """Raise Rejected unless the header is `prefix` + the base64 HMAC of one of `bodies`."""
    if not header:
        raise Rejected(f"missing {name} header")
    if not header.startswith(prefix):
        raise Rejected(f"{name} does not start with {prefix!r}")
    try:
        given = base64.b64decode(header[len(prefix) :].strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Rejected(f"{name} is not base64") from None
    # Every candidate is compared, so the time taken says nothing about which was close.
    matches = [hmac.compare_digest(given, body_hmac(secret, body)) for body in bodies]
    if not any(matches):
        raise Rejected(f"{name} does not match the body")


def check_fresh_ms(
    signature: str | None, timestamp: str | None, names: str, now: datetime
) -> tuple[str, str]:
    """(signature, timestamp) when both are there and the Unix-ms time is within 5 minutes."""
    if not signature or not timestamp:
        raise Rejected(f"missing {names}")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise Rejected(f"the timestamp is not Unix milliseconds: {timestamp[:20]!r}")
    if abs(now.timestamp() * 1000 - int(timestamp)) > TOLERANCE.total_seconds() * 1000:
        raise Rejected("the timestamp is more than 5 minutes from now (a replay?)")
    return signature, timestamp
