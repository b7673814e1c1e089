"""Finds the Intercom contacts a request is about, remembering what it found."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable

from bridge.consent import Identity
from bridge.intercom import IntercomClient
from bridge.pacing import RatePacer


class ContactResolver:
    """Identity -> contact ids; a contact id is trusted as is, anything else is searched.

    An email or phone may belong to several contacts (a lead and a user): consent belongs to
    the person, so every match is returned. Hits are cached for `ttl`; a miss only for
    `miss_ttl` (default: not at all), since it may be Intercom's search lagging behind a
    contact created moments ago. Pages cache misses briefly so that a link for an address
    Intercom doesn't know yet does not search on every view.
    """

    def __init__(
        self,
        client: IntercomClient,
        pacer: RatePacer | None = None,
        *,
        ttl: float = 3600.0,
        miss_ttl: float = 0.0,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._pacer = pacer
        self._ttl = ttl
        self._miss_ttl = miss_ttl
        self._max_entries = max_entries
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, list[str]]] = OrderedDict()
        self._searching: dict[str, asyncio.Task[list[str]]] = {}
        self.searches = 0

    async def resolve(self, identity: Identity) -> list[str]:
        """The ids of every contact this identity names; empty when none is found (yet)."""
        if identity.contact_id:
            return [identity.contact_id]
        key = identity.key
        cached = self._cache.get(key)
        if cached is not None:
            age = self._clock() - cached[0]
            if age < (self._ttl if cached[1] else self._miss_ttl):
                self._cache.move_to_end(key)
                return cached[1]
        # Concurrent lookups of one person (a double click, a link scanner) share one search.
        # The search is shielded: a caller giving up (a page's deadline) leaves it running,
        # so its answer is cached for the next one.
        search = self._searching.get(key)
        if search is None:
            search = asyncio.ensure_future(self._search(identity))
            self._searching[key] = search
            search.add_done_callback(lambda done: self._settled(key, done))
        return list(await asyncio.shield(search))

    def _settled(self, key: str, search: asyncio.Task[list[str]]) -> None:
        self._searching.pop(key, None)
        if not search.cancelled():
            search.exception()  # retrieved here, so an abandoned failure is not logged as lost

    async def _search(self, identity: Identity) -> list[str]:
        async with self._pacer.slot() if self._pacer else contextlib.nullcontext():
            self.searches += 1
            if identity.external_id:
                ids = await self._client.find_contact_ids(external_id=identity.external_id)
            elif identity.email:
                ids = await self._client.find_contact_ids(email=identity.email)
            else:
                ids = await self._client.find_contact_ids(phone=identity.phone)
        if ids or self._miss_ttl > 0:
            self._cache[identity.key] = (self._clock(), ids)
            if len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        return ids

    def forget(self, identity: Identity) -> None:
        """Drop a cached answer that turned out wrong (the contact was deleted or merged)."""
        self._cache.pop(identity.key, None)
