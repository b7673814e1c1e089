"""The worker: claims recorded requests and applies them to Intercom, in order, within its limits.

Runs inside the web process by default (the app's lifespan starts it) or alone as
`bridge worker`. Several workers may share one PostgreSQL ledger: claims are leased, and a
crashed worker's leases expire and are taken up again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from bridge.consent import (
    Action,
    Call,
    ConsentRequest,
    SubscriptionType,
    UnknownTypes,
    plan,
    utcnow,
)
from bridge.contacts import ContactResolver
from bridge.intercom import (
    IntercomClient,
    IntercomError,
    NotFound,
    RateLimited,
    Unauthorized,
)
from bridge.ledger import Claimed, Ledger, Outcome, Status
from bridge.metrics import Metrics
from bridge.pacing import RatePacer
from bridge.settings import WorkerSettings
from bridge.type_cache import TypeCache

log = logging.getLogger(__name__)

T = TypeVar("T")

# A 429 inside a request is waited out in place this many times before the request is
# handed back to the queue, so a request is not requeued for a wait of a few seconds.
_RATE_LIMIT_RETRIES_IN_PLACE = 3
_AUTH_PROBE_SECONDS = 30.0


class ContactGone(Exception):
    """Intercom says the contact no longer exists (deleted or merged away)."""


@dataclass
class _Applied:
    outcomes: list[Outcome] = field(default_factory=list)
    applied: list[tuple[str, str]] = field(default_factory=list)
    superseded: int = 0


class Worker:
    """Claims due requests in batches and applies each with bounded concurrency."""

    def __init__(
        self,
        ledger: Ledger,
        intercom: IntercomClient,
        types: TypeCache,
        settings: WorkerSettings,
        metrics: Metrics,
        *,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        owner: str | None = None,
    ) -> None:
        self.ledger = ledger
        self.intercom = intercom
        self.types = types
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.owner = owner or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.pacer = RatePacer(lambda: intercom.rate_limit, rng=self.rng)
        self.contacts = ContactResolver(intercom, self.pacer)
        self.halted = False
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Run in the background of the current event loop."""
        self._task = asyncio.create_task(self.run(), name=f"worker {self.owner}")

    def wake(self) -> None:
        """New work was recorded: look now rather than at the next poll."""
        self._wake.set()

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; let in-flight requests finish for `grace` seconds, release the rest."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task
        await self._drain(grace)

    async def _drain(self, grace: float) -> None:
        tasks = list(self._in_flight.values())
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        released = await self.ledger.release(self.owner, now=self.clock())
        if released:
            log.info("released %d unfinished request(s) for another worker", released)

    async def run(self) -> None:
        """Claim and apply until stopped."""
        log.info("worker %s started (concurrency %d)", self.owner, self.settings.concurrency)
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while not self._stopping.is_set():
                if self.halted:
                    await self._probe_token()
                    continue
                claimed = await self._claim()
                if not claimed:
                    await self._idle(self.settings.poll_seconds)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    async def run_until_idle(self) -> None:
        """Apply everything due now, then return (tests, `bridge worker --once`, benchmarks)."""
        while not self.halted:
            claimed = await self._claim()
            if not claimed and not self._in_flight:
                return
            if not claimed:
                await asyncio.wait(
                    list(self._in_flight.values()), return_when=asyncio.FIRST_COMPLETED
                )

    async def _idle(self, seconds: float) -> None:
        self._wake.clear()
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _claim(self) -> int:
        free = self.settings.batch_size - len(self._in_flight)
        if free <= 0:
            await asyncio.wait(list(self._in_flight.values()), return_when=asyncio.FIRST_COMPLETED)
            return 1
        batch = await self.ledger.claim(
            self.owner, limit=free, lease_seconds=self.settings.lease_seconds, now=self.clock()
        )
        for claimed in batch:
            task = asyncio.create_task(self._process(claimed))
            self._in_flight[claimed.id] = task
            task.add_done_callback(functools.partial(self._forget, claimed.id))
        return len(batch)

    def _forget(self, request_id: int, _task: asyncio.Task[None]) -> None:
        self._in_flight.pop(request_id, None)

    async def _heartbeat(self) -> None:
        # Leases are renewed well before they lapse, so a long rate-limit wait never lets a
        # second worker take a request this one is still applying.
        interval = self.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            ids = list(self._in_flight)
            if ids:
                await self.ledger.extend_leases(
                    self.owner, ids, lease_seconds=self.settings.lease_seconds, now=self.clock()
                )

    async def _probe_token(self) -> None:
        await self._idle(_AUTH_PROBE_SECONDS)
        if self._stopping.is_set():
            return
        try:
            await self.intercom.list_subscription_types()
        except Unauthorized:
            log.error(
                "Intercom still rejects the access token; no calls are made until it is fixed"
            )
            return
        except IntercomError:
            return
        log.warning("Intercom accepts the access token again; resuming")
        self.halted = False
        self.metrics.intercom_halted.set(0)

    def _halt(self) -> None:
        if not self.halted:
            log.critical(
                "Intercom answered 401 Unauthorized: the access token was revoked or is wrong. "
                "All Intercom calls stop and readiness fails until it is fixed; recorded "
                "requests are kept and will be applied then."
            )
        self.halted = True
        self.metrics.intercom_halted.set(1)

    # -- one request ---------------------------------------------------------------------

    async def _process(self, claimed: Claimed) -> None:
        async with self._slots:
            if self.halted:
                await self.ledger.release(self.owner, [claimed.id], now=self.clock())
                return
            try:
                await self._apply(claimed)
            except Unauthorized:
                self._halt()
                await self.ledger.release(self.owner, [claimed.id], now=self.clock())
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug must not kill the worker or lose the request: it is retried and, if it
                # keeps failing, ends up dead where an operator sees it.
                log.exception("unexpected error applying request %d", claimed.id)
                await self._retry(claimed, "internal error (see logs)", _Applied())

    async def _apply(self, claimed: Claimed) -> None:
        request = claimed.request
        if claimed.attempts > self.settings.max_attempts:
            await self._finish(
                claimed,
                Status.DEAD,
                _Applied(),
                error=f"gave up after {self.settings.max_attempts} attempts",
            )
            return
        try:
            types = await self.types.select(request.scope)
        except UnknownTypes as exc:
            await self._finish(claimed, Status.DEAD, _Applied(), error=str(exc))
            return
        except IntercomError as exc:
            if exc.retryable:
                await self._retry(claimed, f"listing subscription types: {exc}", _Applied())
                return
            raise
        try:
            contact_ids = await self.contacts.resolve(request.identity)
        except RateLimited as exc:
            await self._requeue_for_rate_limit(claimed, exc, _Applied())
            return
        except IntercomError as exc:
            if exc.retryable:
                await self._retry(claimed, f"looking up the contact: {exc}", _Applied())
                return
            raise
        if not contact_ids:
            await self._not_found(claimed, "no Intercom contact matches")
            return
        done = _Applied()
        try:
            for contact_id in contact_ids:
                await self._apply_to_contact(request, contact_id, types, done)
        except ContactGone:
            self.contacts.forget(request.identity)
            await self._not_found(claimed, "the Intercom contact no longer exists", done)
            return
        except RateLimited as exc:
            await self._requeue_for_rate_limit(claimed, exc, done)
            return
        except Unauthorized:
            raise
        except IntercomError as exc:
            if exc.retryable:
                await self._retry(claimed, str(exc), done)
            else:
                await self._finish(claimed, Status.DEAD, done, error=str(exc))
            return
        status = Status.APPLIED if done.applied or not done.superseded else Status.SUPERSEDED
        await self._finish(claimed, status, done)
        self.metrics.apply_seconds.observe((self.clock() - claimed.received_at).total_seconds())

    async def _apply_to_contact(
        self,
        request: ConsentRequest,
        contact_id: str,
        types: Sequence[SubscriptionType],
        done: _Applied,
    ) -> None:
        newest = await self.ledger.last_applied(contact_id, [t.id for t in types])
        current = [t for t in types if t.id not in newest or newest[t.id] <= request.occurred_at]
        done.superseded += len(types) - len(current)
        if not current:
            return
        explicit: frozenset[str] | None = None
        if len(current) > 1:
            # Reading the list costs one call and saves one for every type already right;
            # for a single type a blind write is never worse, as attach and detach are
            # idempotent in effect.
            listed = await self._call(
                "list", lambda: self.intercom.list_contact_subscriptions(contact_id)
            )
            explicit = frozenset(t.id for t in listed)
        for call in plan(request.wanted, current, explicit):
            done.outcomes.append(await self._make_call(contact_id, call))
        done.applied.extend((contact_id, t.id) for t in current)

    async def _make_call(self, contact_id: str, call: Call) -> Outcome:
        try:
            if call.action is Action.ATTACH:
                result = await self._call(
                    "attach",
                    lambda: self.intercom.attach_subscription(
                        contact_id, call.type_id, call.consent_type
                    ),
                )
            else:
                result = await self._call(
                    "detach", lambda: self.intercom.detach_subscription(contact_id, call.type_id)
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

    async def _call(self, operation: str, send: Callable[[], Awaitable[T]]) -> T:
        """One paced Intercom call; a 429 is waited out in place a few times."""
        for attempt in range(_RATE_LIMIT_RETRIES_IN_PLACE + 1):
            async with self.pacer.slot():
                try:
                    result = await send()
                except IntercomError as exc:
                    self.metrics.intercom_calls.labels(operation, str(exc.status)).inc()
                    if isinstance(exc, RateLimited) and attempt < _RATE_LIMIT_RETRIES_IN_PLACE:
                        self.pacer.block_until(exc.reset_at or time.time() + 1)
                        continue
                    raise
                finally:
                    if self.intercom.rate_limit is not None:
                        self.metrics.rate_limit_remaining.set(self.intercom.rate_limit.remaining)
            self.metrics.intercom_calls.labels(operation, "200").inc()
            return result
        raise AssertionError("unreachable")

    # -- outcomes ------------------------------------------------------------------------

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
            now=self.clock(),
        )
        self.metrics.outcomes.labels(status.value).inc()
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
            )
        else:
            log.info(
                "request %d %s: %s %s, %d call(s)",
                claimed.id,
                status.value,
                claimed.request.wanted.value,
                claimed.request.scope,
                len(done.outcomes),
            )

    def _backoff(self, attempts: int) -> timedelta:
        ceiling = min(
            self.settings.backoff_max_seconds,
            self.settings.backoff_base_seconds * 2 ** max(0, attempts - 1),
        )
        # "Equal jitter": never sooner than half the step, so retries still spread out.
        return timedelta(seconds=ceiling / 2 + self.rng.uniform(0, ceiling / 2))

    async def _retry(self, claimed: Claimed, error: str, done: _Applied) -> None:
        age = (self.clock() - claimed.received_at).total_seconds()
        if claimed.attempts >= self.settings.max_attempts or age > self.settings.max_age_seconds:
            await self._finish(claimed, Status.DEAD, done, error=error)
            return
        next_at = self.clock() + self._backoff(claimed.attempts)
        await self.ledger.retry_later(
            claimed.id,
            self.owner,
            error=error,
            next_attempt_at=next_at,
            outcomes=done.outcomes,
            now=self.clock(),
        )
        self.metrics.outcomes.labels("retry").inc()
        log.warning(
            "request %d: %s; retry %d at %s",
            claimed.id,
            error,
            claimed.attempts,
            next_at.isoformat(timespec="seconds"),
        )

    async def _requeue_for_rate_limit(
        self, claimed: Claimed, exc: RateLimited, done: _Applied
    ) -> None:
        reset = exc.reset_at or time.time() + 10
        next_at = datetime.fromtimestamp(reset, self.clock().tzinfo) + timedelta(
            seconds=self.rng.uniform(0, 1)
        )
        await self.ledger.retry_later(
            claimed.id,
            self.owner,
            error=str(exc),
            next_attempt_at=next_at,
            outcomes=done.outcomes,
            refund_attempt=True,
            now=self.clock(),
        )
        self.metrics.outcomes.labels("rate_limited").inc()

    async def _not_found(self, claimed: Claimed, reason: str, done: _Applied | None = None) -> None:
        # Intercom's search lags new contacts by minutes: keep looking for a while.
        age = (self.clock() - claimed.received_at).total_seconds()
        if age < self.settings.contact_lag_seconds:
            delay = min(
                self.settings.contact_lag_seconds - age,
                self._backoff(claimed.attempts).total_seconds(),
            )
            await self.ledger.retry_later(
                claimed.id,
                self.owner,
                error=reason,
                next_attempt_at=self.clock() + timedelta(seconds=max(delay, 1.0)),
                outcomes=(done.outcomes if done else []),
                refund_attempt=True,
                now=self.clock(),
            )
            self.metrics.outcomes.labels("contact_pending").inc()
            return
        await self._finish(claimed, Status.UNMATCHED, done or _Applied(), error=reason)
