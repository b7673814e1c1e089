"""Links per second from `POST /api/v1/links` in 10,000-person batches, vs LinkSigner alone.

The baseline is the floor no server can go below: the same 10,000 people's links signed by
`LinkSigner.urls` in this process, one core, no HTTP. The ratio (bridge / baseline) is what
reading, checking and answering the batch over HTTP costs on top of the signing itself; 1.0
would be free. On a machine shared with other work, wall-clock rates follow what the others
take; links per CPU-second (the server's, the baseline's own) do not, and are reported with
their ratio too. While the batches go in, one client asks `/healthz` without pause: its latency,
against the same client's on an idle server, shows whether the web process keeps answering
while it signs (the signing runs on a worker thread).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from harness import (
    EMAIL_TYPE,
    HOST,
    SECRET_KEY,
    Server,
    contact_email,
    cpu_meter,
    median,
    write_result,
)
from ingest import add_load_options, bridge_env

from bridge.consent import Identity, Scope
from bridge.links import LinkClaims, LinkSigner

ADMIN_TOKEN = "benchmark-only-admin-token-000"
PEOPLE = 10_000


def batch_body(tag: int, people: int) -> bytes:
    """A batch of `people` distinct emails, every link for one email type, as a sender posts it."""
    entries = [{"email": contact_email(tag, index)} for index in range(people)]
    return json.dumps({"people": entries, "subscription": [EMAIL_TYPE]}).encode()


def signing_alone(tag: int, people: int, seconds: float) -> dict[str, Any]:
    """The baseline: the same people's links from LinkSigner, batch after batch, for `seconds`."""
    signer = LinkSigner([SECRET_KEY])
    scope = Scope(type_ids=(EMAIL_TYPE,))
    claims = [LinkClaims(Identity(email=contact_email(tag, i)), scope) for i in range(people)]
    batches, started, cpu_started = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds or batches == 0:
        for one in claims:
            signer.urls(f"http://{HOST}", one)
        batches += 1
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "links_per_s": batches * people / elapsed,
        "links_per_cpu_s": batches * people / cpu,
        "batches": batches,
        "seconds": elapsed,
    }


def _poster(
    port: int, body: bytes, until: float, done: list[tuple[float, int]], errors: list[str]
) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=120.0) as client:
        while time.monotonic() < until:
            started = time.perf_counter()
            response = client.post("/api/v1/links", content=body, headers=headers)
            if response.status_code != 200:
                errors.append(f"{response.status_code}: {response.text[:200]}")
                return
            done.append((time.perf_counter() - started, len(response.content)))


def health_latencies(port: int, stop: threading.Event) -> list[float]:
    """`GET /healthz` one after another until told to stop; each latency in ms."""
    found: list[float] = []
    with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=60.0) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get("/healthz").raise_for_status()
            found.append((time.perf_counter() - started) * 1000)
            time.sleep(0.005)
    return found


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan")


def _probe(port: int, seconds: float) -> list[float]:
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    return health_latencies(port, stop)


