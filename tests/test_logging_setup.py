"""Logging's set-up: JSON lines, the Intercom call events, text as before, uvicorn's part."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import httpx
import pytest

from bridge.intercom import IntercomClient
from bridge.intercom.client import IntercomError, TransportError
from bridge.log_context import bound
from bridge.logging_setup import (
    ACCESS_LOGGER,
    INTERCOM_LOGGER,
    TEXT_FORMAT,
    JsonFormatter,
    configure_logging,
    uvicorn_logging,
)
from bridge.sandbox import Sandbox
from tests.conftest import SANDBOX_TOKEN
from tests.json_logs import JsonLines, json_logs, logging_kept

CONTACT = "63a07ddf05a32042dffac965"  # a seeded sandbox contact


@pytest.fixture
def logs() -> Iterator[JsonLines]:
    """JSON lines captured as BRIDGE_LOG_FORMAT=json writes them."""
    with json_logs() as lines:
        yield lines


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("bridge.test", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_an_event_is_one_line_with_time_level_logger_message_and_fields() -> None:
    record = _record("request %d dead", 7, status="dead", calls=2)
    record.created = 1_780_000_000.25
    with bound(request_id="abc", ledger_id=7):
        line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2026-05-28T20:26:40.250+00:00",
        "level": "WARNING",
        "logger": "bridge.test",
        "message": "request 7 dead",
        "request_id": "abc",
        "ledger_id": 7,
        "status": "dead",
        "calls": 2,
    }


def test_no_address_or_phone_survives_in_a_message_a_field_or_a_traceback() -> None:
    try:
        raise ValueError("Intercom said: jane.doe@example.com is taken")
    except ValueError:
        record = _record("for %s", "+353 87 123 4567", who="jane.doe@example.com")
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "jane.doe@example.com" not in line and "123 4567" not in line
    event = json.loads(line)
    assert (event["message"], event["who"]) == ("for ***67", "j***@example.com")
    assert "j***@example.com is taken" in event["exception"]


def test_fields_json_cannot_carry_are_written_as_text() -> None:
    event = json.loads(JsonFormatter().format(_record("x", when=object, ok=True, none=None)))
    assert event["when"] == "<class 'object'>" and event["ok"] is True and event["none"] is None


async def test_every_intercom_call_is_one_event_with_intercom_s_request_id(
    logs: JsonLines,
) -> None:
    sandbox = Sandbox(token=SANDBOX_TOKEN)
    transport = httpx.ASGITransport(app=sandbox.app)
    async with IntercomClient(SANDBOX_TOKEN, base_url="http://x", transport=transport) as client:
        with bound(request_id="req-1", ledger_id=3):
            await client.list_contact_subscriptions(CONTACT)
        with pytest.raises(IntercomError):
            await client.detach_subscription("no-such-contact", "37846")
    answered, missing = logs.of("intercom_call")
    assert answered["endpoint"] == "GET /contacts/{id}/subscriptions"
    assert answered["message"] == "intercom GET /contacts/{id}/subscriptions 200"
    assert (answered["status"], answered["request_id"], answered["ledger_id"]) == (200, "req-1", 3)
    assert len(answered["intercom_request_id"]) == 36 and answered["seconds"] >= 0
    assert answered["level"] == "INFO" and CONTACT not in logs.text
    assert (missing["endpoint"], missing["status"]) == (
        "DELETE /contacts/{id}/subscriptions/{id}",
        404,
    )
    assert "request_id" not in missing  # bound only inside its block


@pytest.mark.parametrize(
    ("failure", "error"),
    [(httpx.ReadTimeout("slow"), "timeout"), (httpx.ConnectError("refused"), "ConnectError")],
)
async def test_a_call_that_got_no_answer_is_an_event_with_status_0(
    logs: JsonLines, failure: Exception, error: str
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    transport = httpx.MockTransport(fail)
    async with IntercomClient("t", base_url="http://x", transport=transport) as client:
        with pytest.raises(TransportError):
            await client.list_subscription_types()
    [event] = logs.of("intercom_call")
    assert (event["endpoint"], event["status"], event["error"]) == (
        "GET /subscription_types",
        0,
        error,
    )


def test_the_client_s_other_debug_lines_stay_below_info(logs: JsonLines) -> None:
    logging.getLogger(INTERCOM_LOGGER).debug("something only a developer wants")
    logging.getLogger(INTERCOM_LOGGER).warning("contact search stopped")
    assert [e["message"] for e in logs.events()] == ["contact search stopped"]


def test_above_info_no_call_events_are_made() -> None:
    with json_logs("WARNING") as lines:
        logging.getLogger(INTERCOM_LOGGER).debug("intercom %s %s failed: %s", "GET", "/x", "E")
        assert logging.getLogger(INTERCOM_LOGGER).filters == []
    assert lines.text == ""


def test_text_is_today_s_format_and_leaves_the_access_line_to_uvicorn() -> None:
    buffer = io.StringIO()
    with logging_kept():
        configure_logging("INFO", "text", stream=buffer)
        [handler] = logging.getLogger().handlers
        assert handler.formatter is not None and handler.formatter._fmt == TEXT_FORMAT
        assert logging.getLogger(ACCESS_LOGGER).level == logging.WARNING
        logging.getLogger(ACCESS_LOGGER).info("POST / 200")
        logging.getLogger("bridge.worker").info("request 1 applied")
    assert buffer.getvalue().endswith(" INFO    bridge.worker: request 1 applied\n")


def test_json_sends_uvicorn_s_lines_through_the_root_and_drops_its_access_line(
    logs: JsonLines,
) -> None:
    # As uvicorn.run sets it (servers other tests ran may have left it at WARNING).
    logging.getLogger("uvicorn.error").setLevel(logging.INFO)
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "a", "GET", "/", "1.1", 200)
    [event] = logs.events()
    assert (event["logger"], event["message"]) == ("uvicorn.error", "Started server process [42]")


def test_uvicorn_sets_up_its_own_logging_only_for_text() -> None:
    assert uvicorn_logging("text") == {}
    assert uvicorn_logging("json") == {"log_config": None, "access_log": False}
