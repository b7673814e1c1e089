"""`[forms.NAME]` tables: defaults, every key checked, and one line naming each mistake."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from bridge.forms import DoubleOptIn, FieldNames, Form, FormAction, form_settings, load_forms
from bridge.services import Configured
from bridge.settings import SettingsError
from tests.conftest import make_settings

PUBLIC = "https://consent.example.com"
SIGNUP = {"types": ["93"], "consent_text": "Send me the monthly newsletter."}
MANAGE = {"action": "manage", "confirm_admin_id": "991267716"}


def form(table: dict[str, Any], name: str = "newsletter") -> Form:
    """One table, read as start-up reads it."""
    return form_settings(name, table, PUBLIC)


def test_a_signup_form_needs_only_its_types_and_words() -> None:
    signup = form(SIGNUP)
    assert signup == Form(
        name="newsletter",
        types=("93",),
        action=FormAction.SUBSCRIBE,
        choose=False,
        fields=FieldNames("email", "phone", "name"),
        create=True,
        consent_text="Send me the monthly newsletter.",
        origins=(),
        redirect=None,
        honeypot="website",
    )
    assert signup.source == "form:newsletter"
    words = b"Send me the monthly newsletter."
    assert signup.consent_text_sha256 == hashlib.sha256(words).hexdigest()


def test_every_key_is_read() -> None:
    table = {
        "action": "subscribe",
        "types": ["93", 37846, "93"],
        "choose": True,
        "fields": {"email": "your-email", "name": "full_name"},
        "create": False,
        "consent_text": "  Yes, send me news.  ",
        "origins": ["https://WWW.Example.com/", "http://localhost:3000"],
        "redirect": "https://www.example.com/thanks?from=form",
        "confirm": "none",
        "honeypot": "url",
    }
    read = form(table)
    assert read.types == ("93", "37846")  # ids as text, once each, in order
    assert read.choose and not read.create
    assert read.fields == FieldNames(email="your-email", phone="phone", name="full_name")
    assert read.consent_text == "Yes, send me news."
    assert read.origins == ("https://www.example.com", "http://localhost:3000")
    assert read.redirect == "https://www.example.com/thanks?from=form"
    assert read.honeypot == "url"


def test_double_opt_in_needs_an_admin_and_lasts_seven_days_unless_told() -> None:
    assert form(SIGNUP).confirm is None
    read = form({**SIGNUP, "confirm": "email", "confirm_admin_id": 991267716})
    assert read.confirm == DoubleOptIn("991267716", 7)
    days = form({**SIGNUP, "confirm": "email", "confirm_admin_id": "42", "confirm_days": "3"})
    assert days.confirm == DoubleOptIn("42", 3)  # an env: reference arrives as text


def test_a_manage_form_needs_only_the_admin_its_emails_are_from() -> None:
    manage = form({**MANAGE, "origins": ["https://www.example.com"]})
    assert manage.action is FormAction.MANAGE
    assert (manage.types, manage.create, manage.choose, manage.confirm) == ((), False, False, None)
    assert manage.link_admin_id == "991267716"
    assert form(SIGNUP).link_admin_id is None


def test_an_unsubscribe_form_creates_nobody_and_needs_no_words() -> None:
    read = form({"action": "unsubscribe", "types": "93, 37846"})
    assert read.action is FormAction.UNSUBSCRIBE
    assert read.types == ("93", "37846")
    assert not read.create and read.consent_text is None and read.consent_text_sha256 is None


def test_values_from_the_environment_arrive_as_text(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text(
        '[forms.newsletter]\ntypes = "env:FORM_TYPES"\nchoose = "env:FORM_CHOOSE"\n'
        'origins = "env:FORM_ORIGINS"\nconsent_text = "env:FORM_WORDS"\n',
        "utf-8",
    )
    settings = make_settings(
        "sqlite:///unused.db",
        BRIDGE_CONFIG=str(config),
        FORM_TYPES="93,95",
        FORM_CHOOSE="true",
        FORM_ORIGINS="https://www.example.com, https://shop.example.com",
        FORM_WORDS="Yes please.",
    )
    read = Configured.from_settings(settings).forms["newsletter"]
    assert read.types == ("93", "95") and read.choose
    assert read.origins == ("https://www.example.com", "https://shop.example.com")


def test_a_thank_you_page_on_the_bridge_itself_needs_no_origin() -> None:
    assert form({**SIGNUP, "redirect": f"{PUBLIC}/thanks"}).redirect == f"{PUBLIC}/thanks"


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"consent_text": "Yes."}, r"newsletter\.types: required"),
        ({**SIGNUP, "types": []}, r"newsletter\.types: must name at least one"),
        ({**SIGNUP, "types": ["9 3"]}, r"newsletter\.types: '9 3' is not"),
        ({**SIGNUP, "types": {"a": 1}}, r"newsletter\.types: must be a list"),
        ({**SIGNUP, "types": [True]}, r"newsletter\.types: must be a list"),
        ({"types": ["93"]}, r"newsletter\.consent_text: required for a signup form"),
        ({**SIGNUP, "consent_text": ""}, r"newsletter\.consent_text: must be a non-empty"),
        ({**SIGNUP, "consent_text": "x" * 2001}, r"newsletter\.consent_text: longer than"),
        (
            {**SIGNUP, "action": "signup"},
            r"newsletter\.action: must be subscribe, unsub.* or manage",
        ),
        ({"action": "manage"}, r"newsletter\.confirm_admin_id: required with action"),
        ({**MANAGE, "confirm_admin_id": "ops"}, r"newsletter\.confirm_admin_id: 'ops' is not"),
        ({**MANAGE, "types": ["93"]}, r'newsletter\.types: not for a "manage" form'),
        ({**MANAGE, "choose": True}, r'newsletter\.choose: not for a "manage" form'),
        ({**MANAGE, "confirm": "email"}, r'newsletter\.confirm: not for a "manage" form'),
        ({**MANAGE, "confirm_days": 3}, r'newsletter\.confirm_days: not for a "manage" form'),
        ({**MANAGE, "create": True}, r"newsletter\.create: a manage form cannot create"),
        ({**SIGNUP, "confirm": "email"}, r"newsletter\.confirm_admin_id: required with"),
        ({**SIGNUP, "confirm": "sms"}, r'newsletter\.confirm: must be "none" or "email"'),
        (
            {**SIGNUP, "confirm": "email", "confirm_admin_id": "ops@example.com"},
            r"newsletter\.confirm_admin_id: 'ops@example\.com' is not",
        ),
        (
            {**SIGNUP, "confirm": "email", "confirm_admin_id": 1, "confirm_days": 0},
            r"newsletter\.confirm_days: must be a whole number of days, 1 to 90",
        ),
        (
            {**SIGNUP, "confirm": "email", "confirm_admin_id": 1, "confirm_days": "soon"},
            r"newsletter\.confirm_days: must be a whole number",
        ),
        (
            {"action": "unsubscribe", "types": ["93"], "create": False, "confirm": "email"},
            r"newsletter\.confirm: \"email\" \(double opt-in\) is for subscribe forms",
        ),
        ({**SIGNUP, "choose": "maybe"}, r"newsletter\.choose: must be true or false"),
        ({**SIGNUP, "create": 1}, r"newsletter\.create: must be true or false"),
        (
            {"action": "unsubscribe", "types": ["93"], "create": True},
            r"newsletter\.create: an unsubscribe form cannot create",
        ),
        ({**SIGNUP, "fields": "email"}, r"newsletter\.fields: must be a table"),
        ({**SIGNUP, "fields": {"mail": "e"}}, r"newsletter\.fields\.mail: unknown"),
        ({**SIGNUP, "fields": {"email": "a b"}}, r"newsletter\.fields\.email: 'a b' is not"),
        ({**SIGNUP, "fields": {"email": "_t"}}, r"newsletter\.fields\.email: '_t' is a field"),
        ({**SIGNUP, "fields": {"phone": "email"}}, r"newsletter\.fields: .* different fields"),
        ({**SIGNUP, "honeypot": "subscription"}, r"newsletter\.honeypot: 'subscription' is"),
        ({**SIGNUP, "honeypot": "_nonce"}, r"newsletter\.honeypot: '_nonce' is a field"),
        ({**SIGNUP, "honeypot": "name"}, r"newsletter\.honeypot: 'name' is also one"),
        ({**SIGNUP, "origins": ["www.example.com"]}, r"newsletter\.origins: 'www\.example"),
        ({**SIGNUP, "origins": ["https://a.example/form"]}, r"newsletter\.origins: .* not an"),
        ({**SIGNUP, "origins": ["https://u@a.example"]}, r"newsletter\.origins: .* not an"),
        ({**SIGNUP, "redirect": "/thanks"}, r"newsletter\.redirect: '/thanks' must be an"),
        (
            {**SIGNUP, "redirect": "https://evil.example/thanks"},
            r"newsletter\.redirect: .* add https://evil\.example to origins",
        ),
        ({**SIGNUP, "confirm_days": 7}, r'newsletter\.confirm_days: only with confirm = "email"'),
        ({**SIGNUP, "confirm_admin_id": 7}, r"newsletter\.confirm_admin_id: only with confirm"),
        ({**SIGNUP, "confirm_day": 7}, r"newsletter\.confirm_day: unknown setting"),
    ],
)
def test_each_mistake_is_one_line_naming_the_key(table: dict[str, Any], problem: str) -> None:
    with pytest.raises(SettingsError, match=rf"^BRIDGE_CONFIG\.forms\.{problem}"):
        form(table)


@pytest.mark.parametrize("name", ["news letter", "news/letter", "-x", "é", "x" * 65, ""])
def test_a_name_must_be_safe_in_a_url(name: str) -> None:
    with pytest.raises(SettingsError, match=r"a form's name is part of its URL"):
        form(SIGNUP, name)


def test_the_forms_table_and_each_form_must_be_tables() -> None:
    assert load_forms({}, PUBLIC) == {}
    with pytest.raises(SettingsError, match=r"^BRIDGE_CONFIG\.forms: must be a table"):
        load_forms({"forms": ["newsletter"]}, PUBLIC)
    with pytest.raises(SettingsError, match=r"^BRIDGE_CONFIG\.forms\.newsletter: must be a"):
        load_forms({"forms": {"newsletter": "yes"}}, PUBLIC)
    assert set(load_forms({"forms": {"a": SIGNUP, "b-2": SIGNUP}}, PUBLIC)) == {"a", "b-2"}


def test_a_mistake_stops_start_up(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text('[forms.newsletter]\ntypes = ["93"]\nconfirm = "email"\n', "utf-8")
    settings = make_settings("sqlite:///unused.db", BRIDGE_CONFIG=str(config))
    with pytest.raises(SettingsError, match=r"forms\.newsletter\.confirm"):
        Configured.from_settings(settings)
