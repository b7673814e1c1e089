"""`bridge review`: held SMS revocations listed, applied or dismissed from the command line."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.cli.main import main
from bridge.cli.review import one_line
from bridge.consent import Channel, ConsentRequest, Identity, Scope, Wanted
from bridge.ledger import Status, open_ledger

RECEIVED = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def sms(event_id: str, text: str | None, *, hold: bool = True) -> ConsentRequest:
    """A free-text SMS from one phone, held for review unless `hold` is False."""
    return ConsentRequest(
        Identity(phone="+447700900123"),
        Wanted.UNSUBSCRIBED,
        Scope(channel=Channel.SMS),
        RECEIVED,
        "twilio",
        event_id,
        context={} if text is None else {"text": text},
        hold=hold,
    )


@pytest.fixture
def ledger_url(env: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The URL of the ledger the command uses (the `env` fixture's DATABASE_URL)."""
    return f"sqlite:///{tmp_path / 'cli.db'}"


def record(url: str, *requests: ConsentRequest) -> list[int]:
    """Record requests in the command's ledger; their ids."""

    async def run() -> list[int]:
        ledger = await open_ledger(url)
        try:
            await ledger.migrate()
            return [r.id for r in await ledger.record(requests, received_at=RECEIVED)]
        finally:
            await ledger.close()

    return asyncio.run(run())


def status_of(url: str, request_id: int) -> tuple[Status, str | None]:
    """A request's status and last error, read afresh."""

    async def run() -> tuple[Status, str | None]:
        ledger = await open_ledger(url)
        try:
            found = await ledger.get(request_id)
            assert found is not None
            return found.status, found.last_error
        finally:
            await ledger.close()

    return asyncio.run(run())


def test_review_lists_held_requests_oldest_first_with_the_phone_masked(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _, third = record(
        ledger_url,
        sms("a", "please\nstop   texting me"),
        sms("b", "STOP", hold=False),
        sms("c", None),
    )
    assert main(["review"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "2 request(s) held for review, oldest first:"
    assert lines[1].split() == [
        str(first),
        "2026-11-28",
        "09:30:00Z",
        "twilio",
        "***23",
        '"please',
        "stop",
        "texting",
        'me"',
    ]
    assert lines[2].split()[0] == str(third) and lines[2].endswith("(no text)")
    assert "+447700900123" not in out and "bridge review apply ID" in lines[3]


def test_review_with_nothing_held_says_so(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    record(ledger_url, sms("b", "STOP", hold=False))
    assert main(["review"]) == 0
    assert capsys.readouterr().out == "no requests are held for review\n"


def test_review_apply_releases_a_held_request_to_the_worker(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    [held] = record(ledger_url, sms("a", "stop please"))
    assert main(["review", "apply", str(held)]) == 0
    assert capsys.readouterr().out == f"request {held} released: the worker applies it next\n"
    assert status_of(ledger_url, held) == (Status.PENDING, None)


def test_review_dismiss_keeps_the_request_and_the_note(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    [held] = record(ledger_url, sms("a", "who is this?"))
    assert main(["review", "dismiss", str(held), "--note", "a question"]) == 0
    assert capsys.readouterr().out == f"request {held} dismissed: it will not be applied\n"
    assert status_of(ledger_url, held) == (Status.DISMISSED, "dismissed by an operator: a question")


def test_review_of_an_unknown_or_settled_request_is_one_line(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    [plain] = record(ledger_url, sms("b", "STOP", hold=False))
    assert main(["review", "apply", "999"]) == 1
    assert capsys.readouterr().err == "bridge review: error: there is no request 999\n"
    assert main(["review", "dismiss", str(plain)]) == 1
    assert capsys.readouterr().err == (
        f"bridge review: error: request {plain} is not held for review (it is pending)\n"
    )
    assert status_of(ledger_url, plain) == (Status.PENDING, None)


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["review", "apply"], "`bridge review apply` needs the ID of a held request"),
        (["review", "apply", "1", "--note", "x"], "--note goes with `dismiss`"),
        (
            ["review", "42"],
            "argument action: invalid choice: '42' (choose from 'apply', 'dismiss') "
            "(see `bridge review --help`)",
        ),
    ],
)
def test_review_used_wrongly_is_one_line(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], error: str
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err == f"bridge review: error: {error}\n"


def test_one_line_flattens_and_shortens_a_message() -> None:
    assert one_line(" a\n\tb  c ") == "a b c"
    assert one_line("x" * 100, width=10) == "x" * 9 + "…"
