"""Vonage's signed webhooks: the SMS API's `sig` parameter and the Messages API's JWT, pure.

SMS API: every parameter but `sig`, sorted by name, as `&name=value` with `&` and `=` inside
values turned into `_`; `sig` is the hex of md5(string + secret) (`md5hash`, the dashboard's
legacy default) or of an HMAC (`md5`, `sha1`, `sha256`, `sha512`) keyed by the signature
secret (Vonage/vonage-python-sdk, `Auth.sign_params`; v3 `Client.signature` for md5hash).
The HMACs may arrive upper-case, so hex is compared lower-cased.

Messages API: `Authorization: Bearer <JWT>`, HS256 with the signature secret, whose
`payload_hash` claim is the hex SHA-256 of the raw body and `iat` the time it was issued.

The window. Vonage resends an unanswered message for 24 hours. `timestamp` is documented as
`message-timestamp`, "when Vonage started to push this inbound message", which reads as fixed
across resends; whether a resend is signed afresh is not documented. So the window is 24 hours
and one of margin (`RESEND_WINDOW`): it never refuses a genuine resend, and a replay inside it
can only repeat a message already seen, which `messageId` (`message_uuid`) catches as a
duplicate. The same window holds for the JWT's `iat`, for the same reason: the token is bound
to the body by `payload_hash`. Five minutes ahead of our clock is allowed for skew.

Vonage's signed-webhooks page warns that "in the rare case of an internal error" a Messages
callback may arrive unsigned, and that a 5xx answer makes it retry (and sign); Vonage retries
429 and 5xx only, so a 401 for a missing token loses that message.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import jwt
from starlette.datastructures import Headers

from .base import Rejected
from .telnyx_signature import check_age, unix_seconds
from .token_auth import bearer

RESEND_WINDOW = timedelta(hours=25)
CLOCK_SKEW = timedelta(minutes=5)
_HMACS = {
    "md5": hashlib.md5,
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}
METHODS = ("md5hash", *_HMACS)
# Messages API webhooks are always HS256 ("SHA-256 is always used", whatever the dashboard
# says); pinning it keeps a token from choosing its own algorithm.
_JWT_ALGORITHMS = ["HS256"]


def signed_string(params: Mapping[str, str]) -> str:
    """The `&name=value` string Vonage signs: sorted, no `sig`, `&` and `=` in values as `_`."""
    return "".join(
        f"&{name}={params[name].replace('&', '_').replace('=', '_')}"
        for name in sorted(params)
        if name != "sig"
    )


def vonage_sig(params: Mapping[str, str], secret: str, method: str) -> str:
    """The hex `sig` Vonage sends with these parameters; ValueError for an unknown method."""
    text = signed_string(params).encode()
    if method == "md5hash":
        # Vonage's legacy scheme, still the dashboard's default; the HMACs are better.
        return hashlib.md5(text + secret.encode()).hexdigest()  # noqa: S324
    if method not in _HMACS:
        raise ValueError(f"not a Vonage signature method: {method!r} (one of {', '.join(METHODS)})")
    return hmac.new(secret.encode(), text, _HMACS[method]).hexdigest()


def check_vonage_sig(
    params: Mapping[str, str],
    secret: str,
    method: str,
    now: datetime,
    max_age: timedelta = RESEND_WINDOW,
) -> None:
    """Raise Rejected unless `sig` signs the parameters and `timestamp` is within the window."""
    given = params.get("sig")
    if not given:
        raise Rejected("missing sig parameter")
    timestamp = params.get("timestamp")
    if not timestamp:
        raise Rejected("missing timestamp parameter (it is signed, and dates the message)")
    sent_at = unix_seconds(timestamp, "timestamp")
    check_age(sent_at, now, max_age=max_age, max_ahead=CLOCK_SKEW, what="timestamp")
    expected = vonage_sig(params, secret, method)
    if not hmac.compare_digest(given.strip().lower().encode(), expected.encode()):
        raise Rejected(f"sig does not match the parameters ({method})")


def check_vonage_jwt(
    authorization: str | None, secret: str, body: bytes, now: datetime
) -> dict[str, Any]:
    """The claims of the Messages API's bearer JWT, once it is shown to sign this body now."""
    token = bearer(Headers({"authorization": authorization})) if authorization else None
    if token is None:
        raise Rejected("missing Authorization header")
    try:
        # The time claims are checked below against the injected clock, not PyJWT's.
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=_JWT_ALGORITHMS,
            options={
                "require": ["iat", "payload_hash"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidTokenError as exc:
        raise Rejected(f"the bearer JWT is not Vonage's: {exc}") from None
    issued_at = claims["iat"]
    if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
        raise Rejected("the JWT's iat is not a number")
    check_age(issued_at, now, max_age=RESEND_WINDOW, max_ahead=CLOCK_SKEW, what="the JWT's iat")
    payload_hash = claims["payload_hash"]
    if not isinstance(payload_hash, str):
        raise Rejected("the JWT's payload_hash is not text")
    expected = hashlib.sha256(body).hexdigest().encode()
    if not hmac.compare_digest(payload_hash.strip().lower().encode(), expected):
        raise Rejected("the JWT's payload_hash does not match the body")
    return claims
