"""Standard Webhooks `v1`: the SDKs' shared vectors with a fixed clock, tampering, the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.providers import Rejected
from bridge.providers.standard_webhooks import (
    secret_key,
    sign_standard_webhook,
    verify_standard_webhook,
)
from tests.providers.webhooks import SAMPLES, sample

# One group, not a list: the shared sign() vector and the large-payload cases.
VECTOR: dict[str, Any] = sample("sdk-test-vectors.json")["standard_webhooks_and_svix"]
SECRET: str = VECTOR["secret"]
MSG_ID: str = VECTOR["msg_id"]
TIMESTAMP: str = VECTOR["timestamp"]
PAYLOAD = VECTOR["payload"].encode()
# The v1a (Ed25519) entry of the spec's example header.
ED25519 = (
    "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
)
THEN = datetime.fromtimestamp(int(TIMESTAMP), UTC)  # the clock, frozen at the vector's time


def check(**changes: Any) -> None:
    """Verify the SDK vector, with some arguments changed."""
    arguments: dict[str, Any] = {
        "secret": SECRET,
        "msg_id": MSG_ID,
        "timestamp": TIMESTAMP,
        "signature_header": VECTOR["expected_signature"],
        "body": PAYLOAD,
        "now": THEN,
        **changes,
    }
    verify_standard_webhook(**arguments)


def test_the_sdk_vector_signs_and_verifies() -> None:
    assert sign_standard_webhook(SECRET, MSG_ID, TIMESTAMP, PAYLOAD) == VECTOR["expected_signature"]
    check()


@pytest.mark.parametrize("size", sorted(VECTOR["large_payloads_char_a"]))
def test_the_large_payload_vectors(size: str) -> None:
    body = b"a" * int(size)
    expected = VECTOR["large_payloads_char_a"][size]
    assert sign_standard_webhook(SECRET, MSG_ID, TIMESTAMP, body) == expected
    check(body=body, signature_header=expected)


@pytest.mark.parametrize(
    "changes",
    [
        {"body": PAYLOAD + b" "},
        {"body": PAYLOAD.replace(b"2432232314", b"2432232315")},
        {"msg_id": MSG_ID + "x"},
        {"timestamp": str(int(TIMESTAMP) + 1)},
        {"secret": "whsec_" + "A" * 32},
        {"signature_header": "v1,g1hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
        {"signature_header": VECTOR["expected_signature"].replace("v1,", "v1a,")},
        {"signature_header": VECTOR["expected_signature"].replace("v1,", "v2,")},
        {"signature_header": VECTOR["expected_signature"].removeprefix("v1,")},
        {"signature_header": "v1,%%%"},
        {"signature_header": ""},
        {"signature_header": None},
        {"msg_id": None},
        {"timestamp": None},
        {"timestamp": "1614265330.0"},
        {"timestamp": "-1614265330"},
        {"timestamp": "soon"},
    ],
    ids=lambda c: f"{next(iter(c))}={next(iter(c.values()))!s:.24}",
)
def test_each_tampering_is_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(Rejected):
        check(**changes)


def test_the_window_is_five_minutes_each_way() -> None:
    check(now=THEN + timedelta(seconds=300))
    check(now=THEN - timedelta(seconds=300))
    with pytest.raises(Rejected, match="old"):
        check(now=THEN + timedelta(seconds=301))
    with pytest.raises(Rejected, match="future"):
        check(now=THEN - timedelta(seconds=301))
    with pytest.raises(Rejected, match="old"):
        check(now=datetime.now(UTC))  # the vector itself, replayed today


def test_a_retry_is_signed_afresh_and_verifies_at_its_own_time() -> None:
    # Svix signs each attempt with the attempt's time; the id stays (the idempotency key).
    later = str(int(TIMESTAMP) + 10 * 3600)  # the last retry, 10 hours on
    signature = sign_standard_webhook(SECRET, MSG_ID, later, PAYLOAD)
    check(timestamp=later, signature_header=signature, now=THEN + timedelta(hours=10))


def test_one_matching_signature_among_several_is_enough() -> None:
    good = VECTOR["expected_signature"]
    other = sign_standard_webhook("whsec_" + "B" * 32, MSG_ID, TIMESTAMP, PAYLOAD)
    check(signature_header=f"{other} {good}")  # during key rotation
    check(signature_header=f"{ED25519} {good}")  # v1a entries are skipped
    check(signature_header=f"v1,%%% {good}")
    with pytest.raises(Rejected):
        check(signature_header=other)


def test_the_spec_example_header_is_read_as_the_spec_describes() -> None:
    # The spec's example secret is unpublished: re-sign its content with the vector's secret
    # and keep the example's v1a (Ed25519) entry, which a v1 verifier skips.
    lines = (SAMPLES / "standard-webhooks-spec-example.txt").read_text("utf-8").splitlines()
    signed_content = next(line for line in lines if line.startswith("msg_"))
    headers = dict(
        line.split(": ", 1) for line in lines if line.startswith("webhook-") and ": " in line
    )
    msg_id, timestamp, body = signed_content.split(".", 2)
    assert (msg_id, timestamp) == (headers["webhook-id"], headers["webhook-timestamp"])
    v1_example, v1a_example = headers["webhook-signature"].split(" ")
    assert v1_example.startswith("v1,") and v1a_example.startswith("v1a,")
    ours = sign_standard_webhook(SECRET, msg_id, timestamp, body.encode())
    now = datetime.fromtimestamp(int(timestamp), UTC)
    verify_standard_webhook(SECRET, msg_id, timestamp, f"{ours} {v1a_example}", body.encode(), now)
    with pytest.raises(Rejected):  # the example's own v1 was made with another secret
        verify_standard_webhook(
            SECRET, msg_id, timestamp, headers["webhook-signature"], body.encode(), now
        )


def test_secrets_with_and_without_the_prefix() -> None:
    assert secret_key(SECRET) == secret_key(SECRET.removeprefix("whsec_"))
    for bad in ("whsec_not base64!", "whsec_", ""):
        with pytest.raises(ValueError, match="whsec_"):
            secret_key(bad)
