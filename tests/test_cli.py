"""The `bridge` command, run as a user runs it, against a sandbox served on localhost."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.consent import ConsentRequest, Identity, Scope, Wanted, utcnow
from bridge.ledger import Status, open_ledger
from bridge.links import LinkSigner, Purpose
from bridge.sandbox import Sandbox
from tests.conftest import SANDBOX_TOKEN, SECRET
from tests.live import free_port, serving


@pytest.fixture
def served_sandbox(sandbox: Sandbox) -> Iterator[str]:
    """The sandbox over real HTTP on a free localhost port; its base URL."""
    with serving(sandbox.app, free_port()) as url:
        yield url


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean environment with the required keys and a per-test ledger."""
    for name in ("INTERCOM_ACCESS_TOKEN", "BRIDGE_CONFIG", "INTERCOM_BASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BRIDGE_SECRET_KEYS", SECRET)
    monkeypatch.setenv("BRIDGE_PUBLIC_URL", "https://consent.example.com")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    return monkeypatch


def test_link_prints_a_working_signed_link(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "link",
                "unsubscribe",
                "--email",
                "Jane@Example.com",
                "--subscription",
                "93",
                "--subscription",
                "95",
                "--locale",
                "fr",
            ]
        )
        == 0
    )
    url = capsys.readouterr().out.strip()
    assert url.startswith("https://consent.example.com/unsubscribe/")
    claims = LinkSigner([SECRET]).claims(Purpose.UNSUBSCRIBE, url.rsplit("/", 1)[1])
    assert claims.identity == Identity(email="jane@example.com")
    assert claims.scope == Scope(type_ids=("93", "95")) and claims.locale == "fr"


def test_link_refuses_two_scopes_in_one_line(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "link",
                "preferences",
                "--contact-id",
                "abc",
                "--subscription",
                "1",
                "--channel",
                "sms",
            ]
        )
        == 2
    )
    assert capsys.readouterr().err.strip() == (
        "bridge: configuration error: --subscription and --channel: give one or the other"
    )


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


def test_links_adds_columns_to_a_csv(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "people.csv"
    source.write_text("name,email\nJane,jane@example.com\nSam,sam@example.com\n")
    assert main(["links", "--csv", str(source), "--channel", "email"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["name"] for r in rows] == ["Jane", "Sam"]
    signer = LinkSigner([SECRET])
    claims = signer.claims(Purpose.PREFERENCES, rows[1]["preferences_url"].rsplit("/", 1)[1])
    assert claims.identity == Identity(email="sam@example.com")
    assert rows[0]["unsubscribe_url"].startswith("https://consent.example.com/unsubscribe/")


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
