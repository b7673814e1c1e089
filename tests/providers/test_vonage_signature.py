"""Vonage: the SDKs' `sig` vectors for every method, the window, the Messages API JWT."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from bridge.providers import Rejected
from bridge.providers.vonage_signature import (
    RESEND_WINDOW,
    check_vonage_jwt,
    check_vonage_sig,
    signed_string,
    vonage_sig,
)
from tests.providers.webhooks import vectors

VECTORS: dict[str, Any] = vectors("vonage_sms_sig")
V3: dict[str, Any] = VECTORS["v3_sdk"]
V4: dict[str, Any] = VECTORS["v4_sdk"]
JWT_VECTOR: dict[str, Any] = VECTORS["jwt_hs256"]
V3_EXPECTED = {
    "md5hash": V3["md5hash_legacy"],
    "md5": V3["md5_hmac"],
    "sha1": V3["sha1_hmac"],
    "sha256": V3["sha256_hmac"],
    "sha512": V3["sha512_hmac"],
}
SECRET: str = V3["signature_secret"]
THEN = datetime.fromtimestamp(int(V3["params"]["timestamp"]), UTC)  # the vector's own time
JWT_SECRET: str = JWT_VECTOR["signature_secret"]
BODY = b'{"channel":"sms","message_uuid":"aaaaaaaa-bbbb-cccc-dddd-0123456789ab","text":"STOP"}'
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def as_text(params: dict[str, Any]) -> dict[str, str]:
    """Parameters as a webhook delivers them: text (the v4 vectors hold an int timestamp)."""
    return {name: str(value) for name, value in params.items()}


def signed(method: str, **params: str) -> dict[str, str]:
    """The v3 vector's parameters, changed as given, with their `sig`."""
    merged = {**V3["params"], **params}
    return {**merged, "sig": vonage_sig(merged, SECRET, method)}


@pytest.mark.parametrize("method", sorted(V3_EXPECTED))
def test_the_v3_sdk_vectors(method: str) -> None:
    assert vonage_sig(V3["params"], SECRET, method) == V3_EXPECTED[method]
    check_vonage_sig({**V3["params"], "sig": V3_EXPECTED[method]}, SECRET, method, THEN)


@pytest.mark.parametrize("method", ["md5", "sha1", "sha256", "sha512"])
def test_upper_case_hmacs_verify(method: str) -> None:
    # Vonage's .NET docs: "the HMAC variants return the uppercase HMAC".
    params = {**V3["params"], "sig": V3_EXPECTED[method].upper()}
    check_vonage_sig(params, SECRET, method, THEN)


def test_the_v4_sdk_vectors() -> None:
    params = as_text(V4["params"])
    assert vonage_sig(params, V4["signature_secret"], "sha256") == V4["sha256_hmac"]
    assert vonage_sig(params, V4["signature_secret"], "md5") == V4["md5_hmac_default"]
    case = as_text(V4["check_signature_case"]["params"])
    sent = datetime.fromtimestamp(int(case["timestamp"]), UTC)
    check_vonage_sig(case, V4["signature_secret"], "md5", sent + timedelta(seconds=3))


def test_ampersands_and_equals_in_values_are_signed_as_underscores() -> None:
    assert signed_string({"text": "a&b=c", "sig": "x", "b": "2"}) == "&b=2&text=a_b_c"
    odd = {**V3["params"], "text": "Tom & Jerry = fun"}
    plain = {**V3["params"], "text": "Tom _ Jerry _ fun"}
    assert vonage_sig(odd, SECRET, "sha256") == vonage_sig(plain, SECRET, "sha256")


