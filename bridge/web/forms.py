"""Reading posted HTML forms, and the nonce that makes a double-submitted form count once."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl

from starlette.requests import Request

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


def event_id_from_nonce(form_nonce: str | None) -> str:
    """The nonce a page's form carried, or a fresh id when there is none (or it is bogus)."""
    if form_nonce and len(form_nonce) == 32:
        try:
            return uuid.UUID(hex=form_nonce).hex
        except ValueError:
            pass
    return uuid.uuid4().hex


def new_nonce() -> str:
    """A nonce for a page's form."""
    return uuid.uuid4().hex
