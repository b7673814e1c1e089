"""MessageBird's JWT on the SDK's 44 shared cases, and Bird's HMAC: signed, tampered, the window."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from bridge.providers import Rejected
from bridge.providers.messagebird_signature import (
    BIRD_WINDOW,
    bird_signature,
    check_bird,
    check_messagebird_jwt,
)
from tests.providers.webhooks import sample

CASES: list[dict[str, Any]] = sample("messagebird-webhook-signature-testvectors.json")
# What each of the SDK's reasons is called here: a refusal must be for the case's reason.
REASONS = {
    "invalid jwt: claim nbf is in the future": "not valid yet",
    "invalid jwt: claim exp is in the past": "has expired",
    "invalid jwt: claim url_hash is invalid": "url_hash does not match",
    "invalid jwt: claim payload_hash is invalid": "payload_hash does not match",
    "invalid jwt: claim payload_hash is set but actual payload is missing": "body is empty",
    "invalid jwt: claim payload_hash is not set but payload is present": "is not set",
    "invalid jwt: signature is invalid": "Signature verification failed",
    "invalid jwt: signing method none is invalid": "alg value is not allowed",
}
KEY: str = CASES[0]["secret"]
URL = "https://consent.example.com/webhooks/messagebird?source=sms"
BODY = b'{"originator":"31612345678","payload":"STOP"}'
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def case_arguments(case: dict[str, Any]) -> dict[str, Any]:
    """One shared case as check_messagebird_jwt's arguments, its `timestamp` as now."""
    return {
        "signing_key": case.get("secret", ""),  # the "none" case has no key at all
        "token": case["token"],
        "url": case["url"],
        "body": case.get("payload", "").encode(),
        "now": datetime.fromisoformat(case["timestamp"]),
    }


@pytest.mark.parametrize("case", CASES, ids=lambda case: case["name"])
def test_the_sdk_shared_cases(case: dict[str, Any]) -> None:
    if case["valid"]:
        claims = check_messagebird_jwt(**case_arguments(case))
        assert claims["iss"] == "MessageBird" and claims["jti"]
    else:
        with pytest.raises(Rejected, match=REASONS[case["reason"]]):
            check_messagebird_jwt(**case_arguments(case))


def test_all_44_cases_are_there_and_both_kinds_occur() -> None:
    assert len(CASES) == 44
    assert {case["valid"] for case in CASES} == {True, False}
    assert {case["reason"] for case in CASES if not case["valid"]} == set(REASONS)


def token(key: Any = KEY, algorithm: str = "HS256", **changes: Any) -> str:
    """A MessageBird-Signature-JWT for BODY posted to URL at NOW, with claims changed."""
    moment = int(NOW.timestamp())
    claims = {
        "iss": "MessageBird",
        "nbf": moment,
        "exp": moment + 60,
        "jti": "59a244dc-e9ad-4e23-9778-371faa238f72",
        "url_hash": hashlib.sha256(URL.encode()).hexdigest(),
        "payload_hash": hashlib.sha256(BODY).hexdigest(),
        **changes,
    }
    present = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(present, key, algorithm=algorithm)


