"""`/admin/requests/{id}` (a request's story) and `/admin/review` (held SMS revocations).

The story names the person in full: the operator asked for this request. The review list
masks them, as lists do. Replaying one request is offered only when it is dead or unmatched;
applying or dismissing only while it is held.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bridge.ledger import Status
from bridge.services import Services
from bridge.web.admin.auth import HOME, Operator, admin
from bridge.web.admin.overview import REPLAYABLE
from bridge.web.admin.views import page
from bridge.web.routing import route

NOTE_LENGTH = 500


def _request_id(request: Request) -> int:
    value: int = request.path_params["request_id"]
    return value


@admin
async def story(request: Request, operator: Operator) -> Response:
    """GET: one request's whole story, with the buttons its status allows."""
    services: Services = request.app.state.services
    found = await services.ledger.history.story(_request_id(request))
    if found is None:
        raise HTTPException(404)
    record = found.record
    context = dict(record.request.context)
    return page(
        request,
        "admin/request.html",
        operator,
        {
            "story": found,
            "record": record,
            "consent_text": context.pop("consent_text", None),
            "context": sorted(context.items()),
            "replayable": record.status in REPLAYABLE,
            "held": record.status is Status.REVIEW,
            "done": request.query_params.get("done"),
        },
    )


@admin
async def replay_one(request: Request, operator: Operator) -> Response:
    """POST: a dead or unmatched request goes back to the queue, due now."""
    services: Services = request.app.state.services
    request_id = _request_id(request)
    done = await services.ledger.replay(ids=[request_id], statuses=list(REPLAYABLE))
    return RedirectResponse(
        f"{HOME}/requests/{request_id}?done={'replayed' if done else 'unchanged'}", 303
    )


@admin
async def decide(request: Request, operator: Operator) -> Response:
    """POST: apply (release to the worker) or dismiss (with a note) a held request."""
    services: Services = request.app.state.services
    request_id, action = _request_id(request), request.path_params["action"]
    if action not in ("apply", "dismiss"):
        raise HTTPException(404)
    now = services.clock.now()
    if action == "apply":
        done = await services.ledger.release_held(request_id, now=now)
    else:
        form = await request.form()
        note = str(form.get("note") or "").strip()[:NOTE_LENGTH] or None
        done = await services.ledger.dismiss_held(request_id, now=now, note=note)
    outcome = ("applied" if action == "apply" else "dismissed") if done else "unchanged"
    return RedirectResponse(f"{HOME}/requests/{request_id}?done={outcome}", 303)


@admin
async def review(request: Request, operator: Operator) -> Response:
    """GET: the requests held for review, oldest first, with apply and dismiss buttons."""
    services: Services = request.app.state.services
    held = await services.ledger.held()
    return page(request, "admin/review.html", operator, {"held": held})


routes = [
    route(f"{HOME}/review", GET=review),
    route(f"{HOME}/requests/{{request_id:int}}", GET=story),
    route(f"{HOME}/requests/{{request_id:int}}/replay", POST=replay_one),
    route(f"{HOME}/requests/{{request_id:int}}/{{action:str}}", POST=decide),
]
