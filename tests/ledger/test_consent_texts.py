"""The words people agreed to are kept once, however many requests quote them."""

from __future__ import annotations

import dataclasses

from bridge.consent import consent_text_sha256
from bridge.ledger import Ledger
from tests.ledger.conftest import NOW, consent

WORDS = "Yes, send me the monthly newsletter. I can unsubscribe at any time."


def quoting(event_id: str, text: str = WORDS) -> object:
    request = consent(event_id)
    context = {**request.context, "consent_text": text, "form": "newsletter"}
    return dataclasses.replace(request, context=context)


async def _rows(ledger: Ledger, sql: str) -> list[dict[str, object]]:
    async with ledger.database.transaction(write=False) as tx:
        return await tx.fetchall(sql)


async def test_a_quoted_text_is_stored_once_and_read_back_in_every_request(
    ledger: Ledger,
) -> None:
    first, second, other = quoting("e1"), quoting("e2"), quoting("e3", "Other words.")
    await ledger.record([first, second], received_at=NOW)  # type: ignore[list-item]
    await ledger.record([other, quoting("e4")], received_at=NOW)  # type: ignore[list-item]
    texts = await _rows(ledger, "SELECT sha256, text FROM consent_texts ORDER BY text")
    assert texts == [
        {"sha256": consent_text_sha256("Other words."), "text": "Other words."},
        {"sha256": consent_text_sha256(WORDS), "text": WORDS},
    ]
    # The request rows name the text by hash; the words are not repeated in them.
    stored = await _rows(ledger, "SELECT context, consent_text_sha256 FROM consent_requests")
    assert all(WORDS not in str(row["context"]) for row in stored)
    assert {row["consent_text_sha256"] for row in stored} == {
        consent_text_sha256(WORDS),
        consent_text_sha256("Other words."),
    }
    # Read back, every request is as it was recorded, its words in its context.
    records = {r.request.event_id: r.request for r in await ledger.list_requests()}
    assert records["e1"] == first and records["e2"] == second and records["e3"] == other
    [pending] = [r for r in await ledger.unsettled(first.identity.key) if r.event_id == "e1"]  # type: ignore[attr-defined]
    assert pending.context["consent_text"] == WORDS


async def test_a_request_without_words_names_none(ledger: Ledger) -> None:
    plain = consent("e1")
    await ledger.record([plain], received_at=NOW)
    [row] = await _rows(ledger, "SELECT consent_text_sha256 FROM consent_requests")
    assert row["consent_text_sha256"] is None
    assert await _rows(ledger, "SELECT sha256 FROM consent_texts") == []
    [record] = await ledger.list_requests()
    assert record.request == plain
