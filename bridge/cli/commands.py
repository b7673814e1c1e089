"""Commands that run without the web app: a lone worker, migrations, checks and replays."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import timedelta

from bridge.cli.worker_metrics import serving_metrics
from bridge.intercom import IntercomError
from bridge.ledger import Status, open_ledger
from bridge.services import DemoLedger, Services, check_mode, intercom_client, prepare_ledger
from bridge.settings import Settings

log = logging.getLogger("bridge")


async def run_worker(
    settings: Settings,
    *,
    once: bool = False,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> int:
    """Apply recorded requests until SIGTERM or SIGINT; on the way out, finish or release.

    With `metrics_port`, the worker's own /healthz, /readyz and /metrics are served there.
    """
    async with Services.open(settings) as services, contextlib.AsyncExitStack() as serving:
        if metrics_port is not None and not once:
            await serving.enter_async_context(serving_metrics(services, metrics_host, metrics_port))
        if once:
            await services.flush_parts()
            worker = services.new_worker()
            await worker.run_until_idle()
            await worker.stop()
            return 1 if worker.halted else 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        services.start_worker()
        await stop.wait()
        log.info("stopping: finishing in-flight requests")
        return 0


async def preflight(settings: Settings) -> int:
    """Open and prepare the ledger once, so its refusals come before serving starts."""
    ledger = await prepare_ledger(settings)
    await ledger.close()
    return 0


async def migrate(settings: Settings) -> int:
    """Apply pending migrations and say which."""
    ledger = await open_ledger(settings.database_url)
    try:
        applied = await ledger.migrate()
    finally:
        await ledger.close()
    print("applied: " + ", ".join(applied) if applied else "the database is up to date")
    return 0


async def check(settings: Settings) -> int:
    """Report on settings, database and Intercom; non-zero if anything is wrong."""
    print(
        f"settings: ok (Intercom {settings.intercom_base_url}, version {settings.intercom_version})"
    )
    try:
        ledger = await open_ledger(settings.database_url)
    except Exception as exc:  # report any driver failure as one line
        print(f"database: cannot connect ({type(exc).__name__}: {exc})")
        return 1
    try:
        await ledger.ping()
        pending = await ledger.pending_migrations()
        if pending:
            print(f"database: ok, {len(pending)} migration(s) pending: run `bridge migrate`")
        else:
            await check_mode(ledger, settings)
            counts = await ledger.status_counts()
            summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "empty"
            print(f"database: ok ({summary})")
    except DemoLedger as exc:
        print(f"database: {exc}")
        return 1
    finally:
        await ledger.close()
    async with intercom_client(settings) as intercom:
        try:
            types = await intercom.list_subscription_types()
        except IntercomError as exc:
            print(f"intercom: {exc}")
            return 1
    print(f"intercom: token ok, {len(types)} subscription types")
    for t in types:
        channels = "+".join(t.content_types)
        print(
            f"  {t.id:>10}  {t.state:<8} {t.consent_type.value:<7} {channels:<18} "
            f"{t.default_translation.name}"
        )
    return 0


async def replay(settings: Settings, *, ids: list[int], statuses: list[str]) -> int:
    """Requeue requests an operator has fixed the cause of."""
    if not ids and not statuses:
        statuses = ["dead"]
    ledger = await prepare_ledger(settings)
    try:
        count = await ledger.replay(ids=ids, statuses=[Status(s) for s in statuses])
    finally:
        await ledger.close()
    print(f"requeued {count} request(s)")
    return 0


async def prune(settings: Settings) -> int:
    """Drop what the ledger keeps only for a while, now, and say what went."""
    days = settings.worker.payload_retention_days
    ledger = await prepare_ledger(settings)
    try:
        pruned = await ledger.prune(ledger.clock.now(), keep_payloads_for=timedelta(days=days))
    finally:
        await ledger.close()
    print(
        f"dropped {pruned.payloads} raw payload(s) ({pruned.payload_bytes} bytes) received"
        f" {days} day(s) ago or more (BRIDGE_PAYLOAD_RETENTION_DAYS), and"
        f" {pruned.signature_uses} spent signature binding(s); requests and their proof are kept"
    )
    return 0
