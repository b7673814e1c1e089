"""`generic`: a token (bearer or query), JSON or a form, dotted paths, the id, the checkbox."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from uvicorn.protocols.utils import get_path_with_query_string

from bridge.consent import Channel, NewContact, Scope, Wanted
from bridge.providers import Malformed, Rejected
from bridge.sandbox import Sandbox
from bridge.settings import SettingsError
from bridge.web.access_log import AccessLogTokenFilter
from tests.providers.webhooks import (
    apply_all,
    bridge_with,
    delivery,
    form_tool,
    recorded,
)

TOKEN = "gen-3b1f0c9e7a4d4f6b8e2c5a9d1f7e3b6c"
SIGNUP = {"token": TOKEN, "types": ["93"], "consent": "agree"}
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def body(**fields: Any) -> bytes:
    """A JSON body."""
    return json.dumps(fields).encode()


async def test_the_token_as_bearer_or_in_the_query_and_nothing_else() -> None:
    provider = form_tool("generic", SIGNUP)
    payload = body(email="a@example.com")
    await provider.verify(delivery(payload, BEARER), None)  # type: ignore[arg-type]
    await provider.verify(delivery(payload, path=f"/webhooks/generic?x=1&token={TOKEN}"), None)  # type: ignore[arg-type]
    refused = [
        delivery(payload),
        delivery(payload, {"Authorization": "Bearer not-the-token"}),
        delivery(payload, {"Authorization": f"Basic {TOKEN}"}),
        delivery(payload, path="/webhooks/generic?token=not-the-token"),
        delivery(payload, path=f"/webhooks/generic?token={TOKEN[:-1]}"),
    ]
    for wrong in refused:
        with pytest.raises(Rejected):
            await provider.verify(wrong, None)  # type: ignore[arg-type]
    with pytest.raises(Rejected):  # a wrong bearer is refused before the body is read
        provider.check_headers(delivery(payload, {"Authorization": "Bearer guess"}).headers)


def test_dotted_paths_the_id_and_the_time_map_a_json_body() -> None:
    provider = form_tool(
        "generic",
        {
            **SIGNUP,
            "email": "data.contact.email",
            "name": ["data.contact.first", "data.contact.last"],
            "id": "data.submission",
            "occurred_at": "data.at",
        },
    )
    payload = body(
        data={
            "contact": {"email": "Ada@Example.com", "first": "Ada", "last": "Lovelace"},
            "submission": 4711,
            "at": "2026-11-28T10:00:00Z",
        },
        agree="on",
    )
    [request] = provider.parse(delivery(payload, JSON)).requests
    assert (request.identity.email, request.event_id, request.create) == (
        "ada@example.com",
        "4711",
        NewContact(name="Ada Lovelace"),
    )
    assert (request.wanted, request.scope, request.source) == (
        Wanted.SUBSCRIBED,
        Scope(type_ids=("93",)),
        "generic",
    )
    assert request.occurred_at.isoformat() == "2026-11-28T10:00:00+00:00"
    with pytest.raises(Malformed, match=r"data\.submission"):
        provider.parse(delivery(body(agree="on", data={"contact": {"email": "a@b.example"}}), JSON))


def test_a_form_body_an_unticked_box_and_an_unusable_address() -> None:
    provider = form_tool("generic", SIGNUP)
    form = urlencode({"email": "b@example.com", "phone": "+353871234567", "agree": "yes"})
    [request] = provider.parse(delivery(form.encode(), FORM)).requests
    assert (request.identity.email, request.identity.phone) == ("b@example.com", "+353871234567")
    assert request.event_id.startswith("sha256:")  # an identical retry is the same event
    for unticked in ("", "off", "false"):
        form = urlencode({"email": "b@example.com", "agree": unticked})
        parsed = provider.parse(delivery(form.encode(), FORM))
        assert (parsed.requests, parsed.ignored) == ([], 1)
    missing = provider.parse(delivery(urlencode({"email": "b@example.com"}).encode(), FORM))
    assert (missing.requests, missing.ignored) == ([], 1)
    unusable = provider.parse(delivery(body(email="nobody", agree=True), JSON))
    assert unusable.requests == [] and "email" in unusable.invalid[0]


def test_an_unsubscribe_table_without_types_is_the_email_channel() -> None:
    provider = form_tool("generic", {"token": TOKEN, "action": "unsubscribe"})
    [request] = provider.parse(delivery(body(email="c@example.com"), JSON)).requests
    assert (request.wanted, request.scope, request.create) == (
        Wanted.UNSUBSCRIBED,
        Scope(channel=Channel.EMAIL),
        None,
    )


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({}, "token: required"),
        ({"token": "short"}, "token: too short"),
        ({"token": TOKEN}, "types: required for a signup"),
        ({**SIGNUP, "confirm": "email"}, "confirm_admin_id: required"),
        ({**SIGNUP, "action": "manage"}, "action: .*not built yet"),
        ({**SIGNUP, "emial": "x"}, "emial: unknown setting"),
        ({"token": TOKEN, "action": "unsubscribe", "consent": "ok"}, "consent: "),
        ({"token": TOKEN, "action": "unsubscribe", "create": True}, "create: "),
        ({**SIGNUP, "email": ["a", "b"]}, "email: must be one field"),
    ],
)
def test_start_up_refuses_a_wrong_table(table: dict[str, Any], problem: str) -> None:
    with pytest.raises(SettingsError, match=f"BRIDGE_CONFIG.providers.generic.{problem}"):
        form_tool("generic", table)


def test_a_query_token_never_reaches_the_access_log() -> None:
    # uvicorn's access line is built from the path and the whole query string.
    scope: Any = {"path": "/webhooks/generic", "query_string": f"token={TOKEN}&a=1".encode()}
    full_path = get_path_with_query_string(scope)
    assert TOKEN in full_path
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", full_path, "1.1", 200),
        None,
    )
    assert AccessLogTokenFilter().filter(record)
    line = record.getMessage()
    assert TOKEN not in line and "/webhooks/generic?token=…&a=…" in line


def test_a_signup_makes_a_lead_once(tmp_path: Path, sandbox: Sandbox) -> None:
    table = {**SIGNUP, "id": "id"}
    payload = body(id="zap-1", email="new.lead@example.org", name="New Lead", agree=True)
    with bridge_with(tmp_path, sandbox, {"generic": table}) as client:
        first = client.post(f"/webhooks/generic?token={TOKEN}", content=payload, headers=JSON)
        assert first.text == "ok: 1 recorded, 0 duplicate, 0 ignored, 0 invalid\n"
        again = client.post("/webhooks/generic", content=payload, headers={**JSON, **BEARER})
        assert again.text == "ok: 0 recorded, 1 duplicate, 0 ignored, 0 invalid\n"
        assert client.post("/webhooks/generic", content=payload, headers=JSON).status_code == 401
        apply_all(client)
        [record] = recorded(client)
    assert record.request.create == NewContact(name="New Lead")
    [lead] = [c for c, v in sandbox.contacts.items() if v.get("email") == "new.lead@example.org"]
    assert sandbox.receives(lead, "93")
