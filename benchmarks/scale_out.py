"""Workers and web processes on one PostgreSQL ledger drain requests into a rate-limited Intercom.

The sandbox Intercom runs in its own process with a rate limit (300 calls per 10 s, as
Intercom's smaller apps get). `--webs` web processes (worker off) record what people ask for;
`--workers` `bridge worker` processes apply it. Each person changes their mind several times,
alternately by two identity kinds: a one-click unsubscribe by a link naming their Intercom
contact id, then a signed `standard` webhook resubscribing them by email, and so on, each post
to the next web process. Afterwards: every request applied, none applying a change twice, each
person's last choice standing in the sandbox (a change overtaken by a later one through the
other identity kind is recorded as superseded), and the share of answers that were 429.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from drain import fresh_database
from factories import CALLS_PATH, STATE_PATH
from harness import EMAIL_TYPE, SANDBOX_TOKEN, Server, contact_email, contact_id, write_result

from bridge.consent import Identity, Scope
from bridge.ledger import open_ledger
from bridge.links import LinkClaims, LinkSigner, Purpose
from bridge.providers.standard_webhooks import sign_standard_webhook

TAG = 0x5C
SECRET_KEY = "scale-out-signing-key-0123456789"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"scale-out-webhook-secret-0123").decode()
ROOT = Path(__file__).resolve().parents[1]


def changes_of(person: int, changes: int) -> int:
    """Even people make `changes` changes, odd ones one fewer: their last choices differ."""
    return changes if person % 2 == 0 else changes - 1


async def change_minds(
    client: httpx.AsyncClient, webs: list[str], signer: LinkSigner, person: int, changes: int
) -> bool:
    """One person's changes, alternating identity kind and web process; subscribed at the end?"""
    unsubscribe = signer.token(
        Purpose.UNSUBSCRIBE,
        LinkClaims(Identity(contact_id=contact_id(TAG, person)), Scope(type_ids=(EMAIL_TYPE,))),
    )
    subscribed = True
    for step in range(changes_of(person, changes)):
        web = webs[(person + step) % len(webs)]
        if step % 2 == 0:
            response = await client.post(
                f"{web}/unsubscribe/{unsubscribe}",
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            subscribed = False
        else:
            body = json.dumps(
                {
                    "email": contact_email(TAG, person),
                    "subscribe": [EMAIL_TYPE],
                    "occurred_at": datetime.now(UTC).isoformat(),
                }
            ).encode()
            msg_id, stamp = f"msg-{person}-{step}", str(int(time.time()))
            signature = sign_standard_webhook(WEBHOOK_SECRET, msg_id, stamp, body)
            headers = {
                "Content-Type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": stamp,
                "webhook-signature": signature,
            }
            response = await client.post(f"{web}/webhooks/standard", content=body, headers=headers)
            subscribed = True
        response.raise_for_status()
    return subscribed


async def settled(database_url: str, expected: int, deadline: float) -> dict[str, int]:
    """Wait until every recorded request is settled; the count per status."""
    ledger = await open_ledger(database_url)
    try:
        while True:
            counts = {s.value: n for s, n in (await ledger.status_counts()).items() if n}
            if sum(counts.values()) >= expected and not {"pending", "leased"} & set(counts):
                return counts
            if time.monotonic() > deadline:
                return counts
            await asyncio.sleep(2.0)
    finally:
        await ledger.close()


@contextlib.contextmanager
def arrangement(
    database_url: str,
    workdir: Path,
    *,
    limit: int,
    tag: int,
    people: int,
    webs: int,
    workers: int,
    secret_key: str,
    config: Path | None = None,
) -> Iterator[tuple[str, list[str]]]:
    """The sandbox at `limit`, `webs` web processes (worker off) and `workers` worker processes.

    Yields the sandbox's URL and the web processes' URLs; stops them all afterwards (the
    workers by SIGTERM, so they finish or release what they hold).
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "INTERCOM_"))}
    base["PYTHONPATH"] = str(ROOT)
    with contextlib.ExitStack() as stack:
        sandbox = stack.enter_context(
            Server(
                "factories:sandbox",
                env={
                    **base,
                    "BENCH_INTERCOM_LIMIT": str(limit),
                    "BENCH_SEED_TAG": str(tag),
                    "BENCH_SEED_COUNT": str(people),
                    "BENCH_SEED_EMAILS": "1",
                },
                log_path=workdir / "sandbox.log",
            )
        )
        sandbox_url = f"http://127.0.0.1:{sandbox.port}"
        bridge = {
            **base,
            "BRIDGE_SECRET_KEYS": secret_key,
            "DATABASE_URL": database_url,
            "INTERCOM_ACCESS_TOKEN": SANDBOX_TOKEN,
            "INTERCOM_BASE_URL": sandbox_url,
            "BRIDGE_ALLOWED_HOSTS": "127.0.0.1",
            "BRIDGE_WORKER_IN_PROCESS": "false",
            **({"BRIDGE_CONFIG": str(config)} if config else {}),
        }
        servers = [
            stack.enter_context(
                Server("bridge.web.app:create_app", env=bridge, log_path=workdir / f"web{n}.log")
            )
            for n in range(webs)
        ]
        for n in range(workers):
            log = stack.enter_context((workdir / f"worker{n}.log").open("wb"))
            worker = subprocess.Popen(
                [sys.executable, "-m", "bridge.cli", "worker"],
                env=bridge,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            stack.callback(stop, worker)
        yield sandbox_url, [f"http://127.0.0.1:{server.port}" for server in servers]


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Start the processes, post the changes, wait for the drain, and check what Intercom saw."""
    async with fresh_database(args.database_url, False) as (url, described):
        migrating = await open_ledger(url)
        await migrating.migrate()  # once, before any process starts
        await migrating.close()
        config = workdir / "bridge.toml"
        config.write_text(f'[providers.standard]\nsecret = "{WEBHOOK_SECRET}"\n', "utf-8")
        with arrangement(
            url,
            workdir,
            limit=args.limit,
            tag=TAG,
            people=args.people,
            webs=args.webs,
            workers=args.workers,
            secret_key=SECRET_KEY,
            config=config,
        ) as (sandbox_url, web_urls):
            started, begun = time.time(), time.monotonic()
            signer = LinkSigner([SECRET_KEY])
            gate = asyncio.Semaphore(args.clients)
            async with httpx.AsyncClient(timeout=60) as client:

                async def one(person: int) -> bool:
                    async with gate:
                        return await change_minds(client, web_urls, signer, person, args.changes)

                finals = await asyncio.gather(*(one(p) for p in range(args.people)))
                posted = sum(changes_of(p, args.changes) for p in range(args.people))
                posting_s = time.monotonic() - begun
                print(f"  posted {posted} changes in {posting_s:.1f} s", flush=True)
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    row = await (
                        await conn.execute("SELECT COUNT(*) FROM consent_requests")
                    ).fetchone()
                    recorded = int(row[0]) if row else 0
                    counts = await settled(url, recorded, time.monotonic() + args.max_seconds)
                    drained_s = time.monotonic() - begun
                    twice = await (
                        await conn.execute(
                            "SELECT COUNT(*) FROM (SELECT 1 FROM outcomes WHERE http_status < 300"
                            " GROUP BY request_id, contact_id, type_id HAVING COUNT(*) > 1) t"
                        )
                    ).fetchone()
                state = await client.get(f"{sandbox_url}{STATE_PATH}", params={"type": EMAIL_TYPE})
                receives = state.json()["receives"]
                wrong = [
                    p for p, final in enumerate(finals) if receives[contact_id(TAG, p)] is not final
                ]
                calls = (
                    await client.get(f"{sandbox_url}{CALLS_PATH}", params={"since": started})
                ).json()
    statuses = Counter(calls["by_status"])
    return {
        "database": described, "webs": args.webs, "workers": args.workers, "limit": args.limit,
        "people": args.people, "posted": posted, "recorded": recorded, "statuses": counts,
        "applied_twice": int(twice[0]) if twice else None, "last_choice_wrong": len(wrong),
        "calls": calls["count"], "calls_by_route": calls["by_route"],
        "share_429": statuses["429"] / calls["count"] if calls["count"] else 0.0,
        "posting_s": posting_s, "drained_s": drained_s,
    }  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ask a worker to finish, then make sure it has."""
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True, help="postgresql://... (a fresh schema)")
    parser.add_argument("--people", type=int, default=2223, help="people (2223: ~10,000 changes)")
    parser.add_argument("--changes", type=int, default=5, help="changes of an even person (5)")
    parser.add_argument("--webs", type=int, default=2, help="web processes (2)")
    parser.add_argument("--workers", type=int, default=3, help="worker processes (3)")
    parser.add_argument("--limit", type=int, default=300, help="sandbox calls per 10 s (300)")
    parser.add_argument("--clients", type=int, default=16, help="people posting at once (16)")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="drain deadline")
    parser.add_argument("--name", default="scale-out", help="results file name (scale-out)")
    args = parser.parse_args()
    print(
        f"scale-out: {args.webs} web and {args.workers} worker processes, sandbox limit"
        f" {args.limit}/10 s, {args.people} people",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    print(
        f"  recorded {result['recorded']} of {result['posted']}; statuses {result['statuses']};"
        f" applied twice: {result['applied_twice']}; last choice wrong: "
        f"{result['last_choice_wrong']}; 429s {result['share_429']:.2%} of {result['calls']}"
        f" calls {result['calls_by_route']}; drained in {result['drained_s']:.0f} s",
        flush=True,
    )
    write_result(args.name, {"benchmark": "scale-out", **result})
    ok = (
        result["recorded"] == result["posted"]
        # A change that lost to a later one by another identity kind is superseded: settled.
        and set(result["statuses"]) <= {"applied", "superseded"}
        and result["applied_twice"] == 0
        and result["last_choice_wrong"] == 0
        and result["share_429"] <= 0.01
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
