"""Every source records the same way: counted once, and a ledger that can't commit is a 503.

One case per audience that records (a person's page, the one-click POST, the JSON API, a
provider's webhook, a signup form posted by a browser and by `fetch`), each sent twice: a
repeat is recorded and counted nowhere (a one-click POST and a form post carry no id to know
a repeat by, so each is new). With the ledger down, each answers 503 with Retry-After in its
own shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from starlette.testclient import TestClient

from bridge.consent import Identity, Scope
from bridge.ledger import LedgerUnavailable
from bridge.links import LinkClaims, LinkSigner, Purpose
from bridge.sandbox import Sandbox
from tests.conftest import SECRET
from tests.providers.webhooks import bridge_with, recorded
from tests.web.forms.posting import FORMS, fetch, post

JANE = "63a07ddf05a32042dffac965"
RECEIVED = "37846"  # an opt-out email type Jane receives
WEBHOOK_USER, WEBHOOK_PASSWORD = "postmark", "a-long-enough-webhook-password"
NONCE = "0123456789abcdef0123456789abcdef"


def _token(purpose: Purpose) -> str:
    claims = LinkClaims(Identity(contact_id=JANE), Scope())
    return LinkSigner([SECRET]).token(purpose, claims)


@dataclass(frozen=True)
class Source:
    """One way in: how to send a request, which `source` it records, its answer's type."""

    name: str
    send: Callable[[TestClient], httpx.Response]
    source: str
    content_type: str
    # Sent again, it is the same request (a nonce, an Idempotency-Key, the provider's event
    # id); a one-click POST carries none, so each one is a request of its own.
    repeat_is_duplicate: bool = True


def _one_click(client: TestClient) -> httpx.Response:
    return client.post(
        f"/unsubscribe/{_token(Purpose.UNSUBSCRIBE)}", data={"List-Unsubscribe": "One-Click"}
    )


def _page(client: TestClient) -> httpx.Response:
    fields = [("nonce", NONCE), ("shown", f"{RECEIVED}:1"), ("action", "save")]
    return client.post(
        f"/preferences/{_token(Purpose.PREFERENCES)}",
        content=urlencode(fields),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": "https://consent.example.com",
            "Accept": "text/html",
        },
        follow_redirects=False,
    )


def _api(client: TestClient) -> httpx.Response:
    return client.put(
        f"/api/v1/preferences/{_token(Purpose.PREFERENCES)}",
        content=json.dumps({"types": [{"id": RECEIVED, "subscribed": False}]}),
        headers={"Content-Type": "application/json", "Idempotency-Key": "same-key-twice"},
    )


def _webhook(client: TestClient) -> httpx.Response:
    event = {
        "RecordType": "SubscriptionChange",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ChangedAt": "2026-11-01T10:00:00Z",
        "Recipient": "jane@example.com",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "MessageStream": "broadcast",
    }
    return client.post(
        "/webhooks/postmark",
        content=json.dumps(event),
        headers={"Content-Type": "application/json"},
        auth=(WEBHOOK_USER, WEBHOOK_PASSWORD),
    )


def _form(client: TestClient) -> httpx.Response:
    return post(client, "newsletter", [("email", "jane@example.com")])


def _form_fetch(client: TestClient) -> httpx.Response:
    return fetch(client, "newsletter", {"email": "jane@example.com"})


SOURCES = [
    Source("one-click", _one_click, "unsubscribe", "text/html", repeat_is_duplicate=False),
    Source("page", _page, "preferences", "text/html"),
    Source("api", _api, "preferences", "application/json"),
    Source("webhook", _webhook, "postmark", "text/plain"),
    # A signup is a request of its own each time: a page sent twice is a later concern.
    Source("form", _form, "form:newsletter", "text/html", repeat_is_duplicate=False),
    Source("form-fetch", _form_fetch, "form:newsletter", "application/json", False),
]


