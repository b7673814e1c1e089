"""POST /contacts/search for the sandbox: the query language, index shortcuts and cursor paging."""

from __future__ import annotations

import base64
import binascii
import bisect
import math
from collections.abc import Callable, Iterable
from typing import Any

from bridge.sandbox.workspace import JSON, ApiError, Workspace

Predicate = Callable[[JSON], bool]

SEARCHABLE = frozenset({"id", "email", "email_domain", "phone", "external_id", "role", "name"})
# Intercom does not document how search matches; emails are case-insensitive everywhere else.
_CASELESS = frozenset({"email", "email_domain"})
_INDEXED = frozenset({"id", "email", "phone", "external_id"})
MAX_DEPTH = 2  # "There's a limit of max 2 nested filters"
MAX_GROUP = 15  # "max 15 filters for each AND or OR group"
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 150


def _invalid(message: str) -> ApiError:
    return ApiError(400, "parameter_invalid", message)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def compile_query(query: Any, depth: int = 0) -> Predicate:
    """A predicate over contact JSON, or a 400 naming what is wrong with the query."""
    if not isinstance(query, dict):
        raise _invalid("a query must be an object")
    operator = query.get("operator")
    value = query.get("value")
    if operator in ("AND", "OR"):
        if depth >= MAX_DEPTH:
            raise _invalid(f"at most {MAX_DEPTH} levels of nested AND/OR are allowed")
        if not isinstance(value, list) or not value:
            raise _invalid(f"{operator} needs a non-empty list of filters")
        if len(value) > MAX_GROUP:
            raise _invalid(f"at most {MAX_GROUP} filters are allowed in one {operator} group")
        parts = [compile_query(item, depth + 1) for item in value]
        combine = all if operator == "AND" else any
        return lambda contact: combine(part(contact) for part in parts)
    field = query.get("field")
    if field not in SEARCHABLE:
        raise _invalid(f"field {field!r} is not searchable in the sandbox")
    fold = str.lower if field in _CASELESS else str
    if operator in ("IN", "NIN"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _invalid(f"{operator} needs a list of strings")
        wanted = frozenset(fold(v) for v in value)
        if operator == "IN":
            return lambda contact: fold(_text(contact[field])) in wanted
        return lambda contact: fold(_text(contact[field])) not in wanted
    if operator in ("=", "!="):
        if value is not None and not isinstance(value, str):
            raise _invalid(f"{operator} on {field} needs a string or null")
        target = None if value is None else fold(value)
        negate: bool = operator == "!="

        def equals(contact: JSON) -> bool:
            actual: Any = contact[field]
            # "" is how the sandbox stores a missing email, so it also matches null.
            same: bool = (not actual) if target is None else fold(_text(actual)) == target
            return same != negate

        return equals
    if operator in ("~", "!~", "^", "$"):
        if not isinstance(value, str):
            raise _invalid(f"{operator} needs a string")
        needle = fold(value)
        tests: dict[str, Callable[[str], bool]] = {
            "~": lambda s: needle in s,
            "!~": lambda s: needle not in s,
            "^": lambda s: s.startswith(needle),
            "$": lambda s: s.endswith(needle),
        }
        test = tests[operator]
        return lambda contact: test(fold(_text(contact[field])))
    raise _invalid(f"operator {operator!r} is not supported on the string field {field}")


def _indexed(workspace: Workspace, query: Any) -> list[str] | None:
    """Candidate ids from an index when the query pins an indexed field; None to scan."""
    operator = query.get("operator")
    if operator == "AND":
        for part in query["value"]:
            found = _indexed(workspace, part)
            if found is not None:
                return found
        return None
    field = query.get("field")
    if field not in _INDEXED or operator not in ("=", "IN"):
        return None
    values = query["value"] if operator == "IN" else [query["value"]]
    if any(v is None for v in values):
        return None
    ids: set[str] = set()
    for value in values:
        if field == "id":
            ids.update([value] if value in workspace.contacts else [])
        else:
            ids.update(workspace.index[field].get(value.lower() if field == "email" else value, []))
    return sorted(ids, key=workspace.seq.__getitem__)


def _cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"after:{seq}".encode()).decode().rstrip("=")


def _after(cursor: Any) -> int:
    if cursor is None:
        return -1
    try:
        text = base64.urlsafe_b64decode(str(cursor) + "=" * (-len(str(cursor)) % 4)).decode()
        prefix, _, seq = text.partition(":")
        if prefix != "after":
            raise ValueError(text)
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _invalid("starting_after is not a cursor from pages.next") from None


def search(workspace: Workspace, body: Any, *, now: float, lag: float) -> JSON:
    """The contact_list answer for a search request body."""
    if not isinstance(body, dict) or "query" not in body:
        raise _invalid("query is required")
    predicate = compile_query(body["query"])
    pagination = body.get("pagination") or {}
    if not isinstance(pagination, dict):
        raise _invalid("pagination must be an object")
    per_page = pagination.get("per_page", DEFAULT_PER_PAGE)
    if isinstance(per_page, bool) or not isinstance(per_page, int):
        raise _invalid("per_page must be an integer")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise _invalid(f"per_page must be between 1 and {MAX_PER_PAGE}")
    after = _after(pagination.get("starting_after"))
    indexed = _indexed(workspace, body["query"])
    candidates: Iterable[str] = workspace.contacts if indexed is None else indexed
    # Intercom's search is eventually consistent: new contacts stay invisible for a while.
    hidden_after = now - lag if lag > 0 else math.inf
    hits = [
        cid
        for cid in candidates
        if workspace.visible_at[cid] <= hidden_after and predicate(workspace.contacts[cid])
    ]
    start = bisect.bisect_right(hits, after, key=workspace.seq.__getitem__)
    page = hits[start : start + per_page]
    pages: JSON = {
        "type": "pages",
        "page": start // per_page + 1,
        "per_page": per_page,
        "total_pages": math.ceil(len(hits) / per_page),
    }
    if start + per_page < len(hits):
        pages["next"] = {"per_page": per_page, "starting_after": _cursor(workspace.seq[page[-1]])}
    return {
        "type": "list",
        "data": [workspace.view(cid) for cid in page],
        "total_count": len(hits),
        "pages": pages,
    }
