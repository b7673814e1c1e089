"""`/admin`: the counts, the clocks, held and dead requests; replaying all that match a filter."""

from __future__ import annotations

from starlette.testclient import TestClient

from bridge.consent import Channel
from bridge.ledger import Status
from bridge.web.admin.overview import channel_clocks
from bridge.web.admin.views import duration
from tests.web.admin.conftest import OCCURRED, Filled, post, status_of


def test_the_overview_counts_each_status_and_runs_the_clocks(
    browser: TestClient, filled: Filled
) -> None:
    html = browser.get("/admin").text
    assert 'data-status="dead">2<' in html and 'data-status="applied">1<' in html
    assert 'data-status="review">1<' in html
    assert "1 held for review" in html and 'href="/admin/review"' in html
    # Jane's dead email unsubscribe and her held SMS are on the email and SMS clocks.
    assert "<td>email</td>" in html and "<td>sms</td>" in html
    assert f'href="/admin/requests/{filled.dead}"' in html
    assert "jane@example.com" not in html and "j***@example.com" in html  # lists mask


def test_the_overview_is_in_the_operator_language(browser: TestClient, filled: Filled) -> None:
    response = browser.get("/admin", headers={"Accept-Language": "fr"})
    assert response.headers["content-language"] == "fr"
    assert "Délais légaux" in response.text and "abandonnée" in response.text


def test_replaying_a_filter_asks_first_then_replays_only_what_matches(
    browser: TestClient, filled: Filled
) -> None:
    asked = post(browser, "/admin/replay", {"status": "dead", "source": "mailgun"})
    assert "1 request(s) match" in asked.text
    assert status_of(browser, filled.other_dead) is Status.DEAD  # nothing yet
    done = post(browser, "/admin/replay", {"status": "dead", "source": "mailgun", "confirm": "yes"})
    assert done.status_code == 303 and done.headers["location"] == "/admin?replayed=1"
    assert status_of(browser, filled.other_dead) is Status.PENDING
    assert status_of(browser, filled.dead) is Status.DEAD  # another source
    post(browser, "/admin/replay", {"status": "both", "confirm": "yes"})
    assert status_of(browser, filled.dead) is Status.PENDING
    assert status_of(browser, filled.held) is Status.REVIEW  # never by a replay


def test_a_channel_clock_counts_down_to_its_deadline() -> None:
    [clock] = channel_clocks({Channel.EMAIL: OCCURRED}, OCCURRED.replace(hour=21, minute=30))
    assert clock.age == 12 * 3600 and clock.left == 36 * 3600


def test_durations_read_in_their_two_largest_units() -> None:
    assert duration(None) == "-"
    assert duration(0) == "0 s"
    assert duration(3 * 86_400 + 4 * 3600 + 5) == "3 d 4 h"
    assert duration(-125) == "-2 min 5 s"
