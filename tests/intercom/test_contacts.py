"""Tests for bridge.intercom.contacts: finding a person's contacts, and remembering them."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette import types as asgi

from bridge.clock import ManualClock
from bridge.consent import Identity
from bridge.intercom import phones
from bridge.intercom.client import (
    PHONE_CANDIDATES_PER_PAGE,
    REGION_URLS,
    IntercomClient,
    RateLimit,
)
from bridge.intercom.contacts import MISS_SECONDS, PHONE_MISS_SECONDS, ContactResolver
from bridge.intercom.pacing import RatePacer
from bridge.sandbox import Sandbox
from bridge.sandbox.search import compile_query

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


# --- phones ---------------------------------------------------------------------------------

JANE_PHONE = Identity(phone="+353871234567")  # stored in E.164
SAM = "63a07de705a32042dffac98c"
SAM_PHONE = Identity(phone="+14155550123")  # stored as typed: "(415) 555-0123"
UNKNOWN_PHONE = Identity(phone="+16505550123")  # shares Sam's last four digits only


def searches_sent(sandbox: Sandbox) -> list[Any]:
    """The bodies of the searches the sandbox was sent."""
    return [r.json for r in sandbox.requests if r.path == "/contacts/search"]


def one_call_budget(clock: ManualClock) -> RatePacer:
    """A pacer told that one call is left in a window that ends in five seconds."""
    report = RateLimit(limit=10, remaining=1, reset_at=clock.time() + 5, observed_at=clock.time())
    return RatePacer(lambda: report, clock=clock, rng=random.Random(1))


async def test_a_phone_is_found_in_one_search_however_it_was_stored(
    resolver: ContactResolver, sandbox: Sandbox, clock: ManualClock
) -> None:
    pacer = one_call_budget(clock)
    assert await resolver.resolve(JANE_PHONE, pacer=pacer) == [JANE]  # stored in E.164
    assert await resolver.resolve(SAM_PHONE, pacer=pacer) == [SAM]  # stored as typed
    assert resolver.role_of(SAM) == "user"
    # One search each, in its own slot: the second waited for the window the first used up.
    assert resolver.searches == 2
    assert pacer.waits == 1
    jane, sam = searches_sent(sandbox)
    assert jane["query"]["operator"] == sam["query"]["operator"] == "OR"
    [written] = [q for q in sam["query"]["value"] if q["operator"] == "IN"]
    assert "+14155550123" in written["value"]  # the E.164 form is one of the spellings
    assert sam["pagination"] == {"per_page": PHONE_CANDIDATES_PER_PAGE}


async def test_a_lead_made_in_e164_and_a_user_typed_are_the_same_person(
    resolver: ContactResolver, sandbox: Sandbox
) -> None:
    # The bridge's own forms make leads in E.164; people type "(415) 555-0123": a STOP from
    # the number must reach both, so the exact form is not searched alone.
    lead = sandbox.add_contact(phone="+14155550123", role="lead")
    assert sorted(await resolver.resolve(SAM_PHONE)) == sorted([SAM, lead["id"]])
    assert resolver.searches == 1


async def test_if_intercom_refuses_the_typed_search_the_e164_form_is_searched(
    resolver: ContactResolver, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    too_many = {"operator": "OR", "value": [{"field": "phone", "operator": "$", "value": "1"}] * 16}
    monkeypatch.setattr(phones, "typed_query", lambda e164: too_many)
    assert await resolver.resolve(JANE_PHONE) == [JANE]
    refused, exact = [
        (r.status, r.json["query"]) for r in sandbox.requests if r.path == "/contacts/search"
    ]
    assert refused[0] == 400
    assert exact == (200, {"field": "phone", "operator": "=", "value": "+353871234567"})


async def test_a_number_sharing_only_the_last_digits_is_not_found(
    resolver: ContactResolver, sandbox: Sandbox
) -> None:
    other = sandbox.add_contact(phone="(212) 555-0123", role="lead")
    assert await resolver.resolve(UNKNOWN_PHONE) == []
    assert await resolver.resolve(SAM_PHONE) == [SAM]
    # The typed-phone search finds both numbers; the check keeps only the one sought.
    typed = compile_query(searches_sent(sandbox)[-1]["query"])
    assert typed(sandbox.contacts[other["id"]]) and typed(sandbox.contacts[SAM])


async def test_a_lead_and_a_user_sharing_a_typed_number_are_both_found(
    resolver: ContactResolver, sandbox: Sandbox
) -> None:
    lead = sandbox.add_contact(phone="415.555.0123", role="lead")
    assert sorted(await resolver.resolve(SAM_PHONE)) == sorted([SAM, lead["id"]])
    assert (resolver.role_of(SAM), resolver.role_of(lead["id"])) == ("user", "lead")
    assert resolver.searches == 1


async def test_an_unknown_phone_is_remembered_as_a_miss_for_longer(
    resolver: ContactResolver, clock: ManualClock
) -> None:
    assert await resolver.resolve(UNKNOWN_PHONE) == []
    assert resolver.searches == 1
    clock.advance(PHONE_MISS_SECONDS - 1)  # long past an email's miss
    assert PHONE_MISS_SECONDS - 1 > MISS_SECONDS
    assert await resolver.resolve(UNKNOWN_PHONE) == []
    assert resolver.searches == 1
    clock.advance(1)
    assert await resolver.resolve(UNKNOWN_PHONE) == []
    assert resolver.searches == 2
