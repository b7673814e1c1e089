"""The double opt-in link: GET shows a button and changes nothing, POST confirms once."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from bridge.clock import ManualClock
from bridge.consent import Confirmation, ConsentRequest, Identity, NewContact, Scope, Wanted
from bridge.ledger import RequestRecord, Status
from bridge.links import ConfirmLink
from bridge.sandbox import Sandbox
from bridge.sandbox.messages import ADMIN_ID
from bridge.web.app import create_app
from tests.conftest import make_settings

PUBLIC_URL = "https://consent.example.com"
WORDS = "Send me the <b>newsletter</b>"
SAME_SITE = {"Sec-Fetch-Site": "same-origin", "User-Agent": "Mozilla/5.0 (confirm test)"}


@pytest.fixture
def clock() -> ManualClock:
    """Time that moves only when a test moves it."""
    return ManualClock()


@pytest.fixture
def client(tmp_path: Path, sandbox: Sandbox, clock: ManualClock) -> Iterator[TestClient]:
    """The bridge keeping the client's IP and user agent as proof; the worker run by hand."""
    settings = make_settings(
        f"sqlite:///{tmp_path / 'ledger.db'}",
        BRIDGE_WORKER_IN_PROCESS="false",
        BRIDGE_PROOF_FIELDS="ip,user_agent",
    )
    app = create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app), clock=clock)
    with TestClient(app, base_url=PUBLIC_URL) as test_client:
        yield test_client


def call(client: TestClient, function: Any, *args: Any) -> Any:
    """Run a coroutine function of the app's on the test client's event loop."""
    return client.portal.call(function, *args)  # type: ignore[union-attr]


def services(client: TestClient) -> Any:
    """The app's services."""
    return client.app.state.services  # type: ignore[attr-defined]


def run_worker(client: TestClient) -> None:
    """Apply (or email) what is due, as the in-process worker would."""
    call(client, services(client).new_worker().run_until_idle)


def emailed(client: TestClient, sandbox: Sandbox, *, days: int = 7) -> str:
    """A signup recorded and emailed by the worker; the path of the link in the email."""
    request = ConsentRequest(
        Identity(email="new.person@example.com"),
        Wanted.SUBSCRIBED,
        Scope(type_ids=("95",)),
        services(client).clock.now(),
        "form:news",
        "event-1",
        context={"consent_text": WORDS},
        create=NewContact(),
        confirm=Confirmation(ADMIN_ID, days, "de"),
    )
    call(client, services(client).record, [request])
    run_worker(client)
    [message] = sandbox.messages
    [url] = re.findall(r'href="([^"]+)"', message["body"])
    return html.unescape(url).removeprefix(PUBLIC_URL)


def only(client: TestClient) -> RequestRecord:
    """The one request in the ledger."""
    [record] = call(client, services(client).ledger.list_requests)
    return record


def test_get_and_head_show_the_words_and_a_button_and_confirm_nothing(
    client: TestClient, sandbox: Sandbox
) -> None:
    path = emailed(client, sandbox)
    response = client.get(path)
    assert response.status_code == 200
    assert response.template.name == "confirm/ask.html"  # type: ignore[attr-defined]
    assert response.headers["content-language"] == "de"  # the form's language, from the link
    assert html.escape(WORDS) in response.text
    assert "n***@example.com" in response.text
    assert re.search(r'<form method="post"', response.text)
    assert response.headers["cache-control"] == "no-store"
    assert client.head(path).status_code == 200
    record = only(client)
    assert (record.status, record.confirmation) == (Status.AWAITING_CONFIRMATION, None)


