"""A form with `confirm = "email"`, end to end: nothing changes in Intercom until the click."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bridge.clock import ManualClock
from bridge.ledger import Status
from bridge.sandbox import Sandbox
from bridge.sandbox.messages import ADMIN_ID
from tests.confirming import changes, confirm_path, press_and_see_applied
from tests.web.forms.posting import PUBLIC_URL, SITE, bridge_with_forms, post, recorded, run_worker

WORDS = "Yes, email me the <weekly> digest."
FORMS = f"""
[forms.digest]
types = ["95"]
consent_text = "{WORDS}"
origins = ["{SITE}"]
confirm = "email"
confirm_admin_id = "{ADMIN_ID}"
confirm_days = 3
"""


@pytest.fixture
def clock() -> ManualClock:
    """Time that moves only when a test moves it."""
    return ManualClock()


@pytest.fixture
def client(tmp_path: Path, sandbox: Sandbox, clock: ManualClock) -> Iterator[TestClient]:
    """The bridge with a double opt-in form; the worker run by hand."""
    with bridge_with_forms(tmp_path, sandbox, FORMS, clock=clock) as test_client:
        yield test_client


def test_a_signup_changes_nothing_in_intercom_until_the_emailed_link_is_posted(
    client: TestClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    email = "new.reader@example.com"
    response = post(client, "digest", [("email", email)], **{"Accept-Language": "fr-FR,fr"})
    assert response.status_code == 303
    thanks = client.get(response.headers["location"], headers={"Accept-Language": "en"})
    assert "Click the link in it to confirm" in thanks.text
    [record] = recorded(client)
    assert record.request.confirm is not None
    assert (record.request.confirm.days, record.request.confirm.locale) == (3, "fr")

    run_worker(client)
    [lead] = [c for c in sandbox.contacts.values() if c["email"] == email]
    [message] = sandbox.messages
    assert message["to"] == {"type": "lead", "id": lead["id"]}
    assert message["subject"] == "Merci de confirmer votre abonnement"
    assert html.escape(WORDS) in message["body"]
    assert changes(sandbox) == [] and not sandbox.receives(lead["id"], "95")
    [waiting] = recorded(client)
    assert waiting.status is Status.AWAITING_CONFIRMATION
    metrics = client.get("/metrics").text
    assert 'bridge_ledger_requests{status="awaiting_confirmation"} 1.0' in metrics

    path = confirm_path(message)
    # A mail scanner fetches the link: nothing is confirmed, nothing changes.
    assert client.get(path).status_code == 200
    clock.advance(60)
    run_worker(client)
    assert changes(sandbox) == [] and not sandbox.receives(lead["id"], "95")

    clock.advance(3600)
    done = press_and_see_applied(client, sandbox, path, lead["id"], "95", run_worker)
    assert done.confirmation is not None and done.confirmation.at == clock.now()
    assert len(sandbox.messages) == 1


def test_unconfirmed_for_its_days_the_signup_expires_and_changes_nothing(
    client: TestClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    post(client, "digest", [("email", "late.reader@example.com")])
    run_worker(client)
    [message] = sandbox.messages
    [url] = re.findall(r'href="([^"]+)"', message["body"])
    clock.advance(3 * 86_400 + 1)
    run_worker(client)
    [expired] = recorded(client)
    assert expired.status is Status.EXPIRED
    path = html.unescape(url).removeprefix(PUBLIC_URL)
    assert client.post(path, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 400
    run_worker(client)
    assert changes(sandbox) == []
