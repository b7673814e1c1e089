"""A person's history by any identity, and the exports (a person's, a period's)."""

from __future__ import annotations

import csv
import io
import json

from starlette.testclient import TestClient

from tests.web.admin.conftest import Filled, post


def test_a_person_is_found_by_email_with_every_identity_and_request(
    browser: TestClient, filled: Filled
) -> None:
    html = post(browser, "/admin/people", {"field": "email", "value": " Jane@Example.com "}).text
    assert "email:jane@example.com" in html  # asked for: in full
    assert f'href="/admin/requests/{filled.applied}"' in html
    assert f'href="/admin/requests/{filled.dead}"' in html
    assert f'href="/admin/requests/{filled.other_dead}"' not in html


def test_a_person_is_found_by_contact_id_across_identities(
    browser: TestClient, filled: Filled
) -> None:
    html = post(
        browser, "/admin/people", {"field": "contact_id", "value": "63a07ddf05a32042dffac965"}
    ).text
    assert "email:jane@example.com" in html and "joe@example.com" not in html


def test_a_bad_identity_is_said_so(browser: TestClient, filled: Filled) -> None:
    html = post(browser, "/admin/people", {"field": "email", "value": "not-an-email"}).text
    assert "not a valid identity" in html
    assert browser.get("/admin/people").status_code == 200  # the empty search form


def test_a_person_export_downloads_as_csv_and_json(browser: TestClient, filled: Filled) -> None:
    who = {"field": "email", "value": "jane@example.com"}
    as_csv = post(browser, "/admin/people/export", {**who, "format": "csv"})
    assert as_csv.headers["content-disposition"].startswith('attachment; filename="bridge-person-')
    assert as_csv.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {int(row["id"]) for row in rows} == {filled.applied, filled.dead}
    as_json = json.loads(post(browser, "/admin/people/export", {**who, "format": "json"}).text)
    assert "email:jane@example.com" in as_json["identities"]
    assert as_json["requests"][0]["consent_text"] == "Yes, email me"
    nobody = post(browser, "/admin/people/export", {"format": "csv"})
    assert nobody.status_code == 400


def test_a_period_export_is_a_get_naming_nobody(browser: TestClient, filled: Filled) -> None:
    assert '<form method="get"' in browser.get("/admin/export").text
    response = browser.get("/admin/export?since=2026-11-01&until=2026-12-01&format=json")
    assert response.headers["content-type"] == "application/json"
    assert len(response.json()["requests"]) == 4
    empty = browser.get("/admin/export?since=2026-12-01&format=csv")
    assert empty.text.count("\r\n") == 1  # the header alone
    assert browser.get("/admin/export?since=yesterday&format=csv").status_code == 400
    assert browser.get("/admin/export?since=2026-11-01&format=xml").status_code == 400
