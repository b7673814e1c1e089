"""Reading posted HTML forms, and the ids that make a double-submitted form count once.

A form's nonce (or an API caller's Idempotency-Key) is chosen by the client, so the event id
made from it is scoped to the link it came by: two people who send the same key never
dedupe each other's changes away.
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl

from starlette.requests import Request

from bridge.links import token_digest
from bridge.web.errors import BadForm

MAX_FIELDS = 200


async def read_fields(request: Request, *, max_fields: int = MAX_FIELDS) -> list[tuple[str, str]]:
    """The posted text fields in order (names may repeat); a broken body raises BadForm."""
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            # Parsed directly: cheaper than the multipart machinery for the common case.
            body = (await request.body()).decode("utf-8", errors="replace")
            return parse_qsl(body, max_num_fields=max_fields)
        form = await request.form(max_fields=max_fields, max_files=0)
    except ValueError:
        raise BadForm("The form could not be read.", key="bad_form") from None
    try:
        return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    finally:
        await form.close()


def scoped_event_id(link_token: str, client_key: str | None) -> str:
    """An event id from a key the client chose, scoped to the link; a fresh one without a key."""
    return f"{token_digest(link_token)}:{client_key or uuid.uuid4().hex}"


def form_nonce(fields: dict[str, str], name: str = "nonce") -> str | None:
    """The nonce a page's form carried in `name`, if it is one of ours in shape (32 hex digits)."""
    nonce = fields.get(name)
    if nonce and len(nonce) == 32:
        try:
            return uuid.UUID(hex=nonce).hex
        except ValueError:
            pass
    return None


def new_nonce() -> str:
    """A nonce for a page's form."""
    return uuid.uuid4().hex
