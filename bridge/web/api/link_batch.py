"""A `POST /api/v1/links` body read into people to sign links for, and their links written out.

Pure functions over bytes, so a 10,000-person batch can be read and signed on a worker thread.
Every person is checked with the checks `bridge link` and `bridge links` use (the identity's
form, the type ids', the language tag's); every mistake in the batch is found before anything
is signed, and the 422 names each one by its place (`people[3].email`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.consent import Channel, Identity, Scope
from bridge.identities import FIELDS, InvalidIdentity, identity
from bridge.link_checks import LinkRefused, check_locale, check_type_ids
from bridge.links import ONE_CLICK, LinkClaims, LinkSigner, Purpose, list_unsubscribe
from bridge.web.errors import BadForm, InvalidBody

MAX_PEOPLE = 10_000
# Room for one person: the longest email RFC 5321 allows (254 characters), a locale, a channel
# or a few type ids, JSON's quotes and keys, and the spaces of a pretty-printed body.
PERSON_BYTES = 400
MAX_BODY_BYTES = MAX_PEOPLE * PERSON_BYTES + 4_096  # 4,004,096: the batch's own defaults too
_SHOWN_ERRORS = 10  # mistakes spelt out in a 422; the rest are counted
_BATCH_FIELDS = frozenset({"people", "subscription", "channel", "locale"})
_PERSON_FIELDS = frozenset({*FIELDS, "subscription", "channel", "locale"})
# An option `bridge link` names in its messages (with its value, for a channel), where the
# API names the field of the same name by its place.
_OPTION = re.compile(r"^--(?:channel \w+: |(?:subscription|channel|locale)\b ?)")


class InvalidBatch(InvalidBody):
    """A batch with mistakes; the message names each (up to ten), `field` the first one's place."""

    def __init__(self, mistakes: list[tuple[str, str]]) -> None:
        shown = "; ".join(f"{where}: {problem}" for where, problem in mistakes[:_SHOWN_ERRORS])
        more = len(mistakes) - _SHOWN_ERRORS
        super().__init__(shown + (f"; and {more} more" if more > 0 else ""))
        self.field = mistakes[0][0]

    def details(self) -> dict[str, str]:
        """The first mistake's place, for a caller's code to point at."""
        return {"field": self.field}


@dataclass(frozen=True)
class Batch:
    """The people of a checked batch, each with the scope and locale their links carry."""

    people: list[LinkClaims]
    scopes: dict[Scope, str] = field(default_factory=dict)  # each scope, first place it is named


def reworded(exc: LinkRefused) -> str:
    """A `bridge link` refusal worded for the API: the field is named by its place instead."""
    return _OPTION.sub("", str(exc), count=1)


