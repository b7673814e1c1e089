"""The checks a hand-made link passes: type ids, language, and the workspace's live types."""

from __future__ import annotations

import pytest

from bridge.consent import Channel, ConsentType, Scope, SubscriptionType, Translation
from bridge.link_checks import LinkRefused, check_locale, check_scope, check_type_ids


def kind(
    type_id: str, name: str, *, state: str = "live", channel: str = "email"
) -> SubscriptionType:
    """A subscription type as Intercom would list it."""
    return SubscriptionType(
        type_id, state, ConsentType.OPT_OUT, (channel,), Translation(name, "", "en")
    )


WORKSPACE = [
    kind("93", "Newsletter"),
    kind("95", "Offers, promotions"),
    kind("131", "Events", state="draft"),
    kind("88", "Old news", state="archived"),
]
LIVE = "live types: 93 Newsletter; 95 Offers, promotions"


def test_type_ids_are_trimmed_and_a_repeat_dropped() -> None:
    assert check_type_ids([" 93", "95 ", "93"]) == ("93", "95")
    assert check_type_ids([]) == ()


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("", "--subscription is empty"),
        (" ", "--subscription is empty"),
        ("93,95", "--subscription '93,95' holds a comma: give --subscription once per type id"),
        ("~s", "--subscription '~s' is not a subscription type id"),
        ("9 3", "--subscription '9 3' is not a subscription type id"),
        ("9\x1f3", "--subscription '9\\x1f3' is not a subscription type id"),
    ],
)
def test_type_ids_a_link_cannot_hold_are_refused(given: str, problem: str) -> None:
    with pytest.raises(LinkRefused) as refused:
        check_type_ids(["93", given])
    assert str(refused.value) == problem


def test_a_locale_must_be_a_language_tag() -> None:
    assert check_locale(None) is None
    assert check_locale(" pt-BR ") == "pt-BR"
    for bad in ("", "fr_FR!", "x" * 36):
        with pytest.raises(LinkRefused) as refused:
            check_locale(bad)
        assert str(refused.value) == f"--locale {bad!r} is not a language tag, like fr or pt-BR"


def test_live_types_and_channels_that_have_some_pass() -> None:
    check_scope(Scope(type_ids=("95", "93")), WORKSPACE)
    check_scope(Scope(channel=Channel.EMAIL), WORKSPACE)
    check_scope(Scope(), WORKSPACE)


def test_an_unknown_id_is_refused_with_the_live_types() -> None:
    with pytest.raises(LinkRefused) as refused:
        check_scope(Scope(type_ids=("93", "abc")), WORKSPACE)
    assert str(refused.value) == (
        f"--subscription abc is not a live subscription type in this workspace; {LIVE}"
    )


def test_draft_and_archived_ids_are_refused_naming_their_state() -> None:
    with pytest.raises(LinkRefused) as refused:
        check_scope(Scope(type_ids=("131", "88", "7")), WORKSPACE)
    assert str(refused.value) == (
        f"--subscription 131 (draft), 88 (archived), 7 are not live in this workspace; {LIVE}"
    )


def test_a_scope_that_covers_no_live_type_is_refused() -> None:
    with pytest.raises(LinkRefused) as sms:
        check_scope(Scope(channel=Channel.SMS), WORKSPACE)
    assert str(sms.value) == (
        f"--channel sms: the workspace has no live sms subscription types; {LIVE}"
    )
    with pytest.raises(LinkRefused) as nothing:
        check_scope(Scope(), [kind("88", "Old news", state="archived")])
    assert str(nothing.value) == ("the workspace has no live subscription types; live types: none")
