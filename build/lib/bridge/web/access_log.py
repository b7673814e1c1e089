"""Keeps tokens out of access logs: anyone holding one can change consent.

Link tokens travel in the path; form tools that cannot sign (Jotform, the generic webhook)
carry theirs in a `?token=` query, which uvicorn's access log line includes. And a webhook's
query may be the delivery itself (Vonage's SMS API can deliver a text by GET: the sender's
number, the text, the signature), so a webhook's query keeps its names and loses every value.
"""

from __future__ import annotations

import logging
import re

from bridge.logsafe import mask_token
from bridge.web.audiences import AREAS, TOKEN_PREFIXES, Audience

WEBHOOK_PREFIXES = tuple(area.prefix for area in AREAS if area.audience is Audience.WEBHOOK)

# The path segment after a token-carrying prefix (see `audiences.AREAS`).
_TOKEN_PATH = re.compile(
    "^(" + "|".join(re.escape(prefix) for prefix in TOKEN_PREFIXES) + r")([^/?#\s]+)"
)

# A `token` query parameter, wherever it is in the query.
_TOKEN_QUERY = re.compile(r"([?&]token=)([^&#\s]*)", re.IGNORECASE)
# Every value of a webhook's query.
_WEBHOOK_QUERY_VALUE = re.compile(r"([?&][^=&#\s]*=)([^&#\s]*)")


def mask_path(path: str) -> str:
    """A request path (and query) with any link or webhook token shortened."""
    path = _TOKEN_PATH.sub(lambda m: m.group(1) + mask_token(m.group(2)), path)
    if path.startswith(WEBHOOK_PREFIXES):
        return _WEBHOOK_QUERY_VALUE.sub(lambda m: m.group(1) + "…", path)
    # A webhook's token is a long-lived shared secret: none of it is shown.
    return _TOKEN_QUERY.sub(lambda m: m.group(1) + "…", path)


class AccessLogTokenFilter(logging.Filter):
    """Rewrites uvicorn's access log records so they never carry a whole link token."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn logs (client, method, full_path, http_version, status).
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], mask_path(args[2]), *args[3:])
        return True


def install_access_log_filter() -> None:
    """Attach the filter to uvicorn's access logger once, however many apps are built."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogTokenFilter) for f in logger.filters):
        logger.addFilter(AccessLogTokenFilter())
