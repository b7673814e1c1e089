"""The double opt-in email: its words in the person's language, and the signed link it carries.

A request that needs confirming (`ConsentRequest.confirm`) is not applied when first claimed:
the applier finds or creates the person's contact as for any signup, has Intercom email them
from the form's admin (`POST /messages`), and parks the request as `awaiting_confirmation`
until they click the link or its days run out. The email quotes the words they agreed to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from bridge.consent import Confirmation, ConsentRequest
from bridge.i18n import DEFAULT_LANGUAGE, Catalog, negotiate
from bridge.intercom.client import IntercomClient
from bridge.ledger import Outcome
from bridge.ledger.confirmations import MESSAGE
from bridge.links import ConfirmLink, LinkSigner


@dataclass(frozen=True)
class Email:
    """One confirmation email: its subject, HTML body and the link it carries."""

    subject: str
    body: str
    url: str


class Mailer:
    """Writes the confirmation email of a request: localised, escaped, with a signed link."""

    def __init__(
        self, signer: LinkSigner, public_url: str, catalogs: Mapping[str, Catalog]
    ) -> None:
        self.signer = signer
        self.public_url = public_url
        self.catalogs = catalogs

    def email(self, request: ConsentRequest) -> Email:
        """The email asking the request's person to confirm it (the request must need it)."""
        confirm = request.confirm
        if confirm is None:
            raise ValueError("this request needs no confirmation")
        code = negotiate([confirm.locale] if confirm.locale else [], self.catalogs)
        catalog = self.catalogs[code or DEFAULT_LANGUAGE]
        link = ConfirmLink(request.source, request.event_id, confirm.days, catalog.code)
        url = self.signer.confirm_url(self.public_url, link)
        t = catalog.gettext
        consent_text = request.context.get("consent_text")
        quoted = f"<blockquote>{escape(str(consent_text))}</blockquote>" if consent_text else ""
        body = (
            f"<p>{escape(t('confirm_email.intro'))}</p>{quoted}"
            f'<p><a href="{escape(url)}">{escape(t("confirm_email.button"))}</a></p>'
            f"<p>{escape(t('confirm_email.expires', days=str(confirm.days)))}</p>"
        )
        return Email(t("confirm_email.subject"), body, url)


async def send_confirmation(
    intercom: IntercomClient,
    mailer: Mailer,
    request: ConsentRequest,
    confirm: Confirmation,
    contact_id: str,
    role: str,
) -> Outcome:
    """Have Intercom email the request's confirmation link to one contact; the outcome.

    A 404 (a contact created moments ago that Intercom cannot message yet) is raised, and
    the applier retries it as `retries.classify` says.
    """
    email = mailer.email(request)
    sent = await intercom.send_email(
        admin_id=confirm.admin_id,
        contact_id=contact_id,
        role=role,
        subject=email.subject,
        body=email.body,
    )
    detail = f"confirmation email {sent.id}"
    return Outcome(contact_id, "", MESSAGE, sent.status, sent.request_id, detail)