def test_an_unknown_method_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="sha384"):
        vonage_sig(V3["params"], SECRET, "sha384")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({**V3["params"]}, "missing sig"),
        ({**V3["params"], "sig": ""}, "missing sig"),
        ({"a": "1", "b": "2", "sig": V3["sha256_hmac"]}, "missing timestamp"),
        (signed("sha256", timestamp="1461605396.5"), "not whole Unix seconds"),
        (signed("sha256", timestamp="-1461605396"), "not whole Unix seconds"),
        (signed("sha256", timestamp="9" * 400), "not whole Unix seconds"),
        ({**V3["params"], "sig": V3["sha256_hmac"], "a": "9"}, "does not match"),
        ({**V3["params"], "sig": V3["sha256_hmac"], "keyword": "STOP"}, "does not match"),
        ({**V3["params"], "sig": V3["sha1_hmac"]}, "does not match"),
        ({**V3["params"], "sig": V3["sha256_hmac"][:-1]}, "does not match"),
        ({**V3["params"], "sig": "é" * 64}, "does not match"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_each_failure_is_rejected(params: dict[str, str], message: str) -> None:
    with pytest.raises(Rejected, match=message):
        check_vonage_sig(params, SECRET, "sha256", THEN)


def test_a_wrong_secret_is_rejected() -> None:
    params = {**V3["params"], "sig": V3["sha256_hmac"]}
    with pytest.raises(Rejected, match="does not match"):
        check_vonage_sig(params, "another-secret", "sha256", THEN)


def test_the_window_covers_a_day_of_resends_and_five_minutes_of_skew() -> None:
    params = {**V3["params"], "sig": V3["sha256_hmac"]}
    check_vonage_sig(params, SECRET, "sha256", THEN + RESEND_WINDOW)
    check_vonage_sig(params, SECRET, "sha256", THEN - timedelta(minutes=5))
    with pytest.raises(Rejected, match="old"):
        check_vonage_sig(params, SECRET, "sha256", THEN + RESEND_WINDOW + timedelta(seconds=1))
    with pytest.raises(Rejected, match="future"):
        check_vonage_sig(params, SECRET, "sha256", THEN - timedelta(minutes=5, seconds=1))
    with pytest.raises(Rejected, match="old"):
        check_vonage_sig(params, SECRET, "sha256", THEN + timedelta(hours=2), timedelta(hours=1))


def bearer(claims: dict[str, Any], *, key: Any = JWT_SECRET, algorithm: str = "HS256") -> str:
    """An Authorization header carrying a JWT with these claims."""
    return "Bearer " + jwt.encode(claims, key, algorithm=algorithm)


def messages_claims(body: bytes = BODY, **changes: Any) -> dict[str, Any]:
    """The claims Vonage puts in a Messages API webhook's JWT, issued at NOW."""
    claims = {
        "iat": int(NOW.timestamp()),
        "jti": "6a1c0b4a-0000-4000-8000-000000000001",
        "iss": "Vonage",
        "api_key": "abcd1234",
        "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        **changes,
    }
    return {name: value for name, value in claims.items() if value is not None}


def test_the_sdk_jwt_vector_is_vonages_but_signs_no_body() -> None:
    # The SDK's token checks the HS256 signature only: it has no payload_hash, so it passes
    # the signature and is refused for the missing claim (a wrong key fails earlier).
    token = "Bearer " + JWT_VECTOR["token"]
    with pytest.raises(Rejected, match='"payload_hash"'):
        check_vonage_jwt(token, JWT_SECRET, BODY, NOW)
    with pytest.raises(Rejected, match="Signature verification failed"):
        check_vonage_jwt(token, JWT_SECRET.upper(), BODY, NOW)


def test_a_messages_jwt_verifies_and_gives_its_claims() -> None:
    claims = check_vonage_jwt(bearer(messages_claims()), JWT_SECRET, BODY, NOW)
    assert claims["api_key"] == "abcd1234"
    check_vonage_jwt(bearer(messages_claims()).replace("Bearer", "bearer"), JWT_SECRET, BODY, NOW)
    upper = messages_claims(payload_hash=hashlib.sha256(BODY).hexdigest().upper())
    check_vonage_jwt(bearer(upper), JWT_SECRET, BODY, NOW)


@pytest.mark.parametrize(
    ("authorization", "body", "message"),
    [
        (None, BODY, "missing Authorization"),
        ("", BODY, "missing Authorization"),
        ("Basic dXNlcjpwYXNz", BODY, "not a bearer token"),
        ("Bearer ", BODY, "not a bearer token"),
        ("Bearer not.a.jwt", BODY, "not Vonage's"),
        (bearer(messages_claims()), BODY + b" ", "payload_hash does not match"),
        (bearer(messages_claims(payload_hash=None)), BODY, '"payload_hash"'),
        (bearer(messages_claims(payload_hash=12)), BODY, "payload_hash is not text"),
        (bearer(messages_claims(iat=None)), BODY, '"iat"'),
        (bearer(messages_claims(iat="yesterday")), BODY, "iat is not a number"),
        (bearer(messages_claims(iat=True)), BODY, "iat is not a number"),
        (bearer(messages_claims(), key="another-secret-of-32-characters!"), BODY, "Signature"),
        (bearer(messages_claims(), algorithm="HS512", key=JWT_SECRET * 2), BODY, "alg"),
    ],
    ids=lambda value: str(value)[:30],
)
def test_each_jwt_failure_is_rejected(authorization: str | None, body: bytes, message: str) -> None:
    with pytest.raises(Rejected, match=message):
        check_vonage_jwt(authorization, JWT_SECRET, body, NOW)


def test_an_unsigned_or_asymmetric_jwt_is_refused_before_the_key_is_used() -> None:
    unsigned = jwt.encode(messages_claims(), None, algorithm="none")
    with pytest.raises(Rejected, match="alg"):
        check_vonage_jwt("Bearer " + unsigned, JWT_SECRET, BODY, NOW)
    private_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(Rejected, match="alg"):
        check_vonage_jwt(
            bearer(messages_claims(), key=private_key, algorithm="ES256"), JWT_SECRET, BODY, NOW
        )


def test_the_jwt_window_is_the_resend_window() -> None:
    token = bearer(messages_claims())
    check_vonage_jwt(token, JWT_SECRET, BODY, NOW + RESEND_WINDOW)
    check_vonage_jwt(token, JWT_SECRET, BODY, NOW - timedelta(minutes=5))
    with pytest.raises(Rejected, match="old"):
        check_vonage_jwt(token, JWT_SECRET, BODY, NOW + RESEND_WINDOW + timedelta(seconds=1))
    with pytest.raises(Rejected, match="future"):
        check_vonage_jwt(token, JWT_SECRET, BODY, NOW - timedelta(minutes=6))
