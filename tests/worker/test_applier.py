"""The applier's rule for a broad subscribe ("START"): it restores, it never enrols."""

from __future__ import annotations

from bridge.clock import ManualClock
from bridge.consent import Channel, Identity, Scope, Wanted
from bridge.intercom.client import IntercomClient
from bridge.ledger import Ledger
from bridge.sandbox import Sandbox
from tests.worker.conftest import ask, make_worker, statuses, unique_person

OPT_IN_SMS = "108"  # seeded: the person had opted into it
OPT_OUT_SMS = "124"  # seeded: receiving by default
NEVER_HAD = "777"  # added below: an opt-in SMS type the person never opted into
SMS = Scope(channel=Channel.SMS)


async def test_start_after_stop_restores_what_was_taken_and_enrols_in_nothing_else(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    sandbox.add_type(id=NEVER_HAD, consent_type="opt_in", content_types=["sms_message"])
    email, contact_id = unique_person(sandbox)
    sandbox.workspace.attach(contact_id, OPT_IN_SMS, "opt_in")
    person = Identity(email=email)
    worker = make_worker(ledger, intercom, clock)

    await ledger.record([ask(person, Wanted.UNSUBSCRIBED, SMS, minutes=0)])
    await worker.run_until_idle()
    assert not any(sandbox.receives(contact_id, t) for t in (OPT_IN_SMS, OPT_OUT_SMS, NEVER_HAD))

    await ledger.record([ask(person, Wanted.SUBSCRIBED, SMS, minutes=1)])
    await worker.run_until_idle()
    assert sandbox.receives(contact_id, OPT_IN_SMS)
    assert sandbox.receives(contact_id, OPT_OUT_SMS)
    assert not sandbox.receives(contact_id, NEVER_HAD)
    assert await statuses(ledger) == ["applied", "applied"]


async def test_a_broad_subscribe_with_nothing_taken_away_enrols_in_no_opt_in_type(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    email, contact_id = unique_person(sandbox)
    await ledger.record([ask(Identity(email=email), Wanted.SUBSCRIBED, Scope(), minutes=0)])
    await make_worker(ledger, intercom, clock).run_until_idle()
    assert not sandbox.receives(contact_id, OPT_IN_SMS)
    assert not sandbox.receives(contact_id, "95")  # the seeded opt-in email type
    assert await statuses(ledger) == ["applied"]


async def test_explicit_opt_in_types_are_applied_as_asked(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    email, contact_id = unique_person(sandbox)
    chosen = Scope(type_ids=(OPT_IN_SMS,))
    await ledger.record([ask(Identity(email=email), Wanted.SUBSCRIBED, chosen, minutes=0)])
    await make_worker(ledger, intercom, clock).run_until_idle()
    assert sandbox.receives(contact_id, OPT_IN_SMS)
