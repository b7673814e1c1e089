"""The demo's ledger is its own: real `serve`, `worker` and `check` refuse it and demo rows."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from bridge.cli.demo import DEMO_DATABASE_URL, demo_settings
from bridge.cli.main import main
from bridge.consent import ConsentRequest, Identity, Scope, Wanted, utcnow
from bridge.ledger import open_ledger
from bridge.services import DemoLedger, prepare_ledger
from tests.conftest import SECRET, make_settings

JANE = Identity(contact_id="63a07ddf05a32042dffac965")  # a seeded sandbox contact


def demo_request(person: Identity = JANE) -> ConsentRequest:
    return ConsentRequest(
        identity=person,
        wanted=Wanted.UNSUBSCRIBED,
        scope=Scope(),
        occurred_at=utcnow(),
        source="unsubscribe",
        event_id=f"demo-{person.key}",
    )


def test_the_demo_has_its_own_ledger_whatever_database_url_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://real.example/consent")
    settings = demo_settings("127.0.0.1", 8000)
    assert settings.database_url == DEMO_DATABASE_URL and settings.demo


async def test_a_real_bridge_refuses_the_demos_ledger(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    demo = dataclasses.replace(make_settings(url), demo=True)
    ledger = await prepare_ledger(demo)
    await ledger.record([demo_request()])
    await ledger.close()
    with pytest.raises(DemoLedger, match="`bridge demo` made"):
        await prepare_ledger(make_settings(url))
    again = await prepare_ledger(demo)  # the demo itself goes on using it
    await again.close()


async def test_demo_rows_left_in_the_old_shared_default_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before the demo had its own ledger it wrote to bridge.db, the real default.
    monkeypatch.chdir(tmp_path)
    legacy = await open_ledger("sqlite:///bridge.db")
    await legacy.migrate()
    await legacy.record([demo_request()])
    await legacy.close()
    with pytest.raises(DemoLedger, match=r"1 request\(s\) for the demo's made-up contacts"):
        await prepare_ledger(make_settings("sqlite:///bridge.db"))


async def test_a_real_ledger_with_real_people_is_accepted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'real.db'}"
    ledger = await prepare_ledger(make_settings(url))
    await ledger.record([demo_request(Identity(email="someone@real.example"))])
    await ledger.close()
    reopened = await prepare_ledger(make_settings(url))
    await reopened.close()


def test_worker_and_check_refuse_the_demos_ledger_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"

    async def made_by_the_demo() -> None:
        ledger = await prepare_ledger(dataclasses.replace(make_settings(url), demo=True))
        await ledger.close()

    asyncio.run(made_by_the_demo())
    for name in ("BRIDGE_CONFIG", "INTERCOM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BRIDGE_SECRET_KEYS", SECRET)
    monkeypatch.setenv("INTERCOM_ACCESS_TOKEN", "real-token")
    monkeypatch.setenv("INTERCOM_BASE_URL", "http://intercom.invalid")
    monkeypatch.setenv("DATABASE_URL", url)
    capsys.readouterr()  # what the set-up logged through an earlier test's handlers
    assert main(["worker", "--once"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("bridge: configuration error: DATABASE_URL names the ledger")
    assert error.count("\n") == 1
    assert main(["check"]) == 1
    assert "database: DATABASE_URL names the ledger `bridge demo` made" in capsys.readouterr().out
