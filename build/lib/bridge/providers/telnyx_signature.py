"""Telnyx's Ed25519 webhook signature, and the Unix-seconds freshness checks SMS schemes share.

Telnyx signs `{telnyx-timestamp}|{raw body}` with its Ed25519 key; the signature arrives as
base64 (64 bytes) in `telnyx-signature-ed25519`, the time as Unix seconds in `telnyx-timestamp`,
and the public key is 32 bytes of base64 from the Mission Control portal. Telnyx's own SDK
refuses a timestamp more than 300 seconds from now either way (team-telnyx/telnyx-python,
`lib/webhook_verification.py`), which holds only if each attempt is signed at its own time;
the same window is kept here, and `data.id` is the idempotency key.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from bridge.settings import SettingsError

from .base import Rejected

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
TOLERANCE = timedelta(seconds=300)
# Ten digits reach the year 2286; more is junk, and int() of thousands of digits is slow.
_MAX_DIGITS = 12


def unix_seconds(value: str, what: str) -> int:
    """A header's whole Unix seconds; Rejected naming `what` if it is anything else."""
    if not value.isascii() or not value.isdigit() or len(value) > _MAX_DIGITS:
        raise Rejected(f"{what} is not whole Unix seconds: {value[:20]!r}")
    return int(value)


def check_age(
    sent_at: float, now: datetime, *, max_age: timedelta, max_ahead: timedelta, what: str
) -> None:
    """Raise Rejected when `sent_at` (Unix seconds) is older than `max_age` or too far ahead."""
    age = now.timestamp() - sent_at
    if age > max_age.total_seconds():
        raise Rejected(f"{what} is {age:.0f} s old, more than {max_age} (a replay?)")
    if -age > max_ahead.total_seconds():
        raise Rejected(f"{what} is {-age:.0f} s in the future (check the clock)")


def timed_signature(
    signature_b64: str | None,
    timestamp: str | None,
    now: datetime,
    *,
    names: tuple[str, str],
    max_age: timedelta,
    max_ahead: timedelta,
) -> tuple[bytes, str]:
    """(signature bytes, timestamp) once both headers are there and the time is in the window."""
    signature_name, timestamp_name = names
    if not signature_b64 or not timestamp:
        raise Rejected(f"missing {signature_name} or {timestamp_name} header")
    sent_at = unix_seconds(timestamp, timestamp_name)
    check_age(sent_at, now, max_age=max_age, max_ahead=max_ahead, what=timestamp_name)
    try:
        return base64.b64decode(signature_b64.strip(), validate=True), timestamp
    except (binascii.Error, ValueError):
        raise Rejected(f"{signature_name} is not base64") from None


def load_telnyx_key(
    public_key_b64: str, setting: str = "BRIDGE_CONFIG.providers.telnyx.public_key"
) -> Ed25519PublicKey:
    """The Ed25519 public key from its base64; SettingsError naming `setting` if it is not one."""
    try:
        raw = base64.b64decode(public_key_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError(
            f"{setting}: not base64 (copy the public key from Telnyx Mission Control)"
        ) from None
    if len(raw) != 32:
        raise SettingsError(f"{setting}: {len(raw)} bytes, not the 32 of an Ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(raw)


# The same key on every request: decoded once, not per delivery.
_cached_key = lru_cache(maxsize=8)(load_telnyx_key)


def sign_telnyx(private_key: Ed25519PrivateKey, timestamp: str, body: bytes) -> str:
    """The telnyx-signature-ed25519 header Telnyx sends with `body` (tests use it)."""
    return base64.b64encode(private_key.sign(timestamp.encode() + b"|" + body)).decode()


def check_telnyx(
    public_key_b64: str,
    signature_b64: str | None,
    timestamp: str | None,
    body: bytes,
    now: datetime,
) -> None:
    """Raise Rejected unless the signature is Telnyx's over timestamp|body, within 300 s."""
    signature, timestamp = timed_signature(
        signature_b64,
        timestamp,
        now,
        names=(SIGNATURE_HEADER, TIMESTAMP_HEADER),
        max_age=TOLERANCE,
        max_ahead=TOLERANCE,
    )
    if len(signature) != 64:
        raise Rejected(f"{SIGNATURE_HEADER} is {len(signature)} bytes, not 64")
    try:
        signed = f"{timestamp}|".encode() + body
        _cached_key(public_key_b64).verify(signature, signed)
    except InvalidSignature:
        raise Rejected(f"{SIGNATURE_HEADER} does not match the timestamp and body") from None
