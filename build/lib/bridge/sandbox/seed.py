"""The seeded sandbox workspace: realistic subscription types and contacts with fixed ids."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bridge.identities import phone_e164

if TYPE_CHECKING:
    from bridge.sandbox.workspace import Workspace

# id, state, consent_type, content_types, then (name, description) per locale; en is the default.
_TYPES: tuple[tuple[str, str, str, tuple[str, ...], dict[str, tuple[str, str]]], ...] = (
    (
        # The spec's own attach example: an opt-in SMS type.
        "108",
        "live",
        "opt_in",
        ("sms_message",),
        {
            "en": ("Newsletters", "Our newsletter, sent to you by text message."),
            "fr": ("Lettres d'information", "Notre lettre d'information, envoyée par SMS."),
            "de": ("Newsletter", "Unser Newsletter, per SMS an Sie gesendet."),
            "es": ("Boletines", "Nuestro boletín, enviado por SMS."),
        },
    ),
    (
        "93",
        "live",
        "opt_out",
        ("email",),
        {
            "en": ("Newsletter", "Our monthly round-up of news and tips."),
            "fr": ("Newsletter", "Notre récapitulatif mensuel d'actualités et de conseils."),
            "de": ("Newsletter", "Unser monatlicher Überblick mit Neuigkeiten und Tipps."),
            "es": ("Boletín informativo", "Nuestro resumen mensual de novedades y consejos."),
        },
    ),
    (
        "37846",
        "live",
        "opt_out",
        ("email",),
        {
            "en": ("Product updates", "New features and improvements to our products."),
            "fr": ("Nouveautés produit", "Les nouvelles fonctionnalités et améliorations."),
            "de": ("Produktneuheiten", "Neue Funktionen und Verbesserungen unserer Produkte."),
            "es": ("Novedades del producto", "Nuevas funciones y mejoras de nuestros productos."),
        },
    ),
    (
        "95",
        "live",
        "opt_in",
        ("email",),
        {
            "en": ("Offers and promotions", "Discounts and special offers for subscribers."),
            "fr": ("Offres et promotions", "Réductions et offres spéciales pour les abonnés."),
            "de": ("Angebote und Aktionen", "Rabatte und Sonderangebote für Abonnenten."),
            "es": ("Ofertas y promociones", "Descuentos y ofertas especiales para suscriptores."),
        },
    ),
    (
        "124",
        "live",
        "opt_out",
        ("sms_message",),
        {
            "en": ("Appointment reminders", "A text message the day before your appointment."),
            "fr": ("Rappels de rendez-vous", "Un SMS la veille de votre rendez-vous."),
            "de": ("Terminerinnerungen", "Eine SMS am Tag vor Ihrem Termin."),
            "es": ("Recordatorios de citas", "Un SMS el día antes de su cita."),
        },
    ),
    (
        "131",
        "draft",
        "opt_in",
        ("email",),
        {
            "en": ("Event invitations", "Invitations to our webinars and meetups."),
            "fr": ("Invitations aux événements", "Invitations à nos webinaires et rencontres."),
            "de": ("Veranstaltungseinladungen", "Einladungen zu unseren Webinaren und Treffen."),
            "es": (
                "Invitaciones a eventos",
                "Invitaciones a nuestros seminarios web y encuentros.",
            ),
        },
    ),
    (
        "88",
        "archived",
        "opt_out",
        ("email",),
        {
            "en": ("Weekly digest", "A weekly summary of the activity in your account."),
            "fr": ("Résumé hebdomadaire", "Un résumé hebdomadaire de l'activité de votre compte."),
            "de": ("Wochenübersicht", "Eine wöchentliche Übersicht über Ihr Konto."),
            "es": ("Resumen semanal", "Un resumen semanal de la actividad de su cuenta."),
        },
    ),
)

_DAY = 86_400
_EPOCH = 1_700_000_000  # 2023-11-14, so seeded contacts are old enough for any search lag

# Jane is both a user and a lead with the same email, as happens when a lead signs up.
# Phones are kept as they were typed, as Intercom keeps them: Jane's in E.164, Amélie's and
# Sam's as people write them, so a lookup by E.164 number needs the typed-phone fallback.
_CONTACTS: tuple[dict[str, Any], ...] = (
    {
        "contact_id": "63a07ddf05a32042dffac965",
        "role": "user",
        "email": "jane.doe@example.com",
        "phone": "+353871234567",
        "external_id": "cust-1001",
        "name": "Jane Doe",
        "location": ("Ireland", "Leinster", "Dublin", "IE", "EU"),
        "language_override": "en",
        "explicit": {"93": "opt_out"},
    },
    {
        "contact_id": "63a07ddf05a32042dffac966",
        "role": "lead",
        "email": "jane.doe@example.com",
        "name": "Jane Doe",
    },
    {
        "contact_id": "63a07de105a32042dffac970",
        "role": "user",
        "email": "amelie.martin@example.fr",
        "phone": "+33 6 12 34 56 78",
        "external_id": "cust-1002",
        "name": "Amélie Martin",
        "location": ("France", "Île-de-France", "Paris", "FR", "EU"),
        "language_override": "fr",
        "explicit": {"95": "opt_in", "108": "opt_in"},
    },
    {
        "contact_id": "63a07de305a32042dffac97b",
        "role": "user",
        "email": "jonas.becker@example.de",
        "external_id": "cust-1003",
        "name": "Jonas Becker",
        "location": ("Germany", "Berlin", "Berlin", "DE", "EU"),
        "language_override": "de",
    },
    {
        "contact_id": "63a07de505a32042dffac981",
        "role": "lead",
        "email": "lucia.garcia@example.es",
        "phone": "+34612345678",
        "name": "Lucía García",
        "location": ("Spain", "Madrid", "Madrid", "ES", "EU"),
        "language_override": "es",
    },
    {
        "contact_id": "63a07de705a32042dffac98c",
        "role": "user",
        "phone": "(415) 555-0123",
        "external_id": "cust-1004",
        "name": "Sam Taylor",
        "location": ("United States", "California", "San Francisco", "US", "NA"),
        "explicit": {"124": "opt_out"},
    },
)


def seed(workspace: Workspace) -> None:
    """Fill a workspace with the seeded types, contacts and explicit preferences."""
    for type_id, state, consent_type, content_types, names in _TYPES:
        translations = [
            {"name": name, "description": description, "locale": locale}
            for locale, (name, description) in names.items()
        ]
        workspace.add_type(
            id=type_id,
            state=state,
            consent_type=consent_type,
            content_types=list(content_types),
            default_translation=translations[0],
            translations=translations,
        )
    for n, spec in enumerate(_CONTACTS):
        spec = dict(spec)
        location = spec.pop("location", None)
        language = spec.pop("language_override", None)
        explicit = spec.pop("explicit", {})
        contact = workspace.add_contact(created_at=_EPOCH + n * _DAY, **spec)
        if location is not None:
            country, region, city, country_code, continent_code = location
            contact["location"].update(
                country=country,
                region=region,
                city=city,
                country_code=country_code,
                continent_code=continent_code,
            )
        contact["language_override"] = language
        workspace.preferences[contact["id"]].update(explicit)


def seeded_identity_keys() -> list[str]:
    """`Identity.key` of every way to name a seeded contact (their ids, emails, phones...)."""
    keys = []
    for spec in _CONTACTS:
        for field in ("contact_id", "email", "phone", "external_id"):
            value = spec.get(field)
            if value and field == "phone":
                # A phone identity is the E.164 number, however the contact's phone was typed.
                value = phone_e164(value, spec["location"][3])
            if value:
                keys.append(f"{field}:{value}")
    return keys
