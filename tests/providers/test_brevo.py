"""Brevo: the bearer token, the documented spam example (cleaned), batches, event names."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.consent import Channel, Scope, Wanted
from bridge.providers import Malformed, Rejected
from bridge.settings import SettingsError
from tests.providers.webhooks import (
    delivery,
    json_body,
    make_provider,
    sample_bytes,
)

TOKEN = "brevo-webhook-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RAW = sample_bytes("brevo-marketing-spam.txt")


def cleaned() -> dict[str, Any]:
    """The documented spam example made JSON: the `xxxxxx` webhook id and `xx` campaign id
    placeholders become 123456 and 42, and the trailing comma after `ts` is dropped."""
    text = RAW.decode("utf-8")
    text = text.replace('"id": xxxxxx,', '"id": 123456,').replace(
        '"camp_id": xx,', '"camp_id": 42,'
    )
    text = text.replace('"ts": 1604937337,', '"ts": 1604937337')
    found: dict[str, Any] = json.loads(text)
    return found


SPAM = cleaned()


def transactional(kind: str, email: str, ts_event: int = 1_700_000_000, **extra: Any) -> Any:
    """A transactional event as Brevo's docs list its fields."""
    return {
        "event": kind,
        "email": email,
        "id": 9,  # the webhook's id, the same for every event
        "date": "2023-11-14 22:13:20",
        "ts": ts_event + 3600,
        "ts_event": ts_event,
        "ts_epoch": ts_event * 1000 + 123,
        "message-id": "<202311142213.123@smtp-relay.mailin.fr>",
        "tag": "",
        **extra,
    }


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),
        (f"  Bearer {TOKEN}  ", True),
        (f"Bearer {TOKEN}x", False),
        (f"Bearer {TOKEN[:-1]}", False),
        ("Bearer another-token", False),
        (f"Basic {TOKEN}", False),
        (TOKEN, False),
        ("Bearer ", False),
        ("Bearer caf\u00e9", False),
        (None, False),
    ],
)
async def test_the_bearer_token(header: str | None, accepted: bool) -> None:
    provider = make_provider("brevo", token=TOKEN)
    signed = delivery(RAW, {"Authorization": header} if header is not None else {})
    if accepted:
        await provider.verify(signed, None)  # type: ignore[arg-type]
    else:
        with pytest.raises(Rejected):
            await provider.verify(signed, None)  # type: ignore[arg-type]


def test_the_token_is_required() -> None:
    with pytest.raises(SettingsError, match=r"providers\.brevo\.token: required"):
        make_provider("brevo")


def test_the_raw_documented_example_is_malformed() -> None:
    with pytest.raises(Malformed):  # placeholders and a trailing comma, as published
        make_provider("brevo", token=TOKEN).parse(delivery(RAW, AUTH))


def test_the_cleaned_example_becomes_a_complaint() -> None:
    provider = make_provider("brevo", token=TOKEN)
    [request] = provider.parse(delivery(json_body(SPAM), AUTH)).requests
    assert (request.wanted, request.scope) == (Wanted.UNSUBSCRIBED, Scope(channel=Channel.EMAIL))
    assert request.identity.email == SPAM["email"]
    assert request.occurred_at.timestamp() == SPAM["ts_event"]  # not ts, an hour off
    # Marketing events have no message-id: the campaign names the message.
    assert request.event_id == "campaign-42|example@domain.com|spam|1604933737"
    assert (request.source, request.context) == ("brevo", {"event": "spam"})
    quiet = make_provider("brevo", token=TOKEN, complaints="ignore")
    assert quiet.parse(delivery(json_body(SPAM), AUTH)).requests == []


def test_an_unsubscribe_maps_its_list() -> None:
    provider = make_provider("brevo", token=TOKEN, types={"9": ["93"]})
    unsubscribed = {**SPAM, "event": "unsubscribed"}
    [plain] = provider.parse(delivery(json_body(unsubscribed), AUTH)).requests
    assert (plain.wanted, plain.scope) == (Wanted.UNSUBSCRIBED, Scope(channel=Channel.EMAIL))
    mapped: tuple[object, ...] = (9, "9", [7, 9], ["9"])
    unmapped: tuple[object, ...] = (7, [7, 8], [], True, {"id": 9})
    for list_id in mapped:
        event = {**unsubscribed, "list_id": list_id}
        [request] = provider.parse(delivery(json_body(event), AUTH)).requests
        assert request.scope == Scope(type_ids=("93",)), list_id
        assert request.context["list"] == "9"
    for list_id in unmapped:
        event = {**unsubscribed, "list_id": list_id}
        [request] = provider.parse(delivery(json_body(event), AUTH)).requests
        assert request.scope == Scope(channel=Channel.EMAIL), list_id


def test_event_names_in_either_case() -> None:
    strict = make_provider("brevo", token=TOKEN, bounces="unsubscribe")
    events = [
        transactional(kind, f"{n}@example.com")
        for n, kind in enumerate(["hardBounce", "hard_bounce", "HARD_BOUNCE", "unsubscribed"])
    ]
    events.append(transactional("softBounce", "soft@example.com"))
    events.append(transactional("soft_bounce", "soft@example.com"))
    parsed = strict.parse(delivery(json_body(*events), AUTH))
    assert [r.identity.email for r in parsed.requests] == [f"{n}@example.com" for n in range(4)]
    assert [r.context["event"] for r in parsed.requests][:2] == ["hardBounce", "hard_bounce"]
    assert parsed.ignored == 2
    default = make_provider("brevo", token=TOKEN).parse(delivery(json_body(*events), AUTH))
    assert [r.identity.email for r in default.requests] == ["3@example.com"]  # bounces ignored


def test_transactional_ids_and_times() -> None:
    provider = make_provider("brevo", token=TOKEN)
    event = transactional("unsubscribed", "A@Example.com")
    [request] = provider.parse(delivery(json_body(event), AUTH)).requests
    assert request.event_id == (
        "<202311142213.123@smtp-relay.mailin.fr>|a@example.com|unsubscribed|1700000000"
    )
    assert request.occurred_at == datetime.fromtimestamp(1_700_000_000, UTC)
    no_ts_event = {k: v for k, v in event.items() if k != "ts_event"}
    [from_ms] = provider.parse(delivery(json_body(no_ts_event), AUTH)).requests
    assert from_ms.occurred_at == datetime.fromtimestamp(1_700_000_000.123, UTC)
    only_ts = {k: v for k, v in no_ts_event.items() if k != "ts_epoch"}
    [from_ts] = provider.parse(delivery(json_body(only_ts), AUTH)).requests
    assert from_ts.occurred_at == datetime.fromtimestamp(1_700_003_600, UTC)


def test_one_bad_event_does_not_drop_the_others() -> None:
    good = transactional("unsubscribed", "a@example.com")
    no_email = {**good, "email": None}
    no_ids = {k: v for k, v in good.items() if k != "message-id"}
    no_time = {k: v for k, v in good.items() if k not in ("ts", "ts_event", "ts_epoch")}
    huge_time = {**good, "ts_event": 10**20}
    opened = {**good, "event": "opened"}
    sms = {"event": "unsubscribe", "phone_number": "+33612345678", "ts_event": 1}
    body = json_body(no_email, good, "junk", no_ids, no_time, huge_time, opened, sms, [1])
    parsed = make_provider("brevo", token=TOKEN).parse(delivery(body, AUTH))
    assert [r.identity.email for r in parsed.requests] == ["a@example.com"]
    assert len(parsed.invalid) == 4 and parsed.ignored == 4
