"""What an Intercom failure means for a request, and why a request goes back to the queue.

`classify` is the one place that sorts a failure: try again after a backoff, wait for the rate
window, give up, or stop everything. `Requeue` names every reason a request is put back to be
tried later; the applier turns one into a time and a ledger write.
"""

from __future__ import annotations

import enum

from bridge.intercom.client import IntercomError, NotFound, RateLimited, Unauthorized


class ContactGone(Exception):
    """Intercom says the contact no longer exists (deleted or merged away)."""


class Step(enum.Enum):
    """Where applying a request had got to when a call failed."""

    TYPES = "listing subscription types"
    CONTACT = "looking up the contact"
    CREATE = "creating the contact"
    MESSAGE = "emailing the confirmation link"
    LINK = "emailing the preference link"
    CALLS = "changing subscriptions"

    def describe(self, exc: Exception) -> str:
        """The error to record: the early steps say what was being done."""
        return str(exc) if self is Step.CALLS else f"{self.value}: {exc}"


class Failure(enum.Enum):
    """What a failed call means for its request."""

    BACKOFF = enum.auto()  # may well work later: back to the queue after a backoff
    RATE_WINDOW = enum.auto()  # over the rate limit: back when Intercom's window resets
    CONTACT_GONE = enum.auto()  # deleted or merged away: look the person up again later
    DEAD = enum.auto()  # will fail however often it is tried
    HALT = enum.auto()  # the access token is refused: the worker stops every call
    UNEXPECTED = enum.auto()  # raised on: the worker logs it and retries an internal error


def classify(exc: Exception, step: Step) -> Failure:
    """What `exc`, raised at `step`, means for the request."""
    if isinstance(exc, ContactGone):
        return Failure.CONTACT_GONE
    if isinstance(exc, Unauthorized):
        return Failure.HALT
    if not isinstance(exc, IntercomError):
        return Failure.UNEXPECTED
    if isinstance(exc, RateLimited) and step is not Step.TYPES:
        # Types are listed outside the pacer, so a 429 there backs off like a server error.
        return Failure.RATE_WINDOW
    if exc.retryable:
        return Failure.BACKOFF
    if isinstance(exc, NotFound) and step in (Step.MESSAGE, Step.LINK):
        # Intercom cannot message a contact created moments ago (it answers 404) for a while.
        return Failure.BACKOFF
    # Only a refused change (or a refused lead: an address Intercom will not take; or a refused
    # email: an admin id that is wrong) is the request's own fault; a refused lookup is not
    # planned for.
    return (
        Failure.DEAD
        if step in (Step.CREATE, Step.MESSAGE, Step.LINK, Step.CALLS)
        else Failure.UNEXPECTED
    )


class Requeue(enum.Enum):
    """Why a request goes back to the queue; the value is its label in the outcomes metric."""

    BACKOFF = "retry"
    RATE_WINDOW = "rate_limited"
    CONTACT_PENDING = "contact_pending"
    CONTACT_BUSY = "contact_busy"

    @property
    def refunded(self) -> bool:
        """Whether the attempt is given back: waiting for Intercom or a turn is no failure."""
        return self is not Requeue.BACKOFF
