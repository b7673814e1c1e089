"""The `bridge` command: serve, worker, links, checks, migrations, and the ledger's operations.

Every mistake in running it is one line on stderr and exit code 2, never a traceback; a
database that cannot be used is one line and exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from bridge.consent import Channel
from bridge.link_checks import LinkRefused
from bridge.links import Purpose
from bridge.logging_setup import configure_logging
from bridge.settings import (
    Settings,
    SettingsError,
    listen_port,
    load_settings,
    log_format,
    log_level,
)

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("bridge")
T = TypeVar("T")
MAX_REQUEST_ID = 2**63 - 1  # the ledger's ids are 64-bit on both databases


class UsageError(ValueError):
    """The command was run wrongly; the message is one line saying how."""


class CommandFailed(RuntimeError):
    """The command could not do its work (its database, say); the message is one line."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line, not a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _port_number(value: str) -> int:
    """A TCP port, for argparse."""
    if not (value.isascii() and value.isdigit() and 0 < int(value) < 65536):
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (1 to 65535)")
    return int(value)


def _port(value: int | None) -> int:
    if value is not None:
        return value
    # Platforms such as Heroku say which port to listen on in $PORT.
    try:
        return _port_number(listen_port() or "8000")
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"PORT: {exc}") from None


def _request_id(value: str) -> int:
    """A ledger request id, for argparse."""
    if not (value.isascii() and value.isdigit() and 0 < int(value) <= MAX_REQUEST_ID):
        raise argparse.ArgumentTypeError(f"{value!r} is not a request id (a whole number from 1)")
    return int(value)


def _with_ledger(work: Coroutine[Any, Any, T]) -> T:
    """Run a command that uses the ledger; a database it cannot use is one line, not a trace."""
    from bridge.ledger import LedgerUnavailable
    from bridge.services import MigrationsPending

    try:
        return asyncio.run(work)
    except LedgerUnavailable as exc:
        raise CommandFailed(f"{exc}: check DATABASE_URL and that the database is up") from None
    except MigrationsPending as exc:
        raise CommandFailed(str(exc)) from None


def _add_identity_arguments(parser: argparse.ArgumentParser) -> None:
    """One of `--contact-id`, `--email`, `--phone`, `--external-id`."""
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--contact-id", help="Intercom contact id")
    who.add_argument("--email")
    who.add_argument("--phone", help="international form, e.g. +353871234567")
    who.add_argument("--external-id")


def _add_scope_arguments(parser: argparse.ArgumentParser) -> None:
    """`--subscription ID ...` or `--channel`, and `--locale`."""
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--subscription",
        action="append",
        default=[],
        metavar="ID",
        help="subscription type id (repeatable); default: all types",
    )
    scope.add_argument(
        "--channel", choices=[c.value for c in Channel], help="every live type of one channel"
    )
    parser.add_argument("--locale", help="language of the page, e.g. fr")


def cmd_link(settings: Settings, args: argparse.Namespace) -> int:
    """Print one signed link, once who it is for and what it covers have been checked."""
    from bridge.cli.links import link

    return link(settings, args)


def cmd_links(settings: Settings, args: argparse.Namespace) -> int:
    """Add link columns to every row of a CSV (mail merge), once every row has been checked."""
    from bridge.cli.links import links

    return links(settings, args)


