"""One-click unsubscribe POSTs per second (200 after a durable commit) vs a bare Starlette app."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import loadgen
from harness import (
    EMAIL_TYPE,
    HOST,
    SANDBOX_TOKEN,
    SANDBOX_URL,
    SECRET_KEY,
    Server,
    contact_id,
    cpu_meter,
    median,
    write_result,
)

from bridge.consent import Identity, Scope
from bridge.ledger import open_ledger
from bridge.links import LinkClaims, LinkSigner, Purpose

GOAL = 0.5
WINDOW_SECONDS = 10  # the sandbox's rate-limit window, as Intercom's


def write_paths(path: Path, tag: int, count: int) -> None:
    """Signed unsubscribe paths for `count` distinct contacts, one a line."""
    signer = LinkSigner([SECRET_KEY])
    scope = Scope(type_ids=(EMAIL_TYPE,))
    lines = (
        "/unsubscribe/"
        + signer.token(
            Purpose.UNSUBSCRIBE, LinkClaims(Identity(contact_id=contact_id(tag, i)), scope)
        )
        for i in range(count)
    )
    path.write_text("\n".join(lines) + "\n")


def bridge_env(
    database_url: str, *, worker: bool, intercom_limit: int, tag: int, seed: int
) -> dict[str, str]:
    """The server's environment: ours, minus any bridge settings of the caller's shell."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BRIDGE_", "INTERCOM_")) and key != "DATABASE_URL"
    }
    return {
        **env,
        "BRIDGE_SECRET_KEYS": SECRET_KEY,
        "INTERCOM_ACCESS_TOKEN": SANDBOX_TOKEN,
        "INTERCOM_BASE_URL": SANDBOX_URL,
        "BRIDGE_PUBLIC_URL": f"http://{HOST}",
        "DATABASE_URL": database_url,
        "BRIDGE_WORKER_IN_PROCESS": "true" if worker else "false",
        "BENCH_INTERCOM_LIMIT": str(intercom_limit),
        "BENCH_SEED_TAG": str(tag),
        "BENCH_SEED_COUNT": str(seed),
    }


async def ledger_statuses(database_url: str) -> dict[str, int]:
    """How many requests the ledger holds, by status."""
    ledger = await open_ledger(database_url)
    try:
        return {status.value: count for status, count in (await ledger.status_counts()).items()}
    finally:
        await ledger.close()


