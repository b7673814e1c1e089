"""A form with `action = "manage"`, end to end: the person's own preference link, by email."""

from __future__ import annotations

import copy
import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from bridge.clock import ManualClock
from bridge.consent import Wanted
from bridge.forms.limits import PER_ADDRESS, PER_IP
from bridge.ledger import Status
from bridge.sandbox import Sandbox
from bridge.sandbox.messages import ADMIN_ID
from tests.web.forms.posting import (
    BROWSER as BROWSER_HEADERS,
)
from tests.web.forms.posting import (
    PUBLIC_URL,
    SITE,
    bridge_with_forms,
    fetch,
    post,
    recorded,
    run_worker,
)

FORMS = f"""
[forms.mylink]
action = "manage"
origins = ["{SITE}"]
confirm_admin_id = "{ADMIN_ID}"
"""
AMELIE = ("amelie.martin@example.fr", "63a07de105a32042dffac970")  # one contact, a user
STRANGER = "nobody.here@example.com"


@pytest.fixture
def client(tmp_path: Path, sandbox: Sandbox, clock: ManualClock) -> Iterator[TestClient]:
    """The bridge with a manage form; the worker run by hand."""
    with bridge_with_forms(tmp_path, sandbox, FORMS, clock=clock) as test_client:
        yield test_client


def everyones_subscriptions(sandbox: Sandbox) -> dict[str, Any]:
    """Every contact's subscription list, as the sandbox holds it now."""
    return {cid: copy.deepcopy(sandbox.workspace.subscriptions(cid)) for cid in sandbox.contacts}


def changes(sandbox: Sandbox) -> list[str]:
    """The subscription changes and contact creations the sandbox was asked for."""
    return [
        f"{seen.method} {seen.path}"
        for seen in sandbox.requests
        if seen.method in ("POST", "DELETE", "PUT")
        and ("/subscriptions" in seen.path or seen.path == "/contacts")
    ]


def link_in(message: dict[str, Any]) -> str:
    """The path of the one link in an emailed body."""
    [url] = re.findall(r'href="([^"]+)"', message["body"])
    assert html.unescape(url).startswith(f"{PUBLIC_URL}/preferences/")
    return html.unescape(url).removeprefix(PUBLIC_URL)


def test_a_known_address_gets_one_email_whose_link_opens_their_preferences(
    client: TestClient, sandbox: Sandbox
) -> None:
    email, contact_id = AMELIE
    before = everyones_subscriptions(sandbox)
    response = post(client, "mylink", [("email", email)], **{"Accept-Language": "fr-FR,fr"})
    assert response.status_code == 303
    assert response.headers["location"].endswith("/forms/mylink/thanks")
    thanks = client.get(response.headers["location"], headers={"Accept-Language": "en"})
    assert "Check your email" in thanks.text
    [record] = recorded(client)
    assert record.request.wanted is Wanted.LINK and record.status is Status.PENDING
    assert record.request.create is None and record.request.confirm is None
    assert record.request.context["admin_id"] == ADMIN_ID
    assert record.request.context["locale"] == "fr"

    run_worker(client)
    [message] = sandbox.messages
    assert message["owner"]["id"] == ADMIN_ID
    assert message["to"] == {"type": "user", "id": contact_id}
    assert message["subject"] == "Votre lien vers vos préférences"
    [done] = recorded(client)
    assert done.status is Status.APPLIED
    assert [(o.action, o.contact_id) for o in done.outcomes] == [("message", contact_id)]

    page = client.get(link_in(message))
    assert page.status_code == 200
    view = page.context["view"]  # type: ignore[attr-defined]
    assert view.claims.identity.contact_id == contact_id and view.claims.locale == "fr"
    receiving = {c.id for c in view.choices if c.subscribed}
    assert {"95", "108"} <= receiving  # Amélie's own opt-ins: the page is hers
    assert changes(sandbox) == [] and everyones_subscriptions(sandbox) == before


