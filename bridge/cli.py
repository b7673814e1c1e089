"""The `bridge` command: demo, serve, worker, link, links, check, migrate, replay."""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from bridge.consent import Channel, Identity, Scope
from bridge.links import LinkClaims, Purpose
from bridge.settings import Settings, SettingsError, load_settings

log = logging.getLogger("bridge")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", force=True
    )
    # httpx logs every request URL at INFO; the worker logs what matters without contact ids.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _port(value: str | None) -> int:
    return int(value or os.environ.get("PORT") or 8000)


def _add_identity_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    who = parser.add_mutually_exclusive_group(required=required)
    who.add_argument("--contact-id", help="Intercom contact id")
    who.add_argument("--email")
    who.add_argument("--phone", help="E.164, e.g. +353871234567")
    who.add_argument("--external-id")
    parser.add_argument(
        "--subscription",
        action="append",
        default=[],
        metavar="ID",
        help="subscription type id (repeatable); default: all types",
    )
    parser.add_argument(
        "--channel", choices=[c.value for c in Channel], help="every live type of one channel"
    )
    parser.add_argument("--locale", help="language of the page, e.g. fr")


def _claims(identity: Identity, args: argparse.Namespace) -> LinkClaims:
    if args.subscription and args.channel:
        raise SettingsError("--subscription and --channel: give one or the other")
    scope = Scope(
        type_ids=tuple(args.subscription),
        channel=Channel(args.channel) if args.channel else None,
    )
    return LinkClaims(identity, scope, args.locale)


def cmd_link(settings: Settings, args: argparse.Namespace) -> int:
    """Print one signed link."""
    from bridge.app import build_signer

    identity = Identity(
        contact_id=args.contact_id, email=args.email, phone=args.phone, external_id=args.external_id
    )
    signer = build_signer(settings)
    print(signer.url(settings.public_url, Purpose(args.purpose), _claims(identity, args)))
    return 0


def cmd_links(settings: Settings, args: argparse.Namespace) -> int:
    """Add unsubscribe and preferences link columns to every row of a CSV (mail merge)."""
    from bridge.app import build_signer

    signer = build_signer(settings)
    columns = {
        "contact_id": "contact_id",
        "email": "email",
        "phone": "phone",
        "external_id": "external_id",
    }
    with open(args.csv, newline="", encoding="utf-8") as source:
        reader = csv.DictReader(source)
        fields = list(reader.fieldnames or [])
        known = [c for c in columns if c in fields]
        if not known:
            raise SettingsError(
                f"--csv {args.csv}: needs a column named contact_id, email, phone or external_id"
            )
        writer = csv.DictWriter(sys.stdout, [*fields, "unsubscribe_url", "preferences_url"])
        writer.writeheader()
        for number, row in enumerate(reader, start=2):
            values = {c: (row.get(c) or "").strip() or None for c in known}
            if not any(values.values()):
                raise SettingsError(f"--csv {args.csv}: line {number} has no identity value")
            claims = _claims(Identity(**values), args)
            writer.writerow(
                {
                    **row,
                    "unsubscribe_url": signer.url(settings.public_url, Purpose.UNSUBSCRIBE, claims),
                    "preferences_url": signer.url(settings.public_url, Purpose.PREFERENCES, claims),
                }
            )
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Run the web app with its in-process worker against real Intercom."""
    import uvicorn

    from bridge.app import create_app
    from bridge.standalone import preflight
    from bridge.web.server import uvicorn_options

    settings.require_intercom_token()
    # Refusals (a demo ledger, pending migrations) as one line here, not a traceback later.
    asyncio.run(preflight(settings))
    app = create_app(settings)
    uvicorn.run(app, host=args.host, port=_port(args.port), **uvicorn_options(settings))
    return 0


def cmd_demo(settings: Settings | None, args: argparse.Namespace) -> int:
    """Serve against the built-in sandbox workspace and print links to try."""
    from bridge.demo import run_demo

    return run_demo(host=args.host, port=_port(args.port))


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run a worker alone until SIGTERM/SIGINT (or, with --once, until nothing is due)."""
    from bridge.standalone import run_worker

    return asyncio.run(run_worker(settings, once=args.once))


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Apply pending database migrations."""
    from bridge.standalone import migrate

    return asyncio.run(migrate(settings))


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    """Check settings, database and the Intercom token; list the subscription types."""
    from bridge.standalone import check

    return asyncio.run(check(settings))


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    """Put dead or unmatched requests (or the given ids) back in the queue."""
    from bridge.standalone import replay

    return asyncio.run(replay(settings, ids=args.ids, statuses=args.status))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `bridge` command."""
    parser = argparse.ArgumentParser(prog="bridge", description=__doc__)
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
        sub.add_argument("--port", help="default: $PORT or 8000")
    sub = command("worker", cmd_worker, "a worker process alone")
    sub.add_argument("--once", action="store_true", help="apply what is due now, then exit")
    sub = command("link", cmd_link, "print a signed link")
    sub.add_argument("purpose", choices=[p.value for p in Purpose])
    _add_identity_arguments(sub, required=True)
    sub = command("links", cmd_links, "add link columns to every row of a CSV (mail merge)")
    sub.add_argument("--csv", required=True, metavar="FILE")
    sub.add_argument("--subscription", action="append", default=[], metavar="ID")
    sub.add_argument("--channel", choices=[c.value for c in Channel])
    sub.add_argument("--locale")
    command("check", cmd_check, "validate settings, database and the Intercom token")
    command("migrate", cmd_migrate, "apply database migrations")
    sub = command("replay", cmd_replay, "requeue dead/unmatched requests, or the given ids")
    sub.add_argument("ids", nargs="*", type=int, metavar="ID")
    sub.add_argument("--status", action="append", choices=["dead", "unmatched"], default=[])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bridge` console script."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            _configure_logging(os.environ.get("BRIDGE_LOG_LEVEL", "INFO").upper())
            return int(args.func(None, args))
        settings = load_settings()
        _configure_logging(settings.log_level)
        return int(args.func(settings, args))
    except SettingsError as exc:
        print(f"bridge: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
