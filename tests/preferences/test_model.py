"""What a preference page shows and records: states, the pending overlay, changes, proof."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.consent import (
    Channel,
    ConsentRequest,
    ConsentType,
    Identity,
    Scope,
    SubscriptionType,
    Translation,
    Wanted,
)
from bridge.preferences.model import changes, channel_of, choices, overlay, requests_for

T0 = datetime(2026, 11, 26, 12, tzinfo=UTC)
JANE = Identity(email="jane@example.com")


def _type(
    type_id: str, consent: ConsentType, content: str = "email", *, fr: str | None = None
) -> SubscriptionType:
    translations = (Translation(fr, f"{fr} (fr)", "fr"),) if fr else ()
    return SubscriptionType(
        id=type_id,
        state="live",
        consent_type=consent,
        content_types=(content,),
        default_translation=Translation(f"Type {type_id}", f"About {type_id}", "en"),
        translations=translations,
    )


NEWS = _type("93", ConsentType.OPT_OUT, fr="Lettre")
OFFERS = _type("95", ConsentType.OPT_IN)
SMS = _type("108", ConsentType.OPT_IN, "sms_message")
TYPES = [NEWS, OFFERS, SMS]


def _request(wanted: Wanted, scope: Scope, minutes: int) -> ConsentRequest:
    return ConsentRequest(
        identity=JANE,
        wanted=wanted,
        scope=scope,
        occurred_at=T0 + timedelta(minutes=minutes),
        source="test",
        event_id=f"{wanted}-{minutes}",
    )


def _states(found: list) -> dict[str, bool | None]:  # type: ignore[type-arg]
    return {choice.id: choice.subscribed for choice in found}


def test_states_follow_consent_type_and_explicit_choices() -> None:
    assert _states(choices(TYPES, [frozenset()], (), ["en"])) == {
        "93": True,  # opt_out: receiving by default
        "95": False,  # opt_in: not until they opt in
        "108": False,
    }
    assert _states(choices(TYPES, [frozenset({"93", "95"})], (), ["en"])) == {
        "93": False,
        "95": True,
        "108": False,
    }


def test_no_contact_yet_means_defaults() -> None:
    assert _states(choices(TYPES, [], (), ["en"])) == {"93": True, "95": False, "108": False}


def test_a_person_receives_a_type_if_any_of_their_contacts_does() -> None:
    lead, user = frozenset(), frozenset({"93"})
    assert _states(choices(TYPES, [user, lead], (), ["en"]))["93"] is True
    assert _states(choices(TYPES, [user, user], (), ["en"]))["93"] is False


def test_unknown_state_is_none_except_where_a_pending_request_decides() -> None:
    pending = [_request(Wanted.UNSUBSCRIBED, Scope(type_ids=("93",)), 1)]
    assert _states(choices(TYPES, None, pending, ["en"])) == {
        "93": False,
        "95": None,
        "108": None,
    }


def test_pending_requests_overlay_in_event_order() -> None:
    pending = [
        _request(Wanted.SUBSCRIBED, Scope(channel=Channel.EMAIL), 5),
        _request(Wanted.UNSUBSCRIBED, Scope(), 1),  # older, though listed first here
    ]
    assert overlay(TYPES, pending) == {"93": True, "95": True, "108": False}
    found = {c.id: c for c in choices(TYPES, [frozenset()], pending, ["en"])}
    assert found["95"].subscribed and found["95"].updating
    assert found["93"].subscribed and not found["93"].updating  # no change from now
    assert not found["108"].subscribed and not found["108"].updating


def test_pending_requests_for_types_no_longer_shown_are_ignored() -> None:
    pending = [_request(Wanted.SUBSCRIBED, Scope(type_ids=("999", "95")), 1)]
    assert overlay(TYPES, pending) == {"95": True}
    assert overlay(TYPES, [_request(Wanted.SUBSCRIBED, Scope(type_ids=("999",)), 1)]) == {}


def test_words_come_in_the_preferred_language() -> None:
    found = {c.id: c for c in choices(TYPES, [frozenset()], (), ["fr", "en"])}
    assert (found["93"].name, found["93"].locale) == ("Lettre", "fr")
    assert (found["95"].name, found["95"].locale) == ("Type 95", "en")


def test_channel_of() -> None:
    assert channel_of(NEWS) is Channel.EMAIL
    assert channel_of(SMS) is Channel.SMS
    assert channel_of(_type("1", ConsentType.OPT_IN, "push")) is None


def test_changes_are_what_differs_from_what_was_shown() -> None:
    shown: dict[str, bool | None] = {"93": True, "95": False, "108": None}
    wanted = {"93": True, "95": True, "108": False}
    # 93 unchanged; 95 switched on; 108's state was unknown, so it is recorded as asked.
    assert changes(shown, wanted) == {"95": True, "108": False}
    assert changes(shown, {"93": True, "95": False}) == {}


def test_requests_for_changes_carry_proof_and_stable_event_ids() -> None:
    shown = {c.id: c for c in choices(TYPES, [frozenset()], (), ["fr"])}
    made = requests_for(
        JANE,
        {"93": False, "95": True},
        shown,
        occurred_at=T0,
        source="preferences",
        event_prefix="abc",
        via="page",
        page_locale="fr",
        client={"ip": "192.0.2.1"},
    )
    assert [(r.scope.type_ids, r.wanted, r.event_id) for r in made] == [
        (("93",), Wanted.UNSUBSCRIBED, "abc:93:off"),
        (("95",), Wanted.SUBSCRIBED, "abc:95:on"),
    ]
    assert made[0].context == {
        "via": "page",
        "locale": "fr",
        "shown": {"name": "Lettre", "description": "Lettre (fr)", "locale": "fr"},
        "ip": "192.0.2.1",
    }
    assert {r.source for r in made} == {"preferences"}
