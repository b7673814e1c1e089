"""`bridge review`: the SMS revocations held for an operator, and the operator's decision.

A free-text SMS ("please stop texting me") is recorded but held (`review`) until an operator
lists it here and applies it (the worker then applies it like any other) or dismisses it.
"""

from __future__ import annotations

from bridge.cli.main import CommandFailed
from bridge.ledger import Ledger, RequestRecord
from bridge.logsafe import masked
from bridge.services import prepare_ledger
from bridge.settings import Settings

# Enough of a message to recognise it on one terminal line.
TEXT_WIDTH = 60


def one_line(text: str, width: int = TEXT_WIDTH) -> str:
    """`text` with its whitespace collapsed, cut to `width` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def held_line(record: RequestRecord) -> str:
    """One held request as the list shows it: id, received, source, who (masked), text."""
    text = record.request.context.get("text")
    shown = f'"{one_line(text)}"' if isinstance(text, str) else "(no text)"
    received = record.received_at.strftime("%Y-%m-%d %H:%M:%SZ")
    who = masked(record.request.identity)
    return f"{record.id:>8}  {received}  {record.request.source:<10}  {who:<12}  {shown}"


async def review(
    settings: Settings, *, action: str | None, request_id: int | None, note: str | None
) -> int:
    """List the held requests, or apply or dismiss one of them."""
    ledger = await prepare_ledger(settings)
    try:
        if action is None:
            return await _list(ledger)
        assert request_id is not None  # the parser asks for an id with every action
        return await _decide(ledger, action, request_id, note)
    finally:
        await ledger.close()


async def _list(ledger: Ledger) -> int:
    held = await ledger.held()
    if not held:
        print("no requests are held for review")
        return 0
    print(f"{len(held)} request(s) held for review, oldest first:")
    for record in held:
        print(held_line(record))
    print("apply one with `bridge review apply ID`, or dismiss it with `bridge review dismiss ID`")
    return 0


async def _decide(ledger: Ledger, action: str, request_id: int, note: str | None) -> int:
    now = ledger.clock.now()
    if action == "apply":
        done = await ledger.release_held(request_id, now=now)
    else:
        done = await ledger.dismiss_held(request_id, now=now, note=note)
    if not done:
        # Told apart only after the change was refused, so the usual case is one statement.
        record = await ledger.get(request_id)
        if record is None:
            raise CommandFailed(f"there is no request {request_id}")
        raise CommandFailed(
            f"request {request_id} is not held for review (it is {record.status.value})"
        )
    if action == "apply":
        print(f"request {request_id} released: the worker applies it next")
    else:
        print(f"request {request_id} dismissed: it will not be applied")
    return 0
