"""Signup posts for new people per second (200 after a durable commit) vs a bare route.

Each post is a different person signing up to one email type through `POST /forms/bench`,
from one of many client addresses (so the per-IP limit sees a crowd, as behind a proxy, not
one machine), answered in JSON. The bridge runs with its in-process worker, which creates each
person's lead and subscribes it while the posts go on. After the measured window the load
stops and the worker is given `--drain` seconds; then the sandbox's calls are counted per
signup applied: how many Intercom calls a signup costs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from factories import CALLS_PATH
from harness import EMAIL_TYPE, HOST, Server, write_result
from ingest import (
    add_load_options,
    alternate_rounds,
    bridge_env,
    ledger_statuses,
    measure,
    mid,
)

GOAL_RATIO = 0.5
GOAL_CALLS = 2  # a create and an attach
FORM = "bench"


def write_posts(path: Path, round_no: int, count: int) -> None:
    """`count` signups of distinct new people, each from one of 4,096 client addresses."""
    with path.open("w") as out:
        for index in range(count):
            body = urlencode(
                {"email": f"signup-{round_no}-{index}@example.com", "name": f"Person {index}"}
            )
            ip = f"10.{round_no}.{(index >> 8) % 16}.{index % 256}"
            out.write(f"/forms/{FORM} {body} {ip}\n")


def write_config(path: Path) -> None:
    """The bridge's TOML: one subscribe form that creates leads."""
    path.write_text(
        f'[forms.{FORM}]\ntypes = ["{EMAIL_TYPE}"]\n'
        'consent_text = "Yes, send me the product updates."\n',
        "utf-8",
    )


