"""An admin-enabled bridge on a SQLite ledger, a signed-in client, and a few requests in it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bridge.consent import Channel, ConsentRequest, Identity, Scope, Wanted
from bridge.ledger import Ledger, Outcome, Status
from bridge.sandbox import Sandbox
from bridge.web.app import create_app
from tests.conftest import make_settings

ADMIN = "admin-token-0123456789abcdef"
BASE = "https://consent.example.com"
SAME_SITE = {"Sec-Fetch-Site": "same-origin"}
JANE = Identity(email="jane@example.com")
JANE_PHONE = Identity(phone="+447700900123")
CONTACT = "63a07ddf05a32042dffac965"
OCCURRED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
def admin_app(sandbox: Sandbox, sqlite_url: str) -> Starlette:
    """The bridge with the admin token set and the worker off."""
    settings = make_settings(sqlite_url, BRIDGE_WORKER_IN_PROCESS="false", BRIDGE_ADMIN_TOKEN=ADMIN)
    return create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app))


@pytest.fixture
def anonymous(admin_app: Starlette) -> Iterator[TestClient]:
    """A browser that has not logged in (redirects are not followed)."""
    with TestClient(admin_app, base_url=BASE, follow_redirects=False) as client:
        yield client


def log_in(client: TestClient, token: str = ADMIN, next_path: str = "/admin") -> httpx.Response:
    """Post the login form from the bridge's own page."""
    return client.post("/admin/login", data={"token": token, "next": next_path}, headers=SAME_SITE)


@pytest.fixture
def browser(anonymous: TestClient) -> TestClient:
    """A browser signed in with the login form."""
    assert log_in(anonymous).status_code == 303
    return anonymous


def csrf_of(client: TestClient, path: str = "/admin") -> str:
    """The CSRF token in a page's forms."""
    html = client.get(path).text
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def post(client: TestClient, path: str, data: dict[str, str] | None = None) -> httpx.Response:
    """A same-origin form POST carrying the session's CSRF token."""
    form = {"csrf": csrf_of(client), **(data or {})}
    return client.post(path, data=form, headers=SAME_SITE)


@dataclass(frozen=True)
class Filled:
    """The ids of the requests `filled` recorded."""

    applied: int
    dead: int
    held: int
    other_dead: int


def ask(
    identity: Identity, event_id: str, source: str = "sendgrid", **kw: object
) -> ConsentRequest:
    """An unsubscribe by `identity`."""
    channel = Channel.SMS if identity.phone else Channel.EMAIL
    return ConsentRequest(
        identity,
        Wanted.UNSUBSCRIBED,
        Scope(channel=channel),
        OCCURRED,
        source,
        event_id,
        **kw,  # type: ignore[arg-type]
    )


async def fill(ledger: Ledger) -> Filled:
    """Jane's email unsubscribe applied, another dead, her SMS held; a stranger's dead."""
    now = ledger.clock.now()
    [applied, dead, other] = await ledger.record(
        [
            ask(JANE, "e1", context={"consent_text": "Yes, email me"}),
            ask(JANE, "e2"),
            ask(Identity(email="joe@example.com"), "x1", source="mailgun"),
        ],
        payload=b'{"event":"unsubscribe"}',
        received_at=now,
    )
    [held] = await ledger.record(
        [ask(JANE_PHONE, "s1", source="twilio", context={"text": "please stop"}, hold=True)],
        received_at=now,
    )
    ends = {applied.id: Status.APPLIED, dead.id: Status.DEAD, other.id: Status.DEAD}
    while ends:
        for claimed in await ledger.claim("w", limit=5, lease_seconds=60, now=now):
            contact = "5f0c1e2d3b4a596877665544" if claimed.id == other.id else CONTACT
            code = 200 if claimed.id == applied.id else 500
            outcome = Outcome(contact, "93", "detach", code, f"req-{claimed.id}")
            await ledger.finish(claimed.id, "w", ends.pop(claimed.id), outcomes=[outcome], now=now)
        await ledger.release("w", now=now)
    return Filled(applied.id, dead.id, held.id, other.id)


@pytest.fixture
def filled(browser: TestClient) -> Filled:
    """The admin's ledger with `fill`'s requests in it."""
    ledger: Ledger = browser.app.state.services.ledger  # type: ignore[attr-defined]
    return browser.portal.call(fill, ledger)  # type: ignore[union-attr]


def status_of(client: TestClient, request_id: int) -> Status:
    """A request's status, read afresh from the admin's ledger."""
    ledger: Ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
    found = client.portal.call(ledger.get, request_id)  # type: ignore[union-attr]
    assert found is not None
    return found.status
