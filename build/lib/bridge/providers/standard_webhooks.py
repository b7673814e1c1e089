"""Standard Webhooks (and Svix, which it grew from): the symmetric `v1` signature, pure.

The sender signs `{msg_id}.{timestamp}.{raw body}` with HMAC-SHA256; the key is the base64
part of a `whsec_...` secret. The signature header is a space-separated list of
`version,base64` entries (several during key rotation); one matching `v1` entry is enough,
and other versions (`v1a`, Ed25519) are skipped. The timestamp is when this attempt was sent:
each retry is signed afresh, so the 5-minute window the spec's libraries apply both ways
refuses replays without refusing genuine retries, and `msg_id` (stable across retries) is
the idempotency key (the Standard Webhooks specification, www.standardwebhooks.com;
docs.svix.com).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime, timedelta

from .base import Rejected

TOLERANCE = timedelta(minutes=5)
_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key in a `whsec_...` secret (the prefix is optional); ValueError if not base64."""
    encoded = secret.removeprefix(_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ValueError("not a whsec_ secret: the part after whsec_ is not base64") from None
    if not key:
        raise ValueError("not a whsec_ secret: it is empty")
    return key


def sign_standard_webhook(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The `v1,<base64>` signature of a message, as a sender computes it (tests use it)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_standard_webhook(
    secret: str,
    msg_id: str | None,
    timestamp: str | None,
    signature_header: str | None,
    body: bytes,
    now: datetime,
) -> None:
    """Raise Rejected unless one `v1` signature matches and the timestamp is within 5 minutes."""
    if not msg_id or not timestamp or not signature_header:
        raise Rejected("missing webhook-id, webhook-timestamp or webhook-signature")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise Rejected(f"the timestamp is not whole Unix seconds: {timestamp[:20]!r}")
    age = now.timestamp() - int(timestamp)
    if age > TOLERANCE.total_seconds():
        raise Rejected("the timestamp is more than 5 minutes old (a replay?)")
    if -age > TOLERANCE.total_seconds():
        raise Rejected("the timestamp is more than 5 minutes in the future (check the clock)")
    expected = base64.b64decode(sign_standard_webhook(secret, msg_id, timestamp, body)[3:])
    for entry in signature_header.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            continue
        if hmac.compare_digest(expected, given):
            return
    raise Rejected("no v1 signature matches")
