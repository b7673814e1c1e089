"""Plivo V2 and V3: the SDKs' vectors, the headers a callback may carry, tampering."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.providers import Rejected
from bridge.providers.plivo_signature import check_plivo, plivo_v2, plivo_v3, v3_signed_url
from tests.providers.webhooks import vectors

VECTORS: dict[str, Any] = vectors("plivo")
V2: dict[str, Any] = VECTORS["v2"]
V3: dict[str, Any] = VECTORS["v3"]
TOKEN: str = V3["auth_token"]
NONCE: str = V3["nonce"]
PARAMS = list(V3["params"].items())
# The POST without a query: what an inbound-message callback looks like.
POST: dict[str, Any] = next(
    case for case in V3["cases"] if case["method"] == "POST" and "?" not in case["url"]
)
URL: str = POST["url"]
MAIN_TOKEN = "TWFpbkFjY291bnRUb2tlbk9mVGhlUGFyZW50MDA="


def v3_headers(signature: str, **more: str) -> dict[str, str]:
    """The headers of a V3-signed callback."""
    return {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": NONCE, **more}


def test_the_v2_vector() -> None:
    assert plivo_v2(V2["auth_token"], V2["uri"], V2["nonce"]) == V2["expected"]
    # The query is not part of what V2 signs.
    assert plivo_v2(V2["auth_token"], V2["uri"] + "?a=b", V2["nonce"]) == V2["expected"]
    headers = {"X-Plivo-Signature-V2": V2["expected"], "X-Plivo-Signature-V2-Nonce": V2["nonce"]}
    check_plivo([V2["auth_token"]], "POST", V2["uri"], [], headers)


@pytest.mark.parametrize(
    "case", V3["cases"], ids=lambda case: f"{case['method']}{'+query' * ('?' in case['url'])}"
)
def test_the_v3_vectors(case: dict[str, str]) -> None:
    assert plivo_v3(TOKEN, case["method"], case["url"], PARAMS, NONCE) == case["expected"]
    check_plivo([TOKEN], case["method"], case["url"], PARAMS, v3_headers(case["expected"]))


def test_a_get_whose_parameters_are_also_in_its_url_signs_them_once() -> None:
    case = next(c for c in V3["cases"] if c["method"] == "GET" and "?" in c["url"])
    with_query = [*PARAMS, ("a", "b"), ("c", "d")]
    assert plivo_v3(TOKEN, "GET", case["url"], with_query, NONCE) == case["expected"]


def test_how_v3_lays_out_the_url() -> None:
    url = "https://h.example/p?z=1&a=2&a=1"
    assert v3_signed_url("POST", url, [("B", "x"), ("A", "y")]) == (
        "https://h.example/p?a=1&a=2&z=1.AyBx"
    )
    assert v3_signed_url("POST", "https://h.example/p", [("B", "x")]) == "https://h.example/p?Bx"
    assert v3_signed_url("POST", url, []) == "https://h.example/p?a=1&a=2&z=1"
    assert v3_signed_url("GET", "https://h.example/p", []) == "https://h.example/p"
    assert v3_signed_url("get", url, [("b", "")]) == "https://h.example/p?a=1&a=2&b=&z=1"


def test_several_signatures_in_one_header_and_the_main_account_header() -> None:
    other = plivo_v3(MAIN_TOKEN, "POST", URL, PARAMS, NONCE)
    check_plivo([TOKEN], "POST", URL, PARAMS, v3_headers(f"{other}, {POST['expected']}"))
    main_only = {"X-Plivo-Signature-Ma-V3": other, "X-Plivo-Signature-V3-Nonce": NONCE}
    check_plivo([TOKEN, MAIN_TOKEN], "POST", URL, PARAMS, main_only)
    check_plivo([MAIN_TOKEN], "POST", URL, PARAMS, main_only)  # one token, either header
    both = v3_headers("bm90IHRoaXMgb25l", **{"X-Plivo-Signature-Ma-V3": other})
    check_plivo([MAIN_TOKEN], "POST", URL, PARAMS, both)


def test_header_names_are_read_in_any_case() -> None:
    headers = {"x-plivo-signature-v3": POST["expected"], "X-PLIVO-SIGNATURE-V3-NONCE": NONCE}
    check_plivo([TOKEN], "POST", URL, PARAMS, headers)


def test_v3_is_preferred_and_a_failed_v3_is_not_rescued_by_v2() -> None:
    v2 = {
        "X-Plivo-Signature-V2": plivo_v2(TOKEN, URL, "v2nonce"),
        "X-Plivo-Signature-V2-Nonce": "v2nonce",
    }
    check_plivo([TOKEN], "POST", URL, PARAMS, v2)
    forged = [*PARAMS[:-1], ("Event", "Hangup")]
    check_plivo([TOKEN], "POST", URL, forged, v2)  # V2 covers no parameter
    with pytest.raises(Rejected, match="no X-Plivo-Signature-V3 matches"):
        check_plivo([TOKEN], "POST", URL, forged, {**v2, **v3_headers(POST["expected"])})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"headers": {}}, "missing X-Plivo-Signature-V3 and X-Plivo-Signature-V2"),
        ({"headers": {"X-Plivo-Signature-V3": POST["expected"]}}, "missing .*V3-Nonce"),
        ({"headers": {"X-Plivo-Signature-V2": V2["expected"]}}, "missing .*V2-Nonce"),
        ({"headers": v3_headers("")}, "missing X-Plivo-Signature-V3 and"),
        ({"headers": v3_headers(POST["expected"][:-2])}, "no X-Plivo-Signature-V3"),
        ({"headers": v3_headers("é")}, "no X-Plivo-Signature-V3"),
        ({"headers": {**v3_headers(POST["expected"]), "X-Plivo-Signature-V3-Nonce": "1"}}, "V3"),
        ({"auth_tokens": [MAIN_TOKEN]}, "no X-Plivo-Signature-V3"),
        ({"url": URL + "?a=b"}, "no X-Plivo-Signature-V3"),
        ({"url": URL.replace("https", "http")}, "no X-Plivo-Signature-V3"),
        ({"method": "GET"}, "no X-Plivo-Signature-V3"),
        ({"params": PARAMS[:-1]}, "no X-Plivo-Signature-V3"),
        ({"params": [*PARAMS, ("MessageIntent", "optout")]}, "no X-Plivo-Signature-V3"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_each_failure_is_rejected(changes: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "auth_tokens": [TOKEN],
        "method": "POST",
        "url": URL,
        "params": PARAMS,
        "headers": v3_headers(POST["expected"]),
        **changes,
    }
    with pytest.raises(Rejected, match=message):
        check_plivo(**arguments)


def test_no_token_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no Plivo auth token"):
        check_plivo([], "POST", URL, PARAMS, v3_headers(POST["expected"]))
