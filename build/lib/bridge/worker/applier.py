"""Applies one claimed request to Intercom and records the outcome in the ledger.

The worker owns claiming, concurrency and shutdown; this owns what happens to one request:
pick its types, find its contacts and take its turn on them, skip what a newer event already
settled, make the paced calls, and finish, retry, park or give up.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar, assert_never

from bridge.clock import Clock
from bridge.consent import (
    Action,
    Call,
    Confirmation,
    ConsentRequest,
    ConsentType,
    SubscriptionType,
    UnknownTypes,
    Wanted,
    plan,
    restorable,
    restores_only,
)
from bridge.intercom.client import IntercomClient, IntercomError, NotFound, RateLimited
from bridge.intercom.contacts import ContactResolver
from bridge.intercom.pacing import RatePacer
from bridge.intercom.types import TypeCache
from bridge.ledger import Claimed, Ledger, Outcome, Status
from bridge.log_context import LEDGER_ID, REQUEST_ID, bound
from bridge.logsafe import masked
from bridge.metrics import Metrics
from bridge.settings import WorkerSettings
from bridge.worker.confirmations import Mailer, send_confirmation, send_preferences_link
from bridge.worker.leads import create_lead, made_new, may_create
from bridge.worker.retries import ContactGone, Failure, Requeue, Step, classify
from bridge.worker.turns import ContactTurns

log = logging.getLogger(__name__)

T = TypeVar("T")

# A 429 inside a request is waited out in place this many times before the request is
# handed back to the queue, so a request is not requeued for a wait of a few seconds.
_RATE_LIMIT_RETRIES_IN_PLACE = 3
# When a 429 does not say when its window ends: about one of Intercom's windows.
_RATE_WINDOW_SECONDS = 10.0
# Bounds on the wait before a contact Intercom does not know is looked up again.
_MISS_WAIT_MIN = 5.0
_MISS_WAIT_MAX = 300.0
# About as long as another request takes to apply; the jitter keeps two requests that wait
# for the same contact from coming back at the same instant again and again.
_BUSY_WAIT_SECONDS = 1.0
_BUSY_JITTER_SECONDS = 0.5


@dataclass
class _Applied:
    outcomes: list[Outcome] = field(default_factory=list)
    applied: list[tuple[str, str]] = field(default_factory=list)
    superseded: int = 0
    # Contacts this request made: their subscription lists are empty, known without a read.
    made: set[str] = field(default_factory=set)


def _following(claimed: Claimed) -> contextlib.AbstractContextManager[None]:
    """Bind the request's ledger id and the web request id it came with to the logs."""
    request_id = claimed.request.context.get(REQUEST_ID)
    fields = {
        LEDGER_ID: claimed.id,
        REQUEST_ID: request_id if isinstance(request_id, str) else None,
    }
    return bound(**fields)


