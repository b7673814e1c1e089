"""The emails the worker has Intercom send: double opt-in, and "send me my preference link".

Both are in the person's language, escaped, and carry a signed link.

A request that needs confirming (`ConsentRequest.confirm`) is not applied when first claimed:
the applier finds or creates the person's contact as for any signup, has Intercom email them
from the form's admin (`POST /messages`), and parks the request as `awaiting_confirmation`
until they click the link or its days run out. The email quotes the words they agreed to.
A request for a preference link (`Wanted.LINK`, from a `manage` form) is emailed the person's
preference link from the admin its context names, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from bridge.consent import Confirmation, ConsentRequest, Identity
from bridge.i18n import DEFAULT_LANGUAGE, Catalog, negotiate
from bridge.intercom.client import IntercomClient
from bridge.ledger import Outcome
from bridge.ledger.confirmations import MESSAGE
from bridge.links import ConfirmLink, LinkClaims, LinkSigner, Purpose


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

    def preferences_email(self, request: ConsentRequest, contact_id: str) -> Email:
        """The email carrying one contact's preference link, in the request's language."""
        locale = request.context.get("locale")
        code = negotiate([str(locale)] if locale else [], self.catalogs)
        catalog = self.catalogs[code or DEFAULT_LANGUAGE]
        claims = LinkClaims(Identity(contact_id=contact_id), locale=catalog.code)
        url = self.signer.url(self.public_url, Purpose.PREFERENCES, claims)
        t = catalog.gettext
        body = (
            f"<p>{escape(t('manage_email.intro'))}</p>"
            f'<p><a href="{escape(url)}">{escape(t("manage_email.button"))}</a></p>'
            f"<p>{escape(t('manage_email.ignore'))}</p>"
        )
        return Email(t("manage_email.subject"), body, url)


async def _send(
    intercom: IntercomClient, email: Email, admin_id: str, contact_id: str, role: str, what: str
) -> Outcome:
    """Have Intercom send one email from `admin_id` to one contact; the outcome (`message`)."""
    sent = await intercom.send_email(
        admin_id=admin_id, contact_id=contact_id, role=role, subject=email.subject, body=email.body
    )
    return Outcome(contact_id, "", MESSAGE, sent.status, sent.request_id, f"{what} {sent.id}")


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
    return await _send(intercom, email, confirm.admin_id, contact_id, role, "confirmation email")


async def send_preferences_link(
    intercom: IntercomClient, mailer: Mailer, request: ConsentRequest, contact_id: str, role: str
) -> Outcome:
    """Have Intercom email one contact their preference link, from the request's admin."""
    email = mailer.preferences_email(request, contact_id)
    admin_id = str(request.context["admin_id"])
    return await _send(intercom, email, admin_id, contact_id, role, "preference link email")
