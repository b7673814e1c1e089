"""Tests for bridge.intercom.contacts: finding a person's contacts, and remembering them."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette import types as asgi

from bridge.clock import ManualClock
from bridge.consent import Identity
from bridge.intercom.client import REGION_URLS, IntercomClient
from bridge.intercom.contacts import MISS_SECONDS, ContactResolver
from bridge.sandbox import Sandbox

TOKEN = "sandbox-token"
JANE = "63a07ddf05a32042dffac965"
JANE_LEAD = "63a07ddf05a32042dffac966"
NEW = Identity(email="new.person@example.com")


@pytest.fixture
def sandbox() -> Sandbox:
    """A seeded sandbox."""
    return Sandbox(token=TOKEN, rng=random.Random(5))


@pytest.fixture
def clock() -> ManualClock:
    """The resolver's clock, moved by hand."""
    return ManualClock()


def resolver_over(app: asgi.ASGIApp, clock: ManualClock) -> ContactResolver:
    """A resolver whose client speaks to `app`."""
    client = IntercomClient(
        TOKEN, base_url=REGION_URLS["us"], transport=httpx.ASGITransport(app=app), clock=clock
    )
    return ContactResolver(client, clock=clock)


@pytest.fixture
async def resolver(sandbox: Sandbox, clock: ManualClock) -> AsyncIterator[ContactResolver]:
    """A resolver over the sandbox."""
    resolver = resolver_over(sandbox.app, clock)
    yield resolver
    await resolver._client.aclose()


async def test_a_contact_id_is_taken_as_it_is(resolver: ContactResolver, sandbox: Sandbox) -> None:
    assert await resolver.resolve(Identity(contact_id="anything")) == ["anything"]
    assert sandbox.requests == []


async def test_every_match_is_found_and_hits_are_remembered(
    resolver: ContactResolver, sandbox: Sandbox
) -> None:
    jane = Identity(email="Jane.Doe@example.com")
    assert sorted(await resolver.resolve(jane)) == sorted([JANE, JANE_LEAD])
    assert sorted(await resolver.resolve(jane)) == sorted([JANE, JANE_LEAD])
    assert resolver.searches == 1


async def test_a_miss_is_believed_for_a_minute(
    resolver: ContactResolver, clock: ManualClock
) -> None:
    assert await resolver.resolve(NEW) == []
    clock.advance(MISS_SECONDS - 1)
    assert await resolver.resolve(NEW) == []
    assert resolver.searches == 1
    clock.advance(1)
    assert await resolver.resolve(NEW) == []
    assert resolver.searches == 2


async def test_a_remembered_contact_is_found_while_search_lags(
    resolver: ContactResolver, sandbox: Sandbox, clock: ManualClock
) -> None:
    sandbox.faults.search_lag = 600.0
    assert await resolver.resolve(NEW) == []  # a miss, cached
    lead = sandbox.add_contact(email=NEW.email, role="lead")
    resolver.remember(NEW, [lead["id"]])
    clock.advance(MISS_SECONDS + 1)  # long past the miss, well within a hit's hour
    assert await resolver.resolve(NEW) == [lead["id"]]
    assert resolver.searches == 1


async def test_remembering_nothing_or_a_contact_id_changes_nothing(
    resolver: ContactResolver,
) -> None:
    resolver.remember(NEW, [])
    resolver.remember(Identity(contact_id="c-1"), ["c-2"])
    assert await resolver.resolve(Identity(contact_id="c-1")) == ["c-1"]
    assert await resolver.resolve(NEW) == []
    assert resolver.searches == 1


async def test_a_lagging_search_does_not_overwrite_a_contact_remembered_meanwhile(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    sandbox.faults.search_lag = 600.0
    asked, answer = asyncio.Event(), asyncio.Event()

    async def held(scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        asked.set()
        await answer.wait()
        await sandbox.app(scope, receive, send)

    resolver = resolver_over(held, clock)
    try:
        # A page's search for the person is under way when the worker creates their lead.
        searching = asyncio.create_task(resolver.resolve(NEW))
        await asked.wait()
        lead = sandbox.add_contact(email=NEW.email, role="lead")
        resolver.remember(NEW, [lead["id"]])
        answer.set()
        assert await searching == [lead["id"]]  # not search's lagging "nobody"
        assert await resolver.resolve(NEW) == [lead["id"]]
        assert resolver.searches == 1
    finally:
        await resolver._client.aclose()
