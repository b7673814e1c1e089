"""Requests held for an operator's review: released to the queue, or dismissed for good.

A request recorded with `hold` (a free-text SMS such as "please stop texting me") starts as
`review`: no claim takes it and no replay moves it. An operator's `bridge review apply` makes
it `pending`, due at once; `bridge review dismiss` makes it `dismissed`, kept forever.
"""

from __future__ import annotations

from .database import Transaction
from .models import Status

REVIEW = Status.REVIEW.value
# Said in last_error when no note is given: the ledger keeps who decided, and why, there.
DISMISSED_BY_OPERATOR = "dismissed by an operator"


async def release(tx: Transaction, request_id: int, *, now: int) -> bool:
    """A held request made pending, due now, attempts none; False if it was not held."""
    changed = await tx.execute(
        "UPDATE request_state SET status = 'pending', next_attempt_at = :now, attempts = 0,"
        " last_error = NULL, updated_at = :now"
        " WHERE request_id = :request_id AND status = 'review'",
        {"request_id": request_id, "now": now},
    )
    return changed == 1


async def dismiss(tx: Transaction, request_id: int, *, now: int, note: str | None) -> bool:
    """A held request made `dismissed`, the note in its last_error; False if it was not held."""
    reason = DISMISSED_BY_OPERATOR if not note else f"{DISMISSED_BY_OPERATOR}: {note}"
    changed = await tx.execute(
        "UPDATE request_state SET status = 'dismissed', last_error = :reason, updated_at = :now"
        " WHERE request_id = :request_id AND status = 'review'",
        {"request_id": request_id, "reason": reason, "now": now},
    )
    return changed == 1
