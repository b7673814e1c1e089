"""The workspace's subscription types, cached: they change rarely and every plan needs them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from bridge.clock import Clock
from bridge.consent import Scope, SubscriptionType, UnknownTypes, select_types
from bridge.intercom.client import IntercomClient, IntercomError

log = logging.getLogger(__name__)


class TypeCache:
    """Lists subscription types once per TTL, and again when a request names an unknown id."""

    def __init__(
        self,
        client: IntercomClient,
        *,
        ttl: float = 300.0,
        min_refresh_interval: float = 10.0,
        clock: Clock,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._min_refresh_interval = min_refresh_interval
        self._clock = clock
        self._types: list[SubscriptionType] | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self._failed_at = float("-inf")
        self.last_error: Exception | None = None

    async def get(self) -> list[SubscriptionType]:
        """The types, fetched when the cache is empty or older than the TTL."""
        if self._types is not None and self._clock.monotonic() - self._fetched_at < self._ttl:
            return self._types
        return await self._refresh()

    async def _refresh(self) -> list[SubscriptionType]:
        async with self._lock:
            # Another task may have refreshed while this one waited for the lock.
            fresh = self._clock.monotonic() - self._fetched_at < self._min_refresh_interval
            if self._types is not None and fresh:
                return self._types
            try:
                self._types = await self._client.list_subscription_types()
            except IntercomError as exc:
                self.last_error = exc
                raise
            self.last_error = None
            self._fetched_at = self._clock.monotonic()
            log.info(
                "subscription types loaded: %d (%d live)",
                len(self._types),
                sum(t.is_live for t in self._types),
            )
            return self._types

    async def select(self, scope: Scope) -> list[SubscriptionType]:
        """The live types a scope covers; an unknown id triggers one refresh before failing."""
        types = await self.get()
        try:
            return select_types(scope, types)
        except UnknownTypes:
            # A type created in Intercom after our last fetch: look again (rate-limited).
            types = await self._refresh()
            return select_types(scope, types)

    async def describe(
        self, scope: Scope, *, within: float = 2.0
    ) -> Sequence[SubscriptionType] | None:
        """The live types a scope covers for a page; None if Intercom can't say quickly.

        A link naming types that no longer exist (or are no longer live) gets those that do,
        possibly none, so a page never promises what it cannot do. When Intercom fails, a
        list already held is used however old it is: a page with yesterday's type names
        beats a page with none.
        """
        if self._clock.monotonic() - self._failed_at < self._min_refresh_interval:
            # Intercom just failed us: don't make every page view wait for it again.
            return self._stale(scope)
        try:
            async with asyncio.timeout(within):
                return await self.select(scope)
        except UnknownTypes:
            return self._stale(scope)  # select() has just refreshed the list
        except (IntercomError, TimeoutError) as exc:
            log.warning("could not describe %s for a page: %s", scope, exc)
            self._failed_at = self._clock.monotonic()
            return self._stale(scope)

    def _stale(self, scope: Scope) -> list[SubscriptionType] | None:
        if self._types is None:
            return None
        existing = existing_part(scope, self._types)
        return [] if existing is None else select_types(existing, self._types)


def existing_part(scope: Scope, types: Sequence[SubscriptionType]) -> Scope | None:
    """`scope` without the type ids that are not live types; None when it named only those."""
    if not scope.type_ids:
        return scope
    live = {t.id for t in types if t.is_live}
    kept = tuple(i for i in scope.type_ids if i in live)
    # An empty list of ids would mean "every type": the opposite of what is left.
    return Scope(type_ids=kept) if kept else None
