"""A form's posted fields, whichever way they came: urlencoded, multipart (no files) or JSON."""

from __future__ import annotations

import json

from starlette.requests import Request

from bridge.web.errors import BadForm, UnsupportedMediaType
from bridge.web.pages.fields import read_fields

# A form is an address, a name and a few ticks: a few hundred bytes. 16 KB leaves room for
# long names and many choices and refuses anything bigger before it is read.
MAX_BODY_BYTES = 16 * 1024
MAX_FIELDS = 50
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_JSON = "application/json"


def content_type(request: Request) -> str:
    """The body's media type, lowercased, without parameters."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_posted(request: Request) -> list[tuple[str, str]]:
    """The posted (name, value) pairs in order; BadForm or UnsupportedMediaType otherwise."""
    kind = content_type(request)
    if kind == _JSON:
        return _json_fields(await request.body())
    if kind in _FORM_TYPES:
        return await read_fields(request, max_fields=MAX_FIELDS)
    raise UnsupportedMediaType(
        "Send the form as application/x-www-form-urlencoded, multipart/form-data or "
        "application/json."
    )


def _json_fields(body: bytes) -> list[tuple[str, str]]:
    """`{"email": "...", "subscription": ["93", "95"]}` as (name, value) pairs."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadForm("The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadForm("The body must be a JSON object of fields.")
    fields: list[tuple[str, str]] = []
    for name, value in data.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if item is None:
                continue
            if isinstance(item, bool) or not isinstance(item, str | int):
                raise BadForm(f"The field {name[:40]!r} must be text or a list of text.")
            fields.append((name, str(item)))
    if len(fields) > MAX_FIELDS:
        raise BadForm(f"A form has at most {MAX_FIELDS} fields.")
    return fields
