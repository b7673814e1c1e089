"""Telnyx's Ed25519 signature: the reference key, the sample signed and tampered, the window."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bridge.providers import Rejected
from bridge.providers.telnyx_signature import (
    TOLERANCE,
    check_telnyx,
    load_telnyx_key,
    sign_telnyx,
)
from bridge.settings import SettingsError
from tests.providers.webhooks import sample_bytes

# The seed REFERENCE.md checked against telnyx-python's verifier, and its public key.
PRIVATE_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC_KEY = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
OTHER_KEY = base64.b64encode(
    Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key().public_bytes_raw()
).decode()
BODY = sample_bytes("telnyx-message.received.json")
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TIMESTAMP = str(int(NOW.timestamp()))
SIGNATURE = sign_telnyx(PRIVATE_KEY, TIMESTAMP, BODY)


def check(**changes: Any) -> None:
    """Verify the signed sample, with some arguments changed."""
    arguments: dict[str, Any] = {
        "public_key_b64": PUBLIC_KEY,
        "signature_b64": SIGNATURE,
        "timestamp": TIMESTAMP,
        "body": BODY,
        "now": NOW,
        **changes,
    }
    check_telnyx(**arguments)


def test_the_reference_seed_gives_the_reference_public_key() -> None:
    raw = PRIVATE_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert base64.b64encode(raw).decode() == PUBLIC_KEY
    assert load_telnyx_key(PUBLIC_KEY).public_bytes_raw() == raw


def test_the_signed_sample_verifies() -> None:
    assert len(base64.b64decode(SIGNATURE)) == 64
    check()
    check(signature_b64=f" {SIGNATURE}\n", public_key_b64=f"{PUBLIC_KEY}\n")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"body": BODY.replace(b"Hello, World!", b"STOP")}, "does not match"),
        ({"body": BODY + b"\n"}, "does not match"),
        ({"timestamp": str(int(TIMESTAMP) + 1)}, "does not match"),
        ({"signature_b64": sign_telnyx(PRIVATE_KEY, TIMESTAMP, b"{}")}, "does not match"),
        ({"public_key_b64": OTHER_KEY}, "does not match"),
        ({"signature_b64": None}, "missing"),
        ({"signature_b64": ""}, "missing"),
        ({"timestamp": None}, "missing"),
        ({"signature_b64": "not base64!"}, "not base64"),
        ({"signature_b64": SIGNATURE[:-4]}, "not 64"),
        ({"timestamp": TIMESTAMP + ".0"}, "not whole Unix seconds"),
        ({"timestamp": "-" + TIMESTAMP}, "not whole Unix seconds"),
        ({"timestamp": "soon"}, "not whole Unix seconds"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_each_tampering_is_rejected(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(Rejected, match=message):
        check(**changes)


def test_a_flipped_bit_in_the_signature_is_rejected() -> None:
    raw = bytearray(base64.b64decode(SIGNATURE))
    raw[10] ^= 1
    with pytest.raises(Rejected, match="does not match"):
        check(signature_b64=base64.b64encode(bytes(raw)).decode())


def test_the_window_is_300_seconds_each_way() -> None:
    check(now=NOW + TOLERANCE)
    check(now=NOW - TOLERANCE)
    with pytest.raises(Rejected, match="old"):
        check(now=NOW + TOLERANCE + timedelta(seconds=1))
    with pytest.raises(Rejected, match="future"):
        check(now=NOW - TOLERANCE - timedelta(seconds=1))


def test_a_retry_is_signed_at_its_own_time() -> None:
    later = str(int(TIMESTAMP) + 3600)
    check(
        timestamp=later,
        signature_b64=sign_telnyx(PRIVATE_KEY, later, BODY),
        now=NOW + timedelta(hours=1),
    )


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("not base64!", "not base64"),
        ("", "0 bytes"),
        (base64.b64encode(bytes(31)).decode(), "31 bytes"),
        (base64.b64encode(bytes(44)).decode(), "44 bytes"),
    ],
)
def test_a_key_that_is_not_32_bytes_of_base64_fails_at_start_up(key: str, message: str) -> None:
    with pytest.raises(SettingsError, match=f"providers.telnyx.public_key: .*{message}"):
        load_telnyx_key(key)
    with pytest.raises(SettingsError, match=r"^telnyx_public_key: "):
        load_telnyx_key(key, "telnyx_public_key")
