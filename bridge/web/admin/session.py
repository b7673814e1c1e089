"""The admin's session: a signed, expiring cookie that is never the admin token itself.

The cookie holds a random session id signed with the bridge's secret keys under a salt of
its own (as `bridge.links` signs each purpose), stamped with its time so that it expires,
and bound to a digest of the admin token so that changing the token ends every session. The
CSRF token of a session is an HMAC of its id: nothing to store, and a form from one session
is refused in another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from itsdangerous import BadSignature, TimestampSigner

COOKIE = "bridge_admin"
COOKIE_PATH = "/admin"
MAX_AGE = 8 * 3600  # a working day; then the operator logs in again
_SALT = "bridge.admin_session"
_CSRF_LABEL = b"bridge.admin_csrf:"


@dataclass(frozen=True, slots=True)
class Session:
    """An operator's signed-in session: its id, and the CSRF token its forms carry."""

    id: str
    csrf: str


class _Clocked(TimestampSigner):
    def __init__(self, keys: list[str], clock: Callable[[], float]) -> None:
        super().__init__(keys, salt=_SALT)
        self._clock = clock

    def get_timestamp(self) -> int:
        """Now, by the injected clock (ages are measured with it too)."""
        return int(self._clock())


class Sessions:
    """Issues and checks admin session cookies."""

    def __init__(
        self, secret_keys: Sequence[str], admin_token: str, clock: Callable[[], float]
    ) -> None:
        # itsdangerous signs with the last key; the settings list the newest first.
        keys = list(reversed(secret_keys))
        self._signer = _Clocked(keys, clock)
        self._csrf_key = hashlib.sha256(b"bridge.admin_csrf" + keys[-1].encode()).digest()
        # Keyed, so the cookie (signed, not encrypted: anyone holding it can read it) says
        # nothing about the token a guesser could check offline.
        self._bound = hmac.new(self._csrf_key, admin_token.encode(), hashlib.sha256).hexdigest()[
            :16
        ]

    def issue(self) -> tuple[str, Session]:
        """A new session and the cookie value that carries it."""
        session_id = secrets.token_urlsafe(24)
        value = self._signer.sign(f"{session_id}.{self._bound}".encode()).decode()
        return value, self._session(session_id)

    def read(self, cookie: str | None) -> Session | None:
        """The session a cookie carries; None when absent, forged, expired or of an old token."""
        if not cookie:
            return None
        try:
            payload = self._signer.unsign(cookie, max_age=MAX_AGE).decode()
        except (BadSignature, UnicodeDecodeError):
            return None
        session_id, _, bound = payload.partition(".")
        if not hmac.compare_digest(bound.encode(), self._bound.encode()):
            return None
        return self._session(session_id)

    def csrf_matches(self, session: Session, given: str | None) -> bool:
        """Whether a form's CSRF token is this session's (in constant time)."""
        return given is not None and hmac.compare_digest(given.encode(), session.csrf.encode())

    def _session(self, session_id: str) -> Session:
        digest = hmac.new(self._csrf_key, _CSRF_LABEL + session_id.encode(), "sha256")
        return Session(session_id, digest.hexdigest())


def cookie_header(value: str, *, max_age: int = MAX_AGE) -> str:
    """The Set-Cookie value: Secure, HttpOnly, SameSite=Strict, only under /admin."""
    return (
        f"{COOKIE}={value}; Max-Age={max_age}; Path={COOKIE_PATH}; Secure; HttpOnly;"
        " SameSite=Strict"
    )
