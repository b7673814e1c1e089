"""Telling bots from people before anything is recorded: the honeypot and the fill time.

A bot is answered exactly as a person is (it learns nothing to adapt to) and nothing is
recorded. The fill time is checked only when the post carries the bridge's signed `_t` field
(pages the bridge serves put it there): a plain HTML form on a marketer's site has none, and
a `_t` cannot be made up, only copied from a page the bridge served.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from bridge.links import BadLink, LinkSigner

from .settings import Form

STAMP_FIELD = "_t"
# People take longer than this to read a form and type an address; scripts post at once.
MIN_FILL_SECONDS = 3.0


class Bot(enum.StrEnum):
    """Why a post was taken for a bot's (the metric's `result`)."""

    HONEYPOT = "honeypot"  # the hidden field people leave empty was filled
    TOO_FAST = "too_fast"  # sent within MIN_FILL_SECONDS of the page, or with a forged `_t`


def bot_sign(form: Form, fields: Sequence[tuple[str, str]], signer: LinkSigner) -> Bot | None:
    """Why this post looks like a bot's, or None."""
    if any(name == form.honeypot and value.strip() for name, value in fields):
        return Bot.HONEYPOT
    stamp = next((value for name, value in fields if name == STAMP_FIELD), None)
    if stamp is None:
        return None
    try:
        seconds = signer.fill_seconds(form.name, stamp)
    except BadLink:
        return Bot.TOO_FAST
    return Bot.TOO_FAST if seconds < MIN_FILL_SECONDS else None
