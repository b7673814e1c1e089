"""The unsubscribe link: GET/HEAD change nothing, POST records and answers 200 (RFC 8058)."""

from __future__ import annotations

import html
import logging
import re

import pytest
from starlette.testclient import TestClient

from bridge.consent import Channel, Identity, Scope, Wanted
from bridge.ledger import LedgerUnavailable, RequestRecord
from bridge.links import LinkClaims, LinkSigner, Purpose
from bridge.logsafe import AccessLogTokenFilter
from bridge.sandbox import Sandbox
from tests.conftest import SECRET

JANE = Identity(contact_id="63a07ddf05a32042dffac965", email="jane@example.com")


def link_path(claims: LinkClaims, purpose: Purpose = Purpose.UNSUBSCRIBE) -> str:
    """The path of a link signed with the test key."""
    return f"/{purpose.value}/{LinkSigner([SECRET]).token(purpose, claims)}"


def recorded(client: TestClient) -> list[RequestRecord]:
    """Everything in the app's ledger."""
    ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
    return client.portal.call(lambda: ledger.list_requests())  # type: ignore[union-attr]


def test_get_shows_a_confirmation_and_changes_nothing(client: TestClient) -> None:
    response = client.get(
        link_path(LinkClaims(Identity(email="jane@example.com"), Scope(type_ids=("93",))))
    )
    assert response.status_code == 200
    assert response.template.name == "unsubscribe/confirm.html"  # type: ignore[attr-defined]
    assert "Unsubscribe?" in response.text
    assert "j***@example.com" in response.text and "jane@example.com" not in response.text
    assert "Newsletter" in response.text  # the type's name from the workspace
    assert re.search(r'<form method="post"', response.text)
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers
    assert recorded(client) == []


def test_head_changes_nothing(client: TestClient) -> None:
    response = client.head(link_path(LinkClaims(JANE)))
    assert response.status_code == 200
    assert response.content == b""
    assert recorded(client) == []


@pytest.mark.parametrize("multipart", [False, True])
def test_one_click_post_records_and_answers_200(client: TestClient, multipart: bool) -> None:
    path = link_path(LinkClaims(JANE, Scope(channel=Channel.EMAIL)))
    if multipart:
        response = client.post(
            path, files={"List-Unsubscribe": (None, "One-Click")}, follow_redirects=False
        )
    else:
        response = client.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
    assert response.status_code == 200  # RFC 8058: never a redirect
    assert "You're unsubscribed" in html.unescape(response.text)
    assert "set-cookie" not in response.headers
    [record] = recorded(client)
    assert record.request.wanted is Wanted.UNSUBSCRIBED
    assert record.request.identity == Identity(contact_id=JANE.contact_id)
    assert record.request.scope == Scope(channel=Channel.EMAIL)
    assert record.request.source == "unsubscribe"
    assert record.request.context["via"] == "one-click"
    assert record.status.value == "pending"


def test_repeated_one_click_posts_each_answer_200(client: TestClient) -> None:
    path = link_path(LinkClaims(JANE))
    for _ in range(3):
        assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert len(recorded(client)) == 3  # each is its own ask; the plan makes repeats free


def test_button_with_the_same_nonce_records_once(client: TestClient) -> None:
    path = link_path(LinkClaims(JANE))
    page = client.get(path).text
    nonce = re.search(r'name="nonce" value="([0-9a-f]{32})"', page)
    assert nonce is not None
    form = {"nonce": nonce.group(1), "action": "unsubscribe"}
    assert client.post(path, data=form).status_code == 200
    assert client.post(path, data=form).status_code == 200  # a double click
    [record] = recorded(client)
    assert record.request.event_id == nonce.group(1)
    assert record.request.context["via"] == "page"


def test_undo_records_a_resubscribe(client: TestClient) -> None:
    path = link_path(LinkClaims(JANE, Scope(type_ids=("93",))))
    done = client.post(path, data={"action": "unsubscribe"})
    assert 'value="resubscribe"' in done.text
    undone = client.post(path, data={"action": "resubscribe"})
    assert undone.status_code == 200
    assert "subscribed again" in undone.text
    wanted = sorted(r.request.wanted.value for r in recorded(client))
    assert wanted == ["subscribed", "unsubscribed"]