def cmd_form(settings: Settings, args: argparse.Namespace) -> int:
    """Print a configured form's HTML, to paste into a site."""
    from bridge.cli.forms import print_snippet

    return print_snippet(settings, args)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Run the web app with its in-process worker against real Intercom."""
    import uvicorn

    from bridge.cli.commands import preflight
    from bridge.web.app import create_app
    from bridge.web.server import uvicorn_options

    settings.require_intercom_token()
    # Refusals (a demo ledger, pending migrations) as one line here, not a traceback later.
    _with_ledger(preflight(settings))
    app = create_app(settings)
    uvicorn.run(app, host=args.host, port=_port(args.port), **uvicorn_options(settings))
    return 0


def cmd_demo(settings: Settings | None, args: argparse.Namespace) -> int:
    """Serve against the built-in sandbox workspace and print links to try."""
    from bridge.cli.demo import run_demo

    return run_demo(host=args.host, port=_port(args.port))


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run a worker alone until SIGTERM/SIGINT (or, with --once, until nothing is due)."""
    from bridge.cli.commands import run_worker

    return _with_ledger(
        run_worker(
            settings, once=args.once, metrics_port=args.metrics_port, metrics_host=args.metrics_host
        )
    )


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Apply pending database migrations."""
    from bridge.cli.commands import migrate

    return _with_ledger(migrate(settings))


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    """Check settings, database and the Intercom token; list the subscription types."""
    from bridge.cli.commands import check

    return _with_ledger(check(settings))


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    """Put dead or unmatched requests (or the given ids) back in the queue."""
    from bridge.cli.commands import replay

    return _with_ledger(replay(settings, ids=args.ids, statuses=args.status))


def cmd_review(settings: Settings, args: argparse.Namespace) -> int:
    """List the SMS revocations held for review; apply or dismiss one."""
    from bridge.cli.review import review

    if args.action is not None and args.id is None:
        raise UsageError(f"`bridge review {args.action}` needs the ID of a held request")
    if args.note is not None and args.action != "dismiss":
        raise UsageError("--note goes with `dismiss`")
    return _with_ledger(review(settings, action=args.action, request_id=args.id, note=args.note))


def cmd_prune(settings: Settings, args: argparse.Namespace) -> int:
    """Drop raw payloads past BRIDGE_PAYLOAD_RETENTION_DAYS (the worker does it daily)."""
    from bridge.cli.commands import prune

    return _with_ledger(prune(settings))


def cmd_events(settings: Settings, args: argparse.Namespace) -> int:
    """List a person's or a period's requests, newest first."""
    from bridge.cli.history import events

    return _with_ledger(events(settings, args))


def cmd_show(settings: Settings, args: argparse.Namespace) -> int:
    """Print one request's whole story: state, payload, proof of consent, Intercom calls."""
    from bridge.cli.history import show

    return _with_ledger(show(settings, args.id))


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    """Write the proof for a person or a period as CSV or JSON."""
    from bridge.cli.history import export, write_out

    text, count = _with_ledger(export(settings, args))
    return write_out(text, count, args.out)


