"""`bridge events`, `bridge show`, `bridge export` and `bridge prune` from the command line."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.cli.main import main
from bridge.consent import Channel, ConsentRequest, Identity, Scope, Wanted
from bridge.ledger import Outcome, Status, open_ledger

OCCURRED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
JANE = Identity(email="jane@example.com")
JANE_PHONE = Identity(phone="+353871234567")
CONTACT = "63a07ddf05a32042dffac965"


def ask(identity: Identity, event_id: str, *, days: int = 0, **context: str) -> ConsentRequest:
    """An unsubscribe by `identity`, `days` after OCCURRED."""
    return ConsentRequest(
        identity,
        Wanted.UNSUBSCRIBED,
        Scope(channel=Channel.EMAIL),
        OCCURRED + timedelta(days=days),
        "sendgrid",
        event_id,
        context=dict(context),
    )


@pytest.fixture
def ledger_url(env: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The URL of the ledger the commands use (the `env` fixture's DATABASE_URL)."""
    return f"sqlite:///{tmp_path / 'cli.db'}"


def fill(url: str) -> dict[str, int]:
    """Jane by email (applied to her contact, body kept) and by phone, and a stranger."""

    async def run() -> dict[str, int]:
        ledger = await open_ledger(url)
        try:
            await ledger.migrate()
            now = datetime.now(UTC)
            [email] = await ledger.record(
                [ask(JANE, "e1", consent_text="Yes, email me", ip="203.0.113.9")],
                payload=b'{"event":"unsubscribe"}',
                received_at=now,
            )
            [phone] = await ledger.record([ask(JANE_PHONE, "p1", days=1)], received_at=now)
            [other] = await ledger.record(
                [ask(Identity(email="joe@example.com"), "x1", days=40)],
                payload=b"old",
                received_at=now - timedelta(days=31),
            )
            for request_id in (email.id, phone.id):
                claimed = await ledger.claim("w", limit=5, lease_seconds=60, now=now)
                assert request_id in [c.id for c in claimed]
                outcome = Outcome(CONTACT, "93", "detach", 200, f"req-{request_id}")
                await ledger.finish(request_id, "w", Status.APPLIED, outcomes=[outcome], now=now)
                await ledger.release("w", now=now)
            return {"email": email.id, "phone": phone.id, "other": other.id}
        finally:
            await ledger.close()

    return asyncio.run(run())


def test_events_of_a_person_cover_every_identity_and_mask_them(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = fill(ledger_url)
    assert main(["events", "--email", " Jane@Example.com "]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "# 3 identities of this person in the ledger"
    assert [int(line.split()[0]) for line in lines[1:]] == [ids["phone"], ids["email"]]
    assert "j***@example.com" in out and "***67" in out
    assert "jane@example.com" not in out and "+353871234567" not in out
    assert "channel:email" in lines[1] and lines[1].endswith("applied")


def test_events_of_a_period_and_a_status(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = fill(ledger_url)
    assert main(["events", "--since", "2026-04-01", "--status", "pending"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split()[0]) for line in lines] == [ids["other"]]
    assert main(["events", "--until", "2026-03-01T00:00:00Z"]) == 0
    assert capsys.readouterr().out == "no requests match\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["events", "--email", "not-an-address"], "--email 'not-an-address' has no @"),
        (["events", "--since", "yesterday"], "'yesterday' is not a date or time"),
        (["events", "--email", "a@example.com", "--phone", "+447700900123"], "not allowed"),
        (["export", "--format", "csv"], "say whose requests"),
        (["show", "0"], "is not a request id"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(
    ledger_url: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1


def test_show_tells_a_requests_whole_story(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = fill(ledger_url)
    assert main(["show", str(ids["email"])]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"request {ids['email']}: unsubscribed (channel:email) from sendgrid\n")
    assert "  who:          j***@example.com (email)" in out
    assert "raw body kept (23 bytes" in out
    assert '"Yes, email me"' in out and "consent text: sha256 " in out
    assert "context:      ip = 203.0.113.9" in out
    assert f"contact {CONTACT}  HTTP 200  request id req-{ids['email']}" in out
    assert main(["show", str(ids["phone"])]) == 0
    assert "payload:      none" in capsys.readouterr().out


def test_show_of_no_such_request_fails_with_exit_1(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(ledger_url)
    assert main(["show", "999"]) == 1
    assert "there is no request 999" in capsys.readouterr().err


def test_export_a_person_as_json_is_the_proof_in_full(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = fill(ledger_url)
    assert main(["export", "--phone", "+353 87 123 4567", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["identities"] == [
        f"contact_id:{CONTACT}",
        "email:jane@example.com",
        "phone:+353871234567",
    ]
    assert [r["id"] for r in document["requests"]] == [ids["email"], ids["phone"]]
    first = document["requests"][0]
    assert first["identity"] == {"email": "jane@example.com"}
    assert (first["payload_kept"], first["consent_text"]) == (True, "Yes, email me")
    assert first["outcomes"][0]["intercom_request_id"] == f"req-{ids['email']}"


def test_export_a_period_as_csv_to_a_file(
    ledger_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(ledger_url)
    out = tmp_path / "proof.csv"
    argv = ["export", "--since", "2026-03-01", "--until", "2026-03-03", "--format", "csv"]
    assert main([*argv, "--out", str(out)]) == 0
    assert capsys.readouterr().err == f"exported 1 request(s) to {out}\n"
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [row["event_id"] for row in rows] == ["e1"]
    assert main([*argv, "--out", str(tmp_path / "missing" / "proof.csv")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_prune_drops_old_payloads_and_keeps_the_requests(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = fill(ledger_url)
    assert main(["prune"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dropped 1 raw payload(s) (3 bytes) received 30 day(s) ago or more")
    assert main(["show", str(ids["other"])]) == 0
    assert "raw body not kept (never, or pruned)" in capsys.readouterr().out
    assert main(["prune"]) == 0
    assert capsys.readouterr().out.startswith("dropped 0 raw payload(s)")


def test_prune_with_retention_zero_drops_every_payload(
    ledger_url: str, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(ledger_url)
    env.setenv("BRIDGE_PAYLOAD_RETENTION_DAYS", "0")
    assert main(["prune"]) == 0
    assert capsys.readouterr().out.startswith("dropped 2 raw payload(s)")
