"""Posted fields -> one consent request: the checks, the scope, the lead, the proof."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from bridge.consent import Confirmation, Identity, NewContact, Scope, Wanted
from bridge.forms import form_settings
from bridge.forms.submission import InvalidField, Submission, consent_request, read_submission

PUBLIC = "https://consent.example.com"
WORDS = "Send me the monthly newsletter."
SIGNUP = form_settings("newsletter", {"types": ["93", "95"], "consent_text": WORDS}, PUBLIC)
CHOOSER = form_settings(
    "choices", {"types": ["93", "95"], "consent_text": WORDS, "choose": True}, PUBLIC
)
LEAVER = form_settings("leave", {"types": ["93", "95"], "action": "unsubscribe"}, PUBLIC)
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_email_phone_and_name_are_checked_and_normalised() -> None:
    fields = [
        ("email", "  Jane.Doe@Example.COM "),
        ("phone", "+353 87 123 4567"),
        ("name", "  Jane \t Doe "),
        ("email", "second@example.com"),  # the first of a repeated field counts
    ]
    submission = read_submission(SIGNUP, fields)
    assert submission == Submission(
        Identity(email="jane.doe@example.com", phone="+353871234567"), ("93", "95"), "Jane Doe"
    )


def test_the_form_s_own_field_names_are_read() -> None:
    form = form_settings(
        "mapped",
        {"types": ["93"], "consent_text": WORDS, "fields": {"email": "e", "name": "who"}},
        PUBLIC,
    )
    submission = read_submission(form, [("email", "x@example.com"), ("e", "a@example.com")])
    assert submission.identity == Identity(email="a@example.com") and submission.name is None


@pytest.mark.parametrize(
    ("fields", "kind", "message"),
    [
        ([], "email", "email: an email address is required"),
        ([("email", "  ")], "email", "email: an email address is required"),
        ([("email", "jane@")], "email", "email: 'jane@' needs a domain"),
        ([("email", "j@x.io"), ("phone", "087 123")], "phone", "phone: '087 123' is not in"),
        ([("email", "j@x.io"), ("name", "J" * 201)], "name", "name: is longer than 200"),
        ([("email", "j@x.io"), ("name", "J\u200bD")], "name", "name: contains a control"),
    ],
)
def test_a_bad_field_is_named(fields: list[tuple[str, str]], kind: str, message: str) -> None:
    with pytest.raises(InvalidField) as caught:
        read_submission(SIGNUP, fields)
    assert caught.value.kind == kind
    assert str(caught.value).startswith(message)


def test_choosing_takes_only_the_form_s_types_in_its_order() -> None:
    fields = [("email", "j@x.io"), ("subscription", "95"), ("subscription", "93")]
    assert read_submission(CHOOSER, fields).type_ids == ("93", "95")
    assert read_submission(CHOOSER, fields[:2]).type_ids == ("95",)
    with pytest.raises(InvalidField, match=r"^subscription: '108' is not one of this form"):
        read_submission(CHOOSER, [*fields, ("subscription", "108")])
    with pytest.raises(InvalidField, match=r"^subscription: tick at least one"):
        read_submission(CHOOSER, fields[:1])


def test_without_choose_a_posted_subscription_changes_nothing() -> None:
    fields = [("email", "j@x.io"), ("subscription", "108")]
    assert read_submission(SIGNUP, fields).type_ids == ("93", "95")


def test_an_unsubscribe_form_with_nothing_ticked_covers_all_its_types() -> None:
    form = form_settings(
        "leave", {"types": ["93", "95"], "action": "unsubscribe", "choose": True}, PUBLIC
    )
    assert read_submission(form, [("email", "j@x.io")]).type_ids == ("93", "95")


def test_a_signup_asks_to_subscribe_and_to_create_with_the_proof() -> None:
    submission = read_submission(CHOOSER, [("email", "j@x.io"), ("subscription", "95")])
    request = consent_request(
        CHOOSER, submission, occurred_at=NOW, event_id="e1", proof={"page_origin": "https://a.io"}
    )
    assert request.wanted is Wanted.SUBSCRIBED
    assert request.scope == Scope(type_ids=("95",))
    assert request.source == "form:choices" and request.event_id == "e1"
    assert request.occurred_at == NOW
    assert request.create == NewContact(name=None)
    assert request.context == {
        "via": "form",
        "form": "choices",
        "action": "subscribe",
        "consent_text": WORDS,
        "consent_text_sha256": hashlib.sha256(WORDS.encode()).hexdigest(),
        "offered": ["93", "95"],
        "page_origin": "https://a.io",
    }


def test_an_unsubscribe_creates_nobody() -> None:
    submission = read_submission(LEAVER, [("email", "j@x.io"), ("name", "Jane")])
    request = consent_request(LEAVER, submission, occurred_at=NOW, event_id="e2", proof={})
    assert request.wanted is Wanted.UNSUBSCRIBED and request.create is None
    assert request.context == {"via": "form", "form": "leave", "action": "unsubscribe"}


def test_a_double_opt_in_signup_carries_its_confirmation_in_the_visitor_s_language() -> None:
    table = {"types": ["95"], "consent_text": WORDS, "confirm": "email", "confirm_admin_id": 7}
    form = form_settings("digest", {**table, "confirm_days": 3}, PUBLIC)
    submission = read_submission(form, [("email", "ann@example.com")])
    request = consent_request(
        form, submission, occurred_at=NOW, event_id="e1", proof={}, locale="fr"
    )
    assert request.confirm == Confirmation("7", 3, "fr")
    assert request.context["consent_text"] == WORDS
    plain = consent_request(SIGNUP, submission, occurred_at=NOW, event_id="e2", proof={})
    assert plain.confirm is None
