"""Tests for double opt-in in the ledger (bridge.ledger.confirmations), on each database."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from bridge.consent import Confirmation, ConsentRequest, Wanted
from bridge.ledger import Confirmed, Ledger, Outcome, Status
from tests.ledger.conftest import NOW, after, consent, record

DAY = timedelta(days=1)
SENT = Outcome("c1", "", "message", 200, "req-1", "confirmation email")
PROOF = {"ip": "203.0.113.7", "user_agent": "Mozilla/5.0"}


def needs_confirming(event_id: str = "form-1", days: int = 7) -> ConsentRequest:
    """A signup that waits for its person's click."""
    request = consent(event_id, wanted=Wanted.SUBSCRIBED, source="form:news")
    return dataclasses.replace(request, confirm=Confirmation("991267716", days, "fr"))


async def emailed(ledger: Ledger, request: ConsentRequest, *, days: int = 7) -> int:
    """Record `request`, claim it and park it as the worker does once the email is sent."""
    [request_id] = await record(ledger, request)
    [claimed] = await ledger.claim("w", limit=1, lease_seconds=60, now=NOW)
    assert (claimed.id, claimed.messaged_at, claimed.confirmed_at) == (request_id, None, None)
    until = NOW + days * DAY
    assert await ledger.await_confirmation(request_id, "w", until=until, outcomes=[SENT], now=NOW)
    return request_id


async def test_the_need_to_confirm_is_stored_and_read_back(ledger: Ledger) -> None:
    [request_id] = await record(ledger, needs_confirming())
    stored = await ledger.get(request_id)
    assert stored is not None
    assert stored.request.confirm == Confirmation("991267716", 7, "fr")
    [plain] = await record(ledger, consent("plain-1"))
    plain_stored = await ledger.get(plain)
    assert plain_stored is not None and plain_stored.request.confirm is None


async def test_a_request_awaiting_confirmation_is_never_claimed_and_is_counted(
    ledger: Ledger,
) -> None:
    request_id = await emailed(ledger, needs_confirming())
    assert await ledger.claim("w", limit=5, lease_seconds=60, now=after(3600)) == []
    stored = await ledger.get(request_id)
    assert stored is not None
    assert stored.status is Status.AWAITING_CONFIRMATION
    assert stored.next_attempt_at == NOW + 7 * DAY  # its deadline
    assert [o.action for o in stored.outcomes] == ["message"]
    counts = await ledger.status_counts()
    assert counts[Status.AWAITING_CONFIRMATION] == 1
    assert counts[Status.EXPIRED] == 0


async def test_a_click_makes_it_due_now_keeps_the_proof_and_a_second_click_changes_nothing(
    ledger: Ledger,
) -> None:
    request_id = await emailed(ledger, needs_confirming())
    clicked = after(600)
    assert await ledger.confirm("form:news", "form-1", proof=PROOF, now=clicked) == (
        Confirmed.NOW,
        request_id,
    )
    stored = await ledger.get(request_id)
    assert stored is not None
    assert (stored.status, stored.attempts, stored.next_attempt_at) == (
        Status.PENDING,
        0,
        clicked,
    )
    assert stored.confirmation is not None
    assert (stored.confirmation.at, stored.confirmation.proof) == (clicked, PROOF)
    again = await ledger.confirm("form:news", "form-1", proof={"ip": "x"}, now=after(700))
    assert again == (Confirmed.BEFORE, request_id)
    [claimed] = await ledger.claim("w", limit=1, lease_seconds=60, now=after(601))
    assert (claimed.messaged_at, claimed.confirmed_at) == (NOW, clicked)
    still = await ledger.get(request_id)
    assert still is not None and still.confirmation is not None
    assert still.confirmation.proof == PROOF


async def test_past_its_deadline_a_claim_expires_it_and_a_click_cannot_confirm_it(
    ledger: Ledger,
) -> None:
    request_id = await emailed(ledger, needs_confirming(), days=1)
    assert await ledger.claim("w", limit=5, lease_seconds=60, now=NOW + DAY) == []
    stored = await ledger.get(request_id)
    assert stored is not None and stored.status is Status.EXPIRED
    assert await ledger.confirm("form:news", "form-1", proof=PROOF, now=after(60)) == (
        Confirmed.EXPIRED,
        request_id,
    )


async def test_a_click_past_the_deadline_expires_it_before_any_claim(ledger: Ledger) -> None:
    request_id = await emailed(ledger, needs_confirming(), days=1)
    late = NOW + DAY + timedelta(seconds=1)
    assert await ledger.confirm("form:news", "form-1", proof=PROOF, now=late) == (
        Confirmed.EXPIRED,
        request_id,
    )
    stored = await ledger.get(request_id)
    assert stored is not None
    assert (stored.status, stored.confirmation) == (Status.EXPIRED, None)


async def test_clicks_on_requests_not_waiting_change_nothing(ledger: Ledger) -> None:
    assert await ledger.confirm("form:news", "nobody", proof={}, now=NOW) == (
        Confirmed.NOT_WAITING,
        None,
    )
    [pending] = await record(ledger, needs_confirming("form-2"))
    assert await ledger.confirm("form:news", "form-2", proof={}, now=NOW) == (
        Confirmed.NOT_WAITING,
        pending,
    )
    stored = await ledger.get(pending)
    assert stored is not None and stored.status is Status.PENDING


async def test_replay_never_moves_requests_waiting_for_or_past_their_confirmation(
    ledger: Ledger,
) -> None:
    waiting = await emailed(ledger, needs_confirming("form-1"))
    [late] = await record(ledger, needs_confirming("form-2"))
    [claimed] = await ledger.claim("w", limit=1, lease_seconds=60, now=NOW)
    await ledger.await_confirmation(late, "w", until=after(1), outcomes=[SENT], now=NOW)
    await ledger.claim("w", limit=1, lease_seconds=60, now=after(2))  # expires it
    statuses = [Status.AWAITING_CONFIRMATION, Status.EXPIRED]
    assert await ledger.replay(ids=[waiting, late], now=after(3)) == 0
    assert await ledger.replay(statuses=statuses, now=after(3)) == 0
    found = [await ledger.get(i) for i in (waiting, late)]
    assert [r.status for r in found if r] == statuses
    assert claimed.id == late
