"""What every SMS provider shares: an inbound text read into a consent request, and the answer.

A provider module reads its delivery into `InboundText`s (who sent what, to which of our
numbers, the provider's own reading of it); everything after that is the same for all five:

* The keyword engine (`bridge.sms.keywords`) reads the text; the provider's own classification
  (Twilio's `OptOutType`, Plivo's `MessageIntent`) wins where it gives one, and the engine runs
  anyway, because an operator's extra word is one the provider does not know.
* STOP and START change the SMS types `types` maps to the number (or messaging service) that
  received the text, else every live SMS type. HELP changes nothing.
* A free-text revocation ("please stop texting me") is held for an operator's review by default
  (`free_text = "review"`), applied at once with `"unsubscribe"`, or ignored with `"ignore"`.
* The sender's number becomes E.164 (`default_region` for numbers without a country code), and
  the request names the person by it.
* `reply`, when set, is sent once per new STOP or START, in the provider's reply format (TwiML,
  Plivo XML); a retried delivery is a duplicate and gets no second text (FCC 24-24 allows one
  confirmation and nothing else).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import phonenumbers

from bridge.clock import Clock
from bridge.consent import Channel, ConsentRequest, Identity, Scope, Wanted
from bridge.identities import phone_e164
from bridge.settings import SettingsError
from bridge.sms.keywords import KeywordBook, Meaning

from .base import Delivery, Malformed, Parsed, Provider, ProviderSettings, collect, from_iso

MAX_TEXT = 1600  # ten concatenated segments: longer is kept cut, as proof, never matched whole


class FreeText(enum.StrEnum):
    """What a text that reads as "stop texting me", but is no keyword, does."""

    REVIEW = "review"  # held for an operator (`bridge review`), never dropped
    UNSUBSCRIBE = "unsubscribe"  # applied at once, as a STOP
    IGNORE = "ignore"  # counted as ignored, recorded nowhere


@dataclass(frozen=True)
class InboundText:
    """One text message as a provider delivered it, before anyone reads its meaning."""

    sender: str  # the person's number, as the provider wrote it
    text: str
    event_id: str  # the provider's id for the message: retries repeat it
    occurred_at: datetime  # the provider's time for it, else when it reached us
    # Keys into `types`, most specific first: the number it was sent to, then the messaging
    # service or profile it belongs to.
    receivers: tuple[str, ...] = ()
    provider_meaning: Meaning | None = None  # the provider's own classification, if it sent one
    context: Mapping[str, Any] = field(default_factory=dict)


def sent_at(value: object, received_at: datetime) -> datetime:
    """The provider's ISO 8601 time for a text, else when it reached us (ValueError if bad)."""
    return from_iso(value) if value else received_at


def _replies(name: str, value: object) -> dict[Meaning, str]:
    """The `reply` setting: "none", one text (sent on a STOP), or a table by meaning."""
    where = f"BRIDGE_CONFIG.providers.{name}.reply"
    if value is None or value == "none":
        return {}
    if isinstance(value, str) and value.strip():
        return {Meaning.STOP: value.strip()}
    if isinstance(value, Mapping):
        replies = {}
        for key, text in value.items():
            if key not in ("stop", "start") or not isinstance(text, str) or not text.strip():
                raise SettingsError(f"{where}.{key}: only stop and start take a reply text")
            replies[Meaning(key)] = text.strip()
        return replies
    raise SettingsError(f'{where}: "none", a text, or {{ stop = "...", start = "..." }}')


def _receiver_types(
    name: str, types: Mapping[str, tuple[str, ...]], region: str
) -> dict[str, tuple[str, ...]]:
    """`types` with phone-number keys in E.164, so "+1 (415) 555-0100" maps as typed."""
    mapped = {}
    for key, type_ids in types.items():
        number = phone_e164(key, region) if any(c.isdigit() for c in key) else None
        if key.startswith("+") and number is None:
            raise SettingsError(
                f"BRIDGE_CONFIG.providers.{name}.types.{key}: not a valid phone number"
            )
        mapped[number or key] = type_ids
    return mapped


