"""The pure consent core: identities, scopes, type selection and plan()."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from bridge.consent import (
    Action,
    Channel,
    ConsentRequest,
    ConsentType,
    Identity,
    Scope,
    SubscriptionType,
    Translation,
    UnknownTypes,
    Wanted,
    call_for,
    plan,
    receives,
    restorable,
    restores_only,
    select_types,
)


def make_type(
    type_id: str, consent: ConsentType, channel: str = "email", state: str = "live"
) -> SubscriptionType:
    """A subscription type with just the fields planning reads."""
    return SubscriptionType(
        id=type_id,
        state=state,
        consent_type=consent,
        content_types=(channel,),
        default_translation=Translation(f"Type {type_id}", "", "en"),
    )


OPT_OUT_EMAIL = make_type("1", ConsentType.OPT_OUT)
OPT_IN_EMAIL = make_type("2", ConsentType.OPT_IN)
OPT_IN_SMS = make_type("108", ConsentType.OPT_IN, "sms_message")
DRAFT = make_type("7", ConsentType.OPT_OUT, state="draft")
ARCHIVED = make_type("8", ConsentType.OPT_IN, state="archived")
WORKSPACE = [OPT_OUT_EMAIL, OPT_IN_EMAIL, OPT_IN_SMS, DRAFT, ARCHIVED]

# What each (wanted, consent_type) needs of a contact's list: the call that reaches it.
CALL_TABLE = {
    (Wanted.UNSUBSCRIBED, ConsentType.OPT_OUT): Action.ATTACH,
    (Wanted.UNSUBSCRIBED, ConsentType.OPT_IN): Action.DETACH,
    (Wanted.SUBSCRIBED, ConsentType.OPT_OUT): Action.DETACH,
    (Wanted.SUBSCRIBED, ConsentType.OPT_IN): Action.ATTACH,
}


@pytest.mark.parametrize(("wanted", "consent"), list(CALL_TABLE))
def test_call_for_follows_the_design_table(wanted: Wanted, consent: ConsentType) -> None:
    call = call_for(wanted, make_type("9", consent))
    assert call.action is CALL_TABLE[(wanted, consent)]
    assert call.consent_type is consent
    assert call.type_id == "9"


@pytest.mark.parametrize(
    ("consent", "in_list", "expected"),
    [
        (ConsentType.OPT_OUT, True, False),
        (ConsentType.OPT_OUT, False, True),
        (ConsentType.OPT_IN, True, True),
        (ConsentType.OPT_IN, False, False),
    ],
)
def test_receives_reads_the_explicit_list_by_consent_type(
    consent: ConsentType, in_list: bool, expected: bool
) -> None:
    t = make_type("5", consent)
    assert receives(t, frozenset({"5"} if in_list else set())) is expected


SCOPES = {
    "one type": Scope(type_ids=("2",)),
    "email": Scope(channel=Channel.EMAIL),
    "sms": Scope(channel=Channel.SMS),
    "all": Scope(),
}
SCOPE_TYPES = {"one type": ["2"], "email": ["1", "2"], "sms": ["108"], "all": ["1", "2", "108"]}


@pytest.mark.parametrize(
    ("wanted", "scope_name", "explicit"),
    list(
        itertools.product(
            (Wanted.UNSUBSCRIBED, Wanted.SUBSCRIBED),  # a `link` is refused: see below
            SCOPES,
            [
                frozenset(),
                frozenset({"1"}),
                frozenset({"2", "108"}),
                frozenset({"1", "2", "108"}),
                None,
            ],
        )
    ),
)
def test_plan_reaches_the_wanted_state_with_no_wasted_call(
    wanted: Wanted, scope_name: str, explicit: frozenset[str] | None
) -> None:
    """Every combination of wanted x consent_type x current state x scope."""
    types = select_types(SCOPES[scope_name], WORKSPACE)
    assert [t.id for t in types] == SCOPE_TYPES[scope_name]
    calls = plan(wanted, types, explicit)
    start = set() if explicit is None else set(explicit)
    after = set(start)
    for call in calls:
        assert call.action is CALL_TABLE[(wanted, call.consent_type)]
        (after.add if call.action is Action.ATTACH else after.discard)(call.type_id)
    want_receive = wanted is Wanted.SUBSCRIBED
    for t in types:
        assert receives(t, frozenset(after)) is want_receive
    if explicit is None:
        assert len(calls) == len(types)  # unknown state: every call is made
    else:
        needed = [t.id for t in types if receives(t, explicit) is not want_receive]
        assert [c.type_id for c in calls] == needed  # known state: only the changes


def test_plan_refuses_a_request_for_a_preference_link() -> None:
    """A `manage` form's request changes nothing, whatever reaches `plan` with it."""
    with pytest.raises(ValueError, match="changes no subscription"):
        plan(Wanted.LINK, WORKSPACE, None)


