"""Double opt-in in the worker: a lead, one email, a wait, and the subscription once confirmed."""

from __future__ import annotations

import dataclasses
import html
import re
from urllib.parse import unquote
from uuid import uuid4

import pytest

from bridge.clock import ManualClock
from bridge.consent import Confirmation, ConsentRequest, Identity, NewContact, Scope, Wanted
from bridge.i18n import load_catalogs
from bridge.intercom.client import IntercomClient
from bridge.ledger import Confirmed, Ledger, RequestRecord, Status
from bridge.links import LinkSigner
from bridge.sandbox import Sandbox
from bridge.sandbox.messages import ADMIN_ID
from bridge.worker.confirmations import Mailer
from bridge.worker.loop import Worker
from tests.worker.conftest import ask, make_worker, outcome_count, unique_person

EMAIL_TYPE = "95"  # opt_in: a confirmed signup attaches it
CONSENT_TEXT = "Send me <news> & offers"
PUBLIC_URL = "https://consent.example.com"


@pytest.fixture
def worker(ledger: Ledger, intercom: IntercomClient, clock: ManualClock) -> Worker:
    """A worker that can send confirmation emails, on the test's clock."""
    signer = LinkSigner(["k" * 32], clock=clock.time)
    return make_worker(ledger, intercom, clock, mailer=Mailer(signer, PUBLIC_URL, load_catalogs()))


def signup(email: str, *, days: int = 7, locale: str | None = "fr") -> ConsentRequest:
    """A form signup that waits for its person's click."""
    request = ask(Identity(email=email), Wanted.SUBSCRIBED, Scope(type_ids=(EMAIL_TYPE,)))
    return dataclasses.replace(
        request,
        source="form:news",
        context={"consent_text": CONSENT_TEXT},
        create=NewContact(name="Sam"),
        confirm=Confirmation(ADMIN_ID, days, locale),
    )


async def only(ledger: Ledger) -> RequestRecord:
    """The one request in the ledger."""
    [record] = await ledger.list_requests()
    return record


async def emailed(ledger: Ledger, worker: Worker, *, days: int = 7) -> RequestRecord:
    """A new person's signup, recorded and taken by the worker as far as it goes."""
    await ledger.record([signup(f"{uuid4().hex}@example.com", days=days)])
    await worker.run_until_idle()
    return await only(ledger)


async def click(
    ledger: Ledger, record: RequestRecord, clock: ManualClock
) -> tuple[Confirmed, int | None]:
    """The person clicks the request's link now."""
    request = record.request
    return await ledger.confirm(request.source, request.event_id, proof={}, now=clock.now())


def changes(sandbox: Sandbox) -> int:
    """Subscription changes the sandbox was asked for: attaches and detaches."""
    return sum(
        1
        for seen in sandbox.requests
        if (seen.method == "POST" and seen.path.endswith("/subscriptions"))
        or seen.method == "DELETE"
    )


def creates(sandbox: Sandbox) -> int:
    """Contacts the sandbox created."""
    return sum(1 for seen in sandbox.requests if (seen.method, seen.path) == ("POST", "/contacts"))


async def test_a_signup_to_confirm_creates_the_lead_sends_one_email_and_waits(
    ledger: Ledger, sandbox: Sandbox, worker: Worker, clock: ManualClock
) -> None:
    email = f"{uuid4().hex}@example.com"
    await ledger.record([signup(email)])
    await worker.run_until_idle()
    [message] = sandbox.messages
    [lead] = [c for c in sandbox.contacts.values() if c["email"] == email]
    assert (message["to"], lead["role"]) == ({"type": "lead", "id": lead["id"]}, "lead")
    assert message["message_type"] == "email"
    assert message["subject"] == "Merci de confirmer votre abonnement"  # the form's language
    assert html.escape(CONSENT_TEXT) in message["body"] and CONSENT_TEXT not in message["body"]
    assert f'href="{PUBLIC_URL}/confirm/' in message["body"]
    record = await only(ledger)
    assert record.status is Status.AWAITING_CONFIRMATION
    assert [o.action for o in record.outcomes] == ["create", "message"]
    assert changes(sandbox) == 0 and not sandbox.receives(lead["id"], EMAIL_TYPE)
    # Waiting is not due: later claims neither email again nor apply it.
    clock.advance(3 * 86_400)
    await worker.run_until_idle()
    assert len(sandbox.messages) == 1 and changes(sandbox) == 0