def test_a_token_of_ours_verifies_with_a_second_of_leeway() -> None:
    check_messagebird_jwt(KEY, token(), URL, BODY, NOW)
    check_messagebird_jwt(KEY, token(), URL, BODY, NOW - timedelta(seconds=1))
    check_messagebird_jwt(KEY, token(), URL, BODY, NOW + timedelta(seconds=60))
    with pytest.raises(Rejected, match="not valid yet"):
        check_messagebird_jwt(KEY, token(), URL, BODY, NOW - timedelta(seconds=2))
    with pytest.raises(Rejected, match="expired"):
        check_messagebird_jwt(KEY, token(), URL, BODY, NOW + timedelta(seconds=61))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"token": None}, "missing MessageBird-Signature-JWT"),
        ({"token": ""}, "missing MessageBird-Signature-JWT"),
        ({"token": "a.b.c"}, "not MessageBird's"),
        ({"token": token(iss="MessageBirdX")}, "Invalid issuer"),
        ({"token": token(iss="Message")}, "Invalid issuer"),
        ({"token": token(iss=None)}, '"iss"'),
        ({"token": token(nbf=None)}, '"nbf"'),
        ({"token": token(exp=None)}, '"exp"'),
        ({"token": token(nbf="now")}, "nbf is not a number"),
        ({"token": token(exp=True)}, "exp is not a number"),
        ({"token": token(url_hash=None)}, "url_hash does not match"),
        ({"token": token(url_hash=7)}, "url_hash does not match"),
        ({"url": URL + "&x=1"}, "url_hash does not match"),
        ({"url": URL.replace("https", "http")}, "url_hash does not match"),
        ({"body": BODY + b" "}, "payload_hash does not match"),
        ({"body": b""}, "body is empty"),
        ({"token": token(payload_hash=None)}, "is not set"),
        ({"signing_key": KEY[::-1]}, "Signature verification failed"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_each_failure_is_rejected(changes: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "signing_key": KEY,
        "token": token(),
        "url": URL,
        "body": BODY,
        "now": NOW,
        **changes,
    }
    with pytest.raises(Rejected, match=message):
        check_messagebird_jwt(**arguments)


def test_an_asymmetric_algorithm_named_by_the_token_is_refused() -> None:
    forged = token(key=ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
    with pytest.raises(Rejected, match="alg value is not allowed"):
        check_messagebird_jwt(KEY, forged, URL, BODY, NOW)


TIMESTAMP = str(int(NOW.timestamp()))
SIGNATURE = bird_signature(KEY, TIMESTAMP, URL, BODY)


def check(**changes: Any) -> None:
    """Verify a Bird-signed delivery of BODY to URL at NOW, with some arguments changed."""
    arguments: dict[str, Any] = {
        "signing_key": KEY,
        "signature": SIGNATURE,
        "timestamp": TIMESTAMP,
        "url": URL,
        "body": BODY,
        "now": NOW,
        **changes,
    }
    check_bird(**arguments)


def test_bird_signs_timestamp_url_and_the_raw_body_digest() -> None:
    check()
    # The documented layout, spelled out: the body's digest is raw bytes, not hex.
    layout = f"{TIMESTAMP}\n{URL}\n".encode() + hashlib.sha256(BODY).digest()
    hex_layout = f"{TIMESTAMP}\n{URL}\n{hashlib.sha256(BODY).hexdigest()}".encode()
    assert layout != hex_layout
    assert bird_signature(KEY, TIMESTAMP, URL, BODY) != bird_signature(KEY, TIMESTAMP, URL, b"")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"signature": None}, "missing"),
        ({"timestamp": ""}, "missing"),
        ({"signature": "not base64!"}, "not base64"),
        ({"signature": SIGNATURE[:-4]}, "does not match"),
        ({"body": BODY + b" "}, "does not match"),
        ({"url": URL + "&x=1"}, "does not match"),
        ({"timestamp": str(int(TIMESTAMP) - 1)}, "does not match"),
        ({"signing_key": KEY[::-1]}, "does not match"),
        ({"timestamp": TIMESTAMP + "000"}, "not whole Unix seconds"),  # not milliseconds
        ({"timestamp": "2026-11-28T12:00:00Z"}, "not whole Unix seconds"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_each_bird_failure_is_rejected(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(Rejected, match=message):
        check(**changes)


def test_the_bird_window_covers_eight_hours_of_retries() -> None:
    check(now=NOW + BIRD_WINDOW)
    check(now=NOW - timedelta(minutes=5))
    with pytest.raises(Rejected, match="old"):
        check(now=NOW + BIRD_WINDOW + timedelta(seconds=1))
    with pytest.raises(Rejected, match="future"):
        check(now=NOW - timedelta(minutes=5, seconds=1))
