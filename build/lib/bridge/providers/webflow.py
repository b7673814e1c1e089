"""Webflow: a `form_submission` per submission, signed over its timestamp and body.

`x-webflow-signature` is the hex HMAC-SHA256, with the webhook's secret (or the app's OAuth
client secret), of `x-webflow-timestamp + ":" + raw body`; the timestamp is Unix
milliseconds, and one more than 5 minutes from the bridge's clock either way is refused, as
Webflow's documentation asks (webflow/js-webflow-api `WebhooksClient.verifySignature` builds
the same message; it checks no time and compares in plain, so it is not reused). Webflow
tries a delivery 3 times; `payload.id` is the submission's, the same on each. Fields are
mapped by their name in the form (`payload.data`'s keys).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, ClassVar

import httpx

from .base import Delivery, Malformed, Rejected
from .body_hmac import check_fresh_ms
from .form_tool import FieldIndex, FormTool, Submitted, submitted_at, tool_event


def sign_webflow(secret: str, timestamp: str, body: bytes) -> str:
    """The hex signature Webflow sends with `body` at `timestamp` (tests use it)."""
    return hmac.new(secret.encode(), timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()


def _kind(name: str, field_type: object) -> str | None:
    """email or phone, by the field's type or, failing that, its name."""
    described = f"{field_type} {name}".lower()
    return "email" if "email" in described else "phone" if "phone" in described else None


class Webflow(FormTool):
    """`[providers.webflow]`: `secret`, and the field mapping by the form's field names."""

    name: ClassVar[str] = "webflow"
    required = ("secret",)

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """The hex HMAC of timestamp:body, within 5 minutes of the bridge's clock."""
        signature, timestamp = check_fresh_ms(
            delivery.headers.get("x-webflow-signature"),
            delivery.headers.get("x-webflow-timestamp"),
            "x-webflow-signature or x-webflow-timestamp",
            delivery.received_at,
        )
        expected = sign_webflow(self.secret, timestamp, delivery.body)
        if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
            raise Rejected("x-webflow-signature does not match")

    def submitted(self, delivery: Delivery) -> Submitted | None:
        """A form submission; None for other triggers."""
        event = tool_event(delivery.body, "payload", "Webflow")
        if event.get("triggerType") != "form_submission":
            return None
        payload: dict[str, Any] = event["payload"]
        submission, data = payload.get("id"), payload.get("data")
        if not isinstance(submission, str) or not submission or not isinstance(data, dict):
            raise Malformed("a form_submission without payload.id or payload.data")
        occurred_at = submitted_at(payload.get("submittedAt"), "payload.submittedAt")
        schema = payload.get("schema")
        schema = schema if isinstance(schema, list) else []
        types = {s.get("fieldName"): s.get("fieldType") for s in schema if isinstance(s, dict)}
        index = FieldIndex()
        for field_name, value in data.items():
            index.add((field_name,), value, _kind(field_name, types.get(field_name)))
        form = payload.get("formId")
        return Submitted(
            event_id=submission,
            occurred_at=occurred_at,
            lookup=index.values.get,
            typed=index.typed,
            form=form if isinstance(form, str) else None,
        )
