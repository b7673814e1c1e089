"""Deadlines and limits on real connections: what `bridge serve` runs uvicorn with."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bridge.web.server import GuardedHttpToolsProtocol, uvicorn_options
from tests.conftest import make_settings

# The deadlines shortened for the test; a test waits several times as long before failing.
HEADER, BODY, PATIENCE = 0.4, 0.8, 5.0
RESET = b"<reset>"


class QuickDeadlines(GuardedHttpToolsProtocol):
    header_seconds = HEADER
    body_seconds = BODY
    max_head_bytes = 8 * 1024


async def echo(request: Request) -> PlainTextResponse:
    try:
        return PlainTextResponse(f"{len(await request.body())} bytes\n")
    except ClientDisconnect:  # the deadline passed: the server has hung up
        return PlainTextResponse("gone\n", 400)


@pytest.fixture
def uvicorn_server(sqlite_url: str) -> Iterator[uvicorn.Server]:
    """A real uvicorn server with the bridge's options (quicker deadlines), on a thread."""
    options = uvicorn_options(make_settings(sqlite_url, BRIDGE_MAX_CONNECTIONS="4"))
    options["http"] = QuickDeadlines
    app = Starlette(routes=[Route("/", echo, methods=["GET", "POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", **options)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    for _ in range(500):
        if running.started:
            break
        time.sleep(0.01)
    yield running
    running.should_exit = True
    thread.join(PATIENCE)


@pytest.fixture
def server(uvicorn_server: uvicorn.Server) -> int:
    """That server's port."""
    port: int = uvicorn_server.servers[0].sockets[0].getsockname()[1]
    return port


def connect(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)
    return conn


def read_until_closed(conn: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took.

    A client still sending when the server hangs up may get a reset instead of the rest of
    the answer; that is a close too (`RESET` stands in for what was lost).
    """
    started, data = time.monotonic(), b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except ConnectionResetError:
        data += RESET
    return data, time.monotonic() - started


def trickle(conn: socket.socket, data: bytes, every: float) -> None:
    """Send a byte at a time until the server hangs up (or the data runs out)."""
    for byte in data:
        try:
            conn.sendall(bytes([byte]))
        except OSError:
            return
        time.sleep(every)


def test_a_normal_request_is_served(server: int) -> None:
    with connect(server) as conn:
        conn.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
        )
        answer, _ = read_until_closed(conn)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"3 bytes\n")


@pytest.mark.slow  # waits out a real deadline
def test_an_idle_connection_is_closed(server: int) -> None:
    with connect(server) as conn:
        answer, waited = read_until_closed(conn)
    assert answer == b""  # nothing was asked, nothing is answered
    assert waited < PATIENCE


@pytest.mark.slow  # waits out a real deadline
def test_a_slow_head_gets_408(server: int) -> None:
    with connect(server) as conn:
        sender = threading.Thread(
            target=trickle, args=(conn, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100, 0.1)
        )
        sender.start()
        answer, waited = read_until_closed(conn)
        sender.join()
    assert answer.startswith((b"HTTP/1.1 408", RESET))
    assert waited < PATIENCE


@pytest.mark.slow  # waits out a real deadline
def test_a_slow_body_gets_408(server: int) -> None:
    with connect(server) as conn:
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        sender = threading.Thread(target=trickle, args=(conn, b"b" * 100, 0.1))
        sender.start()
        answer, waited = read_until_closed(conn)
        sender.join()
    assert answer.startswith((b"HTTP/1.1 408", RESET))
    assert waited < PATIENCE


@pytest.mark.slow  # waits out a real deadline
def test_keep_alive_requests_each_get_their_own_deadline(server: int) -> None:
    with connect(server) as conn:
        for _ in range(3):
            time.sleep(HEADER / 2)  # idle between requests, within keep-alive
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert conn.recv(65536).startswith(b"HTTP/1.1 200")


def test_a_huge_head_gets_431(server: int) -> None:
    with connect(server) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 10_000 + b"\r\n")
        answer, _ = read_until_closed(conn)
    assert answer.startswith(b"HTTP/1.1 431")


def test_past_the_connection_limit_new_requests_get_503(
    server: int, uvicorn_server: uvicorn.Server
) -> None:
    held = [connect(server) for _ in range(4)]
    try:
        deadline = time.monotonic() + PATIENCE
        while len(uvicorn_server.server_state.connections) < len(held):  # until it counts them
            assert time.monotonic() < deadline, "the server did not take the connections"
            time.sleep(0.01)
        with connect(server) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer, _ = read_until_closed(conn)
        assert answer.startswith(b"HTTP/1.1 503")
    finally:
        for conn in held:
            conn.close()


def test_the_procfile_serves_through_bridge_serve() -> None:
    # One place sets the deadlines and limits: `bridge serve`, which the Procfile runs.
    procfile = (Path(__file__).parents[2] / "Procfile").read_text("utf-8")
    [web] = [line for line in procfile.splitlines() if line.startswith("web:")]
    assert web.split(":", 1)[1].split()[:2] == ["bridge", "serve"]


def test_uvicorn_logs_through_the_bridge_s_json_and_leaves_the_request_event_to_it(
    sqlite_url: str,
) -> None:
    text = uvicorn_options(make_settings(sqlite_url))
    assert "log_config" not in text and "access_log" not in text  # uvicorn's own, as before
    json_lines = uvicorn_options(make_settings(sqlite_url, BRIDGE_LOG_FORMAT="json"))
    assert json_lines["log_config"] is None and json_lines["access_log"] is False
