"""The one wiring: every entry point (web app, `bridge worker`, the CLI, tests) gets its parts here.

`Services.open(settings)` builds the long-lived parts once (ledger, Intercom client, caches,
signer, providers, forms, metrics) on one clock, and closes them in the right order. `record` is
the one way any source (a page, the API, a webhook, a form, and next SMS) records consent
requests: commit, count what was new, wake the worker.

Parts that need no database (the signer, the Intercom client) have their own builders, which
`open` uses too, so `bridge link` can sign without touching a ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

import httpx

from bridge.branding import Branding, load_branding
from bridge.clock import Clock, SystemClock
from bridge.consent import ConsentRequest
from bridge.forms import Form, load_forms
from bridge.i18n import Catalog, load_catalogs
from bridge.intercom import CallObserver, IntercomClient
from bridge.intercom.contacts import ContactResolver
from bridge.intercom.types import TypeCache
from bridge.ledger import Confirmed, Ledger, MessagePart, Recording, open_ledger
from bridge.links import LinkSigner, Purpose
from bridge.log_context import REQUEST_ID, current_request_id
from bridge.metrics import Metrics
from bridge.preferences.center import PreferenceCenter
from bridge.providers import Provider, TextPart, load_providers
from bridge.sandbox.seed import seeded_identity_keys
from bridge.settings import Settings, SettingsError
from bridge.worker import Worker
from bridge.worker.confirmations import Mailer

log = logging.getLogger(__name__)


class MigrationsPending(SettingsError):
    """The database schema is behind and automatic migration is off."""


class DemoLedger(SettingsError):
    """A real `serve` or `worker` was pointed at the ledger `bridge demo` filled."""


# How long the parts of a split text wait for the rest before what arrived is read: carriers
# deliver a message's parts seconds apart, and a STOP must not wait on a part that never comes.
PART_WAIT = timedelta(minutes=2)
PART_SWEEP_SECONDS = 30.0

# Where `bridge demo` kept its requests before it had a ledger of its own: the default one.
_SHARED_DEFAULT_URL = "sqlite:///bridge.db"


def build_signer(settings: Settings, clock: Clock | None = None) -> LinkSigner:
    """The link signer for these settings' keys and maximum ages."""
    return LinkSigner(
        [k.reveal() for k in settings.secret_keys],
        max_age={
            Purpose.UNSUBSCRIBE: settings.unsubscribe_max_age,
            Purpose.PREFERENCES: settings.preferences_max_age,
        },
        clock=(clock or SystemClock()).time,
    )


def intercom_client(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    observer: CallObserver | None = None,
    clock: Clock | None = None,
) -> IntercomClient:
    """The client for the configured workspace; tests pass the sandbox as `transport`."""
    return IntercomClient(
        settings.require_intercom_token().reveal(),
        base_url=settings.intercom_base_url,
        version=settings.intercom_version,
        transport=transport,
        timeout=settings.intercom_timeout,
        observer=observer,
        clock=clock,
    )


async def prepare_ledger(settings: Settings, clock: Clock | None = None) -> Ledger:
    """Open the ledger and bring its schema up to date, or refuse with a clear message."""
    ledger = await open_ledger(settings.database_url, clock=clock)
    try:
        pending = await ledger.pending_migrations()
        if pending and not settings.auto_migrate:
            raise MigrationsPending(
                f"the database needs {len(pending)} migration(s) ({', '.join(pending)}): "
                "run `bridge migrate`, or set BRIDGE_AUTO_MIGRATE=true"
            )
        if pending:
            applied = await ledger.migrate()
            log.info("applied migrations: %s", ", ".join(applied))
        await check_mode(ledger, settings)
    except BaseException:
        await ledger.close()
        raise
    return ledger


async def check_mode(ledger: Ledger, settings: Settings) -> None:
    """Mark the demo's ledger as such; refuse it (or demo rows) anywhere else (DemoLedger).

    A real worker would otherwise look the demo's made-up people up in the real workspace.
    """
    if settings.demo:
        await ledger.set_meta("mode", "demo")
        return
    if await ledger.meta("mode") == "demo":
        raise DemoLedger(
            "DATABASE_URL names the ledger `bridge demo` made; point it at a database of "
            "its own for real use"
        )
    if settings.database_url == _SHARED_DEFAULT_URL:
        found = await ledger.count_for(seeded_identity_keys())
        if found:
            raise DemoLedger(
                f"bridge.db holds {found} request(s) for the demo's made-up contacts, from a "
                "`bridge demo` run before the demo had a ledger of its own (it now uses "
                "bridge-demo.db): move bridge.db aside, or set DATABASE_URL"
            )


