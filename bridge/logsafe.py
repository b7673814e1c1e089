"""Keeps tokens, emails and phone numbers out of logs.

Link tokens are bearer credentials: anyone holding one can change that person's consent, so
access logs show only a short prefix of them. Emails and phones are personal data.
"""

from __future__ import annotations

import hashlib
import logging
import re

from bridge.consent import Identity

# Path segments after these prefixes are tokens.
_TOKEN_PATH = re.compile(r"^(/(?:unsubscribe|preferences|api/v1/preferences)/)([^/?#\s]+)")


def mask_token(token: str) -> str:
    """Enough of a token to correlate log lines, not enough to use it."""
    return f"{token[:6]}…" if len(token) > 6 else "…"


def mask_path(path: str) -> str:
    """A request path with any link token shortened."""
    return _TOKEN_PATH.sub(lambda m: m.group(1) + mask_token(m.group(2)), path)


def short_hash(value: str) -> str:
    """Twelve hex digits that name a value in logs without showing it."""
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:12]


def event_ref(event_id: str) -> str:
    """How logs name an event id: by a hash, as ids can hold addresses (Brevo, Postmark)."""
    return f"event {short_hash(event_id)}"


def mask_email(email: str | None) -> str:
    """`j***@example.com`: recognisable by its owner, useless to a reader of logs."""
    if not email or "@" not in email:
        return "***"
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str | None) -> str:
    """The last two digits only."""
    if not phone:
        return "***"
    return f"***{phone[-2:]}"


def masked(identity: Identity) -> str:
    """Who a request is about, as logs may say it: masked email or phone, or the id."""
    if identity.email:
        return mask_email(identity.email)
    if identity.phone:
        return mask_phone(identity.phone)
    if identity.external_id:
        return f"external id {short_hash(identity.external_id)}"
    return f"contact {identity.contact_id}"


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
