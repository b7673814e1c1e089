"""The honeypot and the signed fill time tell bots from people."""

from __future__ import annotations

import pytest

from bridge.forms import form_settings
from bridge.forms.spam import MIN_FILL_SECONDS, Bot, bot_sign
from bridge.links import LinkSigner

FORM = form_settings(
    "newsletter", {"types": ["93"], "consent_text": "Yes.", "honeypot": "url"}, "https://b.io"
)
KEY = "key-a-0123456789abcdef"


class Clock:
    """Seconds that move when told."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """A clock at a fixed second."""
    return Clock()


def test_a_person_with_no_stamp_and_an_empty_honeypot_is_a_person(clock: Clock) -> None:
    signer = LinkSigner([KEY], clock=clock)
    assert bot_sign(FORM, [("email", "j@x.io"), ("url", "  ")], signer) is None


def test_a_filled_honeypot_is_a_bot(clock: Clock) -> None:
    signer = LinkSigner([KEY], clock=clock)
    assert bot_sign(FORM, [("email", "j@x.io"), ("url", "http://spam")], signer) is Bot.HONEYPOT


def test_a_stamp_younger_than_the_minimum_is_a_bot_and_an_older_one_a_person(
    clock: Clock,
) -> None:
    signer = LinkSigner([KEY], clock=clock)
    fields = [("email", "j@x.io"), ("_t", signer.fill_stamp("newsletter"))]
    clock.now += MIN_FILL_SECONDS - 1
    assert bot_sign(FORM, fields, signer) is Bot.TOO_FAST
    clock.now += 1
    assert bot_sign(FORM, fields, signer) is None


@pytest.mark.parametrize("stamp", ["", "forged", "newsletter.AAAA.AAAA"])
def test_a_forged_stamp_is_a_bot(clock: Clock, stamp: str) -> None:
    signer = LinkSigner([KEY], clock=clock)
    assert bot_sign(FORM, [("email", "j@x.io"), ("_t", stamp)], signer) is Bot.TOO_FAST


def test_another_form_s_stamp_is_a_bot(clock: Clock) -> None:
    signer = LinkSigner([KEY], clock=clock)
    stamp = signer.fill_stamp("other")
    clock.now += 60
    assert bot_sign(FORM, [("email", "j@x.io"), ("_t", stamp)], signer) is Bot.TOO_FAST
