"""`POST /forms/{form}`: what is recorded, the proof, bots, the rate limits, and the counts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bridge.clock import ManualClock
from bridge.consent import Identity, NewContact, Scope, Wanted
from bridge.forms.limits import PER_ADDRESS, PER_IP
from bridge.forms.spam import MIN_FILL_SECONDS
from bridge.ledger import LedgerUnavailable
from bridge.sandbox import Sandbox
from tests.web.forms.posting import (
    SITE,
    WORDS,
    bridge_with_forms,
    fetch,
    post,
    posts,
    recorded,
)

THANKS = "/forms/newsletter/thanks"


@pytest.fixture
def clock() -> ManualClock:
    """Time that moves only when a test moves it."""
    return ManualClock()


@pytest.fixture
def client(tmp_path: Path, sandbox: Sandbox, clock: ManualClock) -> Iterator[TestClient]:
    """The bridge with the test forms, on a manual clock."""
    with bridge_with_forms(tmp_path, sandbox, clock=clock) as test_client:
        yield test_client


def test_a_signup_is_one_request_with_the_proof_of_consent(
    client: TestClient, clock: ManualClock
) -> None:
    fields = [("email", " New.Person@Example.com "), ("phone", "+353 87 765 4321")]
    response = post(client, "newsletter", fields, **{"User-Agent": "Mozilla/5.0 (test)"})
    assert response.status_code == 303 and response.headers["location"] == THANKS
    [record] = recorded(client)
    request = record.request
    assert request.identity == Identity(email="new.person@example.com", phone="+353877654321")
    assert request.wanted is Wanted.SUBSCRIBED
    assert request.scope == Scope(type_ids=("93", "37846"))
    assert request.source == "form:newsletter"
    assert request.occurred_at == clock.now()
    assert len(request.event_id) == 32
    assert request.context == {
        "via": "form",
        "form": "newsletter",
        "action": "subscribe",
        "consent_text": WORDS,
        "consent_text_sha256": hashlib.sha256(WORDS.encode()).hexdigest(),
        "page_origin": SITE,
        "request_id": response.headers["x-request-id"],  # follows it into the worker's logs
    }
    assert posts(client, "newsletter", "accepted") == 1
    registry = client.app.state.services.metrics.registry  # type: ignore[attr-defined]
    counted = {"source": "form:newsletter", "wanted": "subscribed"}
    assert registry.get_sample_value("bridge_requests_recorded_total", counted) == 1


def test_a_signup_carries_leave_to_create_a_lead_and_an_unsubscribe_does_not(
    client: TestClient,
) -> None:
    ann = [("your-email", "a@example.com"), ("full-name", " Ann  Lee ")]
    post(client, "choose", [*ann, ("subscription", "93"), ("subscription", "95")])
    post(client, "choose", [("your-email", "b@example.com"), ("subscription", "95")])
    post(client, "leave", [("email", "c@example.com"), ("name", "Cy")])
    requests = [record.request for record in reversed(recorded(client))]  # oldest first
    assert [r.create for r in requests] == [NewContact("Ann Lee"), NewContact(None), None]
    assert [r.scope.type_ids for r in requests] == [("93", "95"), ("95",), ("93",)]
    assert [r.wanted for r in requests] == [Wanted.SUBSCRIBED] * 2 + [Wanted.UNSUBSCRIBED]


def test_the_client_is_kept_as_proof_where_the_operator_says(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    env = {"BRIDGE_PROOF_FIELDS": "ip,user_agent"}
    with bridge_with_forms(tmp_path, sandbox, env=env) as client:
        post(client, "newsletter", **{"User-Agent": "Mozilla/5.0 (test)"})
        [record] = recorded(client)
    assert record.request.context["ip"] == "testclient"
    assert record.request.context["user_agent"] == "Mozilla/5.0 (test)"


def test_only_the_origin_of_the_page_is_kept_never_its_address(client: TestClient) -> None:
    # A script with no Origin but a Referer on the form's site: its origin, not its query.
    post(
        client,
        "newsletter",
        Origin=None,
        **{"Sec-Fetch-Site": None, "Referer": f"{SITE}/signup?email=x@example.com"},
    )
    [record] = recorded(client)
    assert record.request.context["page_origin"] == SITE
    assert "x@example.com" not in json.dumps(record.request.context)


def test_a_filled_honeypot_gets_the_normal_answer_and_changes_nothing(client: TestClient) -> None:
    person = post(client, "choose", [("your-email", "a@example.com"), ("subscription", "93")])
    bot = post(
        client,
        "choose",
        [("your-email", "b@example.com"), ("subscription", "93"), ("url", "http://spam")],
    )
    assert (bot.status_code, bot.headers["location"]) == (303, person.headers["location"])
    assert len(recorded(client)) == 1
    assert posts(client, "choose", "honeypot") == 1
    assert posts(client, "choose", "accepted") == 1
    assert [r.request.identity.email for r in recorded(client)] == ["a@example.com"]


def test_a_fresh_or_forged_fill_stamp_is_a_bot_and_an_old_enough_one_a_person(
    client: TestClient, clock: ManualClock
) -> None:
    signer = client.app.state.services.signer  # type: ignore[attr-defined]
    stamp = signer.fill_stamp("newsletter")
    clock.advance(MIN_FILL_SECONDS - 1)
    fast = post(client, "newsletter", [("email", "a@example.com"), ("_t", stamp)])
    forged = post(client, "newsletter", [("email", "a@example.com"), ("_t", stamp + "x")])
    other = signer.fill_stamp("choose")
    clock.advance(MIN_FILL_SECONDS)
    borrowed = post(client, "newsletter", [("email", "a@example.com"), ("_t", other)])
    assert [r.status_code for r in (fast, forged, borrowed)] == [303] * 3
    assert recorded(client) == [] and posts(client, "newsletter", "too_fast") == 3
    assert post(client, "newsletter", [("email", "a@example.com"), ("_t", stamp)]).is_redirect
    assert len(recorded(client)) == 1


def test_posts_past_the_per_ip_limit_wait_and_are_not_recorded(
    client: TestClient, clock: ManualClock
) -> None:
    for n in range(PER_IP.posts):
        assert post(client, "newsletter", [("email", f"p{n}@example.com")]).status_code == 303
    refused = post(client, "newsletter", [("email", "late@example.com")])
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == str(int(PER_IP.seconds))
    assert "Too many attempts" in refused.text  # a page for the person
    assert len(recorded(client)) == PER_IP.posts
    assert posts(client, "newsletter", "rate_limited") == 1
    clock.advance(PER_IP.seconds)
    assert post(client, "newsletter", [("email", "late@example.com")]).status_code == 303


def test_posts_past_the_per_address_limit_wait_whichever_form(
    client: TestClient, clock: ManualClock
) -> None:
    jane = [("email", "jane.doe@example.com")]
    for _ in range(PER_ADDRESS.posts - 1):
        assert post(client, "newsletter", jane).status_code == 303
    assert post(client, "leave", jane).status_code == 303
    clock.advance(60)  # the per-IP window passes; the address's does not
    refused = fetch(client, "newsletter", {"email": "JANE.DOE@example.com"})
    assert refused.status_code == 429
    assert refused.json()["error"] == "Too many requests"
    assert int(refused.headers["retry-after"]) == PER_ADDRESS.seconds - 60
    assert len(recorded(client)) == PER_ADDRESS.posts
    clock.advance(PER_ADDRESS.seconds)
    assert post(client, "newsletter", jane).status_code == 303


def test_a_get_is_the_page_not_a_submission(client: TestClient) -> None:
    assert client.get("/forms/newsletter?email=a@example.com").status_code == 200
    response = client.put("/forms/newsletter", headers={"Origin": SITE})
    assert response.status_code == 405 and set(response.headers["allow"].split(", ")) == {
        "GET",
        "HEAD",
        "POST",
    }
    assert recorded(client) == []


def test_a_post_the_ledger_could_not_take_is_a_503_counted_as_unavailable(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*args: object, **kwargs: object) -> None:
        raise LedgerUnavailable("the ledger database is unavailable (OperationalError)")

    monkeypatch.setattr(client.app.state.services.ledger, "record", down)  # type: ignore[attr-defined]
    response = post(client, "newsletter")
    assert response.status_code == 503 and response.headers["retry-after"] == "30"
    assert posts(client, "newsletter", "unavailable") == 1
    assert posts(client, "newsletter", "accepted") == 0


def test_without_a_nonce_each_post_is_its_own_request(client: TestClient) -> None:
    fields = [("email", "pasted@example.com")]
    post(client, "newsletter", fields)
    post(client, "newsletter", fields)
    fetch(client, "newsletter", {"email": "pasted@example.com"})
    assert len(recorded(client)) == 3


def test_a_nonce_not_of_the_bridge_s_shape_is_no_nonce(client: TestClient) -> None:
    fields = [("email", "odd.nonce@example.com"), ("_nonce", "not-a-nonce")]
    post(client, "newsletter", fields)
    post(client, "newsletter", fields)
    assert len(recorded(client)) == 2