def test_select_types_skips_draft_and_archived_unless_asked() -> None:
    assert [t.id for t in select_types(Scope(), WORKSPACE)] == ["1", "2", "108"]
    everything = select_types(Scope(), WORKSPACE, include_non_live=True)
    assert [t.id for t in everything] == ["1", "2", "108", "7", "8"]


def test_select_types_refuses_unknown_or_not_live_ids() -> None:
    with pytest.raises(UnknownTypes) as caught:
        select_types(Scope(type_ids=("2", "999", "7")), WORKSPACE)
    assert caught.value.type_ids == ("999", "7")
    assert "999" in str(caught.value)


def test_select_types_keeps_requested_order_without_duplicates() -> None:
    chosen = select_types(Scope(type_ids=("108", "1", "108")), WORKSPACE)
    assert [t.id for t in chosen] == ["108", "1"]


def test_identity_needs_a_field_and_normalises_email() -> None:
    with pytest.raises(ValueError, match="needs a contact id"):
        Identity()
    identity = Identity(email="  Jane@Example.COM ")
    assert identity.email == "jane@example.com"
    assert identity.key == "email:jane@example.com"
    assert Identity(contact_id="abc", email="x@y.z").key == "contact_id:abc"
    assert Identity.from_dict(identity.to_dict()) == identity


def test_scope_round_trips_and_rejects_both_kinds() -> None:
    for scope in SCOPES.values():
        assert Scope.from_dict(scope.to_dict()) == scope
    with pytest.raises(ValueError, match="not both"):
        Scope(type_ids=("1",), channel=Channel.EMAIL)
    assert Scope(type_ids=(108,)).type_ids == ("108",)  # type: ignore[arg-type]


def test_consent_request_requires_aware_time_and_ids() -> None:
    identity = Identity(email="a@b.c")
    with pytest.raises(ValueError, match="timezone-aware"):
        ConsentRequest(identity, Wanted.UNSUBSCRIBED, Scope(), datetime(2026, 1, 1), "x", "1")
    with pytest.raises(ValueError, match="source and an event id"):
        ConsentRequest(identity, Wanted.UNSUBSCRIBED, Scope(), datetime.now(UTC), "x", "")


def test_subscription_type_from_api_ignores_unknown_fields() -> None:
    data = {
        "type": "subscription",
        "id": 108,
        "state": "live",
        "consent_type": "opt_in",
        "default_translation": {"name": "Newsletters", "description": "d", "locale": "en"},
        "translations": [{"name": "Lettres", "description": "d", "locale": "fr"}],
        "content_types": ["sms_message"],
        "something_new": True,
    }
    t = SubscriptionType.from_api(data)
    assert t.id == "108" and t.consent_type is ConsentType.OPT_IN
    assert t.translations[0].locale == "fr" and t.is_live


def _asking(wanted: Wanted, scope: Scope) -> ConsentRequest:
    """A request from one person, wanting `wanted` for `scope`."""
    return ConsentRequest(
        Identity(phone="+447700900001"), wanted, scope, datetime.now(UTC), "t", "1"
    )


OPT_OUT_SMS = make_type("109", ConsentType.OPT_OUT, "sms_message")
OPT_IN_SMS_2 = make_type("110", ConsentType.OPT_IN, "sms_message")
SMS_TYPES = [OPT_IN_SMS, OPT_OUT_SMS, OPT_IN_SMS_2]


@pytest.mark.parametrize("scope", [Scope(channel=Channel.SMS), Scope()], ids=["channel", "all"])
def test_a_broad_subscribe_restores_opt_in_types_only_if_taken_away(scope: Scope) -> None:
    request = _asking(Wanted.SUBSCRIBED, scope)
    assert restores_only(request)
    kept = restorable(request, SMS_TYPES, frozenset({"108"}))
    assert [t.id for t in kept] == ["108", "109"]
    # Nothing taken away: opt-out types still come back (their default), opt-in ones never.
    assert [t.id for t in restorable(request, SMS_TYPES, frozenset())] == ["109"]


def test_explicit_types_and_unsubscribes_apply_as_asked() -> None:
    explicit = _asking(Wanted.SUBSCRIBED, Scope(type_ids=("108", "110")))
    stop = _asking(Wanted.UNSUBSCRIBED, Scope(channel=Channel.SMS))
    for request in (explicit, stop):
        assert not restores_only(request)
        assert restorable(request, SMS_TYPES, frozenset()) == SMS_TYPES
