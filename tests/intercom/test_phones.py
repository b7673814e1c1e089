"""Tests for bridge.intercom.phones: the typed-phone search and the check of its candidates."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.intercom.phones import (
    MAX_FILTERS,
    region_of,
    same_number,
    typed_endings,
    typed_query,
    written_forms,
)
from bridge.sandbox.search import compile_query

SAM = "+14155550123"
AMELIE = "+33612345678"

# E.164 number -> ways people type it into Intercom.
TYPED = {
    SAM: [
        "(415) 555-0123",
        "415.555.0123",
        "415-555-0123",
        "415 555 0123",
        "+1 (415) 555-0123",
        "1-415-555-0123",
        "4155550123",
        "14155550123",
        "+1 415 555 0123",
        "0014155550123",
        "001 415 555 0123",
    ],
    AMELIE: [
        "06 12 34 56 78",
        "06.12.34.56.78",
        "06-12-34-56-78",
        "0612345678",
        "+33 (0)6 12 34 56 78",
        "+33 6 12 34 56 78",
        "0033 6 12 34 56 78",
    ],
    "+351912345678": ["912 345 678", "+351 912 345 678", "912345678"],
    "+442079460958": ["020 7946 0958", "+44 (0)20 7946 0958", "02079460958"],
    "+4740612345": ["406 12 345", "40 61 23 45"],
}
TYPED_CASES = [(e164, typed) for e164, forms in TYPED.items() for typed in forms]


def contact(phone: str | None, formatted_phone: str | None = None) -> dict[str, Any]:
    """The fields of a contact the check reads."""
    return {"id": "c", "phone": phone, "formatted_phone": formatted_phone}


def test_the_typed_query_is_one_or_group_within_intercoms_limits() -> None:
    query = typed_query(SAM)
    assert query is not None
    assert query["operator"] == "OR"
    assert len(query["value"]) <= MAX_FILTERS
    assert all(part["field"] == "phone" and "field" in part for part in query["value"])
    [forms] = [part["value"] for part in query["value"] if part["operator"] == "IN"]
    assert {"+14155550123", "(415) 555-0123", "415-555-0123", "415.555.0123"} <= set(forms)
    endings = {part["value"] for part in query["value"] if part["operator"] == "$"}
    assert {"0123", "01 23", "01-23", "01.23", "0 123"} <= endings
    compile_query(query)  # the sandbox refuses what Intercom would (nesting, group size)


def test_the_last_four_digits_come_in_pairs_and_threes() -> None:
    assert typed_endings(AMELIE)[:7] == [
        "5678",
        "56 78",
        "5 678",
        "56-78",
        "5-678",
        "56.78",
        "5.678",
    ]


@pytest.mark.parametrize("e164", list(TYPED))
def test_every_written_form_ends_with_one_of_the_endings(e164: str) -> None:
    endings = typed_endings(e164)
    assert all(any(form.endswith(e) for e in endings) for form in written_forms(e164))


@pytest.mark.parametrize(("e164", "typed"), TYPED_CASES)
def test_a_number_typed_as_people_type_it_is_searched_and_kept(e164: str, typed: str) -> None:
    query = typed_query(e164)
    assert query is not None
    assert compile_query(query)(contact(typed))
    assert same_number([contact(typed)], e164) == [contact(typed)]


@pytest.mark.parametrize(
    "other",
    [
        "(212) 555-0123",  # same last seven digits, another area
        "+44 20 7946 0123",  # same last four, another country
        "415-555-0124",
        "0123",
        "",
        None,
        "call me on 0123",
    ],
)
def test_a_number_that_only_looks_alike_is_dropped(other: str | None) -> None:
    assert same_number([contact(other)], SAM) == []


def test_intercoms_formatted_phone_is_taken_when_given() -> None:
    # A phone only Intercom could read (it knows the contact's country) still counts.
    kept = contact("555 0123", formatted_phone=SAM)
    assert same_number([kept, contact("555 0123")], SAM) == [kept]


def test_a_national_number_is_read_in_the_e164_numbers_country() -> None:
    assert region_of(SAM) == "US"
    assert region_of(AMELIE) == "FR"
    assert same_number([contact("06 12 34 56 78")], AMELIE) != []
    assert same_number([contact("06 12 34 56 78")], "+16123456780") == []


@pytest.mark.parametrize("invalid", ["+1555", "+10000000000", "not a number"])
def test_an_invalid_number_has_no_typed_query(invalid: str) -> None:
    assert typed_query(invalid) is None
    assert region_of(invalid) is None
