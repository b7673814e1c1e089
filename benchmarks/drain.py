"""Drain recorded unsubscribes into a rate-limited sandbox Intercom: pace, 429s, losses, calls."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from harness import (
    EMAIL_TYPE,
    SANDBOX_TOKEN,
    SANDBOX_URL,
    contact_id,
    intercom_route,
    write_result,
)

from bridge.clock import SystemClock
from bridge.consent import Channel, ConsentRequest, Identity, Scope, Wanted, utcnow
from bridge.intercom.client import IntercomClient
from bridge.intercom.types import TypeCache
from bridge.ledger import Ledger, Status, open_ledger
from bridge.metrics import Metrics
from bridge.sandbox import Sandbox, SeenRequest
from bridge.settings import WorkerSettings
from bridge.worker.loop import Worker

WINDOW_SECONDS = 10.0  # Intercom's (and the sandbox's) rate-limit window
GOAL_429_SHARE = 0.01
GOAL_CALLS_PER_CHANGE = 1.0
RECORD_BATCH = 1000


@contextlib.asynccontextmanager
async def fresh_database(url: str | None, keep: bool) -> AsyncIterator[tuple[str, str]]:
    """A ledger URL on an empty database, and how to describe it.

    Default: a SQLite file in a temporary directory. PostgreSQL: a new schema, named after
    the run, that every connection uses (search_path), dropped afterwards unless `keep`.
    """
    if url is None:
        with tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'ledger.db'}", "sqlite (a fresh temporary file)"
        return
    if url.startswith("sqlite:"):
        yield url, f"sqlite ({url.partition(':///')[2]})"
        return
    schema = f"bench_drain_{uuid.uuid4().hex[:10]}"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
    try:
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options=-csearch_path%3D{schema}", f"postgresql (fresh schema {schema})"
    finally:
        if not keep:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(f"DROP SCHEMA {schema} CASCADE")


def windows(calls: list[SeenRequest], started: float, limit: int) -> dict[str, Any]:
    """Calls per full rate-limit window (aligned on epoch multiples of 10 s, as the sandbox's)."""
    answered = Counter(math.floor(c.at / WINDOW_SECONDS) for c in calls if c.status != 429)
    sent = Counter(math.floor(c.at / WINDOW_SECONDS) for c in calls)
    return window_counts(answered, sent, started, limit)


def window_counts(
    answered: Counter[int], sent: Counter[int], started: float, limit: int
) -> dict[str, Any]:
    """`windows` from calls already counted per window (numbered by start / 10 s)."""
    first = math.floor(started / WINDOW_SECONDS)
    last = max(sent, default=first)
    # The window the drain started in and the one its last call fell in are partial: dropped.
    full = range(first + 1, last)
    per_window = [answered[w] for w in full]
    return {
        "full_windows": len(per_window),
        "answered_per_full_window": per_window,
        "sent_per_full_window": [sent[w] for w in full],
        "achieved_over_allowed": sum(per_window) / len(per_window) / limit if per_window else None,
        "worst_window_over_allowed": min(per_window) / limit if per_window else None,
    }


def unsubscribes(contacts: list[str], scope: Scope) -> list[ConsentRequest]:
    """One unsubscribe per contact, a minute old, in the order given."""
    occurred = utcnow() - timedelta(minutes=1)
    return [
        ConsentRequest(
            Identity(contact_id=cid),
            Wanted.UNSUBSCRIBED,
            scope,
            occurred + timedelta(microseconds=i),
            "benchmark",
            f"drain-{i}",
        )
        for i, cid in enumerate(contacts)
    ]


async def record_all(ledger: Ledger, requests: list[ConsentRequest]) -> float:
    """Record the requests in batches; seconds taken."""
    began = time.monotonic()
    for start in range(0, len(requests), RECORD_BATCH):
        await ledger.record(requests[start : start + RECORD_BATCH])
    return time.monotonic() - began


async def drain(worker: Worker, ledger: Ledger, max_seconds: float) -> tuple[int, bool]:
    """Run the worker until nothing is pending or leased; passes made and whether time ran out.

    `run_until_idle` returns when nothing is due *now*; a request put back until a rate-limit
    reset is due a little later, so it is called again until the queue is empty.
    """
    passes = 0
    try:
        async with asyncio.timeout(max_seconds):
            while not worker.halted:
                passes += 1
                await worker.run_until_idle()
                counts = await ledger.status_counts()
                if counts[Status.PENDING] + counts[Status.LEASED] == 0:
                    break
                await asyncio.sleep(0.2)
    except TimeoutError:
        return passes, True
    finally:
        await worker.stop(grace=5.0)  # nothing in flight after a clean drain; else cancels
    return passes, False


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Seed the sandbox, record the requests, drain them, and measure what Intercom saw."""
    sandbox = Sandbox(token=SANDBOX_TOKEN, rate_limit=args.limit, window_seconds=WINDOW_SECONDS)
    contacts = [contact_id(0xD0, i) for i in range(args.requests)]
    for cid in contacts:
        sandbox.add_contact(contact_id=cid)
    if args.scope == "channel":
        scope = Scope(channel=Channel.EMAIL)
        scope_types = [
            t["id"]
            for t in sandbox.types.values()
            if t["state"] == "live" and "email" in t["content_types"]
        ]
    else:
        scope = Scope(type_ids=(EMAIL_TYPE,))
        scope_types = [EMAIL_TYPE]
    before = {c: tuple(sandbox.receives(c, t) for t in scope_types) for c in contacts}
    requests = unsubscribes(contacts, scope)
    async with fresh_database(args.database_url, args.keep_schema) as (url, database):
        print(
            f"drain: {args.requests} unsubscribes ({scope}) on {database}; sandbox limit"
            f" {args.limit} calls/{WINDOW_SECONDS:g} s; worker concurrency {args.concurrency}",
            flush=True,
        )
        ledger = await open_ledger(url)
        intercom = IntercomClient(
            SANDBOX_TOKEN, base_url=SANDBOX_URL, transport=httpx.ASGITransport(app=sandbox.app)
        )
        try:
            await ledger.migrate()
            record_seconds = await record_all(ledger, requests)
            clock = SystemClock()
            worker = Worker(
                ledger, intercom, TypeCache(intercom, clock=clock),
                WorkerSettings(concurrency=args.concurrency), Metrics(), clock=clock,
            )  # fmt: skip
            started = time.time()
            passes, timed_out = await drain(worker, ledger, args.max_seconds)
            elapsed = time.time() - started
            statuses = {s.value: n for s, n in (await ledger.status_counts()).items()}
        finally:
            await intercom.aclose()
            await ledger.close()

    calls = sandbox.requests
    after = {c: tuple(sandbox.receives(c, t) for t in scope_types) for c in contacts}
    # An effective change is one (contact, subscription type) whose state flipped: a channel
    # unsubscribe that stops two email types is two changes.
    flipped = sum(b != a for c in contacts for b, a in zip(before[c], after[c], strict=True))
    still_receiving = sum(any(after[c]) for c in contacts)
    not_applied = sum(statuses.values()) - statuses[Status.APPLIED.value]
    contact_calls = sum(c.path.startswith("/contacts/") for c in calls)
    type_calls = sum(c.path == "/subscription_types" for c in calls)
    rejected = sum(c.status == 429 for c in calls)
    answered = len(calls) - rejected
    span = (calls[-1].at - started) if calls else math.nan
    return {
        "benchmark": "drain",
        "config": {
            "requests": args.requests,
            "limit_per_10s": args.limit,
            "scope": args.scope,
            "scope_types": scope_types,
            "concurrency": args.concurrency,
            "database": database,
            "max_seconds": args.max_seconds,
        },
        "record_seconds": record_seconds,
        "drain_seconds": elapsed,
        "timed_out": timed_out,
        "passes": passes,
        "calls": len(calls),
        "calls_by_route": dict(
            Counter(intercom_route(c.method, c.path) for c in calls).most_common()
        ),
        "calls_by_status": {str(k): v for k, v in sorted(Counter(c.status for c in calls).items())},
        **windows(calls, started, args.limit),
        "overall_answered_per_s": answered / span if calls else None,
        "overall_over_allowed": answered / span / (args.limit / WINDOW_SECONDS) if calls else None,
        "share_429": rejected / len(calls) if calls else 0.0,
        "statuses": statuses,
        "not_applied": not_applied,
        "still_receiving": still_receiving,
        "lost": not_applied + still_receiving,
        "changes": flipped,
        "calls_per_change": (contact_calls + type_calls) / flipped if flipped else None,
        "contact_calls_per_change": contact_calls / flipped if flipped else None,
        "pacer_waits": worker.pacer.waits,
    }


def number(value: float | None, spec: str) -> str:
    """A number formatted by `spec`, or n/a."""
    return "n/a" if value is None else format(value, spec)


def summary(result: dict[str, Any]) -> str:
    """A few lines for people; the JSON line has everything."""
    goal = (
        f"goal <= {GOAL_CALLS_PER_CHANGE}"
        if result["config"]["scope"] == "type"
        else "channel scope reads the list first"
    )
    statuses = ", ".join(f"{k} {v}" for k, v in result["statuses"].items() if v)
    lines = [
        f"  drained in {result['drain_seconds']:.1f} s ({result['passes']} pass(es)"
        f"{', TIMED OUT' if result['timed_out'] else ''}); recording took"
        f" {result['record_seconds']:.2f} s",
        f"  achieved / allowed over {result['full_windows']} full window(s):"
        f" {number(result['achieved_over_allowed'], '.3f')} (answered calls per window"
        f" {result.get('answered_per_full_window', [])}); overall"
        f" {number(result['overall_answered_per_s'], '.1f')} calls/s ="
        f" {number(result['overall_over_allowed'], '.3f')} of allowed",
        f"  429s: {result['calls_by_status'].get('429', 0)} of {result['calls']} calls ="
        f" {result['share_429']:.2%} (goal <= {GOAL_429_SHARE:.0%})",
        f"  lost: {result['lost']} ({result['not_applied']} not applied,"
        f" {result['still_receiving']} contacts still receiving); statuses {statuses}",
        f"  applied twice: {result.get('applied_twice', 'n/a')} contact(s) changed more than once",
        f"  calls per change: {number(result['calls_per_change'], '.4f')}"
        f" ({number(result['contact_calls_per_change'], '.4f')} without the one-time"
        f" /subscription_types call) over {result['changes']} changed (contact, type) states"
        f" ({goal})",
        f"  calls: {result['calls_by_route']}",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000, help="unsubscribes (10000)")
    parser.add_argument("--limit", type=int, default=2000, help="sandbox calls per 10 s (2000)")
    parser.add_argument("--concurrency", type=int, default=8, help="worker concurrency (8)")
    parser.add_argument(
        "--scope", choices=["type", "channel"], default="type",
        help=f"one email type ({EMAIL_TYPE}) or the whole email channel (type)",
    )  # fmt: skip
    parser.add_argument(
        "--database-url", help="postgresql://... (a fresh schema) or a new sqlite:/// file;"
        " default a temporary SQLite file",
    )  # fmt: skip
    parser.add_argument("--keep-schema", action="store_true", help="keep the PostgreSQL schema")
    parser.add_argument(
        "--max-seconds", type=float, help="give up draining after this long (4x the ideal + 60)"
    )
    parser.add_argument(
        "--workers", type=int, default=0,
        help="N worker processes on a PostgreSQL --database-url, the sandbox in its own process"
        " (default 0: one worker in this process)",
    )  # fmt: skip
    parser.add_argument(
        "--local-pacing", action="store_true",
        help="with --workers: each worker paces by its own view of the budget (the baseline)",
    )  # fmt: skip
    parser.add_argument("--name", help="results file name (drain[-channel][-postgresql])")
    args = parser.parse_args()
    if args.workers and not (args.database_url or "").startswith("postgres"):
        parser.error("--workers needs a postgresql:// --database-url")
    if args.workers and args.scope != "type":
        parser.error("--workers drains one type (--scope type)")
    calls_per_request = 3 if args.scope == "channel" else 1
    ideal = args.requests * calls_per_request / args.limit * WINDOW_SECONDS
    args.max_seconds = args.max_seconds or 4 * ideal + 60
    url = args.database_url or ""
    if url.startswith("sqlite:") and Path(url.partition(":///")[2]).exists():
        parser.error(f"{url} exists: give a new SQLite file, or none for a temporary one")
    name = args.name or "-".join(
        ["drain"]
        + (["channel"] if args.scope == "channel" else [])
        + (["postgresql"] if url.startswith("postgres") else [])
        + ([f"{args.workers}workers"] if args.workers else [])
        + (["local"] if args.workers and args.local_pacing else [])
    )
    logging.basicConfig(level=logging.WARNING, format="  %(levelname)s %(name)s: %(message)s")
    began = time.monotonic()
    if args.workers:
        import drain_workers  # here: it imports this module

        result = drain_workers.run(args)
    else:
        result = asyncio.run(run(args))
    result["wall_s"] = time.monotonic() - began
    print(summary(result))
    write_result(name, result)
    return 0 if result["lost"] == 0 and not result["timed_out"] else 1


if __name__ == "__main__":
    sys.exit(main())
