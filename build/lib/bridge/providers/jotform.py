"""Jotform: a multipart POST per submission, proven only by a long token in the URL.

Jotform signs nothing, so its webhook URL carries the table's `token`
(`/webhooks/jotform?token=...`), compared in constant time and masked in access logs. The
answers are in `rawRequest`, a JSON string keyed `q<number>_<field name>` (`q3_email`);
a table names a field by that key, by its name alone (`email`), or by a path into a
compound field (`q4_name.first`). `submissionID` is the event id; Jotform sends no
submission time, so the delivery's arrival orders it.
"""

from __future__ import annotations

import json
import re
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import httpx

from .base import Delivery, Malformed, Rejected
from .form_tool import FieldIndex, FormTool, Submitted
from .generic import path_value
from .token_auth import check_token, query_token

_QUESTION = re.compile(r"^q\d+_(.+)$")


def form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The fields of a multipart or urlencoded form body, parsed without the network."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if kind != "multipart/form-data" or "boundary=" not in content_type:
        raise Malformed("the body is not a multipart form (Jotform posts multipart/form-data)")
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    fields = {}
    for part in message.iter_parts() if message.is_multipart() else ():
        if not isinstance(part, Message):
            continue
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode("utf-8", "replace")
    return fields


def _plain(value: object) -> object:
    """A compound answer as text: a phone's `full`, a name's parts joined."""
    if isinstance(value, dict):
        if isinstance(value.get("full"), str):
            return value["full"]
        return " ".join(str(v).strip() for v in value.values() if isinstance(v, str | int))
    return value


class Jotform(FormTool):
    """`[providers.jotform]`: `token` (in the webhook's URL), and the field mapping."""

    name: ClassVar[str] = "jotform"
    required = ("token",)
    max_body_bytes: ClassVar[int] = 1024 * 1024  # answers as text; uploads come as links

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """The URL's `?token=` (Jotform can send nothing else)."""
        if "authorization" in delivery.headers:
            raise Rejected("Jotform sends no Authorization header; put the token in the URL")
        check_token(query_token(delivery.url), self.secret)

    def submitted(self, delivery: Delivery) -> Submitted:
        """The submission's answers from `rawRequest`."""
        fields = form_fields(delivery.headers.get("content-type", ""), delivery.body)
        submission = fields.get("submissionID", "").strip()
        if not submission:
            raise Malformed("no submissionID in the form")
        try:
            answers: Any = json.loads(fields.get("rawRequest", ""))
        except (ValueError, RecursionError):
            raise Malformed("rawRequest is not JSON") from None
        if not isinstance(answers, dict):
            raise Malformed("rawRequest is not a JSON object")
        # Raw values by every name (q3_email and email); compound answers stay whole for paths.
        index = FieldIndex()
        for key, value in {**fields, **answers}.items():
            short = _QUESTION.match(key)
            lowered = key.lower()
            kind = "email" if "email" in lowered else "phone" if "phone" in lowered else None
            index.add((key, short.group(1)) if short else (key,), value, kind if short else None)

        def lookup(ref: str) -> object:
            if ref in index.values:
                return _plain(index.values[ref])
            head, _, rest = ref.partition(".")
            return _plain(path_value(index.values[head], rest)) if head in index.values else None

        form = fields.get("formID")
        return Submitted(
            event_id=submission,
            occurred_at=delivery.received_at,
            lookup=lookup,
            typed={kind: _plain(value) for kind, value in index.typed.items()},
            form=form or None,
        )
