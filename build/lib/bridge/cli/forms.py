"""`bridge form snippet NAME [--fetch]`: the HTML of a configured form, to paste into a site.

With INTERCOM_ACCESS_TOKEN set, the checkboxes of a `choose` form carry the types' names
from the workspace (and a phone field is added for an SMS type); without it, or when
Intercom cannot answer, the type ids, with a comment saying so.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bridge.cli.main import UsageError
from bridge.consent import SubscriptionType
from bridge.forms import Form, load_forms
from bridge.forms.layout import layout
from bridge.forms.snippet import snippet
from bridge.i18n import load_catalogs
from bridge.intercom import IntercomError
from bridge.services import intercom_client
from bridge.settings import Settings


def find_form(settings: Settings, name: str) -> Form:
    """The form `name` of the TOML file, checked; a UsageError naming the forms there are."""
    forms = load_forms(settings.config, settings.public_url)
    if name in forms:
        return forms[name]
    known = ", ".join(sorted(forms)) or "none: add a [forms.NAME] table to BRIDGE_CONFIG"
    raise UsageError(f"no form named {name!r} (forms: {known})")


async def _live_types(
    settings: Settings, args: argparse.Namespace
) -> list[SubscriptionType] | None:
    """The workspace's live types, or None without a token or when Intercom fails (said why)."""
    if settings.intercom_access_token is None:
        return None
    try:
        async with intercom_client(settings, args.intercom_transport) as intercom:
            types = await intercom.list_subscription_types()
    except IntercomError as exc:
        print(
            f"bridge form snippet: Intercom did not list the types ({exc}); using ids",
            file=sys.stderr,
        )
        return None
    return [t for t in types if t.is_live]


def _left_out(form: Form, types: Sequence[SubscriptionType] | None) -> None:
    """Warn about the form's types the workspace does not have live (the worker skips them)."""
    if types is None:
        return
    live = {t.id for t in types}
    for type_id in form.types:
        if type_id not in live:
            print(
                f"bridge form snippet: type {type_id} is not a live type of the workspace; "
                "left out",
                file=sys.stderr,
            )


def print_snippet(settings: Settings, args: argparse.Namespace) -> int:
    """Print form `args.name`'s HTML (the `fetch` variant with `args.fetch`)."""
    form = find_form(settings, args.name)
    types = asyncio.run(_live_types(settings, args))
    _left_out(form, types)
    english = load_catalogs()["en"]
    shown = layout(form, types, ["en"])
    print(snippet(shown, settings.public_url, english.gettext, fetch=args.fetch), end="")
    return 0
