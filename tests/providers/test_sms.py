"""What every SMS provider shares: meanings, scope by receiving number, held free text, replies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
import pytest

from bridge.consent import Channel, Identity, Scope, Wanted
from bridge.providers import Delivery, Malformed, ProviderSettings, provider_settings
from bridge.providers.sms import InboundText, SmsProvider
from bridge.settings import SettingsError
from bridge.sms.keywords import Meaning
from tests.providers.webhooks import delivery

SENT_AT = datetime(2026, 4, 11, 9, 30, tzinfo=UTC)


class Texts(SmsProvider):
    """An SMS provider whose deliveries are JSON lists of texts, unsigned (for these tests)."""

    name: ClassVar[str] = "texts"

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """Everything verifies: signatures are each provider's own tests."""

    def texts(self, delivery: Delivery) -> list[InboundText]:
        """Each item: sender, text, id, to (optional), meaning (optional), at (optional)."""
        return [
            InboundText(
                sender=item["from"],
                text=item["text"],
                event_id=item["id"],
                occurred_at=datetime.fromisoformat(item["at"]) if "at" in item else SENT_AT,
                receivers=tuple(item.get("to", ())),
                provider_meaning=Meaning(item["meaning"]) if "meaning" in item else None,
            )
            for item in json.loads(delivery.body)
        ]


class Replying(Texts):
    """The same, with a reply format (as Twilio and Plivo have)."""

    replies = True


def texts(table: Mapping[str, Any] | None = None, cls: type[Texts] = Texts) -> Texts:
    """A provider built from a `[providers.texts]` table."""
    settings: ProviderSettings = provider_settings("texts", dict(table or {}))
    return cls(settings)


def parse(provider: Texts, *items: dict[str, Any]) -> Any:
    """The provider's reading of a delivery of these texts."""
    return provider.parse(delivery(json.dumps(list(items)).encode()))


def text(body: str, **more: Any) -> dict[str, Any]:
    """A text from Sam's number as he typed it, with an id of its own."""
    return {"from": "(415) 555-0123", "text": body, "id": f"SM-{abs(hash(body))}", **more}


def test_a_stop_unsubscribes_the_sender_by_e164_from_every_sms_type() -> None:
    [request] = parse(texts(), text("STOP")).requests
    assert request.identity == Identity(phone="+14155550123")
    assert (request.wanted, request.scope) == (Wanted.UNSUBSCRIBED, Scope(channel=Channel.SMS))
    assert (request.source, request.occurred_at, request.hold) == ("texts", SENT_AT, False)
    assert request.context["event"] == "stop"
    assert request.context["text"] == "STOP"


def test_a_start_subscribes_and_help_or_chatter_change_nothing() -> None:
    parsed = parse(texts(), text("START"), text("HELP"), text("see you at 5"))
    [request] = parsed.requests
    assert request.wanted is Wanted.SUBSCRIBED
    assert parsed.ignored == 2


def test_the_providers_own_reading_wins_where_it_gives_one() -> None:
    # Twilio's OptOutType or Plivo's MessageIntent: the provider matched its own keyword list.
    [request] = parse(texts(), text("sure", meaning="start")).requests
    assert request.wanted is Wanted.SUBSCRIBED
    assert not parse(texts(), text("STOP", meaning="help")).requests


def test_an_operators_extra_word_counts_though_the_provider_does_not_know_it() -> None:
    provider = texts({"keywords": {"stop": ["basta ya"]}})
    [request] = parse(provider, text("basta ya")).requests
    assert request.wanted is Wanted.UNSUBSCRIBED


def test_free_text_revocations_are_held_for_review_by_default_with_their_words() -> None:
    [request] = parse(texts(), text("please stop texting me")).requests
    assert request.hold
    assert request.wanted is Wanted.UNSUBSCRIBED
    assert request.context == {"event": "revocation", "text": "please stop texting me"}


def test_free_text_may_be_applied_at_once_or_ignored() -> None:
    [request] = parse(texts({"free_text": "unsubscribe"}), text("stop texting me")).requests
    assert not request.hold
    ignoring = parse(texts({"free_text": "ignore"}), text("stop texting me"))
    assert (ignoring.requests, ignoring.ignored) == ([], 1)


def test_a_stop_changes_the_types_mapped_to_the_number_or_service_that_received_it() -> None:
    provider = texts({"types": {"+1 (415) 555-0100": ["124"], "MG123": ["108", "124"]}})
    [to_number] = parse(provider, text("STOP", to=["+14155550100", "MG123"])).requests
    assert to_number.scope == Scope(type_ids=("124",))
    assert to_number.context["to"] == "+14155550100"
    [to_service] = parse(provider, text("STOP", to=["+14155550199", "MG123"])).requests
    assert to_service.scope == Scope(type_ids=("108", "124"))
    [unmapped] = parse(provider, text("STOP", to=["+14155550199"])).requests
    assert unmapped.scope == Scope(channel=Channel.SMS)


def test_a_number_without_a_country_code_is_read_in_the_default_region() -> None:
    provider = texts({"default_region": "IE"})
    [request] = parse(provider, {"from": "087 123 4567", "text": "stop", "id": "1"}).requests
    assert request.identity.phone == "+353871234567"


def test_a_sender_that_is_not_a_phone_number_is_set_aside_saying_why() -> None:
    parsed = parse(texts(), {"from": "ACME", "text": "stop", "id": "1"}, text("STOP"))
    assert len(parsed.requests) == 1
    assert parsed.invalid == ["message 0: the sender is not a valid phone number"]


def test_an_unreadable_field_makes_the_delivery_malformed() -> None:
    with pytest.raises(Malformed, match="Invalid isoformat"):
        parse(texts(), text("STOP", at="yesterday"))


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"default_region": "XX"}, "default_region: 'XX' is not an ISO country code"),
        ({"free_text": "drop"}, "free_text: review, unsubscribe or ignore"),
        ({"reply": "You are unsubscribed."}, "reply: texts has no reply format"),
        ({"types": {"+1 555": ["124"]}}, r"types.\+1 555: not a valid phone number"),
    ],
)
def test_settings_mistakes_stop_the_start_naming_the_key(
    table: dict[str, Any], problem: str
) -> None:
    with pytest.raises(SettingsError, match=problem):
        texts(table)


def test_a_reply_table_takes_only_stop_and_start() -> None:
    with pytest.raises(SettingsError, match=r"reply.help: only stop and start"):
        texts({"reply": {"help": "Call us"}}, Replying)


def test_the_reply_goes_to_the_first_new_stop_or_start_and_never_to_held_text() -> None:
    provider = texts({"reply": {"stop": "Unsubscribed.", "start": "Welcome back."}}, Replying)
    held, stop = parse(provider, text("stop texting me"), text("STOP")).requests
    assert provider.reply_for([held]) is None
    assert provider.reply_for([held, stop]) == (stop, "Unsubscribed.")
    [start] = parse(provider, text("START")).requests
    assert provider.reply_for([start]) == (start, "Welcome back.")
    assert provider.reply_for([]) is None  # a retried delivery: its request is no longer new


def test_a_single_reply_text_confirms_stops_only() -> None:
    provider = texts({"reply": "Unsubscribed. Reply START to resubscribe."}, Replying)
    [start] = parse(provider, text("START")).requests
    assert provider.reply_for([start]) is None
