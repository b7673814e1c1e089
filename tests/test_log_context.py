"""The fields bound to the work under way: nested, left out when None, gone after."""

from __future__ import annotations

import asyncio

from bridge.log_context import bound, bound_fields, current_request_id


def test_fields_nest_and_are_gone_after_their_block() -> None:
    with bound(request_id="abc"):
        with bound(ledger_id=7, request_id=None):
            assert bound_fields() == {"request_id": "abc", "ledger_id": 7}
        assert current_request_id() == "abc"
    assert bound_fields() == {} and current_request_id() is None


async def test_concurrent_tasks_each_see_their_own() -> None:
    async def task(request_id: str) -> str | None:
        with bound(request_id=request_id):
            await asyncio.sleep(0)
            return current_request_id()

    assert await asyncio.gather(task("a"), task("b")) == ["a", "b"]