class _Reader:
    """Collects the mistakes of one batch while reading it."""

    def __init__(self) -> None:
        self.mistakes: list[tuple[str, str]] = []

    def scope(self, entry: Mapping[str, Any], where: str) -> Scope | None:
        """The entry's `subscription` or `channel`, checked; None when it names neither."""
        if "subscription" in entry and "channel" in entry:
            self.mistakes.append((where or "body", "give subscription or channel, not both"))
            return None
        if "subscription" in entry:
            ids = entry["subscription"]
            at = f"{where}.subscription" if where else "subscription"
            if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
                self.mistakes.append((at, "must be a non-empty list of type ids (strings)"))
                return None
            try:
                return Scope(type_ids=check_type_ids(ids))
            except LinkRefused as exc:
                self.mistakes.append((at, reworded(exc)))
                return None
        if "channel" in entry:
            value = entry["channel"]
            if value not in ("email", "sms"):
                at = f"{where}.channel" if where else "channel"
                self.mistakes.append((at, f"{_shown(value)} is not email or sms"))
                return None
            return Scope(channel=Channel(value))
        return None

    def locale(self, entry: Mapping[str, Any], where: str) -> str | None:
        """The entry's `locale`, checked; None when it names none."""
        if "locale" not in entry:
            return None
        value = entry["locale"]
        at = f"{where}.locale" if where else "locale"
        if not isinstance(value, str):
            self.mistakes.append((at, "must be a language tag (a string), like fr or pt-BR"))
            return None
        try:
            return check_locale(value)
        except LinkRefused as exc:
            self.mistakes.append((at, reworded(exc)))
            return None

    def identity(self, entry: Mapping[str, Any], where: str) -> Identity | None:
        """The one identity field of a person, checked as `bridge link` checks it."""
        named = [name for name in FIELDS if name in entry]
        if len(named) != 1:
            wanted = ", ".join(FIELDS[:-1]) + " or " + FIELDS[-1]
            problem = "names nobody" if not named else f"names {' and '.join(named)}"
            self.mistakes.append((where, f"{problem}: give exactly one of {wanted}"))
            return None
        name = named[0]
        value = entry[name]
        if not isinstance(value, str):
            self.mistakes.append((f"{where}.{name}", "must be a string"))
            return None
        try:
            return identity(name, value)
        except InvalidIdentity as exc:
            self.mistakes.append((f"{where}.{name}", str(exc)))
            return None

    def unknown(self, entry: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
        """Note the first field the API does not know, so a misspelt one is never ignored."""
        unexpected = sorted(set(entry) - set(allowed))
        if unexpected:
            self.mistakes.append((where or "body", f"unknown field {_shown(unexpected[0])}"))


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def read_batch(raw: bytes) -> Batch:
    """The people of a JSON body, every one checked; InvalidBatch names every mistake."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadForm("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidBatch([("body", "must be a JSON object with a people list")])
    reader = _Reader()
    reader.unknown(body, _BATCH_FIELDS, "")
    default_scope = reader.scope(body, "") or Scope()
    default_locale = reader.locale(body, "")
    people = body.get("people")
    if not isinstance(people, list) or not people:
        reader.mistakes.append(("people", "must be a non-empty list of people"))
        raise InvalidBatch(reader.mistakes)
    if len(people) > MAX_PEOPLE:
        reader.mistakes.append(("people", f"holds {len(people)} people; at most {MAX_PEOPLE}"))
        raise InvalidBatch(reader.mistakes)
    claims: list[LinkClaims] = []
    scopes: dict[Scope, str] = {}
    if not default_scope.is_all:
        scopes[default_scope] = "subscription" if default_scope.type_ids else "channel"
    for index, entry in enumerate(people):
        where = f"people[{index}]"
        if not isinstance(entry, dict):
            reader.mistakes.append((where, 'must be an object such as {"email": ...}'))
            continue
        reader.unknown(entry, _PERSON_FIELDS, where)
        who = reader.identity(entry, where)
        own_scope = reader.scope(entry, where)
        locale = reader.locale(entry, where) or default_locale
        if who is None or reader.mistakes:
            continue  # only the mistakes matter now: nothing will be signed
        scope = own_scope or default_scope
        if own_scope is not None:
            scopes.setdefault(scope, f"{where}.{'subscription' if scope.type_ids else 'channel'}")
        claims.append(LinkClaims(who, scope, locale))
    if reader.mistakes:
        raise InvalidBatch(reader.mistakes)
    return Batch(claims, scopes)


def write_links(
    signer: LinkSigner, public_url: str, people: list[LinkClaims], warnings: list[str]
) -> bytes:
    """The answer's JSON: each person in order, their identity, links and header values."""
    answers = []
    for claims in people:
        urls = signer.urls(public_url, claims)
        answers.append(
            {
                **claims.identity.to_dict(),
                "unsubscribe_url": urls[Purpose.UNSUBSCRIBE],
                "preferences_url": urls[Purpose.PREFERENCES],
                "list_unsubscribe": list_unsubscribe(urls[Purpose.UNSUBSCRIBE]),
                "list_unsubscribe_post": ONE_CLICK,
            }
        )
    return json.dumps({"links": answers, "warnings": warnings}, ensure_ascii=False).encode()
