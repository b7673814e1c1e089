"""Tests for bridge.ledger.review: held requests, their release and dismissal, on each database."""

from __future__ import annotations

import dataclasses

from bridge.consent import ConsentRequest
from bridge.ledger import Ledger, Status
from tests.ledger.conftest import NOW, after, consent, record


def held(event_id: str, *, email: str = "jane@example.com") -> ConsentRequest:
    """A request held for review, as a free-text SMS is."""
    return dataclasses.replace(consent(event_id, email=email), hold=True)


async def test_a_held_request_is_recorded_for_review_and_reads_back_held(ledger: Ledger) -> None:
    [held_id, plain_id] = await record(ledger, held("h"), consent("p", email="p@example.com"))
    stored = await ledger.get(held_id)
    assert stored is not None
    assert (stored.status, stored.request.hold, stored.next_attempt_at) == (
        Status.REVIEW,
        True,
        NOW,
    )
    plain = await ledger.get(plain_id)
    assert plain is not None and (plain.status, plain.request.hold) == (Status.PENDING, False)


async def test_a_held_request_recorded_again_stays_one_duplicate(ledger: Ledger) -> None:
    [first] = await ledger.record([held("h")], received_at=NOW)
    [again] = await ledger.record([held("h")], received_at=after(5))
    assert (again.id, again.duplicate) == (first.id, True)
    assert [r.id for r in await ledger.held()] == [first.id]


async def test_no_claim_takes_a_held_request(ledger: Ledger) -> None:
    await record(ledger, held("h"))
    assert await ledger.claim("w", limit=10, lease_seconds=30, now=after(3600)) == []


async def test_held_lists_only_held_requests_oldest_first(ledger: Ledger) -> None:
    ids = await record(
        ledger,
        held("1", email="a@example.com"),
        consent("2", email="b@example.com"),
        held("3", email="c@example.com"),
        held("4", email="d@example.com"),
    )
    assert [r.id for r in await ledger.held()] == [ids[0], ids[2], ids[3]]
    assert [r.id for r in await ledger.held(limit=2)] == [ids[0], ids[2]]
    assert await ledger.held(limit=0) == []


async def test_release_makes_a_held_request_due_now_for_the_worker(ledger: Ledger) -> None:
    [held_id] = await record(ledger, held("h"))
    assert await ledger.release_held(held_id, now=after(60)) is True
    released = await ledger.get(held_id)
    assert released is not None
    assert (released.status, released.attempts, released.next_attempt_at) == (
        Status.PENDING,
        0,
        after(60),
    )
    [claimed] = await ledger.claim("w", limit=1, lease_seconds=30, now=after(60))
    assert claimed.id == held_id and claimed.request.hold
    # Released once: a second release, or a dismissal, finds nothing held.
    assert await ledger.release_held(held_id, now=after(61)) is False
    assert await ledger.dismiss_held(held_id, now=after(61)) is False


async def test_dismiss_ends_a_held_request_for_good_saying_why(ledger: Ledger) -> None:
    [quiet, noted] = await record(ledger, held("q"), held("n", email="n@example.com"))
    assert await ledger.dismiss_held(quiet, now=after(5)) is True
    assert await ledger.dismiss_held(noted, now=after(5), note="asked about prices") is True
    records = {r.id: r for r in await ledger.list_requests(status=Status.DISMISSED)}
    assert records[quiet].last_error == "dismissed by an operator"
    assert records[noted].last_error == "dismissed by an operator: asked about prices"
    assert Status.DISMISSED.is_terminal and not Status.REVIEW.is_terminal
    assert await ledger.held() == []
    assert await ledger.release_held(quiet, now=after(6)) is False
    assert await ledger.claim("w", limit=10, lease_seconds=30, now=after(3600)) == []


async def test_release_and_dismiss_refuse_what_is_not_held(ledger: Ledger) -> None:
    [plain] = await record(ledger, consent("p"))
    assert await ledger.release_held(plain, now=NOW) is False
    assert await ledger.dismiss_held(plain, now=NOW) is False
    assert await ledger.release_held(plain + 1000, now=NOW) is False
    stored = await ledger.get(plain)
    assert stored is not None and stored.status is Status.PENDING


async def test_replay_leaves_held_and_dismissed_requests_alone(ledger: Ledger) -> None:
    [waiting, dismissed] = await record(ledger, held("w"), held("d", email="d@example.com"))
    await ledger.dismiss_held(dismissed, now=NOW)
    assert await ledger.replay(ids=[waiting, dismissed], now=after(1)) == 0
    assert await ledger.replay(statuses=[Status.REVIEW, Status.DISMISSED], now=after(1)) == 0
    assert await ledger.replay(now=after(1)) == 0
    counts = await ledger.status_counts()
    assert (counts[Status.REVIEW], counts[Status.DISMISSED]) == (1, 1)
