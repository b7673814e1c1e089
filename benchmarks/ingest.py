"""One-click unsubscribe POSTs per second (200 after a durable commit) vs a bare Starlette app."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
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
    add_sandbox_option,
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
    """Signed unsubscribe paths for `count` distinct contacts (one email type), one a line."""
    signer = LinkSigner([SECRET_KEY])
    scope = Scope(type_ids=(EMAIL_TYPE,))
    with path.open("w") as out:
        for index in range(count):
            claims = LinkClaims(Identity(contact_id=contact_id(tag, index)), scope)
            out.write(f"/unsubscribe/{signer.token(Purpose.UNSUBSCRIBE, claims)}\n")


def bridge_env(
    database_url: str,
    *,
    worker: bool,
    intercom_limit: int,
    tag: int,
    seed: int,
    sandbox_url: str | None = None,
) -> dict[str, str]:
    """The bridge server's environment: ours, less any bridge settings of the caller's shell."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BRIDGE_", "INTERCOM_")) and key != "DATABASE_URL"
    }
    return {
        **env,
        "BRIDGE_SECRET_KEYS": SECRET_KEY,
        "INTERCOM_ACCESS_TOKEN": SANDBOX_TOKEN,
        "INTERCOM_BASE_URL": sandbox_url or SANDBOX_URL,
        **({"BENCH_SANDBOX_REMOTE": "1"} if sandbox_url else {}),
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


def run_baseline(round_no: int, paths: Path, log: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One measured run of the bare Starlette app."""
    with Server("factories:hello", log_path=log) as server:
        return {"round": round_no, **measure(server, paths, args)}


def run_bridge(
    round_no: int, paths: Path, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """One measured run of the bridge on a fresh SQLite ledger, then the durability check."""
    database_url = f"sqlite:///{workdir / f'ledger-{round_no}.db'}"
    # Only contacts the worker can reach exist in the sandbox: it applies the oldest requests
    # first and at most the rate limit allows, so more would only slow start-up.
    reachable = args.intercom_limit * (
        math.ceil((args.warmup + args.duration) / WINDOW_SECONDS) + 3
    )
    env = bridge_env(
        database_url, worker=not args.no_worker, intercom_limit=args.intercom_limit,
        tag=round_no, seed=min(args.tokens, reachable),
    )  # fmt: skip
    with contextlib.ExitStack() as stack:
        if args.sandbox == "remote":
            intercom = stack.enter_context(
                Server("factories:sandbox", env=env, log_path=workdir / "sandbox.log")
            )
            env = {**env, "INTERCOM_BASE_URL": f"http://{HOST}:{intercom.port}",
                   "BENCH_SANDBOX_REMOTE": "1"}  # fmt: skip
        server = Server("factories:bridge", env=env, log_path=workdir / "server.log")
        with server:
            run = {"round": round_no, **measure(server, paths, args)}
    # The server has stopped: every request it answered 200 must be in the file.
    statuses = asyncio.run(ledger_statuses(database_url))
    recorded = sum(statuses.values())
    answered = run["total_status"].get("200", 0)
    run.update(
        ledger_recorded=recorded, ledger_statuses=statuses, answered_200=answered,
        durable=recorded >= answered, stopped_cleanly=server.stopped_cleanly,
    )  # fmt: skip
    if not server.stopped_cleanly:
        print(f"  the bridge did not stop cleanly:\n{server.log_tail()}")
    return run


def describe(name: str, run: dict[str, Any]) -> str:
    """One line about one run."""
    line = (
        f"  round {run['round']}  {name:<8} {run['ok_per_s']:7.0f} req/s"
        f"  p50 {run['p50_ms'] or math.nan:6.1f} ms  p99 {run['p99_ms'] or math.nan:6.1f} ms"
        f"  server CPU {run['server_cpu_share']:4.0%}  client CPU {run['client_cpu_share']:4.0%}"
    )
    non_200 = {k: v for k, v in run["total_status"].items() if k != "200"}
    if non_200 or run["errors"]:
        line += f"  NON-200 {non_200 or 0} ERRORS {run['errors'] or 0}"
    if "durable" in run:
        statuses = ", ".join(f"{k} {v}" for k, v in run["ledger_statuses"].items() if v)
        line += (
            f"\n{'':12}ledger after stop: {run['ledger_recorded']} recorded"
            f" {'>=' if run['durable'] else '<'} {run['answered_200']} answered 200"
            f" ({'ok' if run['durable'] else 'ACKNOWLEDGED BUT LOST'}; {statuses})"
        )
    return line


Runs = dict[str, list[dict[str, Any]]]


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """The options every alternating benchmark takes: connections, warm-up, duration, rounds."""
    parser.add_argument("--connections", type=int, default=32, help="client connections (32)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring (2)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured (10)")
    parser.add_argument("--rounds", type=int, default=2, help="baseline+bridge pairs (2)")


def alternate_rounds(
    name: str,
    rounds: int,
    write: Callable[[Path, int], None],
    baseline: Callable[[int, Path, Path], dict[str, Any]],
    bridge: Callable[[int, Path, Path], dict[str, Any]],
    after: Callable[[dict[str, Any]], None] | None = None,
) -> Runs:
    """Baseline and bridge in turn, `rounds` times, each round on fresh inputs; every run.

    `write(path, round)` writes a round's requests; `baseline` and `bridge` take (round,
    requests, work folder); `after` may print more about each bridge run.
    """
    runs: Runs = {"baseline": [], "bridge": []}
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        workdir = Path(tmp)
        for round_no in range(1, rounds + 1):
            requests = workdir / f"requests-{round_no}.txt"
            write(requests, round_no)
            runs["baseline"].append(baseline(round_no, requests, workdir))
            print(describe("baseline", runs["baseline"][-1]), flush=True)
            runs["bridge"].append(bridge(round_no, requests, workdir))
            print(describe("bridge", runs["bridge"][-1]), flush=True)
            if after is not None:
                after(runs["bridge"][-1])
    return runs


def mid(runs: Runs, target: str, key: str) -> float:
    """The median of one measure over a target's runs."""
    return median([run[key] for run in runs[target] if run[key] is not None])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_load_options(parser)
    parser.add_argument("--no-worker", action="store_true", help="no in-process worker")
    add_sandbox_option(parser)
    parser.add_argument(
        "--intercom-limit", type=int, default=2000, help="sandbox calls allowed per 10 s (2000)"
    )
    parser.add_argument(
        "--tokens", type=int, default=60_000, help="distinct signed links per round (60000)"
    )
    parser.add_argument("--name", default="ingest", help="results file name (ingest)")
    args = parser.parse_args()
    began = time.monotonic()
    print(
        f"ingest: {args.connections} connections, {args.warmup:g} s warm-up + {args.duration:g} s"
        f" measured, {args.rounds} rounds (baseline, bridge, ...); bridge worker"
        f" {'off' if args.no_worker else 'on'}, sandbox limit {args.intercom_limit}/10 s",
        flush=True,
    )
    runs = alternate_rounds(
        "ingest",
        args.rounds,
        lambda path, round_no: write_paths(path, round_no, args.tokens),
        lambda round_no, paths, workdir: run_baseline(
            round_no, paths, workdir / "server.log", args
        ),
        lambda round_no, paths, workdir: run_bridge(round_no, paths, workdir, args),
    )

    ratio = mid(runs, "bridge", "ok_per_s") / mid(runs, "baseline", "ok_per_s")
    durable = all(run["durable"] for run in runs["bridge"])
    failed = sum(
        sum(v for k, v in run["total_status"].items() if k != "200") + sum(run["errors"].values())
        for run in runs["bridge"]
    )
    print(
        f"median: baseline {mid(runs, 'baseline', 'ok_per_s'):.0f} req/s, bridge"
        f" {mid(runs, 'bridge', 'ok_per_s'):.0f} req/s (p50 {mid(runs, 'bridge', 'p50_ms'):.1f} ms,"
        f" p99 {mid(runs, 'bridge', 'p99_ms'):.1f} ms) -> ratio {ratio:.3f}"
        f" (goal >= {GOAL}: {'met' if ratio >= GOAL else 'MISSED'});"
        f" bridge non-200 + errors: {failed}; durability {'ok' if durable else 'FAILED'}"
    )
    write_result(
        args.name,
        {
            "benchmark": "ingest",
            "config": {
                "connections": args.connections, "warmup_s": args.warmup,
                "duration_s": args.duration, "rounds": args.rounds, "worker": not args.no_worker,
                "sandbox": args.sandbox,
                "intercom_limit_per_10s": args.intercom_limit, "tokens": args.tokens,
                "python": sys.version.split()[0],
            },
            "baseline_rps": mid(runs, "baseline", "ok_per_s"),
            "bridge_rps": mid(runs, "bridge", "ok_per_s"),
            "ratio": ratio,
            "goal": GOAL,
            "goal_met": ratio >= GOAL,
            "baseline_p50_ms": mid(runs, "baseline", "p50_ms"),
            "baseline_p99_ms": mid(runs, "baseline", "p99_ms"),
            "bridge_p50_ms": mid(runs, "bridge", "p50_ms"),
            "bridge_p99_ms": mid(runs, "bridge", "p99_ms"),
            "bridge_non_200_or_errors": failed,
            "durable": durable,
            "runs": runs,
            "wall_s": time.monotonic() - began,
        },
    )  # fmt: skip
    return 0 if durable else 1


if __name__ == "__main__":
    sys.exit(main())
