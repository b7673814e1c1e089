"""A request's story, replaying it, and applying or dismissing held SMS revocations."""

from __future__ import annotations

from starlette.testclient import TestClient

from bridge.ledger import Status
from tests.web.admin.conftest import Filled, post, status_of


def test_the_story_shows_the_proof_and_every_intercom_call(
    browser: TestClient, filled: Filled
) -> None:
    html = browser.get(f"/admin/requests/{filled.applied}").text
    assert "email:jane@example.com" in html  # asked for: in full
    assert "Yes, email me" in html  # the words agreed to, and their hash
    assert "raw body kept (23 bytes)" in html
    assert f"req-{filled.applied}" in html  # Intercom's request id
    assert "/replay" not in html and "/dismiss" not in html  # applied: nothing to do


def test_an_unknown_request_is_a_404(browser: TestClient) -> None:
    assert browser.get("/admin/requests/999999").status_code == 404


def test_a_dead_request_is_replayed_from_its_story(browser: TestClient, filled: Filled) -> None:
    assert "/replay" in browser.get(f"/admin/requests/{filled.dead}").text
    response = post(browser, f"/admin/requests/{filled.dead}/replay")
    assert response.headers["location"] == f"/admin/requests/{filled.dead}?done=replayed"
    assert status_of(browser, filled.dead) is Status.PENDING
    again = post(browser, f"/admin/requests/{filled.applied}/replay")
    assert again.headers["location"].endswith("done=unchanged")
    assert status_of(browser, filled.applied) is Status.APPLIED


def test_the_review_list_masks_and_offers_apply_and_dismiss(
    browser: TestClient, filled: Filled
) -> None:
    html = browser.get("/admin/review").text
    assert "please stop" in html and "+447700900123" not in html
    assert f"/admin/requests/{filled.held}/apply" in html
    assert f"/admin/requests/{filled.held}/dismiss" in html


def test_applying_a_held_request_queues_it(browser: TestClient, filled: Filled) -> None:
    response = post(browser, f"/admin/requests/{filled.held}/apply")
    assert response.headers["location"].endswith("done=applied")
    assert status_of(browser, filled.held) is Status.PENDING


def test_dismissing_a_held_request_keeps_the_note(browser: TestClient, filled: Filled) -> None:
    post(browser, f"/admin/requests/{filled.held}/dismiss", {"note": "a question, not a STOP"})
    assert status_of(browser, filled.held) is Status.DISMISSED
    html = browser.get(f"/admin/requests/{filled.held}?done=dismissed").text
    assert "a question, not a STOP" in html and "Dismissed: it will not be applied." in html
    assert post(browser, f"/admin/requests/{filled.held}/other").status_code == 404
