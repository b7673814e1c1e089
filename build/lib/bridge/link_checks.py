"""What a link made by hand must pass before it goes out: its type ids, language and scope.

A link that can never work is worse than no link: its page tells the person they are
unsubscribed while the request goes dead. So the type ids a link names are checked here,
offline for their form and against the workspace's live types when Intercom can be asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bridge.consent import Scope, SubscriptionType, UnknownTypes, select_types
from bridge.i18n import clean_tag


class LinkRefused(ValueError):
    """A link cannot be made as asked; the message is one line saying why."""


def check_type_ids(values: Iterable[str]) -> tuple[str, ...]:
    """The `--subscription` values, trimmed, if each can be one type id in a link."""
    ids = []
    for value in values:
        type_id = value.strip()
        if not type_id:
            raise LinkRefused("--subscription is empty")
        if "," in type_id:
            raise LinkRefused(
                f"--subscription {value!r} holds a comma: give --subscription once per type id"
            )
        # Links keep ids in a compact form where "~" marks a channel and control
        # characters separate fields; no Intercom id holds either.
        if type_id.startswith("~") or not type_id.isprintable() or " " in type_id:
            raise LinkRefused(f"--subscription {value!r} is not a subscription type id")
        ids.append(type_id)
    return tuple(dict.fromkeys(ids))  # a repeated id would only make the link longer


def check_locale(value: str | None) -> str | None:
    """The `--locale` value, if it is a language tag the pages will read (`fr`, `pt-BR`)."""
    if value is None:
        return None
    tag = clean_tag(value.strip())
    if tag is None:
        raise LinkRefused(f"--locale {value!r} is not a language tag, like fr or pt-BR")
    return tag


def _listing(types: Sequence[SubscriptionType]) -> str:
    live = [f"{t.id} {t.default_translation.name}" for t in types if t.is_live]
    # Semicolons, because type names may hold commas.
    return "live types: " + ("; ".join(live) if live else "none")


def check_scope(scope: Scope, types: Sequence[SubscriptionType]) -> None:
    """Refuse a scope that names a type that is not live, or that covers no live type."""
    try:
        covered = select_types(scope, types)
    except UnknownTypes as exc:
        states = {t.id: t.state for t in types}
        # A draft or archived type is named with its state: "it exists" is the usual surprise.
        named = [f"{i} ({states[i]})" if i in states else i for i in exc.type_ids]
        verb = "is not a live subscription type" if len(named) == 1 else "are not live"
        raise LinkRefused(
            f"--subscription {', '.join(named)} {verb} in this workspace; {_listing(types)}"
        ) from None
    if not covered:
        where = f"--channel {scope.channel}: " if scope.channel else ""
        kind = f"live {scope.channel}" if scope.channel else "live"
        raise LinkRefused(
            f"{where}the workspace has no {kind} subscription types; {_listing(types)}"
        )
