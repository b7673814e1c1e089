"""A lean raw-asyncio HTTP/1.1 keep-alive load generator (POST or GET); runs in its own process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"  # the only place this client sends to
ONE_CLICK_BODY = b"List-Unsubscribe=One-Click"
FORM_TYPE = b"application/x-www-form-urlencoded"


class Load:
    """Shared state of one run: the paths to hand out and what came back, by phase."""

    def __init__(self, paths: list[bytes], *, warmup: float, duration: float) -> None:
        self.paths = paths
        self.next_index = itertools.count()
        self.started = time.monotonic()
        self.epoch_offset = time.time() - self.started  # monotonic -> wall clock (time.time())
        self.measure_from = self.started + warmup
        self.measure_until = self.measure_from + duration
        self.measured: Counter[int] = Counter()  # status -> responses completed while measuring
        self.total: Counter[int] = Counter()  # status -> every response, warm-up and tail too
        self.latencies: list[float] = []  # seconds, responses completed while measuring
        self.errors: Counter[str] = Counter()

    def next_path(self) -> bytes:
        index = next(self.next_index)
        return self.paths[index % len(self.paths)]


def request_bytes(verb: bytes, line: bytes, host: bytes, fixed: bytes) -> bytes:
    """One request for a line of the paths file.

    A line is a path alone (sent with the fixed headers and body), or `path body ip`: a form
    post of its own urlencoded body, answered in JSON, from the client address `ip` (passed
    as X-Forwarded-For, which uvicorn trusts from 127.0.0.1), so per-IP limits see many.
    A fourth field `Name=value` adds one header of the post's own (a webhook's signature).
    """
    path, _, rest = line.partition(b" ")
    if not rest:
        return verb + path + fixed
    body, _, rest = rest.partition(b" ")
    ip, _, header = rest.partition(b" ")
    own = b"\r\n" + header.replace(b"=", b": ", 1) if header else b""
    return (
        verb + path + host + b"\r\nContent-Type: " + FORM_TYPE
        + b"\r\nAccept: application/json\r\nX-Forwarded-For: " + ip + own
        + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response (status line, headers, body); its status and whether to keep alive."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length: int | None = None
    chunked = False
    keep_alive = True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            keep_alive = b"close" not in value.lower()
    if chunked:
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")  # the empty trailer
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()  # delimited by the connection closing
        keep_alive = False
    return status, keep_alive


async def connection(load: Load, port: int, request_timeout: float, method: str = "POST") -> None:
    """One keep-alive connection sending requests back to back until the measurement ends.

    POST sends the one-click unsubscribe body; GET sends no body.
    """
    host = b" HTTP/1.1\r\nHost: " + f"{HOST}:{port}".encode()
    if method == "GET":
        headers = host + b"\r\n\r\n"
    else:
        headers = (
            host + b"\r\nContent-Type: " + FORM_TYPE
            + b"\r\nContent-Length: " + str(len(ONE_CLICK_BODY)).encode() + b"\r\n\r\n"
            + ONE_CLICK_BODY
        )  # fmt: skip
    verb = method.encode() + b" "
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    while time.monotonic() < load.measure_until:
        if writer is None or reader is None:
            try:
                reader, writer = await asyncio.open_connection(HOST, port)
            except OSError:
                load.errors["connect"] += 1
                await asyncio.sleep(0.05)
                continue
        started = time.monotonic()
        try:
            writer.write(request_bytes(verb, load.next_path(), host, headers))
            async with asyncio.timeout(request_timeout):
                status, keep_alive = await read_response(reader)
        except (OSError, TimeoutError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
            load.errors[type(exc).__name__] += 1
            writer.close()
            writer = reader = None
            continue
        done = time.monotonic()
        load.total[status] += 1
        if load.measure_from <= done <= load.measure_until:
            load.measured[status] += 1
            load.latencies.append(done - started)
        if not keep_alive:
            writer.close()
            writer = reader = None
    if writer is not None:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def percentile(sorted_values: list[float], share: float) -> float | None:
    """The nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = max(0, min(len(sorted_values) - 1, round(share * len(sorted_values)) - 1))
    return sorted_values[rank]


async def run(
    paths: list[bytes],
    *,
    port: int,
    connections: int,
    warmup: float,
    duration: float,
    request_timeout: float,
    method: str = "POST",
) -> dict[str, Any]:
    """Drive the server; a summary of the measured phase and totals over the whole run."""
    load = Load(paths, warmup=warmup, duration=duration)
    cpu0 = time.process_time()
    tasks = [
        asyncio.create_task(connection(load, port, request_timeout, method))
        for _ in range(connections)
    ]
    # Every task stops by itself at the end of the measurement, plus one request's time bound.
    await asyncio.wait(tasks, timeout=warmup + duration + request_timeout + 5)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.monotonic() - load.started
    latencies = sorted(load.latencies)
    measured = sum(load.measured.values())
    ms = {f"p{int(q * 100)}_ms": percentile(latencies, q) for q in (0.5, 0.9, 0.99)}
    return {
        "connections": connections,
        "warmup_s": warmup,
        "duration_s": duration,
        "ok_per_s": load.measured[200] / duration,  # the throughput: 200s completed per second
        "responses_per_s": measured / duration,
        "measured_responses": measured,
        "measured_status": {str(k): v for k, v in sorted(load.measured.items())},
        "total_status": {str(k): v for k, v in sorted(load.total.items())},
        "errors": dict(load.errors),
        **{key: None if value is None else value * 1000 for key, value in ms.items()},
        "max_ms": latencies[-1] * 1000 if latencies else None,
        "paths_used": next(load.next_index),
        "paths_available": len(paths),
        "client_cpu_share": (time.process_time() - cpu0) / wall,
        "method": method,
        # The measured window on the wall clock, to match with other processes' timestamps.
        "window_epoch": [
            load.measure_from + load.epoch_offset,
            load.measure_until + load.epoch_offset,
        ],
    }


def drive(
    paths_file: Path,
    *,
    port: int,
    connections: int,
    warmup: float,
    duration: float,
    request_timeout: float = 10.0,
    method: str = "POST",
) -> dict[str, Any]:
    """Run this load generator in a process of its own and return its summary."""
    command = [
        sys.executable, __file__, "--port", str(port), "--paths", str(paths_file),
        "--connections", str(connections), "--warmup", str(warmup),
        "--duration", str(duration), "--request-timeout", str(request_timeout),
        "--method", method,
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=warmup + duration + request_timeout + 60
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="server port on 127.0.0.1")
    parser.add_argument(
        "--paths",
        type=Path,
        required=True,
        help="file of request paths, one a line (reused in turn); see request_bytes",
    )
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=10.0,
        help="seconds before a request counts as failed",
    )
    parser.add_argument(
        "--method",
        choices=["POST", "GET"],
        default="POST",
        help="POST (one-click unsubscribe body, default) or GET (no body)",
    )
    args = parser.parse_args()
    paths = [line.encode() for line in args.paths.read_text().splitlines() if line.strip()]
    if not paths:
        parser.error("the paths file is empty")
    try:
        import uvloop  # optional: a faster loop keeps the client out of the way
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    summary = runner(
        run(
            paths,
            port=args.port,
            connections=args.connections,
            warmup=args.warmup,
            duration=args.duration,
            request_timeout=args.request_timeout,
            method=args.method,
        )
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