def test_post_confirms_keeps_the_proof_and_the_worker_subscribes(
    client: TestClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    path = emailed(client, sandbox)
    clock.advance(600)
    response = client.post(path, headers=SAME_SITE)
    assert response.status_code == 200
    assert response.context["result"] == "done"  # type: ignore[attr-defined]
    record = only(client)
    assert record.status is Status.PENDING
    assert record.confirmation is not None
    assert record.confirmation.at == clock.now()
    assert record.confirmation.proof == {
        "via": "confirmation link",
        "ip": "testclient",
        "user_agent": "Mozilla/5.0 (confirm test)",
    }
    run_worker(client)
    applied = only(client)
    assert applied.status is Status.APPLIED
    assert sandbox.receives(applied.outcomes[0].contact_id, "95")
    # A second click: the same page, and nothing changes.
    clock.advance(60)
    again = client.post(path, headers=SAME_SITE)
    assert again.status_code == 200
    assert again.context["result"] == "done"  # type: ignore[attr-defined]
    assert client.get(path).context["result"] == "done"  # type: ignore[attr-defined]
    later = only(client)
    assert (later.status, later.confirmation) == (Status.APPLIED, record.confirmation)
    assert len(sandbox.messages) == 1


def test_a_post_another_site_started_is_refused(client: TestClient, sandbox: Sandbox) -> None:
    path = emailed(client, sandbox)
    response = client.post(path, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert only(client).status is Status.AWAITING_CONFIRMATION


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_bad_or_expired_link_gets_the_link_error_page(
    client: TestClient, sandbox: Sandbox, clock: ManualClock, method: str
) -> None:
    path = emailed(client, sandbox, days=1)
    tampered = path[:-2] + ("AA" if path[-2:] != "AA" else "BB")
    assert client.request(method, tampered, headers=SAME_SITE).status_code == 400
    clock.advance(86_400 + 1)
    response = client.request(method, path, headers=SAME_SITE)
    assert response.status_code == 400
    assert "expired" in response.text
    assert only(client).confirmation is None


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_request_whose_days_ran_out_is_gone(
    client: TestClient, sandbox: Sandbox, clock: ManualClock, method: str
) -> None:
    emailed(client, sandbox, days=1)
    clock.advance(86_400 + 1)
    # A genuine link still in its own days (signed later) naming the expired request.
    signer = services(client).signer
    url = signer.confirm_url(PUBLIC_URL, ConfirmLink("form:news", "event-1", 7, "en"))
    response = client.request(method, url.removeprefix(PUBLIC_URL), headers=SAME_SITE)
    assert response.status_code == 410
    assert response.context["result"] == "expired"  # type: ignore[attr-defined]
    # A GET writes nothing (the next claim's sweep marks it); a click marks it at once.
    waited = Status.AWAITING_CONFIRMATION if method == "GET" else Status.EXPIRED
    record = only(client)
    assert (record.status, record.confirmation) == (waited, None)
    run_worker(client)
    assert only(client).status is Status.EXPIRED


def test_a_link_naming_no_request_is_not_found(client: TestClient) -> None:
    signer = services(client).signer
    url = signer.confirm_url(PUBLIC_URL, ConfirmLink("form:news", "nobody", 7))
    assert client.get(url.removeprefix(PUBLIC_URL)).status_code == 404
    assert client.post(url.removeprefix(PUBLIC_URL), headers=SAME_SITE).status_code == 404


def test_before_its_email_is_sent_a_click_is_not_ready(client: TestClient) -> None:
    request = ConsentRequest(
        Identity(email="x@example.com"),
        Wanted.SUBSCRIBED,
        Scope(type_ids=("95",)),
        services(client).clock.now(),
        "form:news",
        "event-2",
        confirm=Confirmation(ADMIN_ID),
    )
    call(client, services(client).record, [request])
    url = services(client).signer.confirm_url(PUBLIC_URL, ConfirmLink("form:news", "event-2", 7))
    response = client.post(url.removeprefix(PUBLIC_URL), headers=SAME_SITE)
    assert response.status_code == 409
    assert response.context["result"] == "not_ready"  # type: ignore[attr-defined]
    assert only(client).status is Status.PENDING
