"""Finding a phone number in Intercom's search however it was typed: the queries, then the check.

Intercom keeps a contact's `phone` as it was entered ("(415) 555-0123", "+33 6 12 34 56 78",
"0612345678"), and search compares that stored text, so `phone = +14155550123` misses most of
them. One search asks for every stored phone that ends with the number's last four digits in
the shapes people type them, or is one of its common written forms (E.164 among them), then
keeps only the candidates that read as the same E.164 number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import phonenumbers

from bridge.identities import phone_e164

MAX_FILTERS = 15  # "There's a limit of max 15 filters for each AND or OR group"
# The last four digits as typed: "0123", "01 23" (French pairs), "0 123" (numbers written in
# threes: Portugal, Norway), with each separator people put between groups.
_SEPARATORS = (" ", "-", ".")
_TAIL = 4
Contact = TypeVar("Contact", bound=Mapping[str, Any])


def _parsed(e164: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def region_of(e164: str) -> str | None:
    """The country (ISO code, like `US`) a valid E.164 number belongs to; None if invalid."""
    number = _parsed(e164)
    return phonenumbers.region_code_for_number(number) if number else None


def written_forms(e164: str) -> list[str]:
    """The usual ways to write a number: national, international, digits only, and so on."""
    number = _parsed(e164)
    if number is None:
        return [e164]
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    spaced = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    national_groups = re.findall(r"\d+", national)
    international_groups = re.findall(r"\d+", spaced)
    forms = [e164, national, spaced, "".join(national_groups), e164[1:], "00" + e164[1:]]
    for separator in _SEPARATORS:
        forms.append(separator.join(national_groups))
        forms.append("+" + separator.join(international_groups))
    return list(dict.fromkeys(forms))


def _tail_of(written: str) -> str:
    """The end of a written number from its fourth-last digit on ("56 78" of "06 12 34 56 78")."""
    digits = [i for i, c in enumerate(written) if c.isdigit()]
    return written[digits[-_TAIL] :] if len(digits) >= _TAIL else written


def typed_endings(e164: str) -> list[str]:
    """The number's last four digits in every shape a stored phone may end with."""
    tail = e164[-_TAIL:]
    endings = [tail]
    for separator in _SEPARATORS:
        endings.append(tail[:2] + separator + tail[2:])
        endings.append(tail[:1] + separator + tail[1:])
    endings.extend(_tail_of(form) for form in written_forms(e164))
    return list(dict.fromkeys(endings))


def typed_query(e164: str) -> dict[str, Any] | None:
    """One OR search for the number however it was typed; None if it is not a valid number.

    Every written form ends in one of the endings, so the `$` filters alone would do; the `IN`
    keeps the common forms found even if Intercom's "ends with" treats phones in some way its
    docs do not tell.
    """
    if _parsed(e164) is None:
        return None
    endings = typed_endings(e164)[: MAX_FILTERS - 1]
    return {
        "operator": "OR",
        "value": [
            {"field": "phone", "operator": "IN", "value": written_forms(e164)},
            *({"field": "phone", "operator": "$", "value": ending} for ending in endings),
        ],
    }


def is_same_number(contact: Mapping[str, Any], e164: str, region: str | None) -> bool:
    """Whether a contact's phone, read as a number of `region`, is `e164`."""
    # Intercom documents formatted_phone as the phone normalised to E.164: take it when given.
    if contact.get("formatted_phone") == e164:
        return True
    phone = contact.get("phone")
    if not isinstance(phone, str):
        return False
    typed = phone.strip()
    # "00" starts an international number in most of the world, though not in `region` (the
    # US dials 011): "0014155550123" typed in Europe is still +14155550123.
    if typed.startswith("00") and phone_e164("+" + typed[2:]) == e164:
        return True
    return phone_e164(typed, region) == e164


def same_number(contacts: Iterable[Contact], e164: str) -> list[Contact]:
    """The contacts whose phone is `e164` however typed, dropping those that only look alike."""
    region = region_of(e164)
    return [contact for contact in contacts if is_same_number(contact, e164, region)]
