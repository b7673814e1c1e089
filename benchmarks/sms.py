"""Signed Twilio STOPs per second into the web process (worker off) vs a bare form-reading route.

Each post is a different person's STOP, as Twilio sends it: a form with `From`, `To`, `Body`,
`MessageSid` and the rest, signed with `X-Twilio-Signature` for the bridge's public URL. The
bridge verifies it, reads the keyword, commits the request to its SQLite ledger and answers
TwiML; the baseline, in the same run, reads the same form and answers "ok". Twilio waits 15 s
for an answer; the goal is a p99 under 50 ms at 32 connections.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from harness import HOST, Server, write_result
from ingest import (
    add_load_options,
    alternate_rounds,
    bridge_env,
    ledger_statuses,
    measure,
    mid,
)

from bridge.providers.twilio_signature import twilio_signature

AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
OUR_NUMBER = "+14155550100"
GOAL_P99_MS = 50.0
PATH = "/webhooks/twilio"


def twilio_stop(round_no: int, index: int) -> list[tuple[str, str]]:
    """The form Twilio posts for one person's STOP (a real San Francisco number each)."""
    sid = f"SM{round_no:02d}{index:030d}"
    return [
        ("ToCountry", "US"), ("ToState", "CA"), ("SmsMessageSid", sid), ("NumMedia", "0"),
        ("FromState", "CA"), ("SmsStatus", "received"), ("Body", "STOP"),
        ("FromCountry", "US"), ("To", OUR_NUMBER), ("NumSegments", "1"), ("MessageSid", sid),
        ("AccountSid", "AC" + "0" * 32), ("From", f"+1415{200 + index // 10_000:03d}"
                                                   f"{index % 10_000:04d}"),
        ("ApiVersion", "2010-04-01"),
    ]  # fmt: skip


def write_posts(path: Path, round_no: int, count: int) -> None:
    """`count` signed STOPs from distinct numbers, one per line, with their signatures."""
    url = f"http://{HOST}{PATH}"  # BRIDGE_PUBLIC_URL + the path, as Twilio would call it
    with path.open("w") as out:
        for index in range(count):
            form = twilio_stop(round_no, index)
            signature = twilio_signature(AUTH_TOKEN, url, form)
            ip = f"10.{round_no}.{(index >> 8) % 16}.{index % 256}"
            out.write(f"{PATH} {urlencode(form)} {ip} X-Twilio-Signature={signature}\n")


def run_baseline(round_no: int, posts: Path, log: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One measured run of the bare Starlette route that reads the same forms."""
    with Server("factories:form_reader", log_path=log) as server:
        return {"round": round_no, **measure(server, posts, args)}


def run_bridge(
    round_no: int, posts: Path, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """One measured run of the bridge (worker off) on a fresh SQLite ledger, then durability."""
    database_url = f"sqlite:///{workdir / f'ledger-{round_no}.db'}"
    config = workdir / "bridge.toml"
    config.write_text(f'[providers.twilio]\nauth_token = "{AUTH_TOKEN}"\n', "utf-8")
    env = {
        **bridge_env(database_url, worker=False, intercom_limit=1000, tag=round_no, seed=0),
        "BRIDGE_CONFIG": str(config),
    }
    with Server("factories:bridge", env=env, log_path=workdir / "server.log") as server:
        run = {"round": round_no, **measure(server, posts, args)}
    statuses = asyncio.run(ledger_statuses(database_url))
    recorded = sum(statuses.values())
    answered = run["total_status"].get("200", 0)
    run.update(
        ledger_recorded=recorded, ledger_statuses=statuses, answered_200=answered,
        # Past `--posts` the load generator sends the same STOPs again: duplicates, answered
        # 200 and rightly recorded once.
        durable=recorded >= min(answered, args.posts), stopped_cleanly=server.stopped_cleanly,
    )  # fmt: skip
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_load_options(parser)
    parser.add_argument("--posts", type=int, default=60_000, help="distinct STOPs a round")
    parser.add_argument("--name", default="sms", help="results file name (sms)")
    args = parser.parse_args()
    began = time.monotonic()
    print(
        f"sms: {args.connections} connections, {args.warmup:g} s warm-up + {args.duration:g} s"
        f" measured, {args.rounds} rounds; signed Twilio STOPs, worker off",
        flush=True,
    )
    runs = alternate_rounds(
        "sms",
        args.rounds,
        lambda path, round_no: write_posts(path, round_no, args.posts),
        lambda round_no, posts, workdir: run_baseline(round_no, posts, workdir / "hello.log", args),
        lambda round_no, posts, workdir: run_bridge(round_no, posts, workdir, args),
    )

    ratio = mid(runs, "bridge", "ok_per_s") / mid(runs, "baseline", "ok_per_s")
    p99 = mid(runs, "bridge", "p99_ms")
    durable = all(run["durable"] for run in runs["bridge"])
    print(
        f"median: baseline {mid(runs, 'baseline', 'ok_per_s'):.0f} req/s, bridge"
        f" {mid(runs, 'bridge', 'ok_per_s'):.0f} req/s (p50 {mid(runs, 'bridge', 'p50_ms'):.1f} ms,"
        f" p99 {p99:.1f} ms; goal p99 < {GOAL_P99_MS:g} ms:"
        f" {'met' if p99 < GOAL_P99_MS else 'MISSED'}) -> ratio {ratio:.3f};"
        f" durability {'ok' if durable else 'FAILED'}"
    )
    write_result(
        args.name,
        {
            "benchmark": "sms",
            "config": {
                "connections": args.connections, "warmup_s": args.warmup,
                "duration_s": args.duration, "rounds": args.rounds, "posts": args.posts,
                "python": sys.version.split()[0],
            },
            "baseline_rps": mid(runs, "baseline", "ok_per_s"),
            "bridge_rps": mid(runs, "bridge", "ok_per_s"),
            "ratio": ratio,
            "baseline_p50_ms": mid(runs, "baseline", "p50_ms"),
            "baseline_p99_ms": mid(runs, "baseline", "p99_ms"),
            "bridge_p50_ms": mid(runs, "bridge", "p50_ms"),
            "bridge_p99_ms": p99,
            "durable": durable,
            "runs": runs,
            "wall_s": time.monotonic() - began,
        },
    )  # fmt: skip
    return 0 if durable else 1


if __name__ == "__main__":
    sys.exit(main())