async def test_once_confirmed_the_worker_applies_the_subscription(
    ledger: Ledger, sandbox: Sandbox, worker: Worker, clock: ManualClock
) -> None:
    record = await emailed(ledger, worker)
    clock.advance(3600)
    assert await click(ledger, record, clock) == (Confirmed.NOW, record.id)
    await worker.run_until_idle()
    done = await only(ledger)
    assert done.status is Status.APPLIED
    assert [o.action for o in done.outcomes] == ["create", "message", "attach"]
    assert sandbox.receives(done.outcomes[0].contact_id, EMAIL_TYPE)
    assert len(sandbox.messages) == 1


async def test_the_link_in_the_email_confirms_its_own_request(
    ledger: Ledger, sandbox: Sandbox, worker: Worker, clock: ManualClock
) -> None:
    record = await emailed(ledger, worker, days=2)
    [message] = sandbox.messages
    token = unquote(re.findall(r"/confirm/([^\"]+)", message["body"])[0])
    link = LinkSigner(["k" * 32], clock=clock.time).confirm_link(html.unescape(token))
    assert (link.source, link.event_id, link.days) == (
        record.request.source,
        record.request.event_id,
        2,
    )


async def test_an_email_intercom_cannot_send_yet_is_retried(
    ledger: Ledger, sandbox: Sandbox, worker: Worker, clock: ManualClock
) -> None:
    sandbox.faults.message_lag = 3600.0  # Intercom cannot message the new lead yet: 404
    record = await emailed(ledger, worker)
    assert (record.status, sandbox.messages) == (Status.PENDING, [])
    assert "emailing the confirmation link" in (record.last_error or "")
    assert outcome_count(worker, "retry") == 1
    sandbox.faults.message_lag = 0.0
    clock.advance(120)
    await worker.run_until_idle()
    record = await only(ledger)
    assert record.status is Status.AWAITING_CONFIRMATION
    assert len(sandbox.messages) == 1
    assert creates(sandbox) == 1  # the lead was made once


async def test_unconfirmed_past_its_days_it_expires_and_is_never_applied(
    ledger: Ledger, sandbox: Sandbox, worker: Worker, clock: ManualClock
) -> None:
    await emailed(ledger, worker, days=1)
    clock.advance(86_400 + 1)
    await worker.run_until_idle()
    record = await only(ledger)
    assert record.status is Status.EXPIRED
    assert await click(ledger, record, clock) == (Confirmed.EXPIRED, record.id)
    await worker.run_until_idle()
    assert (await only(ledger)).status is Status.EXPIRED
    assert changes(sandbox) == 0


async def test_replay_neither_emails_twice_nor_skips_the_confirmation(
    ledger: Ledger, sandbox: Sandbox, worker: Worker, clock: ManualClock
) -> None:
    record = await emailed(ledger, worker)
    assert await ledger.replay(ids=[record.id]) == 0
    # Even put back in the queue by hand (a worker that lost its lease after sending), the
    # request goes back to waiting until its first email's deadline, with no second email.
    async with ledger.database.transaction() as tx:
        await tx.execute(
            "UPDATE request_state SET status = 'pending', next_attempt_at = 0"
            " WHERE request_id = :id",
            {"id": record.id},
        )
    clock.advance(60)
    await worker.run_until_idle()
    again = await only(ledger)
    assert (again.status, again.next_attempt_at) == (
        Status.AWAITING_CONFIRMATION,
        record.next_attempt_at,
    )
    assert len(sandbox.messages) == 1 and changes(sandbox) == 0


async def test_a_person_intercom_knows_is_emailed_as_the_user_they_are(
    ledger: Ledger, sandbox: Sandbox, worker: Worker
) -> None:
    email, contact_id = unique_person(sandbox)
    await ledger.record([signup(email)])
    await worker.run_until_idle()
    [message] = sandbox.messages
    assert message["to"] == {"type": "user", "id": contact_id}
    assert [o.action for o in (await only(ledger)).outcomes] == ["message"]
