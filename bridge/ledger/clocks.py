"""What the legal clocks read from the ledger: the oldest unapplied opt-out per channel.

An opt-out is unapplied while it is pending, leased, awaiting a confirmation, held for review
(the clock runs while an operator thinks) or dead (given up on: the worst case, it stays on
the clock until it is replayed and applied). Unmatched is not on the clock: Intercom has no
contact to send to, so nothing is owed; the queue gauge still counts it. Applied, superseded,
dismissed and expired requests are done with.

The channel is the request's scope's. A scope naming type ids, or every type, is counted on
both clocks: which channel a type reaches is Intercom's knowledge, not the ledger's, and
counting it twice errs on the safe side (the email clock, the shorter, fires first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bridge.consent import Channel, Scope, Wanted

from .codec import dump_json, from_micros
from .database import Transaction
from .models import Status

ON_THE_CLOCK = (
    Status.PENDING,
    Status.LEASED,
    Status.AWAITING_CONFIRMATION,
    Status.REVIEW,
    Status.DEAD,
)
# The scope column as the codec writes a channel's scope: matched as stored, no JSON parsing.
_CHANNEL_SCOPES = {
    channel: dump_json(Scope(channel=channel).to_dict(), "scope") for channel in Channel
}


@dataclass(frozen=True, slots=True)
class OptoutClocks:
    """When the oldest unapplied opt-out per channel, and the oldest held request, came in."""

    oldest_unapplied: dict[Channel, datetime] = field(default_factory=dict)
    oldest_held: datetime | None = None


def _among(dialect: str, statuses: tuple[Status, ...]) -> str:
    """`IN (...)` the ids of the requests in these statuses, read from request_state's index.

    As a join or an IN, PostgreSQL's planner hashes the whole request table (150 ms at
    200,000 requests, and growing with the history); an array of the ids is one primary-key
    index scan (20 ms with 2,000 on the clock).
    """
    listed = ", ".join(f"'{status.value}'" for status in statuses)
    ids = f"SELECT s.request_id FROM request_state s WHERE s.status IN ({listed})"  # noqa: S608
    return f"= ANY (ARRAY({ids}))" if dialect == "postgresql" else f"IN ({ids})"


async def optout_clocks(tx: Transaction, dialect: str) -> OptoutClocks:
    """The receipt times the clocks run from; a channel with nothing unapplied is absent.

    Reads the ids on the clock from request_state's status index, then each one's request
    by primary key: the cost is the size of the backlog, never of the history.
    """
    rows = await tx.fetchall(
        "SELECT CASE r.scope WHEN :email THEN 'email' WHEN :sms THEN 'sms' ELSE 'any' END"  # noqa: S608
        " AS channel, MIN(r.received_at) AS oldest FROM consent_requests r"
        f" WHERE r.id {_among(dialect, ON_THE_CLOCK)} AND r.wanted = :wanted GROUP BY channel",
        {
            "email": _CHANNEL_SCOPES[Channel.EMAIL],
            "sms": _CHANNEL_SCOPES[Channel.SMS],
            "wanted": Wanted.UNSUBSCRIBED.value,
        },
    )
    found = {str(row["channel"]): int(row["oldest"]) for row in rows}
    oldest: dict[Channel, datetime] = {}
    for channel in Channel:
        candidates = [found[key] for key in (channel.value, "any") if key in found]
        if candidates:
            oldest[channel] = from_micros(min(candidates))
    held = await tx.fetchone(
        "SELECT MIN(r.received_at) AS oldest FROM consent_requests r"  # noqa: S608
        f" WHERE r.id {_among(dialect, (Status.REVIEW,))}"
    )
    held_at = None if held is None or held["oldest"] is None else from_micros(int(held["oldest"]))
    return OptoutClocks(oldest, held_at)
