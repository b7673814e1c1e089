"""Signed link tokens: purposes, rotation, tampering, expiry and length."""

from __future__ import annotations

import base64
import time
from urllib.parse import unquote

import pytest

from bridge.consent import Channel, Identity, Scope
from bridge.links import (
    ONE_CLICK,
    BadLink,
    ConfirmLink,
    ExpiredLink,
    LinkClaims,
    LinkSigner,
    Purpose,
    list_unsubscribe,
)

KEY_A = "key-a-0123456789abcdef"
KEY_B = "key-b-0123456789abcdef"
CONTACT = Identity(contact_id="63a07ddf05a32042dffac965")


@pytest.mark.parametrize(
    "claims",
    [
        LinkClaims(CONTACT),
        LinkClaims(Identity(email="jane@example.com"), Scope(type_ids=("108", "93"))),
        LinkClaims(Identity(phone="+353871234567"), Scope(channel=Channel.SMS), "fr"),
        LinkClaims(Identity(external_id="cust-42"), Scope(), "pt-BR"),
        LinkClaims(Identity(contact_id="not-hex-id"), Scope(type_ids=("1",)), "de"),
        LinkClaims(Identity(email="ünï@exämple.com"), Scope(channel=Channel.EMAIL)),
    ],
)
def test_claims_round_trip(claims: LinkClaims) -> None:
    signer = LinkSigner([KEY_A])
    for purpose in Purpose:
        assert signer.claims(purpose, signer.token(purpose, claims)) == claims


def test_a_token_of_one_purpose_does_not_load_as_another() -> None:
    signer = LinkSigner([KEY_A])
    token = signer.token(Purpose.PREFERENCES, LinkClaims(CONTACT))
    with pytest.raises(BadLink):
        signer.claims(Purpose.UNSUBSCRIBE, token)


def test_rotation_first_key_signs_every_key_verifies() -> None:
    old = LinkSigner([KEY_A]).token(Purpose.UNSUBSCRIBE, LinkClaims(CONTACT))
    rotated = LinkSigner([KEY_B, KEY_A])
    assert rotated.claims(Purpose.UNSUBSCRIBE, old).identity == CONTACT
    new = rotated.token(Purpose.UNSUBSCRIBE, LinkClaims(CONTACT))
    assert LinkSigner([KEY_B]).claims(Purpose.UNSUBSCRIBE, new).identity == CONTACT
    with pytest.raises(BadLink):
        LinkSigner([KEY_A]).claims(Purpose.UNSUBSCRIBE, new)


@pytest.mark.parametrize("position", [0, 5, 20, -3, -2])
def test_tampered_tokens_are_refused(position: int) -> None:
    signer = LinkSigner([KEY_A])
    token = signer.token(Purpose.UNSUBSCRIBE, LinkClaims(CONTACT))
    index = position % len(token)
    flipped = "A" if token[index] != "A" else "B"
    with pytest.raises(BadLink):
        signer.claims(Purpose.UNSUBSCRIBE, token[:index] + flipped + token[index + 1 :])


def test_truncated_tokens_are_refused() -> None:
    signer = LinkSigner([KEY_A])
    token = signer.token(Purpose.UNSUBSCRIBE, LinkClaims(CONTACT))
    for cut in (1, 5, len(token) // 2):
        with pytest.raises(BadLink):
            signer.claims(Purpose.UNSUBSCRIBE, token[:-cut])


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "x" * 500, "eyJ9.AAAA.BBBB"])
def test_garbage_is_a_bad_link(garbage: str) -> None:
    with pytest.raises(BadLink):
        LinkSigner([KEY_A]).claims(Purpose.UNSUBSCRIBE, garbage)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"z1",
        b"h\x01\x02",
        b"e",
        b"i1\x1f~x",
        b"i1\x1f1,,2",
        b"i1\x1f1\x1fen\x1fx",
        b"e\xff\xfe\x1f",
    ],
)
def test_signed_but_malformed_payload_is_a_bad_link(payload: bytes) -> None:
    signer = LinkSigner([KEY_A])
    encoded = base64.urlsafe_b64encode(payload).rstrip(b"=")
    token = signer._signers[Purpose.UNSUBSCRIBE].sign(encoded).decode()
    with pytest.raises(BadLink, match="malformed"):
        signer.claims(Purpose.UNSUBSCRIBE, token)


def test_claims_that_cannot_be_packed_are_refused_when_signing() -> None:
    signer = LinkSigner([KEY_A])
    for claims in (
        LinkClaims(Identity(external_id="a\x1fb")),
        LinkClaims(CONTACT, Scope(type_ids=("1,2",))),
        LinkClaims(CONTACT, Scope(type_ids=("~e",))),
    ):
        with pytest.raises(ValueError):
            signer.token(Purpose.UNSUBSCRIBE, claims)


