"""Sorting Intercom failures: which are tried again, when, and which stop the worker."""

from __future__ import annotations

import pytest

from bridge.intercom.client import IntercomError, NotFound, RateLimited, ServerError, Unauthorized
from bridge.worker.retries import ContactGone, Failure, Requeue, Step, classify

UNAUTHORIZED = Unauthorized(401, "Access Token Invalid")
RATE_LIMITED = RateLimited(429, "Exceeded rate limit", reset_at=1_000_000_010.0)
SERVER_ERROR = ServerError(503, "Service Unavailable")
REFUSED = IntercomError(400, "consent_type does not match")
NO_TYPE = NotFound(404, "Resource Not Found")


@pytest.mark.parametrize(
    ("exc", "step", "failure"),
    [
        (UNAUTHORIZED, Step.TYPES, Failure.HALT),
        (UNAUTHORIZED, Step.CONTACT, Failure.HALT),
        (UNAUTHORIZED, Step.CALLS, Failure.HALT),
        # Types are listed outside the pacer: a 429 there is backed off like a 5xx.
        (RATE_LIMITED, Step.TYPES, Failure.BACKOFF),
        (RATE_LIMITED, Step.CONTACT, Failure.RATE_WINDOW),
        (RATE_LIMITED, Step.CALLS, Failure.RATE_WINDOW),
        (SERVER_ERROR, Step.TYPES, Failure.BACKOFF),
        (SERVER_ERROR, Step.CONTACT, Failure.BACKOFF),
        (SERVER_ERROR, Step.CALLS, Failure.BACKOFF),
        # Creating a lead fails as a change does: a 429 waits, a 5xx backs off, a 4xx is dead.
        (RATE_LIMITED, Step.CREATE, Failure.RATE_WINDOW),
        (SERVER_ERROR, Step.CREATE, Failure.BACKOFF),
        (REFUSED, Step.CREATE, Failure.DEAD),
        (REFUSED, Step.CALLS, Failure.DEAD),
        (NO_TYPE, Step.CALLS, Failure.DEAD),
        # A refused lookup is left to the worker, which logs it and retries an internal error.
        (REFUSED, Step.TYPES, Failure.UNEXPECTED),
        (REFUSED, Step.CONTACT, Failure.UNEXPECTED),
        (ContactGone("63a07ddf05a32042dffac965"), Step.CALLS, Failure.CONTACT_GONE),
        (ValueError("a bug"), Step.CALLS, Failure.UNEXPECTED),
    ],
)
def test_each_failure_is_sorted_by_what_it_is_and_where(
    exc: Exception, step: Step, failure: Failure
) -> None:
    assert classify(exc, step) is failure


def test_the_early_steps_say_what_was_being_done() -> None:
    assert Step.TYPES.describe(SERVER_ERROR) == f"listing subscription types: {SERVER_ERROR}"
    assert Step.CONTACT.describe(SERVER_ERROR) == f"looking up the contact: {SERVER_ERROR}"
    assert Step.CREATE.describe(SERVER_ERROR) == f"creating the contact: {SERVER_ERROR}"
    assert Step.CALLS.describe(SERVER_ERROR) == str(SERVER_ERROR)


def test_only_a_backoff_charges_the_attempt() -> None:
    assert {why.value: why.refunded for why in Requeue} == {
        "retry": False,
        "rate_limited": True,
        "contact_pending": True,
        "contact_busy": True,
    }
