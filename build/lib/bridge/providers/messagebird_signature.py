"""MessageBird's legacy JWT signature and Bird's HMAC signature on webhooks, pure.

Legacy MessageBird: `MessageBird-Signature-JWT` is a JWT (HS256, HS384 or HS512) signed with
the account's signing key, with `iss` "MessageBird", `nbf` and `exp` (a minute apart; checked
with one second of leeway), `url_hash` the hex SHA-256 of the full URL called, query included,
and `payload_hash` the hex SHA-256 of the raw body, absent when there is no body
(messagebird/python-rest-api, `RequestValidator.validate_signature`, whose 44 shared cases
the tests run). `jti` is returned for a replay check by the caller.

Bird: `messagebird-signature` is the base64 HMAC-SHA256, keyed by the signing key, of the
`messagebird-request-timestamp` header, "\\n", the URL, "\\n" and the raw SHA-256 digest of
the body (docs.bird.com, "Verifying a webhook"). The timestamp is Unix seconds (Bird's own
published example has ten digits). Bird documents no freshness window, and it retries an
unanswered delivery "at increasing intervals, for a period of 8 hours" without saying whether
a retry is signed afresh; so a timestamp up to 9 hours old is accepted (`BIRD_WINDOW`), which
never refuses a genuine retry, and five minutes ahead for skew. The body is signed, so a replay
inside the window repeats one event, caught by its id as a duplicate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

import jwt

from .base import Rejected
from .telnyx_signature import timed_signature

JWT_HEADER = "MessageBird-Signature-JWT"
SIGNATURE_HEADER = "messagebird-signature"
TIMESTAMP_HEADER = "messagebird-request-timestamp"
# The HMACs MessageBird signs with; an explicit list, so "none" or an asymmetric algorithm
# named by the token itself is refused before the key is used.
JWT_ALGORITHMS = ["HS256", "HS384", "HS512"]
LEEWAY = timedelta(seconds=1)
BIRD_WINDOW = timedelta(hours=9)
CLOCK_SKEW = timedelta(minutes=5)


def _hex_sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).hexdigest().encode()


def _claim_matches(claim: object, expected: bytes) -> bool:
    return isinstance(claim, str) and hmac.compare_digest(claim.lower().encode(), expected)


def check_messagebird_jwt(
    signing_key: str, token: str | None, url: str, body: bytes, now: datetime
) -> dict[str, Any]:
    """The claims of MessageBird-Signature-JWT, once it is shown to sign this URL and body now."""
    if not token:
        raise Rejected(f"missing {JWT_HEADER} header")
    try:
        # nbf and exp are checked below against the injected clock, not PyJWT's.
        claims: dict[str, Any] = jwt.decode(
            token.strip(),
            signing_key,
            algorithms=JWT_ALGORITHMS,
            issuer="MessageBird",
            options={
                "require": ["iss", "nbf", "exp"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidTokenError as exc:
        raise Rejected(f"{JWT_HEADER} is not MessageBird's: {exc}") from None
    moment = now.timestamp()
    not_before, expires = claims["nbf"], claims["exp"]
    for name, value in (("nbf", not_before), ("exp", expires)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Rejected(f"{JWT_HEADER}: {name} is not a number")
    if not_before > moment + LEEWAY.total_seconds():
        raise Rejected(f"{JWT_HEADER} is not valid yet (nbf is in the future)")
    if expires <= moment - LEEWAY.total_seconds():
        raise Rejected(f"{JWT_HEADER} has expired (exp is past: a replay?)")
    if not _claim_matches(claims.get("url_hash"), _hex_sha256(url.encode())):
        raise Rejected(f"{JWT_HEADER}: url_hash does not match the URL")
    payload_hash = claims.get("payload_hash")
    if not body:
        if payload_hash:
            raise Rejected(f"{JWT_HEADER}: payload_hash is set but the body is empty")
        return claims
    if not payload_hash:
        raise Rejected(f"{JWT_HEADER}: the body is not empty but payload_hash is not set")
    if not _claim_matches(payload_hash, _hex_sha256(body)):
        raise Rejected(f"{JWT_HEADER}: payload_hash does not match the body")
    return claims


def bird_signature(signing_key: str, timestamp: str, url: str, body: bytes) -> str:
    """The messagebird-signature Bird sends with `body` to `url` at `timestamp` (tests use it)."""
    signed = f"{timestamp}\n{url}\n".encode() + hashlib.sha256(body).digest()
    digest = hmac.new(signing_key.encode(), signed, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def check_bird(
    signing_key: str,
    signature: str | None,
    timestamp: str | None,
    url: str,
    body: bytes,
    now: datetime,
) -> None:
    """Raise Rejected unless the signature is Bird's over timestamp, URL and body, in the window."""
    given, timestamp = timed_signature(
        signature,
        timestamp,
        now,
        names=(SIGNATURE_HEADER, TIMESTAMP_HEADER),
        max_age=BIRD_WINDOW,
        max_ahead=CLOCK_SKEW,
    )
    expected = base64.b64decode(bird_signature(signing_key, timestamp, url, body))
    if not hmac.compare_digest(given, expected):
        raise Rejected(f"{SIGNATURE_HEADER} does not match the timestamp, URL and body")