def test_unsubscribe_links_do_not_expire_by_default_and_can_be_limited() -> None:
    claims = LinkClaims(CONTACT)
    token = LinkSigner([KEY_A]).token(Purpose.UNSUBSCRIBE, claims)
    later = time.time() + 10 * 365 * 86400
    forever = LinkSigner([KEY_A], clock=lambda: later)
    limited = LinkSigner([KEY_A], max_age={Purpose.UNSUBSCRIBE: 30 * 86400}, clock=lambda: later)
    assert forever.claims(Purpose.UNSUBSCRIBE, token) == claims
    with pytest.raises(ExpiredLink):
        limited.claims(Purpose.UNSUBSCRIBE, token)


def test_a_typical_link_is_short_enough_for_sms() -> None:
    signer = LinkSigner([KEY_A])
    url = signer.url(
        "https://consent.example.com",
        Purpose.UNSUBSCRIBE,
        LinkClaims(CONTACT, Scope(type_ids=("108",))),
    )
    # The README quotes this length; one SMS segment is 160 GSM-7 characters.
    assert len(url) <= 100, url
    assert url.startswith("https://consent.example.com/unsubscribe/")


def test_a_fill_stamp_says_how_long_ago_it_was_made_for_its_form() -> None:
    now = [1_000_000.0]
    signer = LinkSigner([KEY_B, KEY_A], clock=lambda: now[0])
    stamp = signer.fill_stamp("newsletter")
    now[0] += 7
    assert signer.fill_seconds("newsletter", stamp) == 7
    # Rotation: a page served before the new key still verifies.
    assert LinkSigner([KEY_A, KEY_B], clock=lambda: now[0]).fill_seconds("newsletter", stamp) == 7


def test_a_fill_stamp_for_another_form_tampered_or_of_another_purpose_is_refused() -> None:
    signer = LinkSigner([KEY_A])
    stamp = signer.fill_stamp("newsletter")
    with pytest.raises(BadLink):
        signer.fill_seconds("offers", stamp)
    with pytest.raises(BadLink):
        signer.fill_seconds("newsletter", stamp[:-2] + ("AA" if stamp[-2:] != "AA" else "BB"))
    with pytest.raises(BadLink):
        signer.fill_seconds("newsletter", "not a stamp")
    # A link token is signed with another salt: it is no stamp, whatever it holds.
    token = signer.token(Purpose.PREFERENCES, LinkClaims(CONTACT))
    with pytest.raises(BadLink):
        signer.fill_seconds("newsletter", token)


def _token_of(url: str) -> str:
    return unquote(url.rpartition("/confirm/")[2])


def test_a_confirmation_link_names_its_request_and_lasts_its_days() -> None:
    now = [1_000_000.0]
    signer = LinkSigner([KEY_B, KEY_A], clock=lambda: now[0])
    link = ConfirmLink("form:news", "3f2c-event", 2, "fr")
    url = signer.confirm_url("https://consent.example.com/", link)
    assert url.startswith("https://consent.example.com/confirm/")
    now[0] += 2 * 86_400
    assert signer.confirm_link(_token_of(url)) == link
    # Rotation: a link sent before the new key still verifies.
    assert LinkSigner([KEY_A, KEY_B], clock=lambda: now[0]).confirm_link(_token_of(url)) == link
    now[0] += 1
    with pytest.raises(ExpiredLink):
        signer.confirm_link(_token_of(url))


def test_a_confirmation_token_tampered_or_of_another_purpose_is_refused() -> None:
    signer = LinkSigner([KEY_A])
    token = _token_of(signer.confirm_url("https://c.example", ConfirmLink("form:a", "e", 7)))
    with pytest.raises(BadLink):
        signer.confirm_link(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    with pytest.raises(BadLink):
        LinkSigner([KEY_B]).confirm_link(token)
    for purpose in Purpose:
        with pytest.raises(BadLink):
            signer.confirm_link(signer.token(purpose, LinkClaims(CONTACT)))
        with pytest.raises(BadLink):
            signer.claims(purpose, token)
    with pytest.raises(BadLink):
        signer.confirm_link(signer.fill_stamp("a"))


def test_urls_gives_the_link_of_every_purpose_as_url_does() -> None:
    signer = LinkSigner(["k" * 32], clock=lambda: 1_700_000_000.0)
    claims = LinkClaims(Identity(email="jane@example.com"), Scope(type_ids=("93",)), "fr")
    urls = signer.urls("https://consent.example.com/", claims)
    assert list(urls) == list(Purpose)
    for purpose, url in urls.items():
        assert url == signer.url("https://consent.example.com", purpose, claims)
        assert signer.claims(purpose, url.rsplit("/", 1)[1]) == claims


def test_the_list_unsubscribe_headers_are_rfc_8058_s() -> None:
    url = "https://consent.example.com/unsubscribe/abc.def.ghi"
    assert list_unsubscribe(url) == "<https://consent.example.com/unsubscribe/abc.def.ghi>"
    assert ONE_CLICK == "List-Unsubscribe=One-Click"