@dataclass(frozen=True)
class Configured:
    """The parts that come from the settings alone, with no I/O: built before anything runs.

    The web app needs them to build its routes and middleware (each provider's body limit,
    branding's origins in the CSP); `Services.open` takes them from there or builds them.
    """

    signer: LinkSigner
    providers: dict[str, Provider]
    forms: dict[str, Form]
    catalogs: dict[str, Catalog]
    branding: Branding

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> Configured:
        """Check and build them; SettingsError names the first problem."""
        return cls(
            signer=build_signer(settings, clock),
            providers=load_providers(settings.config, clock),
            forms=load_forms(settings.config, settings.public_url),
            catalogs=load_catalogs(),
            branding=load_branding(settings.config),
        )


@dataclass
class Services:
    """The parts one process shares: settings, clock, ledger, Intercom, caches, signer, ..."""

    settings: Settings
    clock: Clock  # the one source of time
    ledger: Ledger
    metrics: Metrics
    intercom: IntercomClient
    type_cache: TypeCache
    contacts: ContactResolver  # shared by pages and the in-process worker
    signer: LinkSigner
    preferences: PreferenceCenter
    providers: dict[str, Provider]
    forms: dict[str, Form]  # the bridge's own forms, by name
    catalogs: dict[str, Catalog]
    branding: Branding
    http: httpx.AsyncClient  # for providers' own URLs (Amazon SNS certificates, handshakes)
    worker: Worker | None = None
    _part_sweep: asyncio.Task[None] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        intercom_transport: httpx.AsyncBaseTransport | None = None,
        outbound_transport: httpx.AsyncBaseTransport | None = None,
        configured: Configured | None = None,
    ) -> AsyncIterator[Services]:
        """Build every part once (the ledger migrated and checked); close them all after.

        Raises `MigrationsPending` or `DemoLedger` (SettingsError) before anything else is
        built, and `LedgerUnavailable` when the database cannot be reached. The worker of
        `start_worker` is stopped first, so it finishes or releases what it holds.
        """
        clock = clock or SystemClock()
        configured = configured or Configured.from_settings(settings, clock)
        async with contextlib.AsyncExitStack() as closing:
            # Closed in reverse: the worker first (it finishes or releases what it holds),
            # then the clients it used, the ledger last.
            ledger = await prepare_ledger(settings, clock)
            closing.push_async_callback(ledger.close)
            metrics = Metrics(clock=clock)
            intercom = intercom_client(
                settings, intercom_transport, observer=metrics.count_intercom_call, clock=clock
            )
            closing.push_async_callback(intercom.aclose)
            http = httpx.AsyncClient(
                transport=outbound_transport, timeout=10.0, follow_redirects=False
            )
            closing.push_async_callback(http.aclose)
            type_cache = TypeCache(intercom, ttl=settings.worker.types_ttl_seconds, clock=clock)
            contacts = ContactResolver(intercom, clock=clock)
            services = cls(
                settings=settings,
                clock=clock,
                ledger=ledger,
                metrics=metrics,
                intercom=intercom,
                type_cache=type_cache,
                contacts=contacts,
                signer=configured.signer,
                preferences=PreferenceCenter(
                    intercom=intercom, type_cache=type_cache, contacts=contacts, ledger=ledger
                ),
                providers=configured.providers,
                forms=configured.forms,
                catalogs=configured.catalogs,
                branding=configured.branding,
                http=http,
            )
            closing.push_async_callback(services._stop_worker)
            yield services

    async def _stop_worker(self) -> None:
        if self._part_sweep is not None:
            self._part_sweep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._part_sweep
        if self.worker is not None:
            await self.worker.stop()

    def new_worker(self) -> Worker:
        """A worker on the shared client, caches and clock, not yet started."""
        return Worker(
            self.ledger,
            self.intercom,
            self.type_cache,
            self.settings.worker,
            self.metrics,
            contacts=self.contacts,
            clock=self.clock,
            mailer=Mailer(self.signer, self.settings.public_url, self.catalogs),
        )

    def start_worker(self) -> Worker:
        """Start this process's worker; `open` stops it on the way out (finish or release)."""
        self.worker = self.new_worker()
        self.worker.start()
        if any(provider.splits_texts for provider in self.providers.values()):
            self._part_sweep = asyncio.create_task(self._sweep_parts())
        return self.worker

    async def _sweep_parts(self) -> None:
        while True:
            await asyncio.sleep(PART_SWEEP_SECONDS)
            try:
                await self.flush_parts()
            except Exception:  # a database blip: the parts stay, the next sweep takes them
                log.exception("could not record the split texts that waited too long")

    async def record(
        self,
        requests: Sequence[ConsentRequest],
        *,
        payload_sha256: str | None = None,
        payload: bytes | None = None,
    ) -> Recording:
        """The one way a source records: commit, count what is new, wake the worker.

        All the storable requests commit in one transaction before this returns (raises
        `LedgerUnavailable` otherwise, which every route answers with 503 and Retry-After).
        A repeat of a request already recorded (a retry, a page sent twice) is not counted
        again; an unstorable one is left out and named in the result. Each carries the id of
        the web request that brought it (`context["request_id"]`), for the worker's logs.
        `payload` is the raw body the requests came in: its hash is kept on each request, and
        the body itself in the same transaction unless BRIDGE_PAYLOAD_RETENTION_DAYS is 0.
        Never pass a body that carries a link token.
        """
        request_id = current_request_id()
        if request_id is not None:
            requests = [
                replace(request, context={**request.context, REQUEST_ID: request_id})
                for request in requests
            ]
        if payload is not None:
            payload_sha256 = payload_sha256 or hashlib.sha256(payload).hexdigest()
            if self.settings.worker.payload_retention_days == 0:
                payload = None
        recording = await self.ledger.record(
            requests,
            payload_sha256=payload_sha256,
            payload=payload,
            received_at=self.clock.now(),
        )
        new = recording.new
        for (source, wanted), count in Counter(
            (request.source, request.wanted.value) for request in new
        ).items():
            self.metrics.recorded.labels(source=source, wanted=wanted).inc(count)
        if new and self.worker is not None:
            self.worker.wake()
        return recording

    async def record_part(
        self,
        provider: Provider,
        part: TextPart,
        *,
        payload_sha256: str | None = None,
        payload: bytes | None = None,
    ) -> Recording | None:
        """Keep one part of a split text; once all are in, record what the whole text asks.

        The joined text's requests keep the payload of the part that completed it.
        """
        whole = await self.ledger.add_message_part(
            MessagePart(
                source=provider.name,
                group=part.group,
                part=part.part,
                total=part.total,
                text=part.text,
                fields=part.fields,
                received_at=self.clock.now(),
            )
        )
        if whole is None:
            return None
        return await self._record_joined(provider, whole, payload_sha256, payload)

    async def flush_parts(self, *, waited: timedelta = PART_WAIT) -> int:
        """Record the split texts whose missing parts waited longer than `waited`, as they are."""
        groups = await self.ledger.overdue_message_parts(self.clock.now() - waited)
        flushed = 0
        for group in groups:
            provider = self.providers.get(group[0].source)
            if provider is None:
                continue  # its provider was switched off: the parts wait for it to return
            await self._record_joined(provider, group, None, None)
            flushed += 1
        return flushed

    async def _record_joined(
        self,
        provider: Provider,
        whole: Sequence[MessagePart],
        payload_sha256: str | None,
        payload: bytes | None,
    ) -> Recording:
        parts = [TextPart(p.group, p.part, p.total, p.text, p.fields) for p in whole]
        recording = await self.record(
            provider.join(parts).requests, payload_sha256=payload_sha256, payload=payload
        )
        # Dropped only once recorded: a crash between the two records the text again, which
        # the ledger takes as the duplicate it is.
        await self.ledger.drop_message_parts(provider.name, whole[0].group)
        return recording

    async def confirm(
        self, source: str, event_id: str, *, proof: dict[str, str]
    ) -> tuple[Confirmed, int | None]:
        """A person's double opt-in click: kept as proof, the request due now, the worker woken."""
        confirmed = await self.ledger.confirm(source, event_id, proof=proof, now=self.clock.now())
        if confirmed[0] is Confirmed.NOW and self.worker is not None:
            self.worker.wake()
        return confirmed
