"""`/admin`: the queue at a glance, the legal clocks, and replaying what matches a filter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bridge.consent import Channel
from bridge.deadlines import deadline, seconds_left
from bridge.ledger import Ledger, Status
from bridge.ledger.history import PAGE
from bridge.services import Services
from bridge.web.admin.auth import HOME, Operator, admin
from bridge.web.admin.views import page
from bridge.web.routing import route

RECENT_DEAD = 10
REPLAYABLE = (Status.DEAD, Status.UNMATCHED)


@dataclass(frozen=True, slots=True)
class ChannelClock:
    """The oldest unapplied opt-out of a channel against its deadline."""

    channel: Channel
    received_at: datetime
    deadline: datetime
    age: float
    left: float


def channel_clocks(oldest: dict[Channel, datetime], now: datetime) -> list[ChannelClock]:
    """Each channel's clock, from when its oldest unapplied opt-out came in."""
    return [
        ChannelClock(
            channel,
            at,
            deadline(channel, at),
            (now - at).total_seconds(),
            seconds_left(channel, at, now),
        )
        for channel, at in sorted(oldest.items())
    ]


@admin
async def overview(request: Request, operator: Operator) -> Response:
    """GET: counts by status, the oldest due age, the clocks, held and recent dead requests."""
    services: Services = request.app.state.services
    ledger, now = services.ledger, services.clock.now()
    counts = await ledger.status_counts()
    clocks = await ledger.optout_clocks()
    dead = await ledger.history.events(status=Status.DEAD, limit=RECENT_DEAD)
    return page(
        request,
        "admin/overview.html",
        operator,
        {
            "counts": counts,
            "oldest_due": await ledger.oldest_due_age(now),
            "clocks": channel_clocks(clocks.oldest_unapplied, now),
            "held": counts.get(Status.REVIEW, 0),
            "oldest_held": None
            if clocks.oldest_held is None
            else (now - clocks.oldest_held).total_seconds(),
            "dead": dead,
            "sources": sorted(services.providers),
        },
    )


async def matching(ledger: Ledger, statuses: Sequence[Status], source: str) -> list[int]:
    """The ids of the requests in these statuses from this source, read a page at a time."""
    found: list[int] = []
    for status in statuses:
        after: int | None = None
        while True:
            records = await ledger.history.events(
                status=status, limit=PAGE, after_id=after, oldest_first=True
            )
            found += [r.id for r in records if r.request.source == source]
            if len(records) < PAGE:
                break
            after = records[-1].id
    return found


def _filter(form: FormData) -> tuple[list[Status], str]:
    """The statuses (dead, unmatched or both) and the source (or '') a replay form names."""
    chosen = str(form.get("status") or "dead")
    if chosen == "both":
        statuses = list(REPLAYABLE)
    else:
        statuses = [Status.UNMATCHED if chosen == "unmatched" else Status.DEAD]
    return statuses, str(form.get("source") or "").strip()


@admin
async def replay_matching(request: Request, operator: Operator) -> Response:
    """POST: how many match (asking to confirm), then, confirmed, replay them all."""
    services: Services = request.app.state.services
    form = await request.form()
    statuses, source = _filter(form)
    ledger = services.ledger
    if source:
        ids = await matching(ledger, statuses, source)
    else:
        counts = await ledger.status_counts()
        ids = []
    count = len(ids) if source else sum(counts.get(s, 0) for s in statuses)
    if form.get("confirm") != "yes":
        return page(
            request,
            "admin/replay_confirm.html",
            operator,
            {"statuses": statuses, "source": source, "count": count},
        )
    if source:
        done = 0
        # A request that moved on since it was counted is left alone: the statuses still apply.
        for start in range(0, len(ids), PAGE):
            done += await ledger.replay(ids=ids[start : start + PAGE], statuses=statuses)
    else:
        done = await ledger.replay(statuses=statuses)
    return RedirectResponse(f"{HOME}?replayed={done}", 303)


routes = [
    route(HOME, GET=overview),
    route(f"{HOME}/replay", POST=replay_matching),
]
