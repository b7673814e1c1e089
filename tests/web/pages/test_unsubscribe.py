"""The unsubscribe link: GET/HEAD change nothing, POST records and answers 200 (RFC 8058)."""

from __future__ import annotations

import html
import logging
import re
import time

import pytest
from starlette.testclient import TestClient

from bridge.consent import Channel, Identity, Scope, Wanted
from bridge.ledger import LedgerUnavailable, RequestRecord
from bridge.links import UNDO_MAX_AGE, LinkClaims, LinkSigner, Purpose, Undo, token_digest
from bridge.sandbox import Sandbox
from bridge.web.access_log import AccessLogTokenFilter
from tests.conftest import SECRET

JANE = Identity(contact_id="63a07ddf05a32042dffac965", email="jane@example.com")
AMELIE = Identity(contact_id="63a07de105a32042dffac970")


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
    assert record.request.event_id.endswith(":" + nonce.group(1))
    assert record.request.context["via"] == "page"


def test_two_people_sending_the_same_nonce_are_both_recorded(client: TestClient) -> None:
    # The nonce is the client's to choose: it must not let one person's unsubscribe
    # swallow another's (the ledger dedupes on source and event id).
    form = {"nonce": "0" * 32, "action": "unsubscribe"}
    jane = link_path(LinkClaims(JANE, Scope(type_ids=("37846",))))
    amelie = link_path(LinkClaims(AMELIE, Scope(type_ids=("37846",))))
    assert client.post(jane, data=form).status_code == 200
    assert client.post(amelie, data=form).status_code == 200
    people = sorted(r.request.identity.contact_id or "" for r in recorded(client))
    assert people == sorted([JANE.contact_id or "", AMELIE.contact_id or ""])


def _undo_form(page: str) -> dict[str, str]:
    found = re.search(r'name="undo" value="([^"]+)"', page)
    assert found is not None, "no undo button"
    return {"action": "resubscribe", "undo": html.unescape(found.group(1))}


def test_undo_restores_what_was_received_before_and_nothing_else(
    client: TestClient, sandbox: Sandbox
) -> None:
    # Jane receives 37846 (opt-out, default) but not 93 (she opted out) nor 95 (opt-in, never
    # opted in). Undoing an "every email" unsubscribe must bring back 37846 alone.
    path = link_path(LinkClaims(Identity(contact_id=JANE.contact_id), Scope(channel=Channel.EMAIL)))
    done = client.post(path, data={"action": "unsubscribe"})
    assert done.status_code == 200
    undone = client.post(path, data=_undo_form(done.text))
    assert undone.status_code == 200
    assert "subscribed again" in undone.text
    assert "Product updates" in undone.text and "Offers and promotions" not in undone.text
    by_wanted = {r.request.wanted: r.request for r in recorded(client)}
    assert by_wanted[Wanted.SUBSCRIBED].scope == Scope(type_ids=("37846",))
    assert by_wanted[Wanted.SUBSCRIBED].context["undoes"] == by_wanted[Wanted.UNSUBSCRIBED].event_id
    client.portal.call(_worker(client).run_until_idle)  # type: ignore[union-attr]
    contact = JANE.contact_id or ""
    assert sandbox.receives(contact, "37846")
    assert not sandbox.receives(contact, "95") and not sandbox.receives(contact, "93")


def test_undo_brings_back_an_opt_in_the_person_had(client: TestClient, sandbox: Sandbox) -> None:
    path = link_path(LinkClaims(AMELIE, Scope(channel=Channel.EMAIL)))
    done = client.post(path, data={"action": "unsubscribe"})
    client.portal.call(_worker(client).run_until_idle)  # type: ignore[union-attr]
    assert not sandbox.receives(AMELIE.contact_id or "", "95")
    assert client.post(path, data=_undo_form(done.text)).status_code == 200
    client.portal.call(_worker(client).run_until_idle)  # type: ignore[union-attr]
    assert all(sandbox.receives(AMELIE.contact_id or "", t) for t in ("93", "37846", "95"))


