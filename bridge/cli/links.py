"""`bridge link` and `bridge links`: signed links made by hand, checked before they go out.

Every mistake is a `LinkRefused` raised before anything is printed; checks that could not be
made (Intercom unreachable, no token) are one warning line on stderr, and the link is made.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
from pathlib import Path

from bridge.cli.mail_merge import BadSheet, read_sheet, write_sheet
from bridge.consent import Channel, Identity, Scope, SubscriptionType
from bridge.i18n import load_catalogs, negotiate
from bridge.identities import FIELDS, InvalidIdentity, identity
from bridge.intercom.client import IntercomError
from bridge.link_checks import LinkRefused, check_locale, check_scope, check_type_ids
from bridge.links import LinkClaims, Purpose
from bridge.settings import Settings


class Checks:
    """The checks of one command's link options, and the warnings to print once they pass."""

    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        self.settings = settings
        self.args = args
        self.warnings: list[str] = []

    def scope_and_locale(self) -> tuple[Scope, str | None]:
        """The scope and locale asked for, each checked for its form."""
        scope = Scope(
            type_ids=check_type_ids(self.args.subscription),
            channel=Channel(self.args.channel) if self.args.channel else None,
        )
        locale = check_locale(self.args.locale)
        if locale is not None and negotiate([locale], load_catalogs()) is None:
            # A tag the pages cannot speak may still pick Intercom's own translations of
            # the type names, so it is kept.
            self.warnings.append(
                f"--locale {locale}: the pages have no {locale} translation; they will follow "
                "the person's browser, or be in English"
            )
        return scope, locale

    def against_workspace(self, scope: Scope) -> None:
        """Refuse a scope the workspace cannot honour; note it when Intercom cannot be asked."""
        if scope.is_all:
            return  # every live type, whatever they are: nothing in it can be wrong
        what = (
            f"--subscription {', '.join(scope.type_ids)}"
            if scope.type_ids
            else f"--channel {scope.channel}"
        )
        if self.settings.intercom_access_token is None:
            self.warnings.append(
                f"{what} not checked against the workspace: INTERCOM_ACCESS_TOKEN is not set"
            )
            return
        try:
            types = asyncio.run(self._workspace_types())
        except IntercomError as exc:
            # A link made while Intercom is down or the token is wrong may still be right:
            # say what was not checked, and let the person decide.
            reason = " ".join(str(exc).split())
            self.warnings.append(f"{what} not checked against the workspace: {reason}")
            return
        check_scope(scope, types)

    async def _workspace_types(self) -> list[SubscriptionType]:
        from bridge.services import intercom_client

        async with intercom_client(self.settings, self.args.intercom_transport) as client:
            return await client.list_subscription_types()

    def passed(self) -> None:
        """Print the warnings, now that nothing was refused (so a refusal stays one line)."""
        for warning in self.warnings:
            print(f"bridge {self.args.command}: warning: {warning}", file=sys.stderr)


def _identity(args: argparse.Namespace) -> Identity:
    field = next(f for f in FIELDS if getattr(args, f) is not None)
    try:
        return identity(field, getattr(args, field))
    except InvalidIdentity as exc:
        raise LinkRefused(f"--{field.replace('_', '-')} {exc}") from None


def link(settings: Settings, args: argparse.Namespace) -> int:
    """Print one signed link, once who and what it is for have been checked."""
    from bridge.services import build_signer

    who = _identity(args)
    checks = Checks(settings, args)
    scope, locale = checks.scope_and_locale()
    checks.against_workspace(scope)
    checks.passed()
    claims = LinkClaims(who, scope, locale)
    print(build_signer(settings).url(settings.public_url, Purpose(args.purpose), claims))
    return 0


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise LinkRefused(f"--csv {path}: no such file") from None
    except IsADirectoryError:
        raise LinkRefused(f"--csv {path} is a folder") from None
    except OSError as exc:
        raise LinkRefused(f"--csv {path}: cannot read it ({exc.strerror})") from None


def links(settings: Settings, args: argparse.Namespace) -> int:
    """Write the CSV to stdout with link columns added, once every row has been checked."""
    from bridge.services import build_signer

    checks = Checks(settings, args)
    scope, locale = checks.scope_and_locale()
    try:
        sheet = read_sheet(_read(args.csv))
    except BadSheet as exc:
        raise LinkRefused(f"--csv {args.csv}: {exc}") from None
    checks.against_workspace(scope)
    checks.passed()
    signer = build_signer(settings)

    def urls(who: Identity) -> list[str]:
        return list(signer.urls(settings.public_url, LinkClaims(who, scope, locale)).values())

    if isinstance(sys.stdout, io.TextIOWrapper):
        # The file came in as UTF-8 and goes out as UTF-8, whatever the terminal's locale;
        # the csv module writes its own line ends.
        sys.stdout.reconfigure(encoding="utf-8", newline="")
    write_sheet(sheet, sys.stdout, urls)
    return 0
