"""A full SendGrid Event Webhook batch (768 KB, about 2,000 signed events) from POST to 200.

The bridge (SQLite ledger, worker off: ingestion alone) and a bare Starlette route that reads
the same bytes and answers 200 are served the same way, one uvicorn process each, and sent the
same batches one after another from this process. Every batch has fresh event ids, so each
one is recorded rather than recognised as a duplicate. Two mixes: a realistic one (most
events are deliveries, opens and clicks the bridge ignores) and the worst case (every event
an unsubscribe). Goal: p99 under 250 ms.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from harness import HOST, Server, write_result
from ingest import bridge_env

BATCH_BYTES = 768 * 1024
GOAL_P99_MS = 250.0
_NON_CONSENT = ("processed", "delivered", "open", "click")


class Signer:
    """A P-256 key standing in for SendGrid's."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key = base64.b64encode(der).decode()

    def headers(self, body: bytes) -> dict[str, str]:
        """SendGrid's signature headers for `body`."""
        timestamp = str(int(time.time()))
        signature = self.key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        }


def event(batch: int, index: int, kind: str) -> dict[str, Any]:
    """One event shaped like SendGrid's documented ones (about 380 bytes)."""
    found: dict[str, Any] = {
        "email": f"person{batch}-{index}@example.com",
        "timestamp": 1_700_000_000 + index,
        "smtp-id": f"<14c5d75ce93.dfd.{batch}.{index}@ismtpd-555>",
        "event": kind,
        "category": ["newsletter", "november"],
        "sg_event_id": f"bench-{batch}-{index}-{kind}",
        "sg_message_id": f"14c5d75ce93.dfd.{batch}.filter0001.{index}.5515E0B88.0",
        "useragent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36",
        "ip": "203.0.113.7",
    }
    if kind == "group_unsubscribe":
        found["asm_group_id"] = 10
    if kind == "click":
        found["url"] = "https://www.example.com/offers/november"
    return found


def batch_body(batch: int, consent_share: float) -> tuple[bytes, int, int]:
    """A batch as SendGrid writes it, grown to 768 KB: its bytes, events, consent events."""
    parts: list[str] = []
    size = 2
    consent = 0
    index = 0
    every = round(1 / consent_share) if consent_share > 0 else 0
    while True:
        if every and index % every == 0:
            kind = "unsubscribe" if index % 2 == 0 else "group_unsubscribe"
        else:
            kind = _NON_CONSENT[index % len(_NON_CONSENT)]
        text = json.dumps(event(batch, index, kind), separators=(",", ":"))
        if size + len(text) + 3 > BATCH_BYTES:
            break
        parts.append(text)
        size += len(text) + 3
        consent += kind.endswith("unsubscribe")
        index += 1
    return ("[" + ",\r\n".join(parts) + "]\r\n").encode(), index, consent


def percentile(samples: list[float], share: float) -> float:
    """The `share` quantile (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def post_all(port: int, path: str, batches: list[tuple[bytes, dict[str, str]]]) -> list[float]:
    """POST each batch in turn over one keep-alive connection; latencies in ms (all 200)."""
    latencies = []
    with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=30.0) as client:
        for body, headers in batches:
            started = time.perf_counter()
            response = client.post(path, content=body, headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}: {response.text}")
    return latencies


def run_mix(
    name: str, consent_share: float, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    """Baseline then bridge, for one mix of events; their latencies and the ratio."""
    signer = Signer()
    config = workdir / f"{name}.toml"
    config.write_text(f'[providers.sendgrid]\npublic_key = "{signer.public_key}"\n')
    bodies = [batch_body(b, consent_share) for b in range(args.batches + args.warmup)]
    events, consent = bodies[0][1], bodies[0][2]
    signed = [(body, signer.headers(body)) for body, _, _ in bodies]
    env = {
        **bridge_env(
            f"sqlite:///{workdir / f'{name}.db'}", worker=False, intercom_limit=1000, tag=1, seed=0
        ),
        "BRIDGE_CONFIG": str(config),
    }
    results: dict[str, Any] = {"events_per_batch": events, "consent_events_per_batch": consent}
    for label, factory in (("baseline", "factories:hello"), ("bridge", "factories:bridge")):
        with Server(factory, env=env, log_path=workdir / f"{name}-{label}.log") as server:
            post_all(server.port, "/webhooks/sendgrid", signed[: args.warmup])
            latencies = post_all(server.port, "/webhooks/sendgrid", signed[args.warmup :])
        results[label] = {
            "p50_ms": statistics.median(latencies),
            "p99_ms": percentile(latencies, 0.99),
            "max_ms": max(latencies),
            "events_per_s": events * len(latencies) / (sum(latencies) / 1000),
        }
    results["ratio_events_per_s"] = (
        results["bridge"]["events_per_s"] / results["baseline"]["events_per_s"]
    )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=60, help="measured batches per mix (60)")
    parser.add_argument("--warmup", type=int, default=5, help="batches before measuring (5)")
    parser.add_argument("--name", default="webhooks", help="results file name")
    args = parser.parse_args()
    mixes = {"realistic (10% consent events)": 0.1, "worst case (all unsubscribes)": 1.0}
    print(
        f"webhooks: {args.batches} SendGrid batches of {BATCH_BYTES // 1024} KB per mix, one at a"
        " time, signed; bridge on SQLite with the worker off; baseline: a bare route reading the"
        " same bytes",
        flush=True,
    )
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        for label, share in mixes.items():
            result = run_mix(label.split()[0], share, args, Path(tmp))
            found[label] = result
            bridge, baseline = result["bridge"], result["baseline"]
            print(
                f"  {label}: {result['events_per_batch']} events"
                f" ({result['consent_events_per_batch']} consent) per batch\n"
                f"    bridge   p50 {bridge['p50_ms']:6.1f} ms  p99 {bridge['p99_ms']:6.1f} ms"
                f"  {bridge['events_per_s']:9,.0f} events/s\n"
                f"    baseline p50 {baseline['p50_ms']:6.1f} ms  p99 {baseline['p99_ms']:6.1f} ms"
                f"  {baseline['events_per_s']:9,.0f} events/s\n"
                f"    ratio (events/s) {result['ratio_events_per_s']:.2f};"
                f" goal p99 < {GOAL_P99_MS:g} ms:"
                f" {'met' if bridge['p99_ms'] < GOAL_P99_MS else 'MISSED'}",
                flush=True,
            )
    write_result(
        args.name,
        {"benchmark": "webhooks", "batches": args.batches, "mixes": found,
         "python": sys.version.split()[0]},
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
