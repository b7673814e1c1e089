"""`bridge events`, `bridge show ID`, `bridge export`: the ledger's past, for an operator.

Who: one identity (`--email`, `--phone`, `--external-id`, `--contact-id`), checked as a
link's is, then widened to every identity the ledger ties to it (`History.person`: requests
that named several at once, and the Intercom contacts their calls went to). When: `--since`
and `--until` bound when requests happened, [since, until). `events` and `show` mask emails
and phones, as logs do; `export` names the person in full: it is the proof, for that person.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bridge.cli.main import CommandFailed, UsageError
from bridge.consent import Identity
from bridge.identities import FIELDS, InvalidIdentity, identity
from bridge.ledger import Ledger, Person, RequestRecord, RequestStory, Status
from bridge.ledger.export import iso, to_csv, to_json
from bridge.logsafe import masked
from bridge.services import prepare_ledger
from bridge.settings import Settings


def who(args: argparse.Namespace) -> Identity | None:
    """The one identity given, checked; None when none was (UsageError when it is bad)."""
    field = next((f for f in FIELDS if getattr(args, f, None) is not None), None)
    if field is None:
        return None
    try:
        return identity(field, getattr(args, field))
    except InvalidIdentity as exc:
        raise UsageError(f"--{field.replace('_', '-')} {exc}") from None


def scope_text(record: RequestRecord) -> str:
    """A request's scope in a few characters: `types:93,95`, `channel:email` or `all`."""
    scope = record.request.scope
    if scope.type_ids:
        return "types:" + ",".join(scope.type_ids)
    return f"channel:{scope.channel.value}" if scope.channel is not None else "all"


def event_line(record: RequestRecord) -> str:
    """One request on one line: id, occurred, received, source, who (masked), wanted, scope,
    status."""
    request = record.request
    return (
        f"{record.id:>8}  {iso(request.occurred_at)}  {iso(record.received_at)}  "
        f"{request.source:<10}  {masked(request.identity):<18}  {request.wanted.value:<12}  "
        f"{scope_text(record):<16}  {record.status.value}"
    )


def story_lines(story: RequestStory) -> list[str]:
    """A request's whole story, a fact per line, emails and phones masked."""
    record, request = story.record, story.record.request
    lines = [
        f"request {record.id}: {request.wanted.value} ({scope_text(record)}) from {request.source}",
        f"  who:          {masked(request.identity)} ({request.identity.key.partition(':')[0]})",
        f"  event id:     {request.event_id}",
        f"  occurred:     {iso(request.occurred_at)}",
        f"  received:     {iso(record.received_at)}",
        f"  status:       {record.status.value} after {record.attempts} attempt(s),"
        f" updated {iso(story.updated_at)}, next due {iso(record.next_attempt_at)}",
        f"  last error:   {record.last_error or '-'}",
        f"  payload:      {_payload_line(story)}",
    ]
    text = request.context.get("consent_text")
    if story.consent_text_sha256 is not None or isinstance(text, str):
        lines.append(f"  consent text: sha256 {story.consent_text_sha256 or '(in context)'}")
        if isinstance(text, str):
            lines.append(f'                "{text}"')
    click = record.confirmation
    if click is not None:
        proof = ", ".join(f"{k}={v}" for k, v in sorted(click.proof.items()))
        lines.append(f"  confirmed:    {iso(click.at)} ({proof or 'no proof fields'})")
    proof_fields = {k: v for k, v in request.context.items() if k != "consent_text"}
    for name, value in sorted(proof_fields.items()):
        lines.append(f"  context:      {name} = {value}")
    lines.append(f"  intercom calls ({len(record.outcomes)}):")
    for outcome in record.outcomes:
        lines.append(
            f"    {iso(outcome.at)}  {outcome.action:<8} type {outcome.type_id or '-':<10}"
            f" contact {outcome.contact_id or '-'}  HTTP {outcome.http_status}"
            f"  request id {outcome.intercom_request_id or '-'}"
            + (f"  {outcome.detail}" if outcome.detail else "")
        )
    return lines


def _payload_line(story: RequestStory) -> str:
    digest = story.record.payload_sha256
    if digest is None:
        return "none (this source keeps no payload hash)"
    if story.payload is None:
        return f"sha256 {digest}, raw body not kept (never, or pruned)"
    kept = story.payload
    return f"sha256 {digest}, raw body kept ({kept.size} bytes, since {iso(kept.received_at)})"


async def events(settings: Settings, args: argparse.Namespace) -> int:
    """Print a person's or a period's requests, newest first, one per line."""
    identity_given = who(args)  # checked before the ledger is opened
    ledger = await prepare_ledger(settings)
    try:
        person = await _person(ledger, identity_given)
        found = await ledger.history.events(
            person=person,
            since=args.since,
            until=args.until,
            status=None if args.status is None else Status(args.status),
            limit=args.limit,
        )
    finally:
        await ledger.close()
    if person is not None and len(person.keys) > 1:
        print(f"# {len(person.keys)} identities of this person in the ledger")
    if not found:
        print("no requests match")
    for record in found:
        print(event_line(record))
    return 0


async def show(settings: Settings, request_id: int) -> int:
    """Print one request's whole story."""
    ledger = await prepare_ledger(settings)
    try:
        story = await ledger.history.story(request_id)
    finally:
        await ledger.close()
    if story is None:
        raise CommandFailed(f"there is no request {request_id}")
    print("\n".join(story_lines(story)))
    return 0


async def export(settings: Settings, args: argparse.Namespace) -> tuple[str, int]:
    """The proof for a person or a period as CSV or JSON text, and how many requests it holds."""
    identity_given = who(args)
    if identity_given is None and args.since is None and args.until is None:
        raise UsageError("say whose requests (--email, ...) or which period (--since, --until)")
    ledger = await prepare_ledger(settings)
    try:
        person = await _person(ledger, identity_given)
        records = await ledger.history.every(person=person, since=args.since, until=args.until)
        kept = await ledger.history.kept(records)
        now = ledger.clock.now()
    finally:
        await ledger.close()
    if args.format == "csv":
        return to_csv(records, kept), len(records)
    about = {
        "exported_at": iso(now),
        "identities": None if person is None else sorted(person.keys),
        "contact_ids": None if person is None else sorted(person.contact_ids),
        "since": iso(args.since),
        "until": iso(args.until),
    }
    return to_json(records, kept, about=about), len(records)


def write_out(text: str, count: int, out: str | None) -> int:
    """Write an export to `out` (stdout when None) and say how many requests went there."""
    if out is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(out).write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise CommandFailed(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"exported {count} request(s) to {out}", file=sys.stderr)
    return 0


async def _person(ledger: Ledger, identity_given: Identity | None) -> Person | None:
    return None if identity_given is None else await ledger.history.person(identity_given)
