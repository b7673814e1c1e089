"""Tests for bridge.ledger.clocks: which opt-outs run on which legal clock, on both databases."""

from __future__ import annotations

from datetime import datetime

from bridge.consent import Channel, ConsentRequest, Identity, Scope, Wanted
from bridge.ledger import Ledger, Status
from bridge.ledger.clocks import OptoutClocks
from tests.ledger.conftest import T0, after


def optout(
    event_id: str, scope: Scope, *, wanted: Wanted = Wanted.UNSUBSCRIBED, hold: bool = False
) -> ConsentRequest:
    """An opt-out (or `wanted`) from a person of its own, in `scope`."""
    return ConsentRequest(
        Identity(email=f"{event_id}@example.com"),
        wanted,
        scope,
        T0,
        "test",
        event_id,
        hold=hold,
    )


async def received(ledger: Ledger, request: ConsentRequest, at: datetime) -> int:
    """Record one request received at `at`; its id."""
    [recorded] = await ledger.record([request], received_at=at)
    return recorded.id


async def settle(ledger: Ledger, request_id: int, status: Status) -> None:
    """Claim everything due and settle `request_id` as `status`, the rest released."""
    await ledger.claim("w", limit=100, lease_seconds=30, now=after(10_000))
    assert await ledger.finish(request_id, "w", status, now=after(10_000))
    await ledger.release("w", now=after(10_000))


EMAIL = Scope(channel=Channel.EMAIL)
SMS = Scope(channel=Channel.SMS)


async def test_nothing_unapplied_leaves_both_clocks_stopped(ledger: Ledger) -> None:
    assert await ledger.optout_clocks() == OptoutClocks({}, None)


async def test_each_channel_runs_from_its_oldest_unapplied_optout(ledger: Ledger) -> None:
    await received(ledger, optout("e-new", EMAIL), after(60))
    await received(ledger, optout("e-old", EMAIL), after(0))
    await received(ledger, optout("s", SMS), after(30))
    await received(ledger, optout("signup", EMAIL, wanted=Wanted.SUBSCRIBED), after(-600))
    clocks = await ledger.optout_clocks()
    assert clocks.oldest_unapplied == {Channel.EMAIL: after(0), Channel.SMS: after(30)}
    assert clocks.oldest_held is None


async def test_a_scope_of_type_ids_or_everything_runs_on_both_clocks(ledger: Ledger) -> None:
    await received(ledger, optout("types", Scope(type_ids=("7",))), after(5))
    await received(ledger, optout("all", Scope()), after(20))
    await received(ledger, optout("s", SMS), after(1))
    clocks = await ledger.optout_clocks()
    assert clocks.oldest_unapplied == {Channel.EMAIL: after(5), Channel.SMS: after(1)}


async def test_held_and_dead_optouts_stay_on_the_clock(ledger: Ledger) -> None:
    held = await received(ledger, optout("held", SMS, hold=True), after(0))
    dead = await received(ledger, optout("dead", EMAIL), after(10))
    await settle(ledger, dead, Status.DEAD)
    clocks = await ledger.optout_clocks()
    assert clocks.oldest_unapplied == {Channel.EMAIL: after(10), Channel.SMS: after(0)}
    assert clocks.oldest_held == after(0)
    assert await ledger.dismiss_held(held, now=after(20))
    assert (await ledger.optout_clocks()).oldest_unapplied == {Channel.EMAIL: after(10)}


async def test_applied_superseded_and_unmatched_optouts_are_off_the_clock(ledger: Ledger) -> None:
    for event_id, status in [
        ("applied", Status.APPLIED),
        ("superseded", Status.SUPERSEDED),
        ("unmatched", Status.UNMATCHED),
    ]:
        request_id = await received(ledger, optout(event_id, EMAIL), after(0))
        await settle(ledger, request_id, status)
    assert await ledger.optout_clocks() == OptoutClocks({}, None)


async def test_a_held_signup_is_held_but_owes_no_optout(ledger: Ledger) -> None:
    await received(ledger, optout("held", SMS, wanted=Wanted.SUBSCRIBED, hold=True), after(3))
    assert await ledger.optout_clocks() == OptoutClocks({}, after(3))
