"""Tests for bridge.ledger.message_parts: a long SMS's parts kept until joined, on each database."""

from __future__ import annotations

import asyncio

import pytest

from bridge.ledger import Ledger, MessagePart
from tests.ledger.conftest import NOW, after


def part(number: int, total: int = 3, *, group: str = "g1", seconds: float = 0) -> MessagePart:
    """Part `number` of `total` of group `group`, received `seconds` after NOW."""
    return MessagePart(
        source="vonage",
        group=group,
        part=number,
        total=total,
        text=f"text {number} ",
        fields={"msisdn": "447700900001", "messageId": f"{group}-{number}"},
        received_at=after(seconds),
    )


async def test_a_group_comes_back_whole_once_its_last_part_is_in(ledger: Ledger) -> None:
    assert await ledger.add_message_part(part(3)) is None
    assert await ledger.add_message_part(part(1, seconds=1)) is None
    whole = await ledger.add_message_part(part(2, seconds=2))
    assert whole == [part(1, seconds=1), part(2, seconds=2), part(3)]


async def test_a_repeated_part_changes_nothing(ledger: Ledger) -> None:
    assert await ledger.add_message_part(part(1, 2)) is None
    retry = MessagePart("vonage", "g1", 1, 2, "other text", {}, after(30))
    assert await ledger.add_message_part(retry) is None
    whole = await ledger.add_message_part(part(2, 2))
    assert whole is not None and [p.text for p in whole] == ["text 1 ", "text 2 "]


async def test_a_single_part_message_is_complete_at_once(ledger: Ledger) -> None:
    assert await ledger.add_message_part(part(1, 1)) == [part(1, 1)]


async def test_groups_of_other_sources_and_refs_stay_apart(ledger: Ledger) -> None:
    await ledger.add_message_part(part(1, 2, group="a"))
    other = MessagePart("telnyx", "b", 2, 2, "x", {}, NOW)
    assert await ledger.add_message_part(other) is None
    assert await ledger.add_message_part(part(2, 2, group="b")) is None


async def test_the_last_two_parts_arriving_together_complete_the_group_once_seen(
    ledger: Ledger,
) -> None:
    await ledger.add_message_part(part(1))
    found = await asyncio.gather(ledger.add_message_part(part(2)), ledger.add_message_part(part(3)))
    assert [p for p in found if p is not None] != []


async def test_overdue_lists_groups_whose_first_part_is_old_oldest_first(ledger: Ledger) -> None:
    await ledger.add_message_part(part(2, group="late", seconds=10))
    await ledger.add_message_part(part(1, group="early", seconds=5))
    await ledger.add_message_part(part(3, group="early", seconds=20))
    await ledger.add_message_part(part(1, group="new", seconds=60))
    overdue = await ledger.overdue_message_parts(after(30))
    assert [[(p.group, p.part) for p in group] for group in overdue] == [
        [("early", 1), ("early", 3)],
        [("late", 2)],
    ]
    assert len(await ledger.overdue_message_parts(after(30), limit=1)) == 1
    assert await ledger.overdue_message_parts(after(5)) == []


async def test_dropped_parts_are_gone(ledger: Ledger) -> None:
    await ledger.add_message_part(part(1, group="a"))
    await ledger.add_message_part(part(1, group="b"))
    await ledger.drop_message_parts("vonage", "a")
    overdue = await ledger.overdue_message_parts(after(1))
    assert [[p.group for p in group] for group in overdue] == [["b"]]


@pytest.mark.parametrize(("number", "total"), [(0, 2), (3, 2), (1, 0)])
def test_a_part_outside_its_total_is_refused(number: int, total: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        MessagePart("vonage", "g", number, total, "", {}, NOW)


async def test_a_part_the_database_cannot_store_is_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="NUL"):
        await ledger.add_message_part(MessagePart("vonage", "g", 1, 2, "a\x00b", {}, NOW))
    with pytest.raises(ValueError, match="JSON"):
        await ledger.add_message_part(MessagePart("vonage", "g", 1, 2, "ab", {"x": {1}}, NOW))
