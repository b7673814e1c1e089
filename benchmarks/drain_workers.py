"""`drain.py --workers N`: N worker processes on one PostgreSQL ledger share the sandbox's limit.

The sandbox runs in its own process (`factories:sandbox`) with the rate limit; the driver
records the unsubscribes, then starts N processes, each with its own ledger pool, Intercom
client and `Worker` (as `bridge worker` builds them), draining the same queue until it is
empty. What Intercom saw is read from the sandbox afterwards: calls per window and status,
who still receives the type, and how many subscription changes took per contact.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from drain import drain, fresh_database, record_all, unsubscribes, window_counts
from factories import CALLS_PATH, STATE_PATH, WINDOW_SECONDS
from harness import EMAIL_TYPE, HOST, SANDBOX_TOKEN, Server, contact_id

from bridge.clock import SystemClock
from bridge.consent import Scope
from bridge.intercom.client import IntercomClient
from bridge.intercom.pacing import RatePacer
from bridge.intercom.types import TypeCache
from bridge.ledger import open_ledger
from bridge.metrics import Metrics
from bridge.settings import WorkerSettings
from bridge.worker.loop import Worker

SEED_TAG = 0xD0


async def child(args: argparse.Namespace) -> dict[str, Any]:
    """One worker process: drain the shared queue; what its pacer and client did."""
    ledger = await open_ledger(args.database_url)
    intercom = IntercomClient(SANDBOX_TOKEN, base_url=args.sandbox_url)
    clock = SystemClock()
    # --local-pacing: each worker trusts only its own view of `remaining` (before the
    # shared budget), for the baseline.
    pacer = RatePacer(lambda: intercom.rate_limit, clock=clock) if args.local_pacing else None
    try:
        worker = Worker(
            ledger, intercom, TypeCache(intercom, clock=clock),
            WorkerSettings(concurrency=args.concurrency), Metrics(), clock=clock, pacer=pacer,
        )  # fmt: skip
        passes, timed_out = await drain(worker, ledger, args.max_seconds)
    finally:
        await intercom.aclose()
        await ledger.close()
    return {
        "passes": passes,
        "timed_out": timed_out,
        "calls_sent": intercom.calls_sent,
        "pacer_waits": worker.pacer.waits,
        "reservations": getattr(worker.pacer, "reservations", None),
    }


async def _start_child(args: argparse.Namespace, url: str, sandbox_url: str) -> Any:
    """One worker process (this module with --child), its JSON line on a pipe."""
    command = [
        sys.executable, __file__, "--child", "--database-url", url, "--sandbox-url", sandbox_url,
        "--concurrency", str(args.concurrency), "--max-seconds", str(args.max_seconds),
    ] + (["--local-pacing"] if args.local_pacing else [])  # fmt: skip
    return await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)


async def _drive(args: argparse.Namespace, sandbox_url: str) -> dict[str, Any]:
    """Record, run the workers to the end, and read what the ledger and the sandbox saw."""
    contacts = [contact_id(SEED_TAG, i) for i in range(args.requests)]
    requests = unsubscribes(contacts, Scope(type_ids=(EMAIL_TYPE,)))
    async with (
        fresh_database(args.database_url, args.keep_schema) as (url, database),
        httpx.AsyncClient(base_url=sandbox_url, timeout=60) as sandbox,
    ):
        print(
            f"drain: {args.requests} unsubscribes by {args.workers} worker process(es) on"
            f" {database}; sandbox (own process) limit {args.limit} calls/{WINDOW_SECONDS:g} s;"
            f" concurrency {args.concurrency} each;"
            f" {'local' if args.local_pacing else 'shared'} pacing",
            flush=True,
        )
        ledger = await open_ledger(url)
        try:
            await ledger.migrate()
            record_seconds = await record_all(ledger, requests)
        finally:
            await ledger.close()
        started = time.time()
        children = [await _start_child(args, url, sandbox_url) for _ in range(args.workers)]
        outputs = [json.loads((await c.communicate())[0] or b"{}") for c in children]
        elapsed = time.time() - started
        ledger = await open_ledger(url)
        try:
            statuses = {s.value: n for s, n in (await ledger.status_counts()).items()}
        finally:
            await ledger.close()
        seen = (await sandbox.get(CALLS_PATH, params={"since": started})).json()
        state = (await sandbox.get(STATE_PATH, params={"type": EMAIL_TYPE})).json()
    return {
        "database": database,
        "record_seconds": record_seconds,
        "drain_seconds": elapsed,
        "workers_out": outputs,
        "statuses": statuses,
        "seen": seen,
        "state": state,
        "contacts": contacts,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Serve the sandbox, drain with N worker processes, and measure what Intercom saw."""
    env = {
        "BENCH_INTERCOM_LIMIT": str(args.limit),
        "BENCH_SEED_TAG": str(SEED_TAG),
        "BENCH_SEED_COUNT": str(args.requests),
    }
    with (
        tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp,
        Server("factories:sandbox", env=env, log_path=Path(tmp) / "sandbox.log") as server,
    ):
        out = asyncio.run(_drive(args, f"http://{HOST}:{server.port}"))
    seen, state, contacts = out["seen"], out["state"], out["contacts"]
    answered: Counter[int] = Counter()
    sent: Counter[int] = Counter()
    for start, counts in seen["by_window"].items():
        window = int(int(start) / WINDOW_SECONDS)
        answered[window] = counts.get("answered", 0)
        sent[window] = answered[window] + counts.get("429", 0)
    calls, rejected = seen["count"], seen["by_status"].get("429", 0)
    statuses = out["statuses"]
    not_applied = sum(statuses.values()) - statuses["applied"]
    still_receiving = sum(state["receives"].get(c, True) for c in contacts)
    changes = state["changes"]
    flipped = len(contacts) - still_receiving
    contact_calls = sum(n for route, n in seen["by_route"].items() if "/contacts/" in route)
    type_calls = seen["by_route"].get("GET /subscription_types", 0)
    return {
        "benchmark": "drain-workers",
        "config": {
            "scope": "type",
            "requests": args.requests,
            "limit_per_10s": args.limit,
            "workers": args.workers,
            "concurrency": args.concurrency,
            "pacing": "local" if args.local_pacing else "shared",
            "database": out["database"],
            "max_seconds": args.max_seconds,
        },
        "record_seconds": out["record_seconds"],
        "drain_seconds": out["drain_seconds"],
        "timed_out": any(w.get("timed_out", True) for w in out["workers_out"]),
        "passes": sum(w.get("passes", 0) for w in out["workers_out"]),
        "workers": out["workers_out"],
        "calls": calls,
        "calls_by_route": seen["by_route"],
        "calls_by_status": seen["by_status"],
        # Full windows are counted from the first call, not from the spawn: N processes take
        # seconds to import and connect on a loaded machine, which is no pacing of theirs.
        **window_counts(answered, sent, min(sent, default=0) * WINDOW_SECONDS, args.limit),
        "overall_answered_per_s": None,
        "overall_over_allowed": None,
        "share_429": rejected / calls if calls else 0.0,
        "statuses": statuses,
        "not_applied": not_applied,
        "still_receiving": still_receiving,
        "lost": not_applied + still_receiving,
        "applied_twice": sum(n > 1 for c, n in changes.items() if c in set(contacts)),
        "changes": flipped,
        "calls_per_change": (contact_calls + type_calls) / flipped if flipped else None,
        "contact_calls_per_change": contact_calls / flipped if flipped else None,
    }


def child_main() -> int:
    """The worker process `_start_child` runs: one JSON line on stdout."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--sandbox-url", required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--max-seconds", type=float, required=True)
    parser.add_argument("--local-pacing", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="  %(levelname)s %(name)s: %(message)s")
    print(json.dumps(asyncio.run(child(args))))
    return 0


if __name__ == "__main__":
    sys.exit(child_main())
