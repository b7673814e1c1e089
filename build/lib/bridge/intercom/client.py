"""The Intercom REST client: regions, the version header, typed errors and rate-limit state."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from bridge.clock import Clock, SystemClock
from bridge.consent import ConsentType, SubscriptionType
from bridge.intercom import phones

log = logging.getLogger(__name__)

REGION_URLS = {
    "us": "https://api.intercom.io",
    "eu": "https://api.eu.intercom.io",
    "au": "https://api.au.intercom.io",
}
USER_AGENT = "intercom-consent-bridge/0.1"
# A lookup by email or phone matches a handful of contacts; more than this many pages means a
# query far broader than the bridge ever needs, so stop rather than walk the whole workspace.
MAX_SEARCH_PAGES = 5
# The fallback phone search matches everyone whose number ends like the one sought (about one
# phone in ten thousand): Intercom's largest page reads them in as few calls as it can.
PHONE_CANDIDATES_PER_PAGE = 150
MAX_CONNECTIONS = 20  # open to Intercom at once, worker and page views together
_EXCERPT = 120
# Path segments after these name a resource (a contact, a type), not an endpoint.
_ID_AFTER = {"contacts", "subscriptions"}
_NAMED_SEGMENTS = {"search", "subscriptions"}
ROLES = ("lead", "user")
# A 409 to POST /contacts names the contact already there: "A contact matching those details
# already exists with id=6762f0dd1bb69f9f2193bb83" ("An archived contact ..." for an archived one).
_EXISTING_ID = re.compile(r"already exists with id=([0-9A-Za-z_-]+)")

# Told of every call once it is answered (or fails unanswered, status 0): its endpoint,
# e.g. "GET /contacts/{id}/subscriptions", the HTTP status and the seconds it took.
CallObserver = Callable[[str, int, float], None]
# Entered around each search a lookup makes (the resolver's pacer slot and count), so a lookup
# that needs a second search waits for, and is counted as, a second one.
SearchTurn = Callable[[], AbstractAsyncContextManager[object]]


def endpoint_of(method: str, path: str) -> str:
    """`POST /contacts/{id}/subscriptions` for `POST /contacts/63a0.../subscriptions`."""
    segments = path.split("/")
    named = [
        "{id}" if i and segments[i - 1] in _ID_AFTER and part not in _NAMED_SEGMENTS else part
        for i, part in enumerate(segments)
    ]
    return f"{method} {'/'.join(named)}"


@dataclass(frozen=True)
class RateLimit:
    """The latest `X-RateLimit-*` values Intercom sent, and when they were seen."""

    limit: int
    remaining: int
    reset_at: float
    observed_at: float


@dataclass(frozen=True)
class CallResult:
    """The outcome of a call whose body the bridge does not need, kept for the ledger."""

    status: int
    request_id: str | None


@dataclass(frozen=True)
class CreatedContact:
    """The contact POST /contacts made, and the call's status and request id for the ledger."""

    id: str
    status: int
    request_id: str | None


@dataclass(frozen=True)
class SentMessage:
    """The message POST /messages made, and the call's status and request id for the ledger."""

    id: str
    status: int
    request_id: str | None


class IntercomError(Exception):
    """Intercom refused a call, or it could not be made; `retryable` says whether to try again."""

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        request_id: str | None = None,
        context: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.context = context
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"{self.context}: " if self.context else ""
        what = f"HTTP {self.status}" if self.status else "no response"
        code = f" {self.code}" if self.code else ""
        rid = f" (request id {self.request_id})" if self.request_id else ""
        return f"{where}Intercom {what}{code}: {self.message}{rid}"


class Unauthorized(IntercomError):
    """The access token is missing, wrong or revoked (401)."""


class NotFound(IntercomError):
    """The contact (`missing == "contact"`) or another resource, such as a type, is unknown."""

    def __init__(self, status: int, message: str, **kwargs: Any) -> None:
        # Both are 404 `not_found`; only the message tells them apart: "User Not Found" for a
        # contact, "Resource Not Found" for anything else (a subscription type, say).
        self.missing = "contact" if message == "User Not Found" else "resource"
        super().__init__(status, message, **kwargs)


class ContactExists(IntercomError):
    """POST /contacts refused a duplicate (409); `existing_id` is the contact already there.

    Intercom's search lags creation by minutes, so this is how a contact made moments ago
    (by another worker, or by the same person's earlier request) is found.
    """

    def __init__(self, status: int, message: str, *, existing_id: str, **kwargs: Any) -> None:
        self.existing_id = existing_id
        self.archived = message.lower().startswith("an archived")
        super().__init__(status, message, **kwargs)


