"""Keeps tokens, emails and phone numbers out of logs.

Link tokens are bearer credentials: logs show only a short prefix of them (the web app's
access log uses `mask_token`). Emails and phones are personal data: logs show them masked.
"""

from __future__ import annotations

import hashlib
import re

from bridge.consent import Identity


def mask_token(token: str) -> str:
    """Enough of a token to correlate log lines, not enough to use it."""
    return f"{token[:6]}…" if len(token) > 6 else "…"


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


# What reads as an address or an international phone number in free text (a message, an
# error Intercom wrote): a last line of defence for lines that name people by mistake.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+\d[\d ().-]{5,}\d")


def scrub(text: str) -> str:
    """Free text with every email and international phone number in it masked."""
    # Most log text has neither; skipping the patterns keeps a JSON event cheap.
    if "@" in text:
        text = _EMAIL.sub(lambda m: mask_email(m.group()), text)
    if "+" in text:
        text = _PHONE.sub(lambda m: mask_phone(m.group()), text)
    return text


def masked(identity: Identity) -> str:
    """Who a request is about, as logs may say it: masked email or phone, or the id."""
    if identity.email:
        return mask_email(identity.email)
    if identity.phone:
        return mask_phone(identity.phone)
    if identity.external_id:
        return f"external id {short_hash(identity.external_id)}"
    return f"contact {identity.contact_id}"
