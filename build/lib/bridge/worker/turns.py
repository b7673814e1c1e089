"""Gives a request its turn on its Intercom contacts.

The queue orders a person's requests only within one identity, yet an email, a phone, an
external id and a contact id may all lead to the same Intercom contact. So once a request's
contacts are known it leases them, reading `last_applied` in the same transaction; the lease
ends in the transaction that settles the request. A request that finds a contact busy goes
back to the queue for about a second. Whichever request runs second then sees the first one's
event time in `last_applied` and applies only what is newer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bridge.clock import Clock
from bridge.ledger import Claimed, Ledger


class ContactTurns:
    """Leases a claimed request's contacts, or says that one is busy."""

    def __init__(self, ledger: Ledger, *, lease_seconds: float, clock: Clock, owner: str) -> None:
        self.ledger = ledger
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.owner = owner

    async def take(
        self, claimed: Claimed, contact_ids: Sequence[str], type_ids: Sequence[str]
    ) -> dict[str, dict[str, datetime]] | None:
        """Lease the contacts and read their `last_applied`; None if one is busy."""
        return await self.ledger.take_contacts(
            claimed.id,
            self.owner,
            contact_ids,
            type_ids,
            lease_seconds=self.lease_seconds,
            now=self.clock.now(),
        )
