"""Shared benchmark helpers: uvicorn servers in subprocesses, CPU readings, results files."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
HOST = "127.0.0.1"  # benchmarks only ever talk to the loopback interface

# Made-up credentials shared by the drivers and the uvicorn factories.
SECRET_KEY = "benchmark-only-signing-key-0000"
SANDBOX_TOKEN = "sandbox-token"
SANDBOX_URL = "http://sandbox.invalid"
EMAIL_TYPE = "37846"  # a live opt_out email type of the seeded sandbox workspace

_TICKS = os.sysconf("SC_CLK_TCK")


def contact_id(tag: int, index: int) -> str:
    """A distinct 24-hex Intercom-style contact id, so links pack it in 12 bytes."""
    return f"be{tag:02x}{index:020x}"


def contact_email(tag: int, index: int) -> str:
    """The email of the seeded contact `contact_id(tag, index)` (when seeded with emails)."""
    return f"bench-{tag:02x}-{index}@example.com"


def intercom_route(method: str, path: str) -> str:
    """An Intercom call with its ids hidden, e.g. `POST /contacts/{id}/subscriptions`."""
    parts = path.split("/")
    if len(parts) > 2 and parts[1] == "contacts" and parts[2] != "search":
        parts[2] = "{id}"
    if len(parts) > 4 and parts[3] == "subscriptions":
        parts[4] = "{type}"
    return f"{method} {'/'.join(parts)}"


def add_sandbox_option(parser: argparse.ArgumentParser) -> None:
    """The --sandbox remote|in-process choice the web benchmarks share."""
    parser.add_argument(
        "--sandbox",
        choices=["remote", "in-process"],
        default="remote",
        help="serve the sandbox Intercom in its own process, as Intercom is (remote, default), "
        "or inside the bridge's process, which charges its CPU to the bridge",
    )


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


class Server:
    """One `uvicorn --factory` process on 127.0.0.1, started and stopped with a time bound."""

    def __init__(
        self,
        factory: str,
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path,
        start_timeout: float = 60.0,
    ) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.start_timeout = start_timeout
        self.command = [
            sys.executable, "-m", "uvicorn", "--factory", factory, "--app-dir", str(HERE),
            "--host", HOST, "--port", str(self.port),
            "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        self._env = {**os.environ, **(env or {})}
        self._process: subprocess.Popen[bytes] | None = None
        self.stopped_cleanly: bool | None = None

    @property
    def pid(self) -> int:
        """The server process's id."""
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.pid

    def start(self) -> None:
        """Start uvicorn and wait until it accepts connections (after its lifespan startup)."""
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command, env=self._env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the server exited at start-up:\n{self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.2):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the server did not listen within {self.start_timeout:g} s")

    def stop(self, timeout: float = 40.0) -> None:
        """Graceful stop (SIGINT, as Ctrl-C), then SIGKILL once `timeout` has passed."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
            self.stopped_cleanly = process.returncode == 0
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            self.stopped_cleanly = False

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the server wrote."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def cpu_meter(pid: int) -> Iterator[dict[str, float]]:
    """Measures the CPU share (1.0 = one core) a process uses while the block runs."""
    reading: dict[str, float] = {}
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    yield reading
    reading["cpu_share"] = (cpu_seconds(pid) - cpu0) / max(time.monotonic() - wall0, 1e-9)


def write_result(name: str, result: Mapping[str, Any]) -> Path:
    """Print the results as one JSON line and write them to benchmarks/results/NAME.json."""
    line = json.dumps(result, sort_keys=True)
    print(line)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(line + "\n")
    return path
