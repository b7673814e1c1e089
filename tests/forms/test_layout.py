"""`layout`: what a form shows, from its settings and the types Intercom lists: pure."""

from __future__ import annotations

from bridge.consent import ConsentType, SubscriptionType, Translation
from bridge.forms import form_settings
from bridge.forms.layout import Offer, layout

PUBLIC_URL = "https://consent.example.com"


def _type(type_id: str, content: str, name: str, french: str | None = None) -> SubscriptionType:
    translations = (Translation(french, "", "fr"),) if french else ()
    return SubscriptionType(
        type_id, "live", ConsentType.OPT_IN, (content,), Translation(name, "", "en"), translations
    )


NEWS = _type("93", "email", "Newsletter", "Lettre")
TEXTS = _type("124", "sms_message", "Reminders")
CHOOSE = form_settings(
    "f", {"types": ["124", "93", "7"], "choose": True, "consent_text": "Yes."}, PUBLIC_URL
)


def test_offers_follow_the_form_s_order_in_the_person_s_words_without_the_missing() -> None:
    shown = layout(CHOOSE, [NEWS, TEXTS], ["fr"])
    assert shown.offers == (Offer("124", "Reminders", "", "en"), Offer("93", "Lettre", "", "fr"))
    assert shown.phone and shown.usable


def test_a_phone_only_for_an_sms_type() -> None:
    assert not layout(CHOOSE, [NEWS], ["en"]).phone


def test_without_intercom_a_choose_form_cannot_be_sent_and_a_plain_one_can() -> None:
    assert not layout(CHOOSE, None, ["en"]).usable
    assert not layout(CHOOSE, [], ["en"]).usable  # none of its types is live
    plain = form_settings("p", {"types": ["93"], "consent_text": "Yes."}, PUBLIC_URL)
    shown = layout(plain, None, ["en"])
    assert shown.usable and shown.offers is None and not shown.phone
