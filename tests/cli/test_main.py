"""The `bridge` command, run as a user runs it, against a sandbox served on localhost."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.cli.main import main
from bridge.consent import ConsentRequest, Identity, Scope, Wanted, utcnow
from bridge.ledger import Status, open_ledger
from bridge.sandbox import Sandbox
from tests.conftest import SANDBOX_TOKEN, SECRET
from tests.json_logs import logging_kept
from tests.live import free_port, serving


@pytest.fixture
def served_sandbox(sandbox: Sandbox) -> Iterator[str]:
    """The sandbox over real HTTP on a free localhost port; its base URL."""
    with serving(sandbox.app, free_port()) as url:
        yield url


def test_missing_secret_keys_is_one_clear_line(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.delenv("BRIDGE_SECRET_KEYS")
    assert main(["link", "unsubscribe", "--contact-id", "abc"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bridge: configuration error: BRIDGE_SECRET_KEYS: required")
    assert err.count("\n") == 1


def test_serve_refuses_without_an_intercom_token(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve"]) == 2
    assert "INTERCOM_ACCESS_TOKEN: required" in capsys.readouterr().err


def test_migrate_then_check_then_worker_once(
    env: pytest.MonkeyPatch,
    served_sandbox: str,
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env.setenv("INTERCOM_ACCESS_TOKEN", SANDBOX_TOKEN)
    env.setenv("INTERCOM_BASE_URL", served_sandbox)
    assert main(["migrate"]) == 0
    assert capsys.readouterr().out.startswith("applied: 0001")
    assert main(["migrate"]) == 0
    assert capsys.readouterr().out.strip() == "the database is up to date"
    assert main(["check"]) == 0
    report = capsys.readouterr().out
    assert "intercom: token ok, 7 subscription types" in report
    assert "Newsletters" in report and "opt_in" in report
    assert main(["worker", "--once"]) == 0


def test_json_logs_are_one_object_a_line_with_an_event_per_intercom_call(
    env: pytest.MonkeyPatch, served_sandbox: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("INTERCOM_ACCESS_TOKEN", SANDBOX_TOKEN)
    env.setenv("INTERCOM_BASE_URL", served_sandbox)
    env.setenv("BRIDGE_LOG_FORMAT", "json")
    with logging_kept():
        assert main(["check"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    calls = [e for e in events if e.get("event") == "intercom_call"]
    assert [c["endpoint"] for c in calls] == ["GET /subscription_types"]
    assert calls[0]["status"] == 200 and calls[0]["logger"] == "bridge.intercom.client"


def test_check_fails_on_a_rejected_token(
    env: pytest.MonkeyPatch, served_sandbox: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("INTERCOM_ACCESS_TOKEN", "wrong-token")
    env.setenv("INTERCOM_BASE_URL", served_sandbox)
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "401" in out and "wrong-token" not in out


def test_replay_requeues_dead_requests(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    async def make_one_dead_request() -> None:
        ledger = await open_ledger(url)
        await ledger.migrate()
        request = ConsentRequest(
            Identity(contact_id="abc"), Wanted.UNSUBSCRIBED, Scope(), utcnow(), "test", "e1"
        )
        [recorded] = await ledger.record([request])
        now = utcnow() + timedelta(seconds=1)
        await ledger.claim("w", limit=1, lease_seconds=60, now=now)
        await ledger.finish(recorded.id, "w", Status.DEAD, error="boom", now=now)
        await ledger.close()

    async def statuses() -> list[Status]:
        ledger = await open_ledger(url)
        try:
            return [r.status for r in await ledger.list_requests()]
        finally:
            await ledger.close()

    asyncio.run(make_one_dead_request())
    assert asyncio.run(statuses()) == [Status.DEAD]
    assert main(["replay"]) == 0
    assert capsys.readouterr().out.strip() == "requeued 1 request(s)"
    assert asyncio.run(statuses()) == [Status.PENDING]


def test_a_mistake_on_the_command_line_is_one_line(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([]) == 2
    assert capsys.readouterr().err == (
        "bridge: error: the following arguments are required: COMMAND (see `bridge --help`)\n"
    )
    assert main(["links"]) == 2
    assert capsys.readouterr().err == (
        "bridge links: error: the following arguments are required: --csv "
        "(see `bridge links --help`)\n"
    )


def test_help_still_prints_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["link", "--help"]) == 0
    assert "--subscription ID" in capsys.readouterr().out


@pytest.mark.parametrize("given", ["abc", "-1", "0", "99999999999999999999999", "²"])
def test_replay_refuses_what_is_not_a_request_id(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    assert main(["replay", "--", given]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"bridge replay: error: argument ID: {given!r} is not a request id (a whole number "
        "from 1) (see `bridge replay --help`)\n"
    )


@pytest.mark.parametrize("command", ["demo", "serve"])
def test_a_bad_port_is_one_line(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert main([command, "--port", "http"]) == 2
    assert capsys.readouterr().err == (
        f"bridge {command}: error: argument --port: 'http' is not a port number (1 to 65535) "
        f"(see `bridge {command} --help`)\n"
    )


def test_a_bad_port_in_the_environment_is_one_line(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("PORT", "70000")
    assert main(["demo"]) == 2
    assert capsys.readouterr().err == (
        "bridge demo: error: PORT: '70000' is not a port number (1 to 65535)\n"
    )


@pytest.mark.parametrize("command", ["migrate", "replay", "worker"])
def test_a_database_that_cannot_be_opened_is_one_line(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    env.setenv("INTERCOM_ACCESS_TOKEN", SANDBOX_TOKEN)
    env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'folder' / 'bridge.db'}")
    code = main([command, "--once"] if command == "worker" else [command])
    captured = capsys.readouterr()
    assert (code, captured.out) == (1, "")
    assert captured.err == (
        f"bridge {command}: error: the ledger database is unavailable (OperationalError): "
        "check DATABASE_URL and that the database is up\n"
    )


def test_replay_on_a_database_needing_migrations_is_one_line(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("BRIDGE_AUTO_MIGRATE", "false")
    assert main(["replay"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("bridge replay: error: the database needs ")
    assert error.endswith(": run `bridge migrate`, or set BRIDGE_AUTO_MIGRATE=true\n")
    assert "(0001_ledger, " in error and error.count("\n") == 1


def test_links_into_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text("email\n" + "".join(f"p{i}@example.com\n" for i in range(20_000)))
    environment = {
        **os.environ,
        "BRIDGE_SECRET_KEYS": SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }
    environment.pop("INTERCOM_ACCESS_TOKEN", None)
    # As the console script runs it: main() without the SIGPIPE reset of `python -m`.
    script = "import sys; from bridge.cli.main import main; sys.exit(main())"
    with subprocess.Popen(
        [sys.executable, "-c", script, "links", "--csv", str(people)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline() == b"email,unsubscribe_url,preferences_url\r\n"
        process.stdout.close()  # what `| head -1` does
        assert process.stderr.read() == b""
        assert process.wait(timeout=30) == 1
