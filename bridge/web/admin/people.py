"""`/admin/people` (a person's consent history) and the exports (the GDPR proof).

A person is looked up by one identity (email, phone, external id or contact id) posted in a
form, never put in a URL, so that an email or phone stays out of access logs, browser
history and Referer; the page names them in full, since the operator asked for them. The
person's export is a POST for the same reason; a period's export is a GET
(`/admin/export?since=&until=&format=`), which names nobody. Both are the documents
`bridge export` writes (`bridge.ledger.export`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from bridge.consent import Identity
from bridge.identities import FIELDS, InvalidIdentity, identity
from bridge.ledger import Person, RequestRecord
from bridge.ledger.export import iso, to_csv, to_json
from bridge.services import Services
from bridge.web.admin.auth import HOME, Operator, admin
from bridge.web.admin.views import ADMIN_HEADERS, page
from bridge.web.errors import BridgeHTTPError
from bridge.web.routing import route

SHOWN = 200  # requests listed on a person's page; the export has them all
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


class BadQuery(BridgeHTTPError):
    """An export asked for with a date or format the bridge cannot read."""

    status_code = 400
    title = "Bad request"


def _who(form: FormData) -> tuple[str, str, Identity | None, str | None]:
    """The field and value asked for, the identity they make, or the problem with them."""
    field = str(form.get("field") or "email")
    value = str(form.get("value") or "").strip()
    if field not in FIELDS:
        return "email", value, None, "admin.people_bad_field"
    if not value:
        return field, value, None, None
    try:
        return field, value, identity(field, value), None
    except InvalidIdentity:
        return field, value, None, "admin.people_bad_value"


@admin
async def search(request: Request, operator: Operator) -> Response:
    """GET: the search form; POST: that person's identities and requests."""
    services: Services = request.app.state.services
    field, value, found, problem = "email", "", None, None
    person: Person | None = None
    records: Sequence[RequestRecord] = []
    if request.method == "POST":
        field, value, found, problem = _who(await request.form())
    if found is not None:
        person = await services.ledger.history.person(found)
        records = await services.ledger.history.events(person=person, limit=SHOWN)
    return page(
        request,
        "admin/people.html",
        operator,
        {
            "fields": FIELDS,
            "field": field,
            "value": value,
            "problem": problem,
            "person": person,
            "records": records,
            "shown": SHOWN,
        },
    )


@admin
async def export_person(request: Request, operator: Operator) -> Response:
    """POST: a person's every request as CSV or JSON, to download."""
    services: Services = request.app.state.services
    form = await request.form()
    _, _, found, _ = _who(form)
    if found is None:
        raise BadQuery("Say whose requests: a valid email, phone, external id or contact id.")
    person = await services.ledger.history.person(found)
    return await _download(request, _format(form.get("format")), person, None, None, "person")


@admin
async def export_period(request: Request, operator: Operator) -> Response:
    """GET: every request that happened in [since, until) as CSV or JSON, to download."""
    query = request.query_params
    since, until = _date(query.get("since")), _date(query.get("until"))
    if since is None and until is None:
        return page(request, "admin/export.html", operator, {})
    return await _download(request, _format(query.get("format")), None, since, until, "period")


async def _download(
    request: Request,
    format_: str,
    person: Person | None,
    since: datetime | None,
    until: datetime | None,
    label: str,
) -> Response:
    services: Services = request.app.state.services
    history = services.ledger.history
    records = await history.every(person=person, since=since, until=until)
    kept = await history.kept(records)
    now = services.clock.now()
    if format_ == "csv":
        body = to_csv(records, kept)
    else:
        about = {
            "exported_at": iso(now),
            "identities": None if person is None else sorted(person.keys),
            "contact_ids": None if person is None else sorted(person.contact_ids),
            "since": iso(since),
            "until": iso(until),
        }
        body = to_json(records, kept, about=about)
    name = f"bridge-{label}-{now.strftime('%Y%m%dT%H%M%SZ')}.{format_}"
    return Response(
        body,
        media_type=FORMATS[format_],
        headers={**ADMIN_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
    )


def _format(value: object) -> str:
    """`csv` or `json` (BadQuery otherwise)."""
    if value not in FORMATS:
        raise BadQuery("format must be csv or json.")
    return str(value)


def _date(value: str | None) -> datetime | None:
    """A date or ISO 8601 time (UTC when it names no zone); None when empty."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadQuery("since and until are dates (2026-01-31) or ISO 8601 times.") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


routes = [
    route(f"{HOME}/people", GET=search, POST=search),
    route(f"{HOME}/people/export", POST=export_person),
    route(f"{HOME}/export", GET=export_period),
]
