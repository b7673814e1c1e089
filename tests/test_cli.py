"""The `bridge` command, run as a user runs it, against a sandbox served on localhost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.consent import ConsentRequest, Identity, Scope, Wanted, utcnow
from bridge.ledger import Status, open_ledger
from bridge.sandbox import Sandbox
from tests.conftest import SANDBOX_TOKEN
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
