"""A `manage` form's post becomes one request for the person's preference link: pure.

The request (`Wanted.LINK`) goes through the ledger like every other, so it is durable and
retried; the worker turns it into "find the contact, email the link" and nothing else: it
names no types, cannot create a contact, and `plan` refuses it, so no subscription changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bridge.consent import ConsentRequest, Identity, Scope, Wanted

from .settings import Form, FormAction
from .submission import Submission


def link_request(
    form: Form,
    submission: Submission,
    *,
    occurred_at: datetime,
    event_id: str,
    proof: Mapping[str, Any],
    locale: str | None = None,
) -> ConsentRequest:
    """The request asking the worker to email the preference link, from the form's admin."""
    if form.action is not FormAction.MANAGE or form.link_admin_id is None:
        raise ValueError(f"form {form.name} is not a manage form")
    context: dict[str, Any] = {
        "via": "form",
        "form": form.name,
        "action": form.action.value,
        "admin_id": form.link_admin_id,
    }
    if locale:
        context["locale"] = locale
    if form.consent_text is not None:
        context["consent_text"] = form.consent_text
        context["consent_text_sha256"] = form.consent_text_sha256
    return ConsentRequest(
        # The address alone: the link goes to the contact that has it, whatever else is sent.
        identity=Identity(email=submission.identity.email),
        wanted=Wanted.LINK,
        scope=Scope(),  # never selected: a link request reaches no types (see the applier)
        occurred_at=occurred_at,
        source=form.source,
        event_id=event_id,
        context={**context, **proof},
    )
