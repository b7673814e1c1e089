"""How every command logs: today's text lines, or one JSON object per line (BRIDGE_LOG_FORMAT).

In JSON, each event has its time (ISO 8601, UTC), level, logger and message, the fields it was
logged with (`extra=`), and those bound to the work under way (`log_context`: the web
request's id, the ledger id being applied). Strings are scrubbed of emails and phone numbers
on the way out. The web app writes one event per HTTP request (`ACCESS_LOGGER`, in place of
uvicorn's access line), and every Intercom call is one event with its endpoint, status,
seconds and Intercom's own request id.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from bridge.intercom.client import endpoint_of
from bridge.log_context import bound_fields
from bridge.logsafe import scrub

# The web app's one event per HTTP request (bridge.web.middleware.request_id).
ACCESS_LOGGER = "bridge.access"
INTERCOM_LOGGER = "bridge.intercom.client"
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# The attributes every LogRecord has; anything else on one was passed as `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of the message
    "taskName",
}

# The Intercom client's debug line for each call (`IntercomClient._send`), and its two lines
# for calls that got no answer; `IntercomCallEvents` turns them into events.
ANSWERED = "intercom %s %s -> %d request_id=%s in %.3fs"
TIMED_OUT = "intercom %s %s timed out after %.3fs"
FAILED = "intercom %s %s failed: %s"


def _safe(value: Any) -> Any:
    """A field's value as JSON may carry it, with no address or phone number in it."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then its fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        event: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        fields = {**bound_fields(), **_extras(record)}
        event.update((key, _safe(value)) for key, value in fields.items() if key not in event)
        if record.exc_info:
            event["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(event, ensure_ascii=False, default=str)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class IntercomCallEvents(logging.Filter):
    """Turns the Intercom client's per-call debug lines into `intercom_call` events.

    The logger is opened to DEBUG for them, so its other records pass only at `level` or
    above. The endpoint names no contact (`/contacts/{id}/subscriptions`).
    """

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite a call's record as an INFO event; hold back other records below `level`."""
        args = record.args if isinstance(record.args, tuple) else ()
        fields: dict[str, Any]
        if record.msg == ANSWERED and len(args) == 5:
            status, intercom_id, seconds = args[2:]
            fields = {"status": status, "intercom_request_id": intercom_id}
            fields["seconds"] = round(float(str(seconds)), 4)
        elif record.msg in (TIMED_OUT, FAILED) and len(args) == 3:
            why = "timeout" if record.msg == TIMED_OUT else args[2]
            fields = {"status": 0, "error": why}
        else:
            return record.levelno >= self.level
        fields["endpoint"] = endpoint_of(str(args[0]), str(args[1]))
        record.msg, record.args = "intercom %s %s", (fields["endpoint"], fields["status"])
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.__dict__.update(event="intercom_call", **fields)
        return True


def configure_logging(level: str, log_format: str, *, stream: TextIO | None = None) -> None:
    """Set up logging for a command: one root handler (on stderr), in text or JSON."""
    handler = logging.StreamHandler(stream or sys.stderr)
    json_lines = log_format == "json"
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # httpx logs every request URL at INFO; the worker logs what matters without contact ids.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    client = logging.getLogger(INTERCOM_LOGGER)
    client.setLevel(logging.NOTSET)
    for old in [f for f in client.filters if isinstance(f, IntercomCallEvents)]:
        client.removeFilter(old)
    if not json_lines:
        # uvicorn's access line already says what the request event would.
        logging.getLogger(ACCESS_LOGGER).setLevel(logging.WARNING)
        return
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.NOTSET)
    threshold = logging.getLevelName(level)
    if threshold <= logging.INFO:
        client.setLevel(logging.DEBUG)
        client.addFilter(IntercomCallEvents(threshold))
    # uvicorn's own lines go through the root handler; the request event replaces its access
    # line (`uvicorn_logging` keeps uvicorn from setting up handlers of its own).
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers, access.propagate = [], False


def uvicorn_logging(log_format: str) -> dict[str, Any]:
    """uvicorn.run's logging options: its own set-up for text, none (ours) for JSON."""
    return {"log_config": None, "access_log": False} if log_format == "json" else {}
