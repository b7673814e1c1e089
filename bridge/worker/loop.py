"""The worker: claims recorded requests and applies them to Intercom, in order, within its limits.

Runs inside the web process by default (the app's lifespan starts it) or alone as
`bridge worker`. Several workers may share one PostgreSQL ledger: claims are leased, and a
crashed worker's leases expire and are taken up again, and the workers take their Intercom
call slots from one budget kept in the database (`SharedPacer`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import socket
import uuid
from datetime import datetime, timedelta

from bridge.clock import Clock
from bridge.intercom.client import IntercomClient, IntercomError, Unauthorized
from bridge.intercom.contacts import ContactResolver
from bridge.intercom.pacing import RatePacer
from bridge.intercom.types import TypeCache
from bridge.ledger import Claimed, Ledger, Pruned
from bridge.metrics import Metrics
from bridge.settings import WorkerSettings
from bridge.worker.applier import Applier
from bridge.worker.confirmations import Mailer
from bridge.worker.shared_pacing import SharedPacer

log = logging.getLogger(__name__)

_AUTH_PROBE_SECONDS = 30.0
# The ledger is pruned once a day by each worker (prunes are idempotent, and cheap when there
# is nothing to drop), and an hour after a prune that failed.
PRUNE_EVERY = timedelta(days=1)
PRUNE_RETRY = timedelta(hours=1)


class Worker:
    """Claims due requests in batches and applies each with bounded concurrency."""

    def __init__(
        self,
        ledger: Ledger,
        intercom: IntercomClient,
        type_cache: TypeCache,
        settings: WorkerSettings,
        metrics: Metrics,
        *,
        clock: Clock,
        rng: random.Random | None = None,
        owner: str | None = None,
        contacts: ContactResolver | None = None,
        mailer: Mailer | None = None,
        pacer: RatePacer | None = None,
    ) -> None:
        self.ledger = ledger
        self.intercom = intercom
        self.type_cache = type_cache
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.owner = owner or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.pacer = pacer or self._default_pacer()
        # Shared with the pages when in the web process, so a miss either finds spares both.
        self.contacts = contacts or ContactResolver(intercom, clock=clock)
        self.applier = Applier(
            ledger, intercom, type_cache, settings, metrics, pacer=self.pacer,
            contacts=self.contacts, clock=clock, rng=self.rng, owner=self.owner, mailer=mailer,
        )  # fmt: skip
        self.halted = False
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_prune: datetime | None = None  # None: at the first turn

    def _default_pacer(self) -> RatePacer:
        """PostgreSQL: the budget every worker on the database shares; SQLite: this process's."""
        if self.ledger.dialect == "postgresql":
            return SharedPacer(
                lambda: self.intercom.rate_limit, self.ledger, clock=self.clock, rng=self.rng,
                batch=self.settings.concurrency,
            )  # fmt: skip
        return RatePacer(lambda: self.intercom.rate_limit, clock=self.clock, rng=self.rng)

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
        released = await self.ledger.release(self.owner, now=self.clock.now())
        if released:
            log.info("released %d unfinished request(s) for another worker", released)

    async def run(self) -> None:
        """Claim and apply until stopped."""
        log.info("worker %s started (concurrency %d)", self.owner, self.settings.concurrency)
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while not self._stopping.is_set():
                await self.prune_if_due()
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

    async def prune_if_due(self) -> Pruned | None:
        """Prune the ledger when a day has passed on the clock since the last prune; what went.

        The first call prunes at once. A failure is logged, never raised: the worker's real
        work goes on, and the prune is tried again in an hour.
        """
        now = self.clock.now()
        if self._next_prune is not None and now < self._next_prune:
            return None
        days = self.settings.payload_retention_days
        try:
            pruned = await self.ledger.prune(now, keep_payloads_for=timedelta(days=days))
        except Exception:
            log.exception("could not prune the ledger; trying again in an hour")
            self._next_prune = now + PRUNE_RETRY
            return None
        self._next_prune = now + PRUNE_EVERY
        log.info(
            "pruned the ledger: %d raw payload(s) (%d bytes) older than %d day(s),"
            " %d spent signature binding(s)",
            pruned.payloads, pruned.payload_bytes, days, pruned.signature_uses,
        )  # fmt: skip
        return pruned

    async def _idle(self, seconds: float) -> None:
        # The polls, the token probes and the heartbeat wait in real time, not on `clock`: a
        # manual clock's sleep returns at once, so these loops would spin, and the heartbeat
        # would push the manual time forward on every turn. Leases and due times still come
        # from `clock`.
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
            self.owner, limit=free, lease_seconds=self.settings.lease_seconds, now=self.clock.now()
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
                    self.owner, ids, lease_seconds=self.settings.lease_seconds, now=self.clock.now()
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
                await self.ledger.release(self.owner, [claimed.id], now=self.clock.now())
                return
            try:
                await self.applier.apply(claimed)
            except Unauthorized:
                self._halt()
                await self.ledger.release(self.owner, [claimed.id], now=self.clock.now())
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug must not kill the worker or lose the request: it is retried and, if it
                # keeps failing, ends up dead where an operator sees it.
                log.exception("unexpected error applying request %d", claimed.id)
                await self.applier.retry(claimed, "internal error (see logs)")
