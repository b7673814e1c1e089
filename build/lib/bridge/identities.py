"""Checking the emails, phones and ids people give before they identify anyone in a link.

Pure functions: each returns the value in its one stored form, or raises `InvalidIdentity`
with a message that shows the value and says what is wrong with it.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import phonenumbers

from bridge.consent import Identity

MAX_EMAIL_LENGTH = 254  # RFC 5321's limit on a whole address, as mail servers apply it
MAX_LOCAL_PART_LENGTH = 64
FIELDS = ("contact_id", "external_id", "email", "phone")
_SHOWN = 60  # characters of a bad value repeated back in a message
# A domain label: letters (any script) and digits, with hyphens inside but not at either end.
_LABEL = re.compile(r"[^\W_](?:(?:[^\W_]|-)*[^\W_])?")
# International form only: a national number ("087 123 4567") means a different person in
# every country, and letters or an extension would be silently dropped by the parser.
_INTERNATIONAL = re.compile(r"\+[0-9][0-9 ().-]*")


class InvalidIdentity(ValueError):
    """A value that cannot identify anyone; the message shows it and says what is wrong."""

    def __init__(self, value: str, problem: str) -> None:
        self.value = value
        self.problem = problem
        shown = value if len(value) <= _SHOWN else value[: _SHOWN - 1] + "…"
        super().__init__(f"{shown!r} {problem}")


def _invisible(value: str) -> bool:
    """Whether a value holds a control (tab, newline) or format character (zero-width space)."""
    return any(unicodedata.category(c).startswith("C") for c in value)


def check_email(value: str) -> str:
    """The address trimmed and lower-cased, if its syntax is sane."""
    address = value.strip()
    if not address:
        raise InvalidIdentity(value, "is empty")
    if len(address) > MAX_EMAIL_LENGTH:
        raise InvalidIdentity(value, f"is longer than {MAX_EMAIL_LENGTH} characters")
    if _invisible(address):
        raise InvalidIdentity(value, "contains a control or invisible character")
    if any(c.isspace() for c in address):
        raise InvalidIdentity(value, "contains a space")
    if "@" not in address:
        raise InvalidIdentity(value, "has no @")
    if address.count("@") > 1:
        raise InvalidIdentity(value, "has more than one @")
    local, domain = address.split("@")
    if not local:
        raise InvalidIdentity(value, "has nothing before the @")
    if len(local) > MAX_LOCAL_PART_LENGTH:
        raise InvalidIdentity(
            value, f"has more than {MAX_LOCAL_PART_LENGTH} characters before the @"
        )
    if "." not in domain:
        raise InvalidIdentity(value, "needs a domain with a dot after the @, like example.com")
    if not all(_LABEL.fullmatch(label) for label in domain.split(".")):
        raise InvalidIdentity(value, f"has a malformed domain {domain!r}")
    return address.lower()


def check_phone(value: str) -> str:
    """The number in E.164 form (`+353871234567`), if it is a valid international number."""
    number = value.strip()
    if not number:
        raise InvalidIdentity(value, "is empty")
    if not _INTERNATIONAL.fullmatch(number):
        raise InvalidIdentity(
            value, "is not in international form: + and the country code, like +353871234567"
        )
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        raise InvalidIdentity(value, "is not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidIdentity(
            value, f"is not a valid number for country code +{parsed.country_code}"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


_E164 = re.compile(r"\+[1-9][0-9]{7,14}")


def _has_country_code(e164: str) -> bool:
    """Whether an E.164 string starts with a country calling code that exists."""
    codes = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
    return any(int(e164[1 : 1 + size]) in codes for size in (1, 2, 3))


# Senders text again and again, and an SMS provider reads every sender and receiving number:
# the parse is the costliest step of reading a text, and its answer never changes.
@functools.lru_cache(maxsize=4096)
def phone_e164(value: str, region: str | None = None) -> str | None:
    """A number as a provider or Intercom holds it, in E.164; None if it can't be a number.

    Lenient where `check_phone` is strict: senders' numbers arrive without a `+` (Vonage's
    `msisdn`), and Intercom keeps phones as they were typed ("(415) 555-0100"), so a number
    without a country code is read as one of `region`'s (an ISO country code, like `US`). A
    number the phone company just delivered a text from is real even where our copy of the
    numbering plan is older than it (a new area code): a possible number is taken when no
    reading of it is valid, so a STOP is never lost to stale metadata.
    """
    number = value.strip()
    if _E164.fullmatch(number) and _has_country_code(number):
        # Already the stored form (every provider's sender but Vonage's): parsing it again
        # was a sixth of the cost of reading a text, and would change nothing.
        return number
    if not number or _invisible(number):
        return None
    if region is None or (number[0].isdigit() and len(number) > 10 and "(" not in number):
        # Digits alone past a national length are international without the plus (Vonage).
        candidates = [f"+{number}" if number[0].isdigit() else number, number]
    else:
        candidates = [number]
    possible = None
    for candidate in candidates:
        try:
            parsed = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if phonenumbers.is_valid_number(parsed):
            return e164
        if possible is None and phonenumbers.is_possible_number(parsed):
            possible = e164
    return possible


def check_id(value: str) -> str:
    """A contact id or external id, trimmed, if it is printable and not empty."""
    identifier = value.strip()
    if not identifier:
        raise InvalidIdentity(value, "is empty")
    # Spaces are allowed inside external ids (they are the customer's own); invisible
    # characters are not, because nobody could type the id back.
    if _invisible(identifier):
        raise InvalidIdentity(value, "contains a control or invisible character")
    return identifier


_CHECKS = {
    "contact_id": check_id,
    "external_id": check_id,
    "email": check_email,
    "phone": check_phone,
}


def identity(field: str, value: str) -> Identity:
    """An Identity from one checked field (`contact_id`, `external_id`, `email`, `phone`)."""
    return Identity(**{field: _CHECKS[field](value)})
