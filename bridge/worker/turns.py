"""Gives a request its turn on its Intercom contacts, or sends it back to wait for it.

The queue orders a person's requests only within one identity, yet an email, a phone, an
external id and a contact id may all lead to the same Intercom contact. So once a request's
contacts are known it leases them, reading `last_applied` in the same transaction; the lease
ends in the transaction that settles the request. A request that finds a contact busy goes
back to the queue for about a second. Whichever request runs second then sees the first one's
event time in `last_applied` and applies only what is newer.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from bridge.clock import Clock
from bridge.ledger import Claimed, Ledger
from bridge.metrics import Metrics

log = logging.getLogger(__name__)

# About as long as another request takes to apply; the jitter keeps two requests that wait
# for the same contact from coming back at the same instant again and again.
_BUSY_WAIT_SECONDS = 1.0
_BUSY_JITTER_SECONDS = 0.5


class ContactTurns:
    """Leases a claimed request's contacts, requeueing it when one is busy."""

    def __init__(
        self,
        ledger: Ledger,
        metrics: Metrics,
        *,
        lease_seconds: float,
        clock: Clock,
        rng: random.Random,
        owner: str,
    ) -> None:
        self.ledger = ledger
        self.metrics = metrics
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.rng = rng
        self.owner = owner

    async def take(
        self, claimed: Claimed, contact_ids: Sequence[str], type_ids: Sequence[str]
    ) -> dict[str, dict[str, datetime]] | None:
        """Lease the contacts and read their `last_applied`; None (requeued) if one is busy."""
        now = self.clock.now()
        newest = await self.ledger.take_contacts(
            claimed.id,
            self.owner,
            contact_ids,
            type_ids,
            lease_seconds=self.lease_seconds,
            now=now,
        )
        if newest is not None:
            return newest
        wait = _BUSY_WAIT_SECONDS + self.rng.uniform(0, _BUSY_JITTER_SECONDS)
        # Waiting for a turn is not the request's failure: the attempt is refunded, so it
        # never counts towards max_attempts however often the contact is busy.
        await self.ledger.retry_later(
            claimed.id,
            self.owner,
            error="waiting for another request to the same Intercom contact",
            next_attempt_at=now + timedelta(seconds=wait),
            refund_attempt=True,
            now=now,
        )
        self.metrics.outcomes.labels("contact_busy").inc()
        log.info("request %d: its Intercom contact is busy; trying again shortly", claimed.id)
        return None