class SmsProvider(Provider):
    """An inbound-SMS webhook: subclasses read deliveries into `InboundText`s (`texts`)."""

    channel: ClassVar[Channel] = Channel.SMS
    # Inbound texts are small (form fields or one JSON event): far below this.
    max_body_bytes: ClassVar[int] = 64 * 1024
    # Whether the provider's answer can carry a text back to the sender (TwiML, Plivo XML).
    replies: ClassVar[bool] = False

    def __init__(self, settings: ProviderSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        values, name = settings.values, settings.name
        region = str(values.get("default_region", "US")).upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise SettingsError(
                f"BRIDGE_CONFIG.providers.{name}.default_region: {region!r} is not an ISO "
                "country code (like US, GB, FR)"
            )
        self.region = region
        try:
            self.book = KeywordBook.load(values.get("languages"), values.get("keywords"))
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"BRIDGE_CONFIG.providers.{name}: {exc}") from None
        try:
            self.free_text = FreeText(values.get("free_text", FreeText.REVIEW))
        except ValueError:
            raise SettingsError(
                f"BRIDGE_CONFIG.providers.{name}.free_text: review, unsubscribe or ignore"
            ) from None
        self.reply_texts = _replies(name, values.get("reply"))
        if self.reply_texts and not self.replies:
            raise SettingsError(
                f"BRIDGE_CONFIG.providers.{name}.reply: {name} has no reply format; only "
                "twilio (TwiML) and plivo (XML) can answer a text with a text"
            )
        self.receiver_types = _receiver_types(name, settings.types, region)

    def texts(self, delivery: Delivery) -> list[InboundText]:
        """The texts in a verified delivery; Malformed if it can't be read at all."""
        raise NotImplementedError

    def parse(self, delivery: Delivery) -> Parsed:
        """Each text read for its meaning and made a request (or counted as ignored)."""
        try:
            texts = self.texts(delivery)
        except (ValueError, TypeError) as exc:  # a time or a field that isn't what it says
            raise Malformed(str(exc)) from None
        return collect(texts, self.read_text, label="message")

    def meaning(self, text: InboundText) -> Meaning | None:
        """What the person meant: the provider's reading where it gives one, else the engine's."""
        if text.provider_meaning is not None:
            return text.provider_meaning
        return self.book.classify(text.text)

    def read_text(self, text: InboundText) -> ConsentRequest | None:
        """The request one text makes; None for HELP, chatter, or ignored free text."""
        meaning = self.meaning(text)
        if meaning is None or meaning is Meaning.HELP:
            return None
        if meaning is Meaning.REVOCATION and self.free_text is FreeText.IGNORE:
            return None
        phone = phone_e164(text.sender, self.region)
        if phone is None:
            raise ValueError("the sender is not a valid phone number")
        return ConsentRequest(
            identity=Identity(phone=phone),
            wanted=Wanted.SUBSCRIBED if meaning is Meaning.START else Wanted.UNSUBSCRIBED,
            scope=self.scope_for(text.receivers),
            occurred_at=text.occurred_at,
            source=self.name,
            event_id=text.event_id,
            context={
                "event": meaning.value,
                "text": text.text[:MAX_TEXT],
                **({"to": text.receivers[0]} if text.receivers else {}),
                **text.context,
            },
            hold=meaning is Meaning.REVOCATION and self.free_text is FreeText.REVIEW,
        )

    def scope_for(self, receivers: Sequence[str]) -> Scope:
        """The types mapped to the first receiver that has any, else every live SMS type."""
        if not self.receiver_types:
            return Scope(channel=Channel.SMS)
        for receiver in receivers:
            number = phone_e164(receiver, self.region) if receiver[:1] in "+0123456789" else None
            mapped = self.receiver_types.get(number or receiver)
            if mapped:
                return Scope(type_ids=mapped)
        return Scope(channel=Channel.SMS)

    def reply_for(self, new: Sequence[ConsentRequest]) -> tuple[ConsentRequest, str] | None:
        """The one confirmation this delivery earns (for its first new STOP or START): to whom."""
        for request in new:
            if request.source == self.name and not request.hold:
                meaning = Meaning(request.context["event"])
                if meaning is Meaning.REVOCATION:
                    meaning = Meaning.STOP  # applied at once (`free_text = "unsubscribe"`)
                text = self.reply_texts.get(meaning)
                if text is not None:
                    return request, text
        return None