def test_an_unknown_address_gets_the_same_answer_and_no_email(
    client: TestClient, sandbox: Sandbox
) -> None:
    before = (everyones_subscriptions(sandbox), len(sandbox.contacts))
    known = post(client, "mylink", [("email", AMELIE[0])])
    unknown = post(client, "mylink", [("email", STRANGER)])
    assert (unknown.status_code, unknown.headers["location"]) == (
        known.status_code,
        known.headers["location"],
    )
    assert fetch(client, "mylink", {"email": "other.stranger@example.com"}).json() == {"ok": True}
    assert fetch(client, "mylink", {"email": "jonas.becker@example.de"}).json() == {"ok": True}

    run_worker(client)
    sent_to = sorted(m["to"]["id"] for m in sandbox.messages)
    assert sent_to == sorted([AMELIE[1], "63a07de305a32042dffac97b"])
    statuses = {r.request.identity.email: r.status for r in recorded(client)}
    assert statuses[STRANGER] is Status.UNMATCHED
    assert statuses["other.stranger@example.com"] is Status.UNMATCHED
    assert (everyones_subscriptions(sandbox), len(sandbox.contacts)) == before
    assert changes(sandbox) == []  # no lead made, nothing attached or detached


def test_lang_in_the_form_s_action_picks_the_email_s_language(
    client: TestClient, sandbox: Sandbox
) -> None:
    sent = {**dict(BROWSER_HEADERS), "Accept-Language": "fr"}
    response = client.post(
        "/forms/mylink?lang=de", content=f"email={AMELIE[0]}", headers=sent, follow_redirects=False
    )
    assert response.status_code == 303
    run_worker(client)
    [message] = sandbox.messages
    assert message["subject"] == "Ihr Link zu Ihren Einstellungen"
    assert "/preferences/" in link_in(message)


def test_only_the_address_is_looked_up(client: TestClient, sandbox: Sandbox) -> None:
    # Jane's phone beside a stranger's address: nothing reaches Jane.
    post(client, "mylink", [("email", STRANGER), ("phone", "+353871234567")])
    run_worker(client)
    [record] = recorded(client)
    assert record.request.identity.phone is None and record.status is Status.UNMATCHED
    assert sandbox.messages == []


def test_a_replayed_request_sends_no_second_email(client: TestClient, sandbox: Sandbox) -> None:
    post(client, "mylink", [("email", AMELIE[0])])
    run_worker(client)
    [record] = recorded(client)
    ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
    assert client.portal.call(lambda: ledger.replay(ids=[record.id])) == 1  # type: ignore[union-attr]
    run_worker(client)
    assert len(sandbox.messages) == 1
    [again] = recorded(client)
    assert again.status is Status.APPLIED


def test_an_outage_is_retried_and_the_email_goes_out_once(
    client: TestClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    sandbox.faults.error_rate = 1.0
    post(client, "mylink", [("email", AMELIE[0])])
    run_worker(client)
    [waiting] = recorded(client)
    assert waiting.status is Status.PENDING and waiting.attempts == 1
    assert sandbox.messages == []
    sandbox.faults.error_rate = 0.0
    clock.advance(3600)
    run_worker(client)
    run_worker(client)
    assert len(sandbox.messages) == 1
    [done] = recorded(client)
    assert done.status is Status.APPLIED


def test_the_forms_rate_limits_hold_per_address_and_per_ip(
    client: TestClient, clock: ManualClock
) -> None:
    for _ in range(PER_ADDRESS.posts):
        assert post(client, "mylink", [("email", AMELIE[0])]).status_code == 303
    assert post(client, "mylink", [("email", AMELIE[0])]).status_code == 429
    assert len(recorded(client)) == PER_ADDRESS.posts
    clock.advance(PER_IP.seconds)
    for n in range(PER_IP.posts):
        assert post(client, "mylink", [("email", f"p{n}@example.com")]).status_code == 303
    refused = post(client, "mylink", [("email", "late@example.com")])
    assert refused.status_code == 429 and "retry-after" in refused.headers
    assert len(recorded(client)) == PER_ADDRESS.posts + PER_IP.posts


def test_the_hosted_page_asks_for_the_address_alone(client: TestClient) -> None:
    page = client.get("/forms/mylink?lang=en")
    assert page.status_code == 200
    assert "Email me my link" in page.text and "Get your preferences link" in page.text
    assert 'name="name"' not in page.text
