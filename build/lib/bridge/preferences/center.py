"""Reads a person's preferences for a page or the API: Intercom's state and what is pending.

A view costs one Intercom call per matching contact, one in the common case: the subscription
types come from the cache, a contact named by email, phone or external id is resolved once and
remembered, and only the contact's own subscription list is read. Intercom being slow or down
never blocks the page: after a short deadline the view says the state is unknown and the page
still offers to unsubscribe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bridge.consent import Identity
from bridge.intercom.client import IntercomClient, IntercomError
from bridge.intercom.contacts import ContactResolver
from bridge.intercom.types import TypeCache
from bridge.ledger import Ledger
from bridge.links import LinkClaims
from bridge.preferences.model import Choice, choices

log = logging.getLogger(__name__)

MAX_CONTACTS = 5  # contacts sharing one email or phone read for a page


@dataclass(frozen=True)
class View:
    """What one person's page shows: the types in the link's scope and their states.

    `choices` is None when Intercom could not list the types; a choice's `subscribed` is None
    when the contact's state could not be read. Either way the page still offers to
    unsubscribe from everything.
    """

    claims: LinkClaims
    choices: list[Choice] | None

    @property
    def state_known(self) -> bool:
        """True when every type's current state is known, so toggles can be shown."""
        return self.choices is not None and all(c.subscribed is not None for c in self.choices)

    @property
    def by_id(self) -> dict[str, Choice]:
        """The choices keyed by type id."""
        return {choice.id: choice for choice in self.choices or ()}


class PreferenceCenter:
    """The reads around `bridge.preferences.model`: Intercom, the type cache, the ledger."""

    def __init__(
        self,
        *,
        intercom: IntercomClient,
        type_cache: TypeCache,
        contacts: ContactResolver,
        ledger: Ledger,
        deadline: float = 3.0,
    ) -> None:
        self._intercom = intercom
        self._type_cache = type_cache
        self._contacts = contacts
        self._ledger = ledger
        self._deadline = deadline

    async def _explicit(self, identity: Identity) -> list[frozenset[str]] | None:
        """Each of the person's contacts' subscription lists; None when Intercom can't say.

        No contact (yet) gives an empty list: a new contact has made no explicit choice.
        """
        try:
            async with asyncio.timeout(self._deadline):
                ids = await self._contacts.resolve(identity)
                # A lead and a user may share an email; changes apply to all of them, so the
                # page shows what the person receives through any of them.
                listed = await asyncio.gather(
                    *(self._intercom.list_contact_subscriptions(i) for i in ids[:MAX_CONTACTS])
                )
        except (IntercomError, TimeoutError) as exc:
            log.warning("could not read a contact's subscriptions for a page: %s", exc)
            return None
        return [frozenset(t.id for t in one) for one in listed]

    async def view(
        self,
        claims: LinkClaims,
        preferred_locales: Sequence[str],
        *,
        leaving_out: tuple[str, str] | None = None,
    ) -> View:
        """The link's types, in the person's language, with their current state.

        `leaving_out` names one pending request, by source and event id, to ignore: the state
        as it was before that request (the undo button's "what they were receiving").
        """
        types = await self._type_cache.describe(claims.scope, within=self._deadline)
        if types is None:
            return View(claims, None)
        explicit, pending = await asyncio.gather(
            self._explicit(claims.identity), self._ledger.unsettled(claims.identity.key)
        )
        if leaving_out is not None:
            pending = [r for r in pending if (r.source, r.event_id) != leaving_out]
        return View(claims, choices(types, explicit, pending, preferred_locales))