def test_the_done_page_links_to_the_preference_page_in_the_links_language(
    client: TestClient,
) -> None:
    path = link_path(LinkClaims(JANE, Scope(channel=Channel.EMAIL), "de"))
    done = client.post(path, data={"action": "unsubscribe"})
    assert '<html lang="de"' in done.text
    manage = re.search(r'href="https://consent\.example\.com(/preferences/[^"]+)"', done.text)
    assert manage is not None
    page = client.get(html.unescape(manage.group(1)))
    assert page.status_code == 200
    assert '<html lang="de"' in page.text
    # The same person and channel: Jane's email types, no SMS ones.
    assert 'value="93"' in page.text and 'value="108"' not in page.text


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_tampered_token_gets_a_plain_400_page(client: TestClient, method: str) -> None:
    good = link_path(LinkClaims(JANE))
    bad = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    response = client.request(
        method, bad, data={"List-Unsubscribe": "One-Click"} if method == "POST" else None
    )
    assert response.status_code == 400
    assert "This link isn't valid" in html.unescape(response.text)
    assert "Traceback" not in response.text and bad.rsplit("/", 1)[1] not in response.text
    assert recorded(client) == []


def test_a_preferences_token_is_not_an_unsubscribe_token(client: TestClient) -> None:
    token = link_path(LinkClaims(JANE), Purpose.PREFERENCES).rsplit("/", 1)[1]
    assert client.post(f"/unsubscribe/{token}").status_code == 400


def test_ledger_failure_is_a_503_and_nothing_is_acknowledged(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_record(*args: object, **kwargs: object) -> None:
        raise LedgerUnavailable("database is locked")

    services = client.app.state.services  # type: ignore[attr-defined]
    monkeypatch.setattr(services.ledger, "record", failing_record)
    response = client.post(link_path(LinkClaims(JANE)), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert "Nothing was changed" in response.text


def test_oversized_body_is_refused(client: TestClient) -> None:
    limit = client.app.state.services.settings.max_body_bytes  # type: ignore[attr-defined]
    response = client.post(
        link_path(LinkClaims(JANE)),
        content=b"x" * (limit + 1),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert recorded(client) == []


def test_unknown_routes_and_methods_are_plain(client: TestClient) -> None:
    assert client.get("/nope").status_code == 404
    assert client.delete(link_path(LinkClaims(JANE))).status_code == 405


def test_access_log_filter_masks_tokens() -> None:
    token = LinkSigner([SECRET]).token(Purpose.UNSUBSCRIBE, LinkClaims(JANE))
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", f"/unsubscribe/{token}", "1.1", 200),
        None,
    )
    assert AccessLogTokenFilter().filter(record)
    line = record.getMessage()
    assert token not in line
    assert f"/unsubscribe/{token[:6]}…" in line


def test_post_then_worker_unsubscribes_the_sandbox_contact(
    client: TestClient, sandbox: Sandbox
) -> None:
    contact = sandbox.add_contact(email="new.person@example.com", role="user")
    assert sandbox.receives(contact["id"], "93")
    path = link_path(LinkClaims(Identity(contact_id=contact["id"]), Scope(type_ids=("93",))))
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    worker = _worker(client)
    client.portal.call(worker.run_until_idle)  # type: ignore[union-attr]
    assert not sandbox.receives(contact["id"], "93")
    [record] = recorded(client)
    assert record.status.value == "applied"
    assert [(o.action, o.type_id, o.http_status) for o in record.outcomes] == [
        ("attach", "93", 200)
    ]


def _worker(client: TestClient):  # type: ignore[no-untyped-def]
    from bridge.metrics import Metrics
    from bridge.worker import Worker

    services = client.app.state.services  # type: ignore[attr-defined]
    return Worker(
        services.ledger, services.intercom, services.types, services.settings.worker, Metrics()
    )
