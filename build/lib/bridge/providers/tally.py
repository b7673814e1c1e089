"""Tally: a `FORM_RESPONSE` per submission, signed `Tally-Signature: <base64>`.

The signature is HMAC-SHA256 with the webhook's signing secret (tally.so/help/webhooks).
Tally's own example hashes `JSON.stringify` of the parsed body; the raw body is checked
first, and its compact re-serialisation as well, in case the two ever differ. Fields are
mapped by their `key` or `label`; without a mapping, the first `INPUT_EMAIL` and
`INPUT_PHONE_NUMBER` fields are the person. `eventId` is the same on every retry (5 of
them, from 5 minutes to a day later), and the submission's `createdAt` is when it happened.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx

from .base import Delivery, Malformed
from .body_hmac import check_body_signature
from .form_tool import FieldIndex, FormTool, Submitted, submitted_at, tool_event

SIGNATURE = "Tally-Signature"
_TYPED = {"INPUT_EMAIL": "email", "INPUT_PHONE_NUMBER": "phone"}


def field_value(found: dict[str, Any]) -> object:
    """A field's value, option ids turned into the options' text."""
    value = found.get("value")
    options = found.get("options")
    if isinstance(value, list) and isinstance(options, list):
        text = {o.get("id"): o.get("text") for o in options if isinstance(o, dict)}
        return [text.get(v, v) if isinstance(v, str) else v for v in value]
    return value


def _compact(body: bytes) -> bytes | None:
    """The body as `JSON.stringify` writes it (what Tally's example signs), if it differs."""
    try:
        compact = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False)
    except (ValueError, RecursionError):
        return None
    encoded = compact.encode()
    return None if encoded == body else encoded


class Tally(FormTool):
    """`[providers.tally]`: `signing_secret`, and the field mapping by key or label."""

    name: ClassVar[str] = "tally"
    required = ("signing_secret",)

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """The base64 HMAC-SHA256 of the raw body (or of its compact JSON)."""
        bodies = [delivery.body, *filter(None, [_compact(delivery.body)])]
        header = delivery.headers.get(SIGNATURE)
        check_body_signature(header, SIGNATURE, self.secret, *bodies)

    def submitted(self, delivery: Delivery) -> Submitted | None:
        """A form response; None for other events."""
        event = tool_event(delivery.body, "data", "Tally")
        if event.get("eventType") != "FORM_RESPONSE":
            return None
        data: dict[str, Any] = event["data"]
        event_id, fields = event.get("eventId"), data.get("fields")
        if not isinstance(event_id, str) or not event_id or not isinstance(fields, list):
            raise Malformed("a FORM_RESPONSE without eventId or data.fields")
        occurred_at = submitted_at(
            data.get("createdAt") or event.get("createdAt"), "data.createdAt"
        )
        index = FieldIndex()
        for found in fields:
            if isinstance(found, dict):
                refs = (found.get("key"), found.get("label"))
                index.add(refs, field_value(found), _TYPED.get(str(found.get("type"))))
        form = data.get("formId")
        return Submitted(
            event_id=event_id,
            occurred_at=occurred_at,
            lookup=index.values.get,
            typed=index.typed,
            form=form if isinstance(form, str) else None,
        )
