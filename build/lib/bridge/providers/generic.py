"""`generic`: any sender that can post JSON or a form with a token (Zapier, Make, n8n, scripts).

Nothing is signed: the sender proves itself with the table's `token`, as
`Authorization: Bearer <token>` or `?token=<token>` in the URL. The body is JSON or a
urlencoded form; the table's `email`, `phone`, `name` and `consent` name its fields, by name
or, in JSON, by a dotted path (`data.contact.email`, `answers.0.value`). With `id` naming a
field, that field is the event id (retries and repeats apply once); without it, a delivery is
known by its bytes, so an identical retry still applies once. `occurred_at` names the field
holding when it happened (ISO 8601, Unix seconds or milliseconds; default `occurred_at`, else
on arrival).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import httpx
from starlette.datastructures import Headers

from bridge.clock import Clock

from .base import Delivery, Malformed, ProviderSettings, from_iso, from_timestamp
from .form_tool import FormTool, Submitted
from .token_auth import bearer, check_token, query_token

MAX_ID = 200


def path_value(document: Any, ref: str) -> object:
    """The value at a field name, or a dotted path through objects and lists; None if absent."""
    if isinstance(document, dict) and ref in document:
        return document[ref]
    found = document
    for step in ref.split("."):
        if isinstance(found, dict):
            found = found.get(step)
        elif isinstance(found, list) and step.isdigit() and int(step) < len(found):
            found = found[int(step)]
        else:
            return None
    return found


def _document(delivery: Delivery) -> Any:
    content_type = delivery.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        try:
            text = delivery.body.decode()
        except UnicodeDecodeError:
            raise Malformed("the form is not UTF-8") from None
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        document = json.loads(delivery.body)
    except (ValueError, RecursionError):
        raise Malformed("the body is neither JSON nor a urlencoded form") from None
    if not isinstance(document, dict):
        raise Malformed("the body is not a JSON object")
    return document


class Generic(FormTool):
    """`[providers.generic]`: `token`, the mapping (`email`, ... `types`), `id`, `occurred_at`."""

    name: ClassVar[str] = "generic"
    required = ("token",)
    extra_settings = ("id", "occurred_at")
    default_name: ClassVar[tuple[str, ...]] = ("name",)
    max_body_bytes: ClassVar[int] = 64 * 1024  # one person's submission
    # Where the person is when the table doesn't say: the first of these paths that is set.
    default_email: ClassVar[tuple[str, ...]] = ("email",)
    default_phone: ClassVar[tuple[str, ...]] = ("phone",)
    default_when: ClassVar[str] = "occurred_at"

    def __init__(self, settings: ProviderSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        self._id = settings.optional("id")
        self._when = settings.optional("occurred_at") or self.default_when

    def check_headers(self, headers: Headers) -> None:
        """A bearer token, when there is one, before the body is read."""
        given = bearer(headers)
        if given is not None:
            check_token(given, self.secret)

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """The bearer token, or else the URL's `?token=`."""
        check_token(bearer(delivery.headers) or query_token(delivery.url), self.secret)

    def submitted(self, delivery: Delivery) -> Submitted:
        """The posted fields, looked up by name or dotted path."""
        document = _document(delivery)
        if self._id is None:
            event_id = "sha256:" + hashlib.sha256(delivery.body).hexdigest()
        else:
            value = path_value(document, self._id)
            if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
                raise Malformed(f"no {self._id!r} field (the table's id) in the body")
            event_id = str(value)[:MAX_ID]
        when = path_value(document, self._when)
        try:
            if when is None or when == "":
                occurred_at = delivery.received_at
            elif isinstance(when, int | float) or (isinstance(when, str) and when.isdigit()):
                seconds = float(when)
                # Past 10^11 it is milliseconds (HubSpot's, JavaScript's): seconds that large
                # are thousands of years away.
                occurred_at = from_timestamp(seconds / 1000 if seconds > 1e11 else seconds)
            else:
                occurred_at = from_iso(when)
        except ValueError:
            raise Malformed(f"{self._when}: not an ISO 8601 time or Unix seconds") from None

        def lookup(ref: str) -> object:
            return path_value(document, ref)

        typed = {
            "email": next(filter(None, map(lookup, self.default_email)), None),
            "phone": next(filter(None, map(lookup, self.default_phone)), None),
        }
        return Submitted(event_id=event_id, occurred_at=occurred_at, lookup=lookup, typed=typed)