def measure(server: Server, paths: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Drive a started server; the load generator's summary plus the server's CPU share."""
    with cpu_meter(server.pid) as cpu:
        result = loadgen.drive(
            paths, port=server.port, connections=args.connections,
            warmup=args.warmup, duration=args.duration,
        )  # fmt: skip
    return {**result, "server_cpu_share": cpu["cpu_share"]}


def describe(name: str, run: dict[str, Any]) -> str:
    non_200 = {k: v for k, v in run["total_status"].items() if k != "200"}
    line = (
        f"  round {run['round']}  {name:<8} {run['requests_per_s']:8.0f} req/s"
        f"  p50 {run['p50_ms'] or math.nan:6.1f} ms  p99 {run['p99_ms'] or math.nan:6.1f} ms"
        f"  server CPU {run['server_cpu_share']:4.0%}  client CPU {run['client_cpu_share']:4.0%}"
    )
    if non_200 or run["errors"]:
        line += f"  non-200 {non_200 or 0} errors {run['errors'] or 0}"
    return line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=32, help="client connections (32)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring (2)")
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds measured per run (10)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="baseline/bridge pairs, alternated (2)"
    )
    parser.add_argument(
        "--no-worker", action="store_true", help="bridge without its in-process worker"
    )
    parser.add_argument(
        "--intercom-limit", type=int, default=2000, help="sandbox calls allowed per 10 s (2000)"
    )
    parser.add_argument(
        "--tokens", type=int, default=60_000, help="distinct signed links per round (60000)"
    )
    parser.add_argument("--name", default="ingest", help="results file name (ingest)")
    args = parser.parse_args()
    began = time.monotonic()
    worker = not args.no_worker
    # Only contacts the worker can reach in a run exist in the sandbox: it applies the oldest
    # requests first, at most the rate limit allows, so the rest would only slow start-up.
    reachable = args.intercom_limit * (
        math.ceil((args.warmup + args.duration) / WINDOW_SECONDS) + 3
    )
    seed = min(args.tokens, reachable)
    print(
        f"ingest: {args.connections} connections, {args.warmup:g} s warm-up + {args.duration:g} s"
        f" measured, {args.rounds} rounds, bridge worker {'on' if worker else 'off'}"
        f" (sandbox limit {args.intercom_limit}/10 s)",
        flush=True,
    )
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "bridge": []}
    durable = True
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        workdir = Path(tmp)
        for round_no in range(1, args.rounds + 1):
            paths = workdir / f"paths-{round_no}.txt"
            write_paths(paths, round_no, args.tokens)
            log = workdir / "server.log"

            with Server("factories:hello", log_path=log) as server:
                run = {"round": round_no, **measure(server, paths, args)}
            runs["baseline"].append(run)
            print(describe("baseline", run), flush=True)

            database_url = f"sqlite:///{workdir / f'ledger-{round_no}.db'}"
            env = bridge_env(
                database_url, worker=worker, intercom_limit=args.intercom_limit,
                tag=round_no, seed=seed,
            )  # fmt: skip
            server = Server("factories:bridge", env=env, log_path=log)
            with server:
                run = {"round": round_no, **measure(server, paths, args)}
            # The server is stopped: whatever it acknowledged must be in the file.
            statuses = asyncio.run(ledger_statuses(database_url))
            recorded = sum(statuses.values())
            answered = run["total_status"].get("200", 0)
            run.update(
                ledger_recorded=recorded, ledger_statuses=statuses, answered_200=answered,
                durable=recorded >= answered, stopped_cleanly=server.stopped_cleanly,
            )  # fmt: skip
            durable &= run["durable"]
            runs["bridge"].append(run)
            print(describe("bridge", run), flush=True)
            print(
                f"           ledger: {recorded} recorded {'>=' if run['durable'] else '<'}"
                f" {answered} answered 200 ({'ok' if run['durable'] else 'LOST ACKNOWLEDGED'});"
                f" {', '.join(f'{k} {v}' for k, v in statuses.items() if v)}",
                flush=True,
            )
            if not server.stopped_cleanly:
                print(f"           the bridge did not stop cleanly:\n{server.log_tail()}")

    baseline = median([r["requests_per_s"] for r in runs["baseline"]])
    bridge = median([r["requests_per_s"] for r in runs["bridge"]])
    ratio = bridge / baseline
    non_200 = sum(
        v for run in runs["bridge"] for k, v in run["total_status"].items() if k != "200"
    ) + sum(sum(run["errors"].values()) for run in runs["bridge"])
    print(
        f"median: baseline {baseline:.0f} req/s, bridge {bridge:.0f} req/s"
        f" (p50 {median([r['p50_ms'] for r in runs['bridge']]):.1f} ms,"
        f" p99 {median([r['p99_ms'] for r in runs['bridge']]):.1f} ms)"
        f" -> ratio {ratio:.3f} (goal >= {GOAL}: {'met' if ratio >= GOAL else 'MISSED'});"
        f" bridge non-200/errors {non_200}; durability {'ok' if durable else 'FAILED'}"
    )
    write_result(
        args.name,
        {
            "benchmark": "ingest",
            "config": {
                "connections": args.connections, "warmup_s": args.warmup,
                "duration_s": args.duration, "rounds": args.rounds, "worker": worker,
                "intercom_limit_per_10s": args.intercom_limit, "tokens": args.tokens,
                "seeded_contacts": seed, "python": sys.version.split()[0],
            },
            "baseline_rps": baseline,
            "bridge_rps": bridge,
            "ratio": ratio,
            "goal": GOAL,
            "goal_met": ratio >= GOAL,
            "bridge_p50_ms": median([r["p50_ms"] for r in runs["bridge"]]),
            "bridge_p99_ms": median([r["p99_ms"] for r in runs["bridge"]]),
            "baseline_p50_ms": median([r["p50_ms"] for r in runs["baseline"]]),
            "baseline_p99_ms": median([r["p99_ms"] for r in runs["baseline"]]),
            "bridge_non_200": non_200,
            "durable": durable,
            "runs": runs,
            "wall_s": time.monotonic() - began,
        },
    )  # fmt: skip
    return 0 if durable else 1


if __name__ == "__main__":
    sys.exit(main())
