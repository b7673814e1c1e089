"""What a form shows a person: its fields, the types it offers in their words: pure.

The hosted page (`GET /forms/NAME`) and the snippet (`bridge form snippet NAME`) are built from
the same layout, so the two never ask for different things. The email is always asked for and
required. The name is always offered (a lead created for the person gets it). A phone is asked
for only when one of the form's types reaches people by SMS: a newsletter has no use for a
phone number, and a form should not collect what it does not need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bridge.consent import Channel, SubscriptionType
from bridge.i18n import localise

from .settings import Form


@dataclass(frozen=True)
class Offer:
    """One subscription type the form offers, in the person's words where Intercom has them."""

    id: str
    name: str
    description: str = ""
    locale: str = ""


@dataclass(frozen=True)
class Layout:
    """A form as a page or a snippet shows it."""

    form: Form
    offers: tuple[Offer, ...] | None  # None: Intercom could not list the types just now
    phone: bool  # ask for a phone number (an SMS type is offered)

    @property
    def usable(self) -> bool:
        """Whether a person can send it: a `choose` form needs its types to tick."""
        return not self.form.choose or bool(self.offers)


def layout(
    form: Form, types: Sequence[SubscriptionType] | None, preferred: Sequence[str]
) -> Layout:
    """The form's layout, with `types` (live ones, from Intercom) in the order of its `types`.

    Types Intercom no longer lists as live are left out, so a page never offers what the
    worker would not apply.
    """
    if types is None:
        return Layout(form, None, phone=False)
    by_id = {t.id: t for t in types}
    offered = [by_id[type_id] for type_id in form.types if type_id in by_id]
    offers = []
    for subscription_type in offered:
        words = localise(subscription_type, preferred)
        offers.append(Offer(subscription_type.id, words.name, words.description, words.locale))
    phone = any(Channel.SMS.content_type in t.content_types for t in offered)
    return Layout(form, tuple(offers), phone=phone)
