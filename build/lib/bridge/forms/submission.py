"""A form's posted fields become one consent request with its proof of consent: pure.

The fields are checked here, so every way of posting (urlencoded, multipart, JSON) gets the
same answers: the email is required and normalised, a phone is kept in E.164 form, and with
`choose` only the form's own types may be ticked.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.consent import Confirmation, ConsentRequest, Identity, NewContact, Scope, Wanted
from bridge.identities import InvalidIdentity, check_email, check_phone

from .settings import Form, FormAction

CHOICE_FIELD = "subscription"  # the checkboxes' name when the visitor chooses
NONCE_FIELD = "_nonce"  # the hosted page's (and the fetch snippet's) once-per-send nonce
MAX_NAME = 200


class InvalidField(ValueError):
    """A posted field that cannot be used; `kind` is email, phone, name or subscription."""

    def __init__(self, kind: str, field: str, problem: str) -> None:
        self.kind = kind
        self.field = field
        super().__init__(f"{field}: {problem}")


@dataclass(frozen=True)
class Submission:
    """What a person sent: who they are, the types they chose, the name for a new lead."""

    identity: Identity
    type_ids: tuple[str, ...]
    name: str | None = None


def _first(fields: Sequence[tuple[str, str]], name: str) -> str:
    return next((value.strip() for key, value in fields if key == name), "")


def _checked(kind: str, field: str, value: str, check: Callable[[str], str]) -> str:
    try:
        return check(value)
    except InvalidIdentity as exc:
        raise InvalidField(kind, field, str(exc)) from None


def _email(form: Form, fields: Sequence[tuple[str, str]]) -> str:
    value = _first(fields, form.fields.email)
    if not value:
        raise InvalidField("email", form.fields.email, "an email address is required")
    return _checked("email", form.fields.email, value, check_email)


def _phone(form: Form, fields: Sequence[tuple[str, str]]) -> str | None:
    value = _first(fields, form.fields.phone)
    return _checked("phone", form.fields.phone, value, check_phone) if value else None


def _name(form: Form, fields: Sequence[tuple[str, str]]) -> str | None:
    return clean_name(form.fields.name, _first(fields, form.fields.name))


def clean_name(field: str, given: str) -> str | None:
    """A person's name with its spaces tidied, or None if blank; InvalidField if unusable."""
    value = " ".join(given.split())
    if len(value) > MAX_NAME:
        raise InvalidField("name", field, f"is longer than {MAX_NAME} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in value):
        raise InvalidField("name", field, "contains a control or invisible character")
    return value or None


def _types(form: Form, fields: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    if not form.choose:
        return form.types
    ticked = {value.strip() for key, value in fields if key == CHOICE_FIELD}
    unknown = sorted(ticked - set(form.types))
    if unknown:
        raise InvalidField(
            "subscription", CHOICE_FIELD, f"{unknown[0][:40]!r} is not one of this form's choices"
        )
    if not ticked:
        if form.action is FormAction.SUBSCRIBE:
            raise InvalidField("subscription", CHOICE_FIELD, "tick at least one subscription")
        return form.types  # nothing ticked on an unsubscribe form: all of its types
    return tuple(t for t in form.types if t in ticked)


def read_submission(form: Form, fields: Sequence[tuple[str, str]]) -> Submission:
    """The checked submission, or InvalidField naming the first field that is wrong."""
    email = _email(form, fields)
    phone = _phone(form, fields)
    name = _name(form, fields)
    return Submission(Identity(email=email, phone=phone), _types(form, fields), name)


def submission_event_id(form: Form, submission: Submission, nonce: str | None) -> str:
    """The event id of a post: from its nonce scoped to the form and person, else a fresh one.

    The nonce is the client's choice, so it dedupes only the same person's double submit: the
    same nonce sent with another address is another person's request and is recorded too. The
    ticked types are in the digest as well, so a person who goes back to the page and ticks
    something else is heard, not taken for a double click.
    """
    if nonce is None:
        return uuid.uuid4().hex  # a pasted form or a script: every post is its own request
    scope = "\n".join([form.name, submission.identity.key, *submission.type_ids]).encode()
    return f"{hashlib.sha256(scope).hexdigest()[:32]}:{nonce}"


def consent_request(
    form: Form,
    submission: Submission,
    *,
    occurred_at: datetime,
    event_id: str,
    proof: Mapping[str, Any],
    locale: str | None = None,
) -> ConsentRequest:
    """The request a submission records, its context the proof: form, words, page, client.

    With double opt-in it waits for its person's click on a link emailed in `locale`.
    """
    context: dict[str, Any] = {"via": "form", "form": form.name, "action": form.action.value}
    if form.consent_text is not None:
        context["consent_text"] = form.consent_text
        context["consent_text_sha256"] = form.consent_text_sha256
    if form.choose:
        context["offered"] = list(form.types)  # what the visitor chose from
    subscribe = form.action is FormAction.SUBSCRIBE
    return ConsentRequest(
        identity=submission.identity,
        wanted=Wanted.SUBSCRIBED if subscribe else Wanted.UNSUBSCRIBED,
        scope=Scope(type_ids=submission.type_ids),
        occurred_at=occurred_at,
        source=form.source,
        event_id=event_id,
        context={**context, **proof},
        create=NewContact(name=submission.name) if form.create else None,
        confirm=(
            Confirmation(form.confirm.admin_id, form.confirm.days, locale) if form.confirm else None
        ),
    )