@pytest.fixture
def client(tmp_path: Path, sandbox: Sandbox) -> TestClient:
    table = {"postmark": {"username": WEBHOOK_USER, "password": WEBHOOK_PASSWORD}}
    with bridge_with(tmp_path, sandbox, table, more_toml=FORMS) as test_client:
        yield test_client  # type: ignore[misc]


def _counted(client: TestClient, source: str) -> float:
    registry = client.app.state.services.metrics.registry  # type: ignore[attr-defined]
    return sum(
        registry.get_sample_value(
            "bridge_requests_recorded_total", {"source": source, "wanted": wanted}
        )
        or 0.0
        for wanted in ("subscribed", "unsubscribed")
    )


def _ledger_down(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every commit fails from now on, as when the database is down."""

    async def down(*args: object, **kwargs: object) -> None:
        raise LedgerUnavailable("the ledger database is unavailable (OperationalError)")

    ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
    monkeypatch.setattr(ledger, "record", down)


@pytest.mark.parametrize("way", SOURCES, ids=lambda way: way.name)
def test_what_is_new_is_counted_and_a_repeat_is_not(client: TestClient, way: Source) -> None:
    first = way.send(client)
    assert first.status_code in (200, 303), first.text
    rows = len(recorded(client))
    assert rows >= 1 and _counted(client, way.source) == rows
    again = way.send(client)
    assert again.status_code in (200, 303), again.text
    expected = rows if way.repeat_is_duplicate else 2 * rows
    assert len(recorded(client)) == expected
    assert _counted(client, way.source) == expected


@pytest.mark.parametrize("way", SOURCES, ids=lambda way: way.name)
def test_a_ledger_that_cannot_commit_is_a_503_with_retry_after(
    client: TestClient, way: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ledger_down(client, monkeypatch)
    response = way.send(client)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert response.headers["content-type"].startswith(way.content_type)
    assert "OperationalError" not in response.text  # the driver's words stay in the logs
    assert _counted(client, way.source) == 0


def test_a_webhook_the_ledger_could_not_take_is_counted_as_unavailable(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    _ledger_down(client, monkeypatch)
    assert _webhook(client).status_code == 503
    registry = services.metrics.registry
    labels = {"provider": "postmark", "result": "unavailable"}
    assert registry.get_sample_value("bridge_webhooks_total", labels) == 1.0
    assert registry.get_sample_value("bridge_webhooks_total", {**labels, "result": "accepted"}) in (
        None,
        0.0,
    )


# The sources whose raw body is kept with their requests: a page's or the API's request is
# signed by a link token (the unsubscribe page's payload hash is the token's), never kept.
KEEPS_BODY = {"webhook", "form", "form-fetch"}


def _kept_bodies(client: TestClient) -> list[bytes | None]:
    """The raw body kept for each recorded request, newest first (None: none kept)."""
    ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
    return [
        None
        if record.payload_sha256 is None
        else client.portal.call(ledger.history.payload, record.payload_sha256)  # type: ignore[union-attr]
        for record in recorded(client)
    ]


@pytest.mark.parametrize("way", SOURCES, ids=lambda way: way.name)
def test_webhooks_and_forms_keep_their_body_and_pages_never(
    client: TestClient, way: Source
) -> None:
    response = way.send(client)
    assert response.status_code in (200, 303), response.text
    bodies = _kept_bodies(client)
    if way.name in KEEPS_BODY:
        sent = response.request.content
        assert bodies and all(body == sent for body in bodies)
    else:
        assert bodies and bodies == [None] * len(bodies)


def test_retention_zero_keeps_the_hash_and_no_body(tmp_path: Path, sandbox: Sandbox) -> None:
    table = {"postmark": {"username": WEBHOOK_USER, "password": WEBHOOK_PASSWORD}}
    env = {"BRIDGE_PAYLOAD_RETENTION_DAYS": "0"}
    with bridge_with(tmp_path, sandbox, table, env=env) as client:
        assert _webhook(client).status_code == 200
        [record] = recorded(client)
        assert record.payload_sha256 is not None
        assert _kept_bodies(client) == [None]