def _moment(value: str) -> datetime:
    """`2024-05-01` (midnight UTC) or `2024-05-01T12:00:00Z`, for argparse; UTC when unsaid."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date or time (2024-05-01, or 2024-05-01T12:00:00Z)"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _positive_count(value: str) -> int:
    """A positive whole number, for argparse."""
    if not (value.isascii() and value.isdigit() and 0 < int(value) <= 100_000):
        raise argparse.ArgumentTypeError(f"{value!r} is not a count (1 to 100000)")
    return int(value)


def _add_history_arguments(parser: argparse.ArgumentParser) -> None:
    """At most one identity (`--email`, ...), and a period: `--since`, `--until`."""
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--email")
    who.add_argument("--phone", help="international form, e.g. +353871234567")
    who.add_argument("--external-id")
    who.add_argument("--contact-id", help="Intercom contact id")
    parser.add_argument(
        "--since", type=_moment, metavar="TIME", help="requests that happened from then on"
    )
    parser.add_argument("--until", type=_moment, metavar="TIME", help="... and before then")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `bridge` command."""
    parser = _Parser(prog="bridge", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(func=func)
        return sub

    for name, func, text in (
        ("demo", cmd_demo, "serve against a built-in sandbox Intercom; print links to try"),
        ("serve", cmd_serve, "web app and in-process worker against real Intercom"),
    ):
        sub = command(name, func, text)
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=_port_number, help="default: $PORT or 8000")
    sub = command("worker", cmd_worker, "a worker process alone")
    sub.add_argument("--once", action="store_true", help="apply what is due now, then exit")
    sub.add_argument(
        "--metrics-port",
        type=_port_number,
        help="serve this worker's /healthz, /readyz and /metrics on this port",
    )
    sub.add_argument("--metrics-host", default="127.0.0.1", help="default: 127.0.0.1")
    sub = command("link", cmd_link, "print a signed link")
    sub.add_argument("purpose", choices=[p.value for p in Purpose])
    _add_identity_arguments(sub)
    _add_scope_arguments(sub)
    sub = command("links", cmd_links, "add link columns to every row of a CSV (mail merge)")
    sub.add_argument("--csv", required=True, metavar="FILE")
    _add_scope_arguments(sub)
    sub = command("form", cmd_form, "print the HTML of form NAME to paste into a site")
    sub.add_argument("what", choices=["snippet"])
    sub.add_argument("name", metavar="NAME", help="a [forms.NAME] table of BRIDGE_CONFIG")
    sub.add_argument(
        "--fetch", action="store_true", help="a variant that posts with fetch and shows the answer"
    )
    command("check", cmd_check, "validate settings, database and the Intercom token")
    command("migrate", cmd_migrate, "apply database migrations")
    sub = command("replay", cmd_replay, "requeue dead/unmatched requests, or the given ids")
    sub.add_argument("ids", nargs="*", type=_request_id, metavar="ID")
    sub.add_argument("--status", action="append", choices=["dead", "unmatched"], default=[])
    sub = command("review", cmd_review, "list SMS revocations held for review; apply/dismiss one")
    sub.add_argument("action", nargs="?", choices=["apply", "dismiss"])
    sub.add_argument("id", nargs="?", type=_request_id, metavar="ID")
    sub.add_argument("--note", help="why it is dismissed (kept in the ledger)")
    command("prune", cmd_prune, "drop raw payloads past BRIDGE_PAYLOAD_RETENTION_DAYS")
    sub = command("events", cmd_events, "a person's or a period's requests, newest first")
    _add_history_arguments(sub)
    sub.add_argument("--status", choices=[s.value for s in _statuses()])
    sub.add_argument("--limit", type=_positive_count, default=100, help="default 100")
    sub = command("show", cmd_show, "one request's story: state, payload, proof, Intercom calls")
    sub.add_argument("id", type=_request_id, metavar="ID")
    sub = command("export", cmd_export, "the proof for a person or a period, as CSV or JSON")
    _add_history_arguments(sub)
    sub.add_argument("--format", choices=["csv", "json"], required=True)
    sub.add_argument("--out", metavar="FILE", help="default: standard output")
    return parser


def _statuses() -> list[Any]:
    from bridge.ledger import Status

    return list(Status)


def _stdout_gone() -> int:
    # The reader went away (`bridge links ... | head`): stop quietly, as other tools do, and
    # point stdout at /dev/null so that Python's own flush at exit does not complain.
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1


def main(
    argv: Sequence[str] | None = None,
    *,
    intercom_transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Entry point of the `bridge` console script; tests pass the sandbox as the transport."""
    try:
        # The transport rides on the namespace so that every command can reach it.
        args = build_parser().parse_args(
            argv, argparse.Namespace(intercom_transport=intercom_transport)
        )
    except SystemExit as stop:  # argparse has printed the help, or its one-line error
        return stop.code if isinstance(stop.code, int) else 2
    where = f"bridge {args.command}"
    try:
        if args.command == "demo":
            configure_logging(log_level(), log_format())
            return int(args.func(None, args))
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
        return int(args.func(settings, args))
    except SettingsError as exc:
        print(f"bridge: configuration error: {exc}", file=sys.stderr)
        return 2
    except (UsageError, LinkRefused) as exc:
        print(f"{where}: error: {exc}", file=sys.stderr)
        return 2
    except CommandFailed as exc:
        print(f"{where}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return _stdout_gone()
    except KeyboardInterrupt:
        return 130
