"""How the bridge answers `/healthz` while large webhook bodies pour in, against idle.

The security review found one unsigned 10 MB POST to `/webhooks/mailgun` or `/webhooks/ses`
parsed on the event loop before any check: `/healthz` went from 3 ms to 530 ms with four in
flight, and the process from 60 to 320 MB. This serves the bridge (SQLite, worker off, with
SendGrid, Mailgun and SES configured) in its own uvicorn process and measures `/healthz`
from one client, first with nothing else going on (the baseline, same run), then while four
other clients post without pause: unsigned 10 MB bodies to Mailgun and to SES, and signed
768 KB SendGrid batches (which are verified, then parsed off the event loop). It reports
`/healthz` latency under load against the baseline, and the process's peak memory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from harness import HOST, Server, write_result
from ingest import bridge_env
from webhooks import Signer, batch_body

HUGE = b'{"signature": {}, "event-data": [' + b"0," * 5_000_000 + b"0]}"  # about 10 MB


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def health_latencies(port: int, seconds: float) -> list[float]:
    """`GET /healthz` one after another for `seconds`; each latency in ms."""
    found = []
    with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=30.0) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            client.get("/healthz").raise_for_status()
            found.append((time.perf_counter() - started) * 1000)
            time.sleep(0.01)
    return found


def keep_posting(
    port: int, send: Callable[[httpx.Client], int], stop: threading.Event, seen: list[int]
) -> None:
    """Call `send` until told to stop, noting each status it answered."""
    with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=60.0) as client:
        while not stop.is_set():
            try:
                seen.append(send(client))
            except httpx.HTTPError:
                seen.append(0)  # the server closed a refused upload early: refused all the same


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="each phase's length (10)")
    parser.add_argument("--name", default="loop_health", help="results file name")
    args = parser.parse_args()
    signer = Signer()
    batch, _, _ = batch_body(0, 0.1)
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as tmp:
        config = Path(tmp) / "bridge.toml"
        config.write_text(
            f'[providers.sendgrid]\npublic_key = "{signer.public_key}"\n'
            '[providers.mailgun]\nsigning_key = "benchmark-signing-key-000000"\n'
            '[providers.ses]\ntopic_arns = ["arn:aws:sns:us-west-2:123456789012:MyTopic"]\n'
        )
        env = {
            **bridge_env(
                f"sqlite:///{Path(tmp) / 'ledger.db'}",
                worker=False,
                intercom_limit=1000,
                tag=1,
                seed=0,
            ),
            "BRIDGE_CONFIG": str(config),
        }
        senders: dict[str, Callable[[httpx.Client], int]] = {
            "mailgun 10 MB unsigned": lambda c: (
                c.post("/webhooks/mailgun", content=HUGE).status_code
            ),
            "ses 10 MB unsigned": lambda c: c.post("/webhooks/ses", content=HUGE).status_code,
            "sendgrid 768 KB signed": lambda c: (
                c.post(
                    "/webhooks/sendgrid", content=batch, headers=signer.headers(batch)
                ).status_code
            ),
        }
        with Server("factories:bridge", env=env, log_path=Path(tmp) / "bridge.log") as server:
            idle = health_latencies(server.port, args.seconds)
            idle_rss = peak_rss_mb(server.pid)
            stop = threading.Event()
            statuses: dict[str, list[int]] = {name: [] for name in senders}
            posters = [
                threading.Thread(target=keep_posting, args=(server.port, send, stop, statuses[n]))
                for n, send in [
                    *senders.items(),
                    ("mailgun 10 MB unsigned", senders["mailgun 10 MB unsigned"]),
                ]
            ]
            for poster in posters:
                poster.start()
            loaded = health_latencies(server.port, args.seconds)
            stop.set()
            for poster in posters:
                poster.join()
            loaded_rss = peak_rss_mb(server.pid)
    result: dict[str, Any] = {
        "benchmark": "loop_health",
        "idle_ms": {"p50": statistics.median(idle), "p99": percentile(idle, 0.99)},
        "loaded_ms": {"p50": statistics.median(loaded), "p99": percentile(loaded, 0.99)},
        "peak_rss_mb": {"idle": idle_rss, "loaded": loaded_rss},
        "answers": {
            name: {str(s): seen.count(s) for s in set(seen)} for name, seen in statuses.items()
        },
        "python": sys.version.split()[0],
    }
    print(
        f"loop health: /healthz from one client, {args.seconds:g} s idle then {args.seconds:g} s"
        " while 4 clients post 10 MB unsigned bodies to Mailgun (2) and SES, and signed 768 KB"
        " SendGrid batches\n"
        f"  idle   p50 {result['idle_ms']['p50']:7.1f} ms  p99 {result['idle_ms']['p99']:7.1f} ms"
        f"  peak memory {idle_rss:6.0f} MB\n"
        f"  loaded p50 {result['loaded_ms']['p50']:7.1f} ms  p99 {result['loaded_ms']['p99']:7.1f}"
        f" ms  peak memory {loaded_rss:6.0f} MB\n"
        f"  ratio loaded/idle: p50 {result['loaded_ms']['p50'] / result['idle_ms']['p50']:.1f},"
        f" p99 {result['loaded_ms']['p99'] / result['idle_ms']['p99']:.1f}\n"
        f"  answers: {json.dumps(result['answers'], sort_keys=True)}",
        flush=True,
    )
    write_result(args.name, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