def run_baseline(round_no: int, posts: Path, log: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One measured run of the bare Starlette app, posting the same bodies."""
    with Server("factories:hello", log_path=log) as server:
        return {"round": round_no, **measure(server, posts, args)}


async def _applied(database_url: str) -> int:
    return (await ledger_statuses(database_url)).get("applied", 0)


def _drain(database_url: str, seconds: float) -> int:
    """Wait up to `seconds` for the worker to stop making progress; how many it applied."""
    deadline = time.monotonic() + seconds
    applied = asyncio.run(_applied(database_url))
    while time.monotonic() < deadline:
        time.sleep(2.0)
        now = asyncio.run(_applied(database_url))
        if now == applied and now > 0:
            break
        applied = now
    return applied


def run_bridge(
    round_no: int, posts: Path, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """One measured run of the bridge (worker on), its drain, and Intercom calls per signup."""
    database_url = f"sqlite:///{workdir / f'ledger-{round_no}.db'}"
    config = workdir / "bridge.toml"
    write_config(config)
    env = {
        **bridge_env(
            database_url,
            worker=not args.no_worker,
            intercom_limit=args.intercom_limit,
            tag=round_no,
            seed=0,
        ),
        "BRIDGE_CONFIG": str(config),
    }
    with contextlib.ExitStack() as stack:
        intercom = stack.enter_context(
            Server("factories:sandbox", env=env, log_path=workdir / "sandbox.log")
        )
        env = {
            **env,
            "INTERCOM_BASE_URL": f"http://{HOST}:{intercom.port}",
            "BENCH_SANDBOX_REMOTE": "1",
        }
        with Server("factories:bridge", env=env, log_path=workdir / "server.log") as server:
            run = {"round": round_no, **measure(server, posts, args)}
            if not args.no_worker:
                _drain(database_url, args.drain)
        calls = httpx.get(f"http://{HOST}:{intercom.port}{CALLS_PATH}").json()
    # Read after the server stopped: the worker finishes what it was applying on the way out.
    statuses = asyncio.run(ledger_statuses(database_url))
    applied = statuses.get("applied", 0)
    recorded = sum(statuses.values())
    answered = run["total_status"].get("200", 0)
    # The workspace's types are listed once per process, whatever the load: not a signup's.
    spent = sum(n for route, n in calls["by_route"].items() if route != "GET /subscription_types")
    run.update(
        ledger_recorded=recorded, ledger_statuses=statuses, answered_200=answered,
        durable=recorded >= answered, stopped_cleanly=server.stopped_cleanly,
        applied=applied, intercom_calls=calls["by_route"],
        calls_per_signup=spent / applied if applied else None,
    )  # fmt: skip
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_load_options(parser)
    parser.add_argument(
        "--intercom-limit", type=int, default=2000, help="sandbox calls allowed per 10 s (2000)"
    )
    parser.add_argument("--posts", type=int, default=60_000, help="distinct signups a round")
    parser.add_argument(
        "--drain", type=float, default=30.0, help="seconds the worker gets after the load (30)"
    )
    parser.add_argument(
        "--no-worker", action="store_true", help="no in-process worker: the endpoint alone"
    )
    parser.add_argument("--name", default="forms", help="results file name (forms)")
    args = parser.parse_args()
    began = time.monotonic()
    print(
        f"forms: {args.connections} connections, {args.warmup:g} s warm-up + {args.duration:g} s"
        f" measured, {args.rounds} rounds; worker {'off' if args.no_worker else 'on'},"
        f" sandbox limit {args.intercom_limit}/10 s,"
        f" {args.drain:g} s drain",
        flush=True,
    )
    runs = alternate_rounds(
        "forms",
        args.rounds,
        lambda path, round_no: write_posts(path, round_no, args.posts),
        lambda round_no, posts, workdir: run_baseline(round_no, posts, workdir / "hello.log", args),
        lambda round_no, posts, workdir: run_bridge(round_no, posts, workdir, args),
        lambda bridge: print(
            f"{'':12}applied {bridge['applied']} after the drain; Intercom calls"
            f" {bridge['intercom_calls']}; per signup {bridge['calls_per_signup'] or 0:.2f}",
            flush=True,
        ),
    )

    ratio = mid(runs, "bridge", "ok_per_s") / mid(runs, "baseline", "ok_per_s")
    per_signup = 0.0 if args.no_worker else mid(runs, "bridge", "calls_per_signup")
    durable = all(run["durable"] for run in runs["bridge"])
    print(
        f"median: baseline {mid(runs, 'baseline', 'ok_per_s'):.0f} req/s, bridge"
        f" {mid(runs, 'bridge', 'ok_per_s'):.0f} req/s (p50 {mid(runs, 'bridge', 'p50_ms'):.1f} ms,"
        f" p99 {mid(runs, 'bridge', 'p99_ms'):.1f} ms) -> ratio {ratio:.3f}"
        f" (goal >= {GOAL_RATIO}: {'met' if ratio >= GOAL_RATIO else 'MISSED'});"
        + (
            " Intercom calls per signup: not measured (no worker);"
            if args.no_worker
            else f" Intercom calls per signup {per_signup:.2f}"
            f" (goal {GOAL_CALLS}: {'met' if per_signup <= GOAL_CALLS else 'MISSED'});"
        )
        + f" durability {'ok' if durable else 'FAILED'}"
    )
    write_result(
        args.name,
        {
            "benchmark": "forms",
            "config": {
                "connections": args.connections, "warmup_s": args.warmup,
                "duration_s": args.duration, "rounds": args.rounds, "drain_s": args.drain,
                "intercom_limit_per_10s": args.intercom_limit, "posts": args.posts,
                "python": sys.version.split()[0],
            },
            "baseline_rps": mid(runs, "baseline", "ok_per_s"),
            "bridge_rps": mid(runs, "bridge", "ok_per_s"),
            "ratio": ratio,
            "calls_per_signup": per_signup,
            "bridge_p50_ms": mid(runs, "bridge", "p50_ms"),
            "bridge_p99_ms": mid(runs, "bridge", "p99_ms"),
            "durable": durable,
            "runs": runs,
            "wall_s": time.monotonic() - began,
        },
    )  # fmt: skip
    return 0 if durable else 1


if __name__ == "__main__":
    sys.exit(main())
