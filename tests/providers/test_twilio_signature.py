"""Twilio's X-Twilio-Signature: twilio-python's vectors, the ports, JSON bodies, tampering."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest

from bridge.providers import Rejected
from bridge.providers.twilio_signature import (
    check_twilio,
    check_twilio_json,
    twilio_signature,
    url_variants,
)
from tests.providers.webhooks import sample, vectors

VECTOR: dict[str, Any] = vectors("twilio_x_twilio_signature")
TOKEN: str = VECTOR["auth_token"]
URL: str = VECTOR["url"]
PARAMS = list(VECTOR["params"].items())
SIGNATURE: str = VECTOR["expected_signature"]
JSON_CASE: dict[str, Any] = VECTOR["json_body_case"]
DUPLICATES: dict[str, Any] = VECTOR["duplicate_params_case"]


def test_the_sdk_vector_signs_and_verifies() -> None:
    assert twilio_signature(TOKEN, URL, PARAMS) == SIGNATURE
    check_twilio(TOKEN, URL, PARAMS, SIGNATURE)


def test_repeated_parameters_count_once_in_sorted_order() -> None:
    pairs = [(name, value) for name, value in DUPLICATES["params_multi"]]
    assert twilio_signature(TOKEN, URL, pairs) == DUPLICATES["expected_signature"]
    assert twilio_signature(TOKEN, URL, list(reversed(pairs))) == DUPLICATES["expected_signature"]


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        (URL, VECTOR["expected_signature_url_with_port_443"]),  # Twilio added :443
        (URL.replace(".com", ".com:1234"), SIGNATURE),  # Twilio left the port out
        (
            URL.replace(".com", ".com:1234").replace("https", "http"),
            VECTOR["expected_signature_http_url_with_port_1234"],
        ),
        (URL.replace("https", "http"), VECTOR["expected_signature_http_url_with_port_80"]),
    ],
    ids=["adds-443", "drops-1234", "keeps-1234-http", "adds-80"],
)
def test_the_url_verifies_with_and_without_its_port(url: str, signature: str) -> None:
    check_twilio(TOKEN, url, PARAMS, signature)


def test_the_json_body_vector_verifies() -> None:
    body = JSON_CASE["body"].encode()
    check_twilio_json(TOKEN, JSON_CASE["url"], body, JSON_CASE["expected_signature"])


def test_the_constructed_stop_request_verifies() -> None:
    request = sample("twilio-inbound-sms-stop.constructed.json")
    params = parse_qsl(request["body"], keep_blank_values=True)
    assert ("OptOutType", "STOP") in params
    check_twilio(
        request["auth_token"], request["url"], params, request["headers"]["X-Twilio-Signature"]
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"signature": None},
        {"signature": ""},
        {"signature": "not base64 at all"},
        {"signature": "é" * 28},
        {"signature": SIGNATURE.lower()},
        {"auth_token": "54321"},
        {"url": URL.replace("foo=1", "foo=2")},
        {"url": URL.replace("/myapp.php", "/other.php")},
        {"url": URL.replace("https", "http")},
        {"params": [*PARAMS[:-1], ("Caller", "+14155550100")]},
        {"params": PARAMS[:-1]},
        {"params": [*PARAMS, ("OptOutType", "STOP")]},
    ],
    ids=lambda c: f"{next(iter(c))}={next(iter(c.values()))!s:.24}",
)
def test_each_tampering_is_rejected(changes: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {
        "auth_token": TOKEN,
        "url": URL,
        "params": PARAMS,
        "signature": SIGNATURE,
        **changes,
    }
    with pytest.raises(Rejected, match="X-Twilio-Signature"):
        check_twilio(**arguments)


def test_a_tampered_json_body_is_rejected() -> None:
    body = JSON_CASE["body"].replace("value", "other").encode()
    with pytest.raises(Rejected, match="bodySHA256 in the URL does not match"):
        check_twilio_json(TOKEN, JSON_CASE["url"], body, JSON_CASE["expected_signature"])


def test_a_json_body_without_bodysha256_is_rejected() -> None:
    # The URL alone is signed: accepting it would let any body ride on the signature.
    signature = twilio_signature(TOKEN, URL, ())
    with pytest.raises(Rejected, match="no bodySHA256"):
        check_twilio_json(TOKEN, URL, b'{"property": "value"}', signature)


def test_a_json_url_with_another_hash_is_not_signed() -> None:
    url = JSON_CASE["url"].replace("0a1ff", "0a1fe")
    with pytest.raises(Rejected, match="X-Twilio-Signature"):
        check_twilio_json(TOKEN, url, JSON_CASE["body"].encode(), JSON_CASE["expected_signature"])


@pytest.mark.parametrize(
    ("url", "variants"),
    [
        ("https://a.example/x?y=1", ["https://a.example/x?y=1", "https://a.example:443/x?y=1"]),
        ("http://a.example:8080/x", ["http://a.example:8080/x", "http://a.example/x"]),
        ("https://u:p@a.example:443/", ["https://u:p@a.example:443/", "https://u:p@a.example/"]),
        ("https://[::1]:8443/x", ["https://[::1]:8443/x", "https://[::1]/x"]),
        ("https://a.example:port/x", ["https://a.example:port/x"]),
        ("ftp://a.example/x", ["ftp://a.example/x"]),
        ("HTTPS://A.example/x", ["HTTPS://A.example/x"]),
    ],
)
def test_the_url_forms_tried(url: str, variants: list[str]) -> None:
    assert url_variants(url) == variants
