"""Tests for bridge.ledger.history: a person across identities, a period, a request's story."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from bridge.consent import Channel, ConsentRequest, Identity, Scope, Wanted
from bridge.ledger import ConfirmClick, Ledger, Outcome, Status
from bridge.ledger import history as history_module
from tests.ledger.conftest import NOW, T0, after, consent, record
from tests.ledger.test_confirmations import emailed, needs_confirming

JANE_CONTACT = "63a07ddf05a32042dffac965"


def by(identity: Identity, event_id: str, *, minutes: float = 0) -> ConsentRequest:
    """An unsubscribe from any identity, happening `minutes` after T0."""
    return ConsentRequest(
        identity=identity,
        wanted=Wanted.UNSUBSCRIBED,
        scope=Scope(channel=Channel.SMS),
        occurred_at=T0 + timedelta(minutes=minutes),
        source="test",
        event_id=event_id,
    )


async def applied_to(ledger: Ledger, request_id: int, contact_id: str) -> None:
    """Claim the request and settle it `applied`, with one detach from `contact_id`."""
    claimed = await ledger.claim("w", limit=10, lease_seconds=60, now=after(1))
    assert request_id in [c.id for c in claimed]
    assert await ledger.finish(
        request_id,
        "w",
        Status.APPLIED,
        outcomes=[Outcome(contact_id, "93", "detach", 200, "req-abc")],
        now=after(2),
    )
    await ledger.release("w", now=after(2))


async def test_a_person_is_found_through_the_contact_their_calls_went_to(ledger: Ledger) -> None:
    by_email, by_phone, _stranger = await record(
        ledger,
        consent("e1"),
        by(Identity(phone="+447700900123"), "p1", minutes=1),
        consent("x1", email="joe@example.com", minutes=2),
    )
    await applied_to(ledger, by_email, JANE_CONTACT)
    await applied_to(ledger, by_phone, JANE_CONTACT)
    person = await ledger.history.person(Identity(email="jane@example.com"))
    assert person.keys == {
        "email:jane@example.com",
        "phone:+447700900123",
        f"contact_id:{JANE_CONTACT}",
    }
    assert person.contact_ids == {JANE_CONTACT}
    found = await ledger.history.events(person=person)
    assert [r.id for r in found] == [by_phone, by_email]  # newest first


async def test_a_request_naming_two_identities_ties_them(ledger: Ledger) -> None:
    both, by_id = await record(
        ledger,
        by(Identity(email="jane@example.com", external_id="crm_42"), "b1"),
        by(Identity(external_id="crm_42"), "b2"),
    )
    person = await ledger.history.person(Identity(email="jane@example.com"))
    assert person.keys == {"email:jane@example.com", "external_id:crm_42"}
    assert {r.id for r in await ledger.history.events(person=person)} == {both, by_id}


async def test_like_wildcards_in_a_value_match_only_themselves(ledger: Ledger) -> None:
    await record(ledger, by(Identity(email="jane@example.com", external_id="a_b"), "w1"))
    await record(ledger, by(Identity(email="joe@example.com", external_id="aXb"), "w2"))
    await record(ledger, by(Identity(email="amy@example.com", external_id="A_B"), "w3"))
    person = await ledger.history.person(Identity(external_id="a_b"))
    assert person.keys == {"external_id:a_b", "email:jane@example.com"}


async def test_an_unknown_person_is_just_the_identity_asked_about(ledger: Ledger) -> None:
    person = await ledger.history.person(Identity(contact_id="nobody"))
    assert (person.keys, person.contact_ids) == ({"contact_id:nobody"}, {"nobody"})
    assert await ledger.history.events(person=person) == []


async def test_the_identities_followed_are_bounded(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "MAX_STEPS", 1)
    await record(
        ledger,
        by(Identity(email="jane@example.com", external_id="crm_1"), "c1"),
        by(Identity(external_id="crm_1", phone="+447700900123"), "c2"),
    )
    person = await ledger.history.person(Identity(email="jane@example.com"))
    # One step reaches crm_1 but not what only crm_1 leads to.
    assert "phone:+447700900123" not in person.keys


async def test_events_of_a_period_and_a_status(ledger: Ledger) -> None:
    early, middle, late = await record(
        ledger, consent("a", minutes=0), consent("b", minutes=10), consent("c", minutes=20)
    )
    period = await ledger.history.events(
        since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=20)
    )
    assert [r.id for r in period] == [middle]
    await ledger.replay(ids=[early])  # pending stays pending: no status change
    assert await ledger.history.events(status=Status.DEAD) == []
    assert [r.id for r in await ledger.history.events(limit=2)] == [late, middle]
    assert await ledger.history.events(limit=0) == []


async def test_every_reads_a_long_history_in_pages(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "PAGE", 2)
    ids = await record(ledger, *(consent(f"e{n}", minutes=n) for n in range(5)))
    assert [r.id for r in await ledger.history.every(since=T0)] == ids


async def test_a_story_has_the_payload_the_consent_text_and_every_call(ledger: Ledger) -> None:
    context = {"consent_text": "Yes, email me", "ip": "203.0.113.9"}
    request = dataclasses.replace(consent("s1"), context=context)
    [saved] = await ledger.record([request], payload=b"form=body", received_at=NOW)
    await applied_to(ledger, saved.id, JANE_CONTACT)
    story = await ledger.history.story(saved.id)
    assert story is not None
    assert story.consent_text_sha256 is not None and len(story.consent_text_sha256) == 64
    assert story.record.request.context["consent_text"] == "Yes, email me"
    assert story.payload is not None and story.payload.size == len(b"form=body")
    assert story.payload.received_at == NOW
    [call] = story.record.outcomes
    assert (call.intercom_request_id, call.http_status) == ("req-abc", 200)
    assert story.updated_at == after(2)
    assert await ledger.history.story(saved.id + 1000) is None


async def test_kept_names_only_the_payloads_still_there(ledger: Ledger) -> None:
    [one] = await ledger.record([consent("k1")], payload=b"one", received_at=NOW)
    [two] = await ledger.record([consent("k2")], payload=b"two", received_at=after(60))
    await ledger.prune(after(30), keep_payloads_for=timedelta(0))
    records = await ledger.history.events()
    kept = await ledger.history.kept(records)
    assert [k.size for k in kept.values()] == [3]
    survivor = await ledger.get(two.id)
    assert survivor is not None and set(kept) == {survivor.payload_sha256}
    assert one.id != two.id


async def test_a_confirmation_click_is_part_of_the_story(ledger: Ledger) -> None:
    request_id = await emailed(ledger, needs_confirming("c1"))
    proof = {"via": "email", "ip": "203.0.113.9"}
    assert (await ledger.confirm("form:news", "c1", proof=proof, now=after(5)))[1] == request_id
    story = await ledger.history.story(request_id)
    assert story is not None
    assert story.record.confirmation == ConfirmClick(after(5), proof)
    assert [o.action for o in story.record.outcomes] == ["message"]
