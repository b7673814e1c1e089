"""Who gets into /admin: off without the token, the login form, the cookie, CSRF, origins."""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

from bridge.web.admin.auth import MAX_FAILURES, local_next
from tests.web.admin.conftest import ADMIN, SAME_SITE, csrf_of, log_in, post


@pytest.mark.parametrize("path", ["/admin", "/admin/login", "/admin/review", "/admin/export"])
def test_without_the_admin_token_every_admin_path_is_a_404(client: TestClient, path: str) -> None:
    assert client.get(path, headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 404
    assert client.post(path, headers=SAME_SITE).status_code in (404, 405)


def test_a_page_sends_a_stranger_to_the_login_form_and_back(anonymous: TestClient) -> None:
    response = anonymous.get("/admin/review")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login?next=%2Fadmin%2Freview"
    form = anonymous.get(response.headers["location"])
    assert 'type="password"' in form.text and 'value="/admin/review"' in form.text
    assert form.headers["cache-control"] == "no-store"


def test_logging_in_sets_a_strict_session_cookie_that_is_not_the_token(
    anonymous: TestClient,
) -> None:
    response = log_in(anonymous, next_path="/admin/review")
    assert response.status_code == 303 and response.headers["location"] == "/admin/review"
    cookie = response.headers["set-cookie"]
    for part in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age=28800"):
        assert part in cookie
    assert ADMIN not in cookie
    assert anonymous.get("/admin").status_code == 200


def test_a_wrong_token_is_refused_logged_masked_then_rate_limited(
    anonymous: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    for _ in range(MAX_FAILURES):
        assert log_in(anonymous, token="guess-guess").status_code == 401
    assert "admin login failed" in caplog.text and "guess-guess" not in caplog.text
    assert log_in(anonymous).status_code == 429  # even the right token, for a while
    assert anonymous.get("/admin").status_code == 303


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/admin/people", "/admin/people"),
        ("/admin/requests/3?done=x", "/admin/requests/3?done=x"),
        ("https://evil.example/admin", "/admin"),
        ("//evil.example/admin", "/admin"),
        ("/\\evil.example", "/admin"),
        ("/administrator", "/admin"),
        ("/unsubscribe/x", "/admin"),
        ("", "/admin"),
    ],
)
def test_next_after_login_is_only_ever_a_local_admin_path(given: str, kept: str) -> None:
    assert local_next(given) == kept


def test_a_login_from_another_site_is_refused(anonymous: TestClient) -> None:
    response = anonymous.post(
        "/admin/login", data={"token": ADMIN}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403 and "set-cookie" not in response.headers


def test_a_form_without_the_session_csrf_token_is_refused(browser: TestClient) -> None:
    assert browser.post("/admin/replay", data={}, headers=SAME_SITE).status_code == 403
    wrong = browser.post("/admin/replay", data={"csrf": "0" * 64}, headers=SAME_SITE)
    assert wrong.status_code == 403
    assert post(browser, "/admin/replay").status_code == 200  # the confirmation step


def test_a_cross_site_post_is_refused_even_with_the_csrf_token(browser: TestClient) -> None:
    csrf = csrf_of(browser)
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        response = browser.post("/admin/replay", data={"csrf": csrf}, headers=headers)
        assert response.status_code == 403


def test_a_bearer_needs_no_cookie_nor_csrf_token(anonymous: TestClient) -> None:
    bearer = {"Authorization": f"Bearer {ADMIN}"}
    assert anonymous.get("/admin", headers=bearer).status_code == 200
    assert anonymous.post("/admin/replay", headers=bearer).status_code == 200
    wrong = {"Authorization": "Bearer nope"}
    assert anonymous.get("/admin", headers=wrong).status_code == 303
    assert anonymous.post("/admin/replay", headers=wrong).status_code == 401


def test_logging_out_clears_the_cookie(browser: TestClient) -> None:
    response = post(browser, "/admin/logout")
    assert response.status_code == 303 and "Max-Age=0" in response.headers["set-cookie"]
    assert browser.get("/admin").status_code == 303


def test_admin_pages_are_not_cached_nor_framed(browser: TestClient) -> None:
    response = browser.get("/admin")
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"


def test_an_operators_browser_gets_error_pages_and_a_script_plain_text(
    browser: TestClient,
) -> None:
    page = browser.get("/admin/requests/999999", headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    script = browser.get("/admin/requests/999999", headers={"Accept": "*/*"})
    assert script.status_code == 404 and script.headers["content-type"].startswith("text/plain")