class RateLimited(IntercomError):
    """Over the rate limit (429); wait until `reset_at` (epoch seconds) when it is known."""

    retryable = True

    def __init__(self, status: int, message: str, *, reset_at: float | None, **kwargs: Any) -> None:
        self.reset_at = reset_at
        super().__init__(status, message, **kwargs)


class ServerError(IntercomError):
    """Intercom failed (5xx); the same call may well succeed later."""

    retryable = True


class TransportError(IntercomError):
    """No answer: a timeout or a connection error (status 0)."""

    retryable = True


def _header_number(headers: httpx.Headers, name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def _rate_limit_from(headers: httpx.Headers, observed_at: float) -> RateLimit | None:
    limit = _header_number(headers, "X-RateLimit-Limit")
    remaining = _header_number(headers, "X-RateLimit-Remaining")
    reset_at = _header_number(headers, "X-RateLimit-Reset")
    if limit is None or remaining is None or reset_at is None:
        return None
    return RateLimit(int(limit), int(remaining), reset_at, observed_at)


class IntercomClient:
    """A thin async client for the endpoints the bridge uses, pinned to one API version.

    It never retries: the worker owns retry and backoff, using `retryable`, `rate_limit` and
    `RateLimited.reset_at`.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str,
        version: str = "2.11",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        observer: CallObserver | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not token:
            raise ValueError("an Intercom access token is required")
        self._token = token
        self._timeout = timeout
        self._observer = observer
        self._clock = clock or SystemClock()
        self.version = version
        self.base_url = base_url.rstrip("/")
        self.rate_limit: RateLimit | None = None
        self.calls_sent = 0
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            # As many kept-alive connections as open ones: with httpx's default (100 open,
            # 20 kept) a burst past 20 closes connections as they free up, and every later
            # call pays a new TLS handshake. Past the limit, calls wait for a connection.
            limits=httpx.Limits(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
            ),
            headers={
                "Authorization": f"Bearer {token}",
                "Intercom-Version": version,
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
        )

    def __repr__(self) -> str:
        return f"IntercomClient(base_url={self.base_url!r}, version={self.version!r})"

    async def aclose(self) -> None:
        """Close the underlying connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> IntercomClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def list_subscription_types(self) -> list[SubscriptionType]:
        """Every subscription type in the workspace, whatever its state."""
        body = await self._json("GET", "/subscription_types")
        return self._types(body, "GET /subscription_types")

    async def list_contact_subscriptions(self, contact_id: str) -> list[SubscriptionType]:
        """The types a contact has an explicit preference for (not "the types they receive")."""
        path = f"/contacts/{_segment(contact_id)}/subscriptions"
        return self._types(await self._json("GET", path), f"GET {path}")

    async def attach_subscription(
        self, contact_id: str, type_id: str, consent_type: ConsentType
    ) -> CallResult:
        """Record an explicit preference: opts out of an opt_out type, into an opt_in type."""
        path = f"/contacts/{_segment(contact_id)}/subscriptions"
        payload = {"id": str(type_id), "consent_type": ConsentType(consent_type).value}
        response = await self._send("POST", path, payload)
        return CallResult(response.status_code, _request_id(response, _decode(response)))

    async def detach_subscription(self, contact_id: str, type_id: str) -> CallResult:
        """Remove an explicit preference, putting the contact back on the type's default."""
        path = f"/contacts/{_segment(contact_id)}/subscriptions/{_segment(type_id)}"
        response = await self._send("DELETE", path)
        return CallResult(response.status_code, _request_id(response, _decode(response)))

    async def create_contact(
        self,
        *,
        role: str = "lead",
        email: str | None = None,
        phone: str | None = None,
        name: str | None = None,
    ) -> CreatedContact:
        """Create a contact (a lead by default); `ContactExists` if Intercom has one already."""
        if role not in ROLES:
            raise ValueError(f"role must be lead or user, not {role!r}")
        # The spec types email as a non-nullable string: a field without a value is left out.
        payload = {
            key: value
            for key, value in (("role", role), ("email", email), ("phone", phone), ("name", name))
            if value is not None
        }
        response = await self._send("POST", "/contacts", payload)
        contact_id, request_id = self._made_id(
            response, "POST /contacts", "create answer has no contact id"
        )
        return CreatedContact(contact_id, response.status_code, request_id)

    async def send_email(
        self,
        *,
        admin_id: str,
        contact_id: str,
        role: str,
        subject: str,
        body: str,
    ) -> SentMessage:
        """Have Intercom email a contact from an admin (`POST /messages`).

        A contact created moments ago answers 404 until Intercom can message it; the caller
        decides when to try again.
        """
        if role not in ROLES:
            raise ValueError(f"role must be lead or user, not {role!r}")
        # The spec types from.id as an integer (its examples send strings): digits go as a number.
        sender: str | int = int(admin_id) if admin_id.isdigit() else admin_id
        payload = {
            "message_type": "email",
            "subject": subject,
            "body": body,
            "template": "plain",
            "from": {"type": "admin", "id": sender},
            "to": {"type": role, "id": contact_id},
        }
        response = await self._send("POST", "/messages", payload)
        message_id, request_id = self._made_id(
            response, "POST /messages", "message answer has no message id"
        )
        return SentMessage(message_id, response.status_code, request_id)

    def _made_id(
        self, response: httpx.Response, context: str, missing: str
    ) -> tuple[str, str | None]:
        """The id of what a call made, and the call's request id; an answer without one fails."""
        body = _decode(response)
        made = body.get("id") if isinstance(body, dict) else None
        if not isinstance(made, str) or not made:
            raise IntercomError(
                response.status_code,
                f"{missing}: {_excerpt(response.text, self._token)!r}",
                request_id=_request_id(response, body),
                context=context,
            )
        return made, _request_id(response, body)

    async def search_contacts(
        self, query: dict[str, Any], *, per_page: int = 50
    ) -> list[dict[str, Any]]:
        """Contacts matching a search query, following `pages.next` up to MAX_SEARCH_PAGES."""
        pagination: dict[str, Any] = {"per_page": per_page}
        found: list[dict[str, Any]] = []
        for _ in range(MAX_SEARCH_PAGES):
            body = await self._json(
                "POST", "/contacts/search", {"query": query, "pagination": pagination}
            )
            data = body.get("data")
            if not isinstance(data, list):
                raise IntercomError(
                    200, "search answer has no data list", context="POST /contacts/search"
                )
            found.extend(item for item in data if isinstance(item, dict))
            pages = body.get("pages")
            after = pages.get("next") if isinstance(pages, dict) else None
            if not isinstance(after, dict) or not after.get("starting_after"):
                return found
            pagination = {"per_page": per_page, "starting_after": after["starting_after"]}
        log.warning(
            "contact search stopped after %d pages (%d contacts); more remain",
            MAX_SEARCH_PAGES,
            len(found),
        )
        return found

    async def find_contact_ids(
        self,
        *,
        email: str | None = None,
        phone: str | None = None,
        external_id: str | None = None,
    ) -> list[str]:
        """Ids of every contact (users and leads) whose one given field matches the value."""
        roles = await self.find_contact_roles(email=email, phone=phone, external_id=external_id)
        return list(roles)

    async def find_contact_roles(
        self,
        *,
        email: str | None = None,
        phone: str | None = None,
        external_id: str | None = None,
        turn: SearchTurn | None = None,
    ) -> dict[str, str]:
        """Id -> role (user or lead) of every contact whose one given field matches the value.

        An email or external id must be equal. A phone (E.164) is searched in one request
        however it was typed, its E.164 form among them (`phones`), and only candidates that
        read as the same number are kept: a lead the bridge made in E.164 and a user typed
        "(415) 555-0123" are the same person, and a STOP must reach both. Should Intercom
        refuse that query (400), the E.164 form alone is searched. Each search runs inside
        `turn()`.
        """
        given = {
            name: value
            for name, value in (("email", email), ("phone", phone), ("external_id", external_id))
            if value is not None
        }
        if len(given) != 1:
            raise ValueError("find_contact_ids needs exactly one of email, phone, external_id")
        [(field, value)] = given.items()
        take_turn = turn or contextlib.nullcontext
        typed = phones.typed_query(value) if field == "phone" else None
        if typed is not None:
            try:
                async with take_turn():
                    found = await self.search_contacts(typed, per_page=PHONE_CANDIDATES_PER_PAGE)
                return _roles(phones.same_number(found, value))
            except IntercomError as exc:
                if exc.status != 400:
                    raise
                log.warning("Intercom refused the typed phone search (%s): E.164 only", exc)
        async with take_turn():
            contacts = await self.search_contacts({"field": field, "operator": "=", "value": value})
        return _roles(contacts)

    async def _json(
        self, method: str, path: str, payload: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        response = await self._send(method, path, payload)
        body = _decode(response)
        if not isinstance(body, dict):
            raise IntercomError(
                response.status_code,
                f"expected a JSON object, got {_excerpt(response.text, self._token)!r}",
                request_id=response.headers.get("X-Request-Id"),
                context=f"{method} {path}",
            )
        return body

    @staticmethod
    def _types(body: dict[str, Any], context: str) -> list[SubscriptionType]:
        try:
            return [SubscriptionType.from_api(item) for item in body["data"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise IntercomError(
                200, f"malformed subscription type list ({exc!r})", context=context
            ) from exc

    async def _send(
        self, method: str, path: str, payload: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        headers = {}
        content = None
        if payload is not None:
            content = json.dumps(payload, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        started = self._clock.monotonic()
        self.calls_sent += 1
        try:
            # ASGITransport ignores httpx's own timeouts; this bounds the call either way.
            async with asyncio.timeout(self._timeout):
                response = await self._http.request(method, path, content=content, headers=headers)
        except (TimeoutError, httpx.TimeoutException) as exc:
            self._observe(method, path, 0, started)
            log.debug("intercom %s %s timed out after %.3fs", method, path, self._timeout)
            raise TransportError(
                0, f"timed out after {self._timeout:g}s", context=f"{method} {path}"
            ) from exc
        except httpx.TransportError as exc:
            self._observe(method, path, 0, started)
            log.debug("intercom %s %s failed: %s", method, path, type(exc).__name__)
            raise TransportError(
                0,
                f"{type(exc).__name__}: {_redact(str(exc), self._token)}",
                context=f"{method} {path}",
            ) from exc
        elapsed = self._observe(method, path, response.status_code, started)
        seen = _rate_limit_from(response.headers, self._clock.time())
        if seen is not None:
            self.rate_limit = seen
        log.debug(
            "intercom %s %s -> %d request_id=%s in %.3fs",
            method,
            path,
            response.status_code,
            response.headers.get("X-Request-Id"),
            elapsed,
        )
        if response.status_code >= 300:
            raise self._error(response, f"{method} {path}")
        return response

    def _observe(self, method: str, path: str, status: int, started: float) -> float:
        """Tell the observer of a finished call; the seconds it took."""
        elapsed = self._clock.monotonic() - started
        if self._observer is not None:
            self._observer(endpoint_of(method, path), status, elapsed)
        return elapsed

    def _error(self, response: httpx.Response, context: str) -> IntercomError:
        status = response.status_code
        body = _decode(response)
        code, message = _code_and_message(body)
        if message is None:
            message = (
                f"unexpected body {_excerpt(response.text, self._token)!r}"
                if response.content
                else "empty body"
            )
        message = _redact(message, self._token)
        kwargs: dict[str, Any] = {
            "code": code,
            "request_id": _request_id(response, body),
            "context": context,
        }
        if status == 401:
            return Unauthorized(status, message, **kwargs)
        if status == 404:
            return NotFound(status, message, **kwargs)
        if status == 409 and (existing := _EXISTING_ID.search(message)):
            return ContactExists(status, message, existing_id=existing.group(1), **kwargs)
        if status == 429:
            reset_at = _header_number(response.headers, "X-RateLimit-Reset")
            return RateLimited(status, message, reset_at=reset_at, **kwargs)
        if status >= 500:
            return ServerError(status, message, **kwargs)
        return IntercomError(status, message, **kwargs)


def _segment(value: str) -> str:
    # Ids come from links, webhooks and CSV files; an unquoted "/" or "?" would reach
    # another endpoint.
    return quote(str(value), safe="")


def _roles(contacts: list[dict[str, Any]]) -> dict[str, str]:
    """Id -> role of each contact found."""
    return {str(c["id"]): str(c.get("role") or "user") for c in contacts if c.get("id")}


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _request_id(response: httpx.Response, body: Any) -> str | None:
    header: str | None = response.headers.get("X-Request-Id")
    if header:
        return header
    if isinstance(body, dict) and isinstance(body.get("request_id"), str):
        return str(body["request_id"])
    return None


def _code_and_message(body: Any) -> tuple[str | None, str | None]:
    if not isinstance(body, dict):
        return None, None
    errors = body.get("errors")
    if body.get("type") == "error.list" and isinstance(errors, list) and errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        code = first.get("code")
        message = first.get("message")
        return (
            str(code) if code is not None else None,
            str(message) if message is not None else (str(code) if code else None),
        )
    if "error_key" in body:
        # Some endpoints (phone_call_redirects in 2.11) answer `{"error_key": ...}` instead.
        return str(body["error_key"]), f"error_key {body['error_key']}"
    return None, None


def _redact(text: str, token: str) -> str:
    return text.replace(token, "[token]") if token else text


def _excerpt(text: str, token: str) -> str:
    # Redact before cutting, so that no prefix of the token survives at the cut.
    flat = _redact(" ".join(text.split()), token)
    return flat if len(flat) <= _EXCERPT else flat[: _EXCERPT - 1] + "…"
