"""Typeform: a `form_response` per submission, signed `Typeform-Signature: sha256=<base64>`.

The signature is HMAC-SHA256 over the raw body with the webhook's secret (Typeform's
"Secure your webhooks"; no official SDK verifies it). Answers are mapped by their block's
`ref` (or its id) or a hidden field's name; without a mapping, the first `email` and
`phone_number` answers are the person. `event_id` is the same on every retry (Typeform
retries 408, 423, 429 and 503 for up to 10 hours), and `submitted_at` is when it happened.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from .base import Delivery, Malformed
from .body_hmac import check_body_signature
from .form_tool import FieldIndex, FormTool, Submitted, submitted_at, tool_event

SIGNATURE = "Typeform-Signature"
PREFIX = "sha256="
_TYPED = {"email": "email", "phone_number": "phone"}


def answer_value(answer: dict[str, Any]) -> object:
    """An answer's value, by its type: the email, the boolean, a choice's label ..."""
    kind = answer.get("type")
    value = answer.get(kind) if isinstance(kind, str) else None
    if kind == "choice" and isinstance(value, dict):
        return value.get("label") or value.get("other")
    if kind == "choices" and isinstance(value, dict):
        return [*value.get("labels", []), *([value["other"]] if value.get("other") else [])]
    return value


class Typeform(FormTool):
    """`[providers.typeform]`: `secret` (the webhook's), and the field mapping by `ref`."""

    name: ClassVar[str] = "typeform"
    required = ("secret",)

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """`sha256=` and the base64 HMAC-SHA256 of the raw body."""
        header = delivery.headers.get(SIGNATURE)
        check_body_signature(header, SIGNATURE, self.secret, delivery.body, prefix=PREFIX)

    def submitted(self, delivery: Delivery) -> Submitted | None:
        """A completed response; None for other events (partial responses)."""
        event = tool_event(delivery.body, "form_response", "Typeform")
        if event.get("event_type") != "form_response":
            return None
        response: dict[str, Any] = event["form_response"]
        event_id = event.get("event_id") or response.get("token")
        answers = response.get("answers")
        if not isinstance(event_id, str) or not event_id or not isinstance(answers, list):
            raise Malformed("a form_response without event_id or answers")
        occurred_at = submitted_at(response.get("submitted_at"), "form_response.submitted_at")
        index = FieldIndex()
        for answer in answers:
            if isinstance(answer, dict) and isinstance(answer.get("field"), dict):
                refs = (answer["field"].get("ref"), answer["field"].get("id"))
                index.add(refs, answer_value(answer), _TYPED.get(str(answer.get("type"))))
        hidden = response.get("hidden")
        hidden = hidden if isinstance(hidden, dict) else {}

        def lookup(ref: str) -> object:
            return index.values[ref] if ref in index.values else hidden.get(ref)

        form = response.get("form_id")
        return Submitted(
            event_id=event_id,
            occurred_at=occurred_at,
            lookup=lookup,
            typed=index.typed,
            form=form if isinstance(form, str) else None,
        )
