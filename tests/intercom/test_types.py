"""The subscription-type cache: a TTL, a refresh on a miss, and stale answers for pages."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bridge.clock import ManualClock
from bridge.consent import Channel, Scope
from bridge.intercom.client import IntercomClient, ServerError
from bridge.intercom.types import TypeCache
from bridge.sandbox import Sandbox
from tests.conftest import SANDBOX_TOKEN


@pytest.fixture
async def intercom(sandbox: Sandbox) -> AsyncIterator[IntercomClient]:
    """A client talking to the sandbox."""
    async with IntercomClient(
        SANDBOX_TOKEN,
        base_url="http://sandbox.invalid",
        transport=httpx.ASGITransport(app=sandbox.app),
    ) as client:
        yield client


def listings(sandbox: Sandbox) -> int:
    """How many times the types were listed."""
    return sandbox.count(method="GET", path_prefix="/subscription_types")


async def test_types_are_listed_once_per_ttl(intercom: IntercomClient, sandbox: Sandbox) -> None:
    clock = ManualClock()
    cache = TypeCache(intercom, ttl=300, clock=clock)
    await cache.get()
    await cache.get()
    assert listings(sandbox) == 1
    clock.advance(301)
    await cache.get()
    assert listings(sandbox) == 2


async def test_a_page_gets_the_last_list_while_intercom_fails(
    intercom: IntercomClient, sandbox: Sandbox
) -> None:
    clock = ManualClock()
    cache = TypeCache(intercom, ttl=300, clock=clock)
    fresh = await cache.describe(Scope(channel=Channel.EMAIL))
    assert fresh
    clock.advance(301)
    sandbox.faults.error_rate = 1.0
    with pytest.raises(ServerError):
        await cache.get()  # the worker sees the failure...
    stale = await cache.describe(Scope(channel=Channel.EMAIL))
    assert [t.id for t in stale or ()] == [t.id for t in fresh]  # ...a page gets the old list
    calls = len(sandbox.requests)
    assert await cache.describe(Scope(channel=Channel.EMAIL))
    assert len(sandbox.requests) == calls  # and pages don't hammer a failing Intercom


async def test_a_page_with_nothing_cached_gets_none_while_intercom_fails(
    intercom: IntercomClient, sandbox: Sandbox
) -> None:
    sandbox.faults.error_rate = 1.0
    assert await TypeCache(intercom, clock=ManualClock()).describe(Scope()) is None


async def test_an_unknown_id_refreshes_once_then_is_empty_for_a_page(
    intercom: IntercomClient, sandbox: Sandbox
) -> None:
    clock = ManualClock()
    cache = TypeCache(intercom, clock=clock)
    await cache.get()
    clock.advance(11)
    # Empty, not None: Intercom answered, and none of the link's types exist any more.
    assert await cache.describe(Scope(type_ids=("999",))) == []
    assert listings(sandbox) == 2


async def test_a_page_gets_the_types_of_a_link_that_still_exist(intercom: IntercomClient) -> None:
    cache = TypeCache(intercom, clock=ManualClock())
    described = await cache.describe(Scope(type_ids=("999", "93", "88")))  # 88 is archived
    assert described is not None
    assert [t.id for t in described] == ["93"]
