"""Tests for bridge.ledger.queries: listing, ages and a person's unsettled requests."""

from __future__ import annotations

import dataclasses

from bridge.consent import Identity, Scope, Wanted
from bridge.ledger import Ledger, Outcome, Status
from tests.ledger.conftest import NOW, after, consent, record


async def test_list_requests_filters_newest_first(ledger: Ledger) -> None:
    ids = await record(
        ledger,
        consent("1", email="a@example.com"),
        consent("2", email="b@example.com", minutes=1),
        consent("3", email="a@example.com", minutes=2),
    )
    await ledger.claim("w", limit=1, lease_seconds=30, now=NOW)
    assert [r.id for r in await ledger.list_requests()] == ids[::-1]
    assert [r.id for r in await ledger.list_requests(limit=1)] == [ids[2]]
    by_contact = await ledger.list_requests(contact_key="email:a@example.com")
    assert [r.id for r in by_contact] == [ids[2], ids[0]]
    assert [r.id for r in await ledger.list_requests(status=Status.LEASED)] == [ids[0]]
    assert await ledger.list_requests(status=Status.DEAD) == []


async def test_oldest_due_age(ledger: Ledger) -> None:
    assert await ledger.oldest_due_age(NOW) is None
    await record(ledger, consent("o"))
    await ledger.record([consent("later", email="x@example.com")], received_at=after(30))
    assert await ledger.oldest_due_age(after(-1)) is None
    assert await ledger.oldest_due_age(after(90)) == 90.0


async def test_unsettled_lists_a_persons_pending_and_leased_requests_oldest_first(
    ledger: Ledger,
) -> None:
    ids = await record(
        ledger,
        consent("second", minutes=2),
        consent("first", minutes=1, wanted=Wanted.SUBSCRIBED),
        consent("third", minutes=3),
        consent("someone else", email="bob@example.com", minutes=10),
    )
    [claimed] = await ledger.claim("w1", limit=1, lease_seconds=30, now=NOW)
    assert claimed.id == ids[1]
    mine = Identity(email="jane@example.com").key
    assert [r.event_id for r in await ledger.unsettled(mine)] == ["first", "second", "third"]
    await ledger.finish(ids[1], "w1", Status.APPLIED, now=NOW)
    assert [r.event_id for r in await ledger.unsettled(mine)] == ["second", "third"]
    assert [r.event_id for r in await ledger.unsettled(mine, limit=1)] == ["second"]
    assert await ledger.unsettled(Identity(email="nobody@example.com").key) == []


async def test_taken_away_names_the_types_an_applied_unsubscribe_detached(ledger: Ledger) -> None:
    stop, start, other = await record(
        ledger,
        consent("stop"),
        consent("start", minutes=1, wanted=Wanted.SUBSCRIBED),
        consent("other", email="x@example.com"),
    )
    calls = {
        stop: [
            Outcome("c1", "108", "detach", 200, "r1"),  # an opt-in type the person had
            Outcome("c1", "110", "detach", 404, "r2", "already absent"),  # never had it
            Outcome("c1", "109", "attach", 200, "r3"),  # an opt-out type: opted out
        ],
        start: [Outcome("c1", "109", "detach", 200, "r4")],  # the opt-out type given back
        other: [Outcome("c2", "111", "detach", 200, "r5")],  # someone else's
    }
    for minute in range(2):  # one request per person at a time: stop goes before start
        for claimed in await ledger.claim("w", limit=5, lease_seconds=30, now=after(minute)):
            outcomes = calls[claimed.id]
            await ledger.finish(claimed.id, "w", Status.APPLIED, outcomes=outcomes, now=NOW)
    assert await ledger.taken_away("c1") == frozenset({"108"})
    assert await ledger.taken_away("c2") == frozenset({"111"})
    assert await ledger.taken_away("nobody") == frozenset()


async def test_a_type_the_person_turned_off_themselves_is_not_taken_away(ledger: Ledger) -> None:
    # Off on the preference page (that type by id), then a STOP of the whole channel: the
    # newest detach of 108 is the person's own choice, so a START must not give it back.
    chosen = dataclasses.replace(consent("page"), scope=Scope(type_ids=("108",)))
    stop = consent("stop", minutes=1)
    page_id, stop_id = await record(ledger, chosen, stop)
    calls = {
        page_id: [Outcome("c1", "108", "detach", 200, "r1")],
        stop_id: [Outcome("c1", "107", "detach", 200, "r2")],
    }
    for minute in range(2):
        for claimed in await ledger.claim("w", limit=5, lease_seconds=30, now=after(minute)):
            outcomes = calls[claimed.id]
            await ledger.finish(claimed.id, "w", Status.APPLIED, outcomes=outcomes, now=NOW)
    assert await ledger.taken_away("c1") == frozenset({"107"})