class Applier:
    """Turns one claimed request into Intercom calls and a ledger outcome."""

    def __init__(
        self,
        ledger: Ledger,
        intercom: IntercomClient,
        type_cache: TypeCache,
        settings: WorkerSettings,
        metrics: Metrics,
        *,
        pacer: RatePacer,
        contacts: ContactResolver,
        clock: Clock,
        rng: random.Random,
        owner: str,
        mailer: Mailer | None = None,
    ) -> None:
        self.ledger = ledger
        self.intercom = intercom
        self.type_cache = type_cache
        self.settings = settings
        self.metrics = metrics
        self.pacer = pacer
        self.contacts = contacts
        self.clock = clock
        self.rng = rng
        self.owner = owner
        self.mailer = mailer
        self.turns = ContactTurns(
            ledger, lease_seconds=settings.lease_seconds, clock=clock, owner=owner
        )

    async def apply(self, claimed: Claimed) -> None:
        """Apply one request and record what happened; Unauthorized propagates to the worker."""
        with _following(claimed):
            await self._apply(claimed)

    async def _apply(self, claimed: Claimed) -> None:
        request, done = claimed.request, _Applied()
        if claimed.attempts > self.settings.max_attempts:
            error = f"gave up after {self.settings.max_attempts} attempts"
            await self._finish(claimed, Status.DEAD, done, error=error)
            return
        if request.wanted is Wanted.LINK:
            await self._send_link(claimed, done)
            return
        step = Step.TYPES
        try:
            types = await self.type_cache.select(request.scope)
            step = Step.CONTACT
            contact_ids = await self.contacts.resolve(request.identity, pacer=self.pacer)
            if not contact_ids and may_create(request):
                step = Step.CREATE
                contact_ids = [await self._create_lead(claimed, done)]
            if not contact_ids:
                await self._requeue(claimed, Requeue.CONTACT_PENDING, "no Intercom contact matches")
                return
            if request.confirm is not None and claimed.confirmed_at is None:
                step = Step.MESSAGE
                await self._ask_to_confirm(claimed, request.confirm, contact_ids[0], done)
                return
            # last_applied is read under a lease on the contacts: the same person's requests
            # through other identities queue apart and may be running right now.
            newest = await self.turns.take(claimed, contact_ids, [t.id for t in types])
            if newest is None:
                error = "waiting for another request to the same Intercom contact"
                await self._requeue(claimed, Requeue.CONTACT_BUSY, error, done)
                return
            step = Step.CALLS
            for contact_id in contact_ids:
                await self._apply_to_contact(request, contact_id, types, newest[contact_id], done)
        except UnknownTypes as exc:
            await self._finish(claimed, Status.DEAD, done, error=str(exc))
            return
        except (IntercomError, ContactGone) as exc:
            if not await self._failed(claimed, exc, step, done):
                raise
            return
        status = Status.APPLIED if done.applied or not done.superseded else Status.SUPERSEDED
        await self._finish(claimed, status, done)
        self.metrics.apply_seconds.observe((self.clock.now() - claimed.since).total_seconds())

    async def _failed(self, claimed: Claimed, exc: Exception, step: Step, done: _Applied) -> bool:
        """Settle a request as `classify` says; False if the failure is the worker's to handle."""
        failure = classify(exc, step)
        if failure is Failure.HALT or failure is Failure.UNEXPECTED:
            return False
        if failure is Failure.DEAD:
            await self._finish(claimed, Status.DEAD, done, error=step.describe(exc))
        elif failure is Failure.CONTACT_GONE:
            self.contacts.forget(claimed.request.identity)
            error = "the Intercom contact no longer exists"
            await self._requeue(claimed, Requeue.CONTACT_PENDING, error, done)
        elif failure is Failure.RATE_WINDOW:
            reset_at = exc.reset_at if isinstance(exc, RateLimited) else None
            await self._requeue(claimed, Requeue.RATE_WINDOW, str(exc), done, reset_at=reset_at)
        elif failure is Failure.BACKOFF:
            await self._requeue(claimed, Requeue.BACKOFF, step.describe(exc), done)
        else:
            assert_never(failure)
        return True

    async def _send_link(self, claimed: Claimed, done: _Applied) -> None:
        """Email the person their preference link, once; no contact is made, nothing changes.

        It never reaches `plan` or the contact turns: a request for a link has no types and
        no subscription state, and an address no contact has settles `unmatched` at once,
        with nothing sent (a person asking for their link has been a contact for long).
        """
        request = claimed.request
        # Sent already (its worker lost the lease after sending, or it was replayed).
        if claimed.messaged_at is not None:
            await self._finish(claimed, Status.APPLIED, done)
            return
        if self.mailer is None:
            error = "this worker cannot send emails (no mailer)"
            await self._finish(claimed, Status.DEAD, done, error=error)
            return
        mailer, step = self.mailer, Step.CONTACT
        try:
            contact_ids = await self.contacts.resolve(request.identity, pacer=self.pacer)
            if not contact_ids:
                error = "no Intercom contact matches: no link sent"
                await self._finish(claimed, Status.UNMATCHED, done, error=error)
                return
            step, contact_id = Step.LINK, contact_ids[0]
            role = self.contacts.role_of(contact_id) or "user"
            done.outcomes.append(
                await self._call(
                    lambda: send_preferences_link(self.intercom, mailer, request, contact_id, role)
                )
            )
        except (IntercomError, ContactGone) as exc:
            if not await self._failed(claimed, exc, step, done):
                raise
            return
        await self._finish(claimed, Status.APPLIED, done)

    async def _ask_to_confirm(
        self, claimed: Claimed, confirm: Confirmation, contact_id: str, done: _Applied
    ) -> None:
        """Email the confirmation link (once) and park the request until it is clicked."""
        now = self.clock.now()
        sent_at = claimed.messaged_at
        # Sent already (its worker lost the lease after sending): never a second email.
        if sent_at is None:
            if self.mailer is None:
                error = "this worker cannot send confirmation emails (no mailer)"
                await self._finish(claimed, Status.DEAD, done, error=error)
                return
            mailer, role = self.mailer, self.contacts.role_of(contact_id) or "user"
            done.outcomes.append(
                await self._call(
                    lambda: send_confirmation(
                        self.intercom, mailer, claimed.request, confirm, contact_id, role
                    )
                )
            )
            sent_at = now
        until = sent_at + timedelta(days=confirm.days)
        kept = await self.ledger.await_confirmation(
            claimed.id, self.owner, until=until, outcomes=done.outcomes, now=now
        )
        self.metrics.outcomes.labels(Status.AWAITING_CONFIRMATION.value).inc()
        if not kept:
            log.warning("request %d: lease lost after emailing; another worker has it", claimed.id)
        else:
            log.info(
                "request %d awaiting confirmation by %s until %s",
                claimed.id,
                masked(claimed.request.identity),
                until.isoformat(timespec="seconds"),
            )

    async def _create_lead(self, claimed: Claimed, done: _Applied) -> str:
        """The id of the lead made for the request's person (or named by a 409), remembered."""
        outcome = await self._call(lambda: create_lead(self.intercom, claimed.request))
        done.outcomes.append(outcome)
        if made_new(outcome):
            done.made.add(outcome.contact_id)
        # Search will not find the lead for minutes: the person's next request must not
        # create another.
        self.contacts.remember(claimed.request.identity, [outcome.contact_id])
        log.info(
            "request %d: %s for %s (Intercom %s)",
            claimed.id,
            outcome.detail,
            masked(claimed.request.identity),
            outcome.contact_id,
        )
        return outcome.contact_id

    async def _apply_to_contact(
        self,
        request: ConsentRequest,
        contact_id: str,
        types: Sequence[SubscriptionType],
        newest: Mapping[str, datetime],
        done: _Applied,
    ) -> None:
        current = [t for t in types if t.id not in newest or newest[t.id] <= request.occurred_at]
        done.superseded += len(types) - len(current)
        if restores_only(request) and any(t.consent_type is ConsentType.OPT_IN for t in current):
            # "START" gives back what the bridge took away; it never opts anyone into more.
            current = restorable(request, current, await self.ledger.taken_away(contact_id))
        if not current:
            return
        explicit: frozenset[str] | None = None
        if contact_id in done.made:
            # A lead made moments ago has chosen nothing yet: opt-out types already reach it
            # and need no call, opt-in types need their attach, and nothing needs reading.
            explicit = frozenset()
        elif len(current) > 1:
            # Reading the list costs one call and saves one for every type already right;
            # for a single type a blind write is never worse, as attach and detach are
            # idempotent in effect.
            listed = await self._call(lambda: self.intercom.list_contact_subscriptions(contact_id))
            explicit = frozenset(t.id for t in listed)
        for call in plan(request.wanted, current, explicit):
            done.outcomes.append(await self._make_call(contact_id, call))
        done.applied.extend((contact_id, t.id) for t in current)

    async def _make_call(self, contact_id: str, call: Call) -> Outcome:
        try:
            if call.action is Action.ATTACH:
                result = await self._call(
                    lambda: self.intercom.attach_subscription(
                        contact_id, call.type_id, call.consent_type
                    ),
                )
            else:
                result = await self._call(
                    lambda: self.intercom.detach_subscription(contact_id, call.type_id)
                )
        except NotFound as exc:
            if exc.missing == "contact":
                raise ContactGone(contact_id) from exc
            if call.action is Action.DETACH:
                # Nothing to remove: the contact already has the default for this type.
                return Outcome(
                    contact_id,
                    call.type_id,
                    call.action.value,
                    404,
                    exc.request_id,
                    "already absent",
                )
            raise
        return Outcome(
            contact_id, call.type_id, call.action.value, result.status, result.request_id
        )

    async def _call(self, send: Callable[[], Awaitable[T]]) -> T:
        """One paced Intercom call; a 429 is waited out in place a few times.

        The client counts every call (bridge_intercom_calls_total), whoever makes it.
        """
        for attempt in range(_RATE_LIMIT_RETRIES_IN_PLACE + 1):
            async with self.pacer.slot():
                try:
                    return await send()
                except RateLimited as exc:
                    if attempt == _RATE_LIMIT_RETRIES_IN_PLACE:
                        raise
                    self.pacer.block_until(exc.reset_at or self.clock.time() + 1)
                finally:
                    if self.intercom.rate_limit is not None:
                        self.metrics.rate_limit_remaining.set(self.intercom.rate_limit.remaining)
        raise AssertionError("unreachable")

    async def _finish(
        self, claimed: Claimed, status: Status, done: _Applied, *, error: str | None = None
    ) -> None:
        kept = await self.ledger.finish(
            claimed.id,
            self.owner,
            status,
            outcomes=done.outcomes,
            applied=done.applied,
            occurred_at=claimed.request.occurred_at,
            error=error,
            now=self.clock.now(),
        )
        self.metrics.outcomes.labels(status.value).inc()
        settled = {"event": "request_settled", "status": status.value, "calls": len(done.outcomes)}
        if not kept:
            log.warning(
                "request %d: lease lost before finishing; another worker has it", claimed.id
            )
        elif status is Status.DEAD:
            log.error(
                "request %d is dead (replay with `bridge replay %d`): %s",
                claimed.id,
                claimed.id,
                error,
                extra=settled,
            )
        else:
            log.info(
                "request %d %s: %s %s, %d call(s)",
                claimed.id,
                status.value,
                claimed.request.wanted.value,
                claimed.request.scope,
                len(done.outcomes),
                extra=settled,
            )

    def _backoff(self, attempts: int) -> timedelta:
        ceiling = min(
            self.settings.backoff_max_seconds,
            self.settings.backoff_base_seconds * 2 ** max(0, attempts - 1),
        )
        # "Equal jitter": never sooner than half the step, so retries still spread out.
        return timedelta(seconds=ceiling / 2 + self.rng.uniform(0, ceiling / 2))

    async def retry(self, claimed: Claimed, error: str) -> None:
        """Back to the queue after a backoff, or dead past the attempts or age limit."""
        with _following(claimed):
            await self._requeue(claimed, Requeue.BACKOFF, error)

    async def _requeue(
        self,
        claimed: Claimed,
        why: Requeue,
        error: str,
        done: _Applied | None = None,
        *,
        reset_at: float | None = None,
    ) -> None:
        """Back to the queue at a time that depends on why; dead or unmatched past the limits.

        Only a backoff charges the attempt: waiting for Intercom's rate window, for a contact
        to appear or for a turn on a busy contact is no failure of the request's.
        """
        done = done or _Applied()
        now = self.clock.now()
        # A confirmed request's limits run from the click: it could not be applied before.
        age = (now - claimed.since).total_seconds()
        if why is Requeue.BACKOFF:
            if (
                claimed.attempts >= self.settings.max_attempts
                or age > self.settings.max_age_seconds
            ):
                await self._finish(claimed, Status.DEAD, done, error=error)
                return
            at = now + self._backoff(claimed.attempts)
        elif why is Requeue.RATE_WINDOW:
            reset = reset_at or self.clock.time() + _RATE_WINDOW_SECONDS
            at = datetime.fromtimestamp(reset, UTC) + timedelta(seconds=self.rng.uniform(0, 1))
        elif why is Requeue.CONTACT_PENDING:
            # Intercom's search lags new contacts by minutes, so a miss is looked up again
            # until `contact_lag_seconds` have passed. Each wait is half the request's age
            # (5 seconds at the least, 5 minutes at the most): about 15 searches in the
            # default 15 minutes, where a fixed short wait made hundreds, spending the rate
            # budget real changes need.
            remaining = self.settings.contact_lag_seconds - age
            if remaining <= 0:
                await self._finish(claimed, Status.UNMATCHED, done, error=error)
                return
            wait = min(remaining, max(_MISS_WAIT_MIN, min(age / 2, _MISS_WAIT_MAX)))
            at = now + timedelta(seconds=wait)
        elif why is Requeue.CONTACT_BUSY:
            at = now + timedelta(
                seconds=_BUSY_WAIT_SECONDS + self.rng.uniform(0, _BUSY_JITTER_SECONDS)
            )
        else:
            assert_never(why)
        await self.ledger.retry_later(
            claimed.id,
            self.owner,
            error=error,
            next_attempt_at=at,
            outcomes=done.outcomes,
            refund_attempt=why.refunded,
            now=now,
        )
        self.metrics.outcomes.labels(why.value).inc()
        self._log_requeue(claimed, why, error, at, now)

    def _log_requeue(
        self, claimed: Claimed, why: Requeue, error: str, at: datetime, now: datetime
    ) -> None:
        if why is Requeue.BACKOFF:
            log.warning(
                "request %d: %s; retry %d at %s",
                claimed.id,
                error,
                claimed.attempts,
                at.isoformat(timespec="seconds"),
            )
        elif why is Requeue.CONTACT_PENDING:
            log.info(
                "request %d: %s for %s yet; looking again in %.0f s",
                claimed.id,
                error,
                masked(claimed.request.identity),
                (at - now).total_seconds(),
            )
        elif why is Requeue.CONTACT_BUSY:
            log.info("request %d: its Intercom contact is busy; trying again shortly", claimed.id)
