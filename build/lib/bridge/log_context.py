"""What the work under way is about, for every log event it writes: request id, ledger id.

A web request's id (`X-Request-Id`) is bound by its middleware; the worker binds the id
stamped into the request it applies and the request's ledger id. Both live in a context
variable, so concurrent requests and worker tasks each see their own, and the JSON log
formatter adds them to every event written meanwhile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType

# The context key `Services.record` stamps a web request's id under.
REQUEST_ID = "request_id"
LEDGER_ID = "ledger_id"

LogValue = str | int
_NONE: Mapping[str, LogValue] = MappingProxyType({})
_fields: ContextVar[Mapping[str, LogValue]] = ContextVar("bridge_log_fields", default=_NONE)


def bound_fields() -> Mapping[str, LogValue]:
    """The fields bound here, for a log event."""
    return _fields.get()


def current_request_id() -> str | None:
    """The id of the web request under way here, if any."""
    found = _fields.get().get(REQUEST_ID)
    return found if isinstance(found, str) else None


@contextlib.contextmanager
def bound(**fields: LogValue | None) -> Iterator[None]:
    """Add fields (those not None) to every log event written inside the block."""
    token = _fields.set({**_fields.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _fields.reset(token)
