"""Emails, phones and ids: what is accepted, in which form, and what each refusal says."""

from __future__ import annotations

import pytest

from bridge.consent import Identity
from bridge.identities import (
    InvalidIdentity,
    check_email,
    check_id,
    check_phone,
    identity,
    phone_e164,
)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("jane@example.com", "jane@example.com"),
        ("  Jane.Doe+news@Example.CO.UK ", "jane.doe+news@example.co.uk"),
        ("o'brien@mail.example.ie", "o'brien@mail.example.ie"),
        ("zoë@exämple.de", "zoë@exämple.de"),
        ("a@b-c.io", "a@b-c.io"),
    ],
)
def test_sane_emails_are_trimmed_and_lower_cased(given: str, stored: str) -> None:
    assert check_email(given) == stored


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("jane.example.com", "has no @"),
        ("jane@@example.com", "has more than one @"),
        ("jane@work@example.com", "has more than one @"),
        ("@example.com", "has nothing before the @"),
        ("jane@", "needs a domain with a dot after the @, like example.com"),
        ("jane@localhost", "needs a domain with a dot after the @, like example.com"),
        ("jane@example..com", "has a malformed domain 'example..com'"),
        ("jane@example.com.", "has a malformed domain 'example.com.'"),
        ("jane@-example.com", "has a malformed domain '-example.com'"),
        ("jane@exa_mple.com", "has a malformed domain 'exa_mple.com'"),
        ("jane@example.com,", "has a malformed domain 'example.com,'"),
        ("jane doe@example.com", "contains a space"),
        ("jane@example.com\u00a0x", "contains a space"),  # a no-break space pasted from a page
        ("jane@exam\u200bple.com", "contains a control or invisible character"),
        ("jane@example.com\nbob@example.com", "contains a control or invisible character"),
        ("x" * 65 + "@example.com", "has more than 64 characters before the @"),
        ("jane@" + "a" * 250 + ".com", "is longer than 254 characters"),
    ],
)
def test_malformed_emails_are_refused_saying_why(given: str, problem: str) -> None:
    with pytest.raises(InvalidIdentity) as refused:
        check_email(given)
    assert refused.value.problem == problem
    assert str(refused.value).endswith(" " + problem)


def test_a_refusal_shows_the_value_and_cuts_a_long_one_short() -> None:
    with pytest.raises(InvalidIdentity) as short:
        check_email("jane")
    assert str(short.value) == "'jane' has no @"
    with pytest.raises(InvalidIdentity) as long:
        check_email("j" * 300)
    assert str(long.value) == repr("j" * 59 + "…") + " is longer than 254 characters"


@pytest.mark.parametrize(
    ("given", "e164"),
    [
        ("+353871234567", "+353871234567"),
        (" +353 87 123 4567 ", "+353871234567"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("+44 20.7946.0958", "+442079460958"),
    ],
)
def test_valid_international_phones_are_normalised_to_e164(given: str, e164: str) -> None:
    assert check_phone(given) == e164


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("", "is empty"),
        ("0871234567", "is not in international form: + and the country code, like +353871234567"),
        (
            "00353871234567",
            "is not in international form: + and the country code, like +353871234567",
        ),
        (
            "+1 800 FLOWERS",
            "is not in international form: + and the country code, like +353871234567",
        ),
        (
            "+353871234567 ext. 12",
            "is not in international form: + and the country code, like +353871234567",
        ),
        ("+", "is not in international form: + and the country code, like +353871234567"),
        ("+999123", "is not a phone number"),
        ("+3538712345", "is not a valid number for country code +353"),
        ("+1 555 0100", "is not a valid number for country code +1"),
    ],
)
def test_other_phones_are_refused_saying_why(given: str, problem: str) -> None:
    with pytest.raises(InvalidIdentity) as refused:
        check_phone(given)
    assert refused.value.problem == problem


def test_ids_are_trimmed_and_may_hold_spaces_but_nothing_invisible() -> None:
    assert check_id("  63a07ddf05a32042dffac965 ") == "63a07ddf05a32042dffac965"
    assert check_id("customer 42") == "customer 42"
    for bad, problem in (("", "is empty"), ("a\x1fb", "contains a control or invisible character")):
        with pytest.raises(InvalidIdentity) as refused:
            check_id(bad)
        assert refused.value.problem == problem


def test_identity_checks_the_one_field_it_is_given() -> None:
    assert identity("email", " Jane@Example.com") == Identity(email="jane@example.com")
    assert identity("phone", "+353 87 123 4567") == Identity(phone="+353871234567")
    assert identity("contact_id", " abc ") == Identity(contact_id="abc")
    assert identity("external_id", "x-1") == Identity(external_id="x-1")
    with pytest.raises(InvalidIdentity):
        identity("phone", "087 123 4567")


@pytest.mark.parametrize(
    ("given", "region", "e164"),
    [
        ("14155550100", "US", "+14155550100"),  # Vonage's msisdn: no plus
        ("447911123456", "US", "+447911123456"),
        ("33612345678", None, "+33612345678"),
        ("(415) 555-0100", "US", "+14155550100"),  # as typed into Intercom
        ("415.555.0100", "US", "+14155550100"),
        ("+1 415 555 0100", None, "+14155550100"),
        ("+33 6 12 34 56 78", "US", "+33612345678"),  # a plus wins over the region
        ("087 123 4567", "IE", "+353871234567"),
        # Not in our numbering plan (area code 555), but a text came from it: possible is kept.
        ("+15558675310", "US", "+15558675310"),
    ],
)
def test_numbers_as_providers_and_intercom_hold_them_become_e164(
    given: str, region: str | None, e164: str
) -> None:
    assert phone_e164(given, region) == e164


@pytest.mark.parametrize(
    ("given", "region"),
    [("hello", "US"), ("12345", "US"), ("", "US"), ("4155550100", None), ("+1 415\u200b555", "US")],
)
def test_what_is_not_a_valid_number_has_no_e164(given: str, region: str | None) -> None:
    assert phone_e164(given, region) is None
