"""Intercom's REST API as the bridge uses it: the client, its pacing, and the caches around it.

`client` speaks HTTP; `pacing` spends the rate budget Intercom reports; `types` caches the
workspace's subscription types; `contacts` finds (and remembers) the contacts a person has.
"""

from .client import (
    CallObserver,
    CallResult,
    ContactExists,
    CreatedContact,
    IntercomClient,
    IntercomError,
    NotFound,
    RateLimit,
    RateLimited,
    SentMessage,
    ServerError,
    TransportError,
    Unauthorized,
)

__all__ = [
    "CallObserver",
    "CallResult",
    "ContactExists",
    "CreatedContact",
    "IntercomClient",
    "IntercomError",
    "NotFound",
    "RateLimit",
    "RateLimited",
    "SentMessage",
    "ServerError",
    "TransportError",
    "Unauthorized",
]