def test_undo_twice_records_once(client: TestClient) -> None:
    path = link_path(LinkClaims(JANE, Scope(type_ids=("37846",))))
    form = _undo_form(client.post(path, data={"action": "unsubscribe"}).text)
    assert client.post(path, data=form).status_code == 200
    assert client.post(path, data=form).status_code == 200
    assert sorted(r.request.wanted.value for r in recorded(client)) == [
        "subscribed",
        "unsubscribed",
    ]


@pytest.mark.parametrize("undo", [None, "forged", "expired", "other link"])
def test_resubscribe_without_a_valid_undo_token_opts_no_one_in(
    client: TestClient, sandbox: Sandbox, undo: str | None
) -> None:
    every_email = LinkClaims(Identity(contact_id=JANE.contact_id), Scope(channel=Channel.EMAIL))
    form = {"action": "resubscribe"}
    if undo == "forged":
        form["undo"] = "eyJhIjoxfQ.AAAAAA.bm90LXNpZ25lZA"
    elif undo == "expired":
        long_ago = LinkSigner([SECRET], clock=lambda: time.time() - UNDO_MAX_AGE - 60)
        link = token_digest(link_path(every_email).rsplit("/", 1)[1])
        form["undo"] = long_ago.undo_token(Undo("x", link, ("95",)))
    elif undo == "other link":
        other = link_path(LinkClaims(AMELIE, Scope(channel=Channel.EMAIL)))
        form = _undo_form(client.post(other, data={"action": "unsubscribe"}).text)
    before = len(recorded(client))
    response = client.post(link_path(every_email), data=form)
    assert response.status_code == 400
    expected = "This button has expired" if undo == "expired" else "This button isn't valid"
    assert expected in html.unescape(response.text)
    assert len(recorded(client)) == before
    client.portal.call(_worker(client).run_until_idle)  # type: ignore[union-attr]
    assert not sandbox.receives(JANE.contact_id or "", "95")


@pytest.mark.parametrize(
    ("form", "headers"),
    [
        (
            {"action": "resubscribe"},
            {"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
        ),
        ({"action": "unsubscribe"}, {"sec-fetch-site": "cross-site"}),
        ({"List-Unsubscribe": "One-Click"}, {"origin": "https://evil.example"}),
    ],
)
def test_a_post_another_website_started_is_refused(
    client: TestClient, form: dict[str, str], headers: dict[str, str]
) -> None:
    response = client.post(link_path(LinkClaims(JANE)), data=form, headers=headers)
    assert response.status_code == 403
    assert recorded(client) == []


def test_the_bridges_own_page_may_post(client: TestClient) -> None:
    headers = {"origin": "https://consent.example.com", "sec-fetch-site": "same-origin"}
    response = client.post(
        link_path(LinkClaims(JANE)), data={"action": "unsubscribe"}, headers=headers
    )
    assert response.status_code == 200
    assert len(recorded(client)) == 1


def test_a_link_whose_types_are_all_gone_says_so_and_records_nothing(client: TestClient) -> None:
    path = link_path(LinkClaims(JANE, Scope(type_ids=("abc",))))
    page = client.get(path)
    assert page.status_code == 410
    assert "Nothing to unsubscribe from" in page.text and "all messages" not in page.text
    assert '<form method="post"' not in page.text
    posted = client.post(path, data={"action": "unsubscribe"})
    assert posted.status_code == 410
    assert "You&#39;re unsubscribed" not in posted.text
    assert recorded(client) == []


def test_a_link_with_one_type_gone_unsubscribes_from_the_rest(client: TestClient) -> None:
    path = link_path(LinkClaims(JANE, Scope(type_ids=("abc", "37846", "88"))))  # 88 is archived
    page = client.get(path)
    assert page.status_code == 200
    assert "Product updates" in page.text and "Weekly digest" not in page.text
    assert client.post(path, data={"action": "unsubscribe"}).status_code == 200
    [record] = recorded(client)
    assert record.request.scope == Scope(type_ids=("37846",))


def test_a_405_names_every_method_the_address_takes(client: TestClient) -> None:
    response = client.put(link_path(LinkClaims(JANE)))
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}


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
    return client.app.state.services.new_worker()  # type: ignore[attr-defined]
