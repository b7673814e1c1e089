"""Finds the Intercom contacts a request is about, remembering what it found."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence

from bridge.clock import Clock
from bridge.consent import Identity
from bridge.intercom.client import IntercomClient
from bridge.intercom.pacing import RatePacer

# How long "Intercom has no such contact" is believed. Short, because search lags a contact
# created moments ago; long enough that pages and the worker, which share one resolver, don't
# spend the rate budget asking again and again about an address Intercom doesn't know.
MISS_SECONDS = 60.0
# The same, for a phone. An unknown number's search is the broadest the bridge makes (every
# spelling of it), and SMS providers retry a STOP they think went unanswered; a contact the
# bridge makes for the number is remembered at once (`remember`), so only one made in Intercom
# meanwhile goes unseen for longer, and search would lag behind it for minutes anyway.
PHONE_MISS_SECONDS = 600.0


class ContactResolver:
    """Identity -> contact ids; a contact id is trusted as is, anything else is searched.

    An email or phone may belong to several contacts (a lead and a user): consent belongs to
    the person, so every match is returned. Hits are cached for `ttl`, misses for `miss_ttl`
    (`phone_miss_ttl` for a phone).
    One resolver serves the pages and the worker, so a miss found by either spares the other.
    """

    def __init__(
        self,
        client: IntercomClient,
        *,
        ttl: float = 3600.0,
        miss_ttl: float = MISS_SECONDS,
        phone_miss_ttl: float = PHONE_MISS_SECONDS,
        max_entries: int = 50_000,
        clock: Clock,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._miss_ttl = miss_ttl
        self._phone_miss_ttl = phone_miss_ttl
        self._max_entries = max_entries
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, list[str]]] = OrderedDict()
        self._searching: dict[str, asyncio.Task[list[str]]] = {}
        self._roles: OrderedDict[str, str] = OrderedDict()
        self.searches = 0

    async def resolve(self, identity: Identity, *, pacer: RatePacer | None = None) -> list[str]:
        """The ids of every contact this identity names; empty when none is found (yet).

        The worker passes its `pacer`, so its searches spend the rate budget in turn; a page
        does not, since a person is waiting.
        """
        if identity.contact_id:
            return [identity.contact_id]
        key = identity.key
        cached = self._cache.get(key)
        if cached is not None:
            age = self._clock.monotonic() - cached[0]
            if age < (self._ttl if cached[1] else self._miss_ttl_of(identity)):
                self._cache.move_to_end(key)
                return cached[1]
        # Concurrent lookups of one person (a double click, a link scanner) share one search.
        # The search is shielded: a caller giving up (a page's deadline) leaves it running,
        # so its answer is cached for the next one.
        search = self._searching.get(key)
        if search is None:
            search = asyncio.ensure_future(self._search(identity, pacer))
            self._searching[key] = search
            search.add_done_callback(lambda done: self._settled(key, done))
        return list(await asyncio.shield(search))

    def _settled(self, key: str, search: asyncio.Task[list[str]]) -> None:
        self._searching.pop(key, None)
        if not search.cancelled():
            search.exception()  # retrieved here, so an abandoned failure is not logged as lost

    def _miss_ttl_of(self, identity: Identity) -> float:
        """How long a miss for this identity is believed."""
        return self._miss_ttl if identity.external_id or identity.email else self._phone_miss_ttl

    @contextlib.asynccontextmanager
    async def _turn(self, pacer: RatePacer | None) -> AsyncIterator[None]:
        """One search: its place in the worker's rate budget, and its count."""
        async with pacer.slot() if pacer else contextlib.nullcontext():
            self.searches += 1
            yield

    async def _search(self, identity: Identity, pacer: RatePacer | None) -> list[str]:
        started = self._clock.monotonic()
        turn = functools.partial(self._turn, pacer)
        find = self._client.find_contact_roles
        if identity.external_id:
            found = await find(external_id=identity.external_id, turn=turn)
        elif identity.email:
            found = await find(email=identity.email, turn=turn)
        else:
            found = await find(phone=identity.phone, turn=turn)
        self._note_roles(found)
        ids = list(found)
        if not ids:
            # A contact created (and remembered) while this search ran is one search cannot
            # see yet: the remembered answer stands.
            cached = self._cache.get(identity.key)
            if cached is not None and cached[1] and cached[0] >= started:
                return cached[1]
        if ids or self._miss_ttl_of(identity) > 0:
            self._store(identity.key, ids)
        return ids

    def remember(self, identity: Identity, ids: Sequence[str], *, role: str = "lead") -> None:
        """Take `ids` as this identity's contacts (of `role`), as if search had found them.

        For a contact just created: Intercom's search lags creation by minutes, and without
        this the person's next request would find no contact and create another.
        """
        if not identity.contact_id and ids:
            self._store(identity.key, list(ids))
            self._note_roles(dict.fromkeys(ids, role))

    def role_of(self, contact_id: str) -> str | None:
        """Whether a contact found or remembered is a `user` or a `lead` (None: not known)."""
        return self._roles.get(contact_id)

    def _note_roles(self, roles: Mapping[str, str]) -> None:
        # Messages are addressed to a user or a lead by id; kept as long as the id lists are.
        for contact_id, role in roles.items():
            self._roles[contact_id] = role
            self._roles.move_to_end(contact_id)
        while len(self._roles) > self._max_entries:
            self._roles.popitem(last=False)

    def forget(self, identity: Identity) -> None:
        """Drop a cached answer that turned out wrong (the contact was deleted or merged)."""
        self._cache.pop(identity.key, None)

    def _store(self, key: str, ids: list[str]) -> None:
        self._cache[key] = (self._clock.monotonic(), ids)
        self._cache.move_to_end(key)
        if len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