def run_bridge(round_no: int, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One measured run: `connections` clients POST batches for `duration` seconds."""
    env = bridge_env(
        f"sqlite:///{workdir / f'ledger-{round_no}.db'}", worker=False, intercom_limit=2000,
        tag=round_no, seed=1,
    )  # fmt: skip
    env["BRIDGE_ADMIN_TOKEN"] = ADMIN_TOKEN
    body = batch_body(round_no, args.people)
    with Server("factories:bridge", env=env, log_path=workdir / "server.log") as server:
        idle = _probe(server.port, 2.0)
        warm: list[tuple[float, int]] = []
        errors: list[str] = []
        _poster(server.port, body, time.monotonic() + args.warmup, warm, errors)
        done: list[tuple[float, int]] = []
        until = time.monotonic() + args.duration
        posters = [
            threading.Thread(target=_poster, args=(server.port, body, until, done, errors))
            for _ in range(args.connections)
        ]
        stop = threading.Event()
        loaded: list[float] = []
        prober = threading.Thread(target=lambda: loaded.extend(health_latencies(server.port, stop)))
        with cpu_meter(server.pid) as cpu:
            began = time.monotonic()
            for thread in [*posters, prober]:
                thread.start()
            for thread in posters:
                thread.join()
            elapsed = time.monotonic() - began
            stop.set()
            prober.join()
    if errors:
        raise RuntimeError(f"the bridge refused a batch: {errors[0]}")
    links_per_s = len(done) * args.people / elapsed
    return {
        "round": round_no,
        "links_per_s": links_per_s,
        "links_per_cpu_s": links_per_s / cpu["cpu_share"],
        "batches": len(done),
        "batch_ms_median": median([seconds * 1000 for seconds, _ in done]),
        "answer_bytes": done[0][1] if done else 0,
        "request_bytes": len(body),
        "server_cpu_share": cpu["cpu_share"],
        "healthz_idle_p50_ms": median(idle),
        "healthz_idle_p99_ms": _p99(idle),
        "healthz_loaded_p50_ms": median(loaded),
        "healthz_loaded_p99_ms": _p99(loaded),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_load_options(parser)
    parser.set_defaults(connections=2, warmup=3.0, duration=20.0)
    parser.add_argument("--people", type=int, default=PEOPLE, help="people per batch (10000)")
    parser.add_argument("--name", default="links", help="results file name (links)")
    args = parser.parse_args()
    began = time.monotonic()
    print(
        f"links: batches of {args.people}, {args.connections} clients, {args.warmup:g} s warm-up"
        f" + {args.duration:g} s measured, {args.rounds} rounds (baseline, bridge, ...)",
        flush=True,
    )
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "bridge": []}
    with tempfile.TemporaryDirectory(prefix="bench-links-") as tmp:
        for round_no in range(1, args.rounds + 1):
            baseline = {"round": round_no, **signing_alone(round_no, args.people, 5.0)}
            runs["baseline"].append(baseline)
            print(
                f"  round {round_no}  LinkSigner alone {baseline['links_per_s']:8.0f} links/s"
                f"  ({baseline['links_per_cpu_s']:.0f} per CPU-second)"
            )
            run = run_bridge(round_no, Path(tmp), args)
            runs["bridge"].append(run)
            print(
                f"  round {round_no}  bridge           {run['links_per_s']:8.0f} links/s"
                f"  ({run['links_per_cpu_s']:.0f} per server CPU-second; {run['batches']} batches,"
                f" {run['batch_ms_median']:.0f} ms each, server CPU"
                f" {run['server_cpu_share']:4.0%}); /healthz p50/p99 idle"
                f" {run['healthz_idle_p50_ms']:.1f}/{run['healthz_idle_p99_ms']:.1f} ms, loaded"
                f" {run['healthz_loaded_p50_ms']:.1f}/{run['healthz_loaded_p99_ms']:.1f} ms",
                flush=True,
            )

    def mid(target: str, key: str) -> float:
        return median([run[key] for run in runs[target]])

    ratio = mid("bridge", "links_per_s") / mid("baseline", "links_per_s")
    cpu_ratio = mid("bridge", "links_per_cpu_s") / mid("baseline", "links_per_cpu_s")
    print(
        f"median: LinkSigner alone {mid('baseline', 'links_per_s'):.0f} links/s, bridge"
        f" {mid('bridge', 'links_per_s'):.0f} links/s -> ratio {ratio:.3f}; per CPU-second"
        f" {mid('baseline', 'links_per_cpu_s'):.0f} vs {mid('bridge', 'links_per_cpu_s'):.0f}"
        f" -> ratio {cpu_ratio:.3f};"
        f" /healthz p99 {mid('bridge', 'healthz_loaded_p99_ms'):.1f} ms while signing"
        f" (idle {mid('bridge', 'healthz_idle_p99_ms'):.1f} ms)"
    )
    write_result(
        args.name,
        {
            "benchmark": "links",
            "config": {
                "people": args.people, "connections": args.connections, "warmup_s": args.warmup,
                "duration_s": args.duration, "rounds": args.rounds,
                "python": sys.version.split()[0],
            },
            "baseline_links_per_s": mid("baseline", "links_per_s"),
            "bridge_links_per_s": mid("bridge", "links_per_s"),
            "ratio": ratio,
            "baseline_links_per_cpu_s": mid("baseline", "links_per_cpu_s"),
            "bridge_links_per_cpu_s": mid("bridge", "links_per_cpu_s"),
            "cpu_ratio": cpu_ratio,
            "runs": runs,
            "wall_s": time.monotonic() - began,
        },
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
