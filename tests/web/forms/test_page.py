"""`GET /forms/{form}`: the hosted page in each shape, its stamp and nonce, and posts from it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bridge.clock import ManualClock
from bridge.forms.spam import MIN_FILL_SECONDS
from bridge.sandbox import Sandbox
from tests.web.forms.posting import (
    FORMS,
    PUBLIC_URL,
    SITE,
    bridge_with_forms,
    post,
    posts,
    recorded,
)

TEXTS = f"""{FORMS}
[forms.texts]
types = ["108", "124"]
choose = true
consent_text = "Text me what I tick."
redirect = "{SITE}/thanks"
origins = ["{SITE}"]
"""
# What Chromium sends when a person presses the hosted page's button.
FROM_THE_PAGE = {
    "Origin": PUBLIC_URL,
    "Sec-Fetch-Site": "same-origin",
    "Referer": None,
}


class Inputs(HTMLParser):
    """Every input of a page's form (name, type, value, and its other attributes)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.inputs: list[dict[str, str | None]] = []
        self.actions: list[str | None] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input":
            self.inputs.append(dict(attrs))
        elif tag == "form":
            self.actions.append(dict(attrs).get("action"))

    def named(self, name: str) -> dict[str, str | None]:
        """The one input called `name`."""
        [found] = [i for i in self.inputs if i.get("name") == name]
        return found

    def names(self) -> list[str | None]:
        """The inputs' names, in order."""
        return [i.get("name") for i in self.inputs]


@pytest.fixture
def clock() -> ManualClock:
    """Time that moves only when a test moves it."""
    return ManualClock()


@pytest.fixture
def client(tmp_path: Path, sandbox: Sandbox, clock: ManualClock) -> Iterator[TestClient]:
    """The bridge with the test forms and an SMS form, on a manual clock."""
    with bridge_with_forms(tmp_path, sandbox, TEXTS, clock=clock) as test_client:
        yield test_client


def test_a_plain_form_asks_for_the_email_and_says_what_it_subscribes_to(
    client: TestClient,
) -> None:
    page = client.get("/forms/newsletter", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and page.template.name == "forms/page.html"  # type: ignore[attr-defined]
    assert page.headers["cache-control"].startswith("no-store")
    form = Inputs(page.text)
    assert form.names() == ["_t", "_nonce", "email", "name", "website"]  # no phone: no SMS type
    assert "required" in form.named("email") and form.named("email")["type"] == "email"
    assert form.actions == ["/forms/newsletter"]
    assert "Newsletter" in page.text and "Product updates" in page.text  # what it sends
    assert "Yes, send me the newsletter and product updates." in page.text
    assert "<script" not in page.text


def test_the_honeypot_is_hidden_from_people_and_from_the_keyboard(client: TestClient) -> None:
    page = client.get("/forms/choose")
    trap = Inputs(page.text).named("url")  # this form's honeypot
    assert trap["tabindex"] == "-1" and trap["autocomplete"] == "off"
    assert trap.get("type") in (None, "text")  # not type=hidden: bots skip those
    holder = page.text[: page.text.index('name="url"')].rsplit("<div", 1)[1]
    assert 'class="honeypot"' in holder and 'aria-hidden="true"' in holder
    css = client.get("/static/bridge.css").text
    assert re.search(r"\.honeypot \{ position: absolute; inset-inline-start: -10000px", css)


def test_a_choose_form_offers_its_types_in_the_person_s_language(client: TestClient) -> None:
    page = client.get("/forms/choose?lang=fr")
    assert page.headers["content-language"] == "fr"
    form = Inputs(page.text)
    boxes = [i["value"] for i in form.inputs if i.get("name") == "subscription"]
    assert boxes == ["93", "95"]  # the form's types, in its order
    assert form.names()[:4] == ["_t", "_nonce", "your-email", "full-name"]  # the form's `fields`
    assert "Offres et promotions" in page.text  # Intercom's French name
    assert "Réductions et offres spéciales pour les abonnés." in page.text
    assert "S\u2019inscrire" in page.text and "Que souhaitez-vous recevoir ?" in page.text
    assert form.actions == ["/forms/choose?lang=fr"]  # the thank-you page keeps the language
    german = client.get("/forms/choose", headers={"Accept-Language": "de-CH, en;q=0.5"})
    assert german.headers["content-language"] == "de" and "Angebote und Aktionen" in german.text


def test_a_form_for_sms_types_asks_for_a_phone(client: TestClient) -> None:
    form = Inputs(client.get("/forms/texts").text)
    assert form.named("phone")["type"] == "tel"
    assert "required" not in form.named("phone")


def test_intercom_down_a_choose_form_says_so_and_a_plain_one_still_works(
    client: TestClient, sandbox: Sandbox
) -> None:
    sandbox.faults.error_rate = 1.0  # the types were never listed: none to show
    choose = client.get("/forms/choose")
    assert choose.status_code == 200 and 'role="alert"' in choose.text
    assert "<form" not in choose.text  # a signup with nothing to tick could only fail
    plain = client.get("/forms/newsletter")
    assert plain.status_code == 200 and 'role="alert"' not in plain.text
    assert Inputs(plain.text).names() == ["_t", "_nonce", "email", "name", "website"]
    sandbox.faults.error_rate = 0.0
    response = post(client, "newsletter", [("email", "a@example.com")], **FROM_THE_PAGE)
    assert response.status_code == 303 and len(recorded(client)) == 1


def test_the_page_is_embeddable_and_lands_on_a_framed_thank_you(
    client: TestClient, clock: ManualClock
) -> None:
    page = client.get("/forms/newsletter?embed=1&lang=es")
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in csp and "form-action 'self';" in csp
    assert 'class="embedded"' in page.text and "auto-height.js" in page.text
    form = Inputs(page.text)
    assert form.actions == ["/forms/newsletter?lang=es&embed=1"]
    clock.advance(MIN_FILL_SECONDS + 1)
    fields = [("email", "e@example.com"), ("_t", form.named("_t")["value"] or "")]
    response = client.post(
        "/forms/newsletter?lang=es&embed=1",
        data=dict(fields),
        headers={"Origin": PUBLIC_URL, "Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/forms/newsletter/thanks?lang=es&embed=1"
    thanks = client.get(response.headers["location"])
    assert "frame-ancestors 'self'" in thanks.headers["content-security-policy"]
    assert 'class="embedded"' in thanks.text and thanks.headers["content-language"] == "es"


def test_a_redirect_elsewhere_is_a_form_action_of_that_page_only(client: TestClient) -> None:
    texts = client.get("/forms/texts").headers["content-security-policy"]
    assert f"form-action 'self' {SITE};" in texts
    plain = client.get("/forms/newsletter").headers["content-security-policy"]
    assert "form-action 'self';" in plain
    assert "form-action 'self';" in client.get("/preferences/x").headers["content-security-policy"]


def test_head_answers_like_get_without_a_body(client: TestClient) -> None:
    head = client.head("/forms/newsletter")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"].startswith("text/html")
    assert client.head("/forms/nope").status_code == 404


def test_an_unknown_form_is_a_404_page(client: TestClient) -> None:
    page = client.get("/forms/nope", headers={"Accept": "text/html", "Accept-Language": "fr"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-language"] == "fr"


def test_getting_the_page_records_nothing(client: TestClient) -> None:
    client.get("/forms/newsletter")
    client.head("/forms/choose")
    assert recorded(client) == []


def test_the_stamp_verifies_and_a_post_within_the_fill_time_is_a_bot_s(
    client: TestClient, clock: ManualClock
) -> None:
    stamp = Inputs(client.get("/forms/newsletter").text).named("_t")["value"] or ""
    signer = client.app.state.services.signer  # type: ignore[attr-defined]
    assert signer.fill_seconds("newsletter", stamp) == 0
    clock.advance(MIN_FILL_SECONDS - 1)
    fields = [("email", "quick@example.com"), ("_t", stamp)]
    response = post(client, "newsletter", fields, **FROM_THE_PAGE)
    assert response.status_code == 303  # the same answer as a person's
    assert recorded(client) == [] and posts(client, "newsletter", "too_fast") == 1
    clock.advance(2)
    response = post(client, "newsletter", fields, **FROM_THE_PAGE)
    assert (
        response.status_code == 303 and response.headers["location"] == "/forms/newsletter/thanks"
    )
    [record] = recorded(client)
    assert record.request.identity.email == "quick@example.com"
    assert record.request.context["page_origin"] == PUBLIC_URL


def test_a_stamp_from_another_form_s_page_is_a_bot_s(
    client: TestClient, clock: ManualClock
) -> None:
    stamp = Inputs(client.get("/forms/choose").text).named("_t")["value"] or ""
    clock.advance(60)
    post(client, "newsletter", [("email", "a@example.com"), ("_t", stamp)], **FROM_THE_PAGE)
    assert recorded(client) == [] and posts(client, "newsletter", "too_fast") == 1


def test_an_unsubscribe_form_s_page_has_its_own_title_and_button(client: TestClient) -> None:
    page = client.get("/forms/leave?lang=de")
    assert "<h1>Abmelden</h1>" in page.text
    assert '<button type="submit" class="primary">Abmelden</button>' in page.text


def test_the_page_carries_the_brand_and_its_origins_in_the_csp(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    branding = """
[branding]
company_name = "Acme <Widgets>"
logo_url = "https://cdn.acme.example/logo.svg"
footer_text = "Acme Widgets, 1 Main St"
"""
    with bridge_with_forms(tmp_path, sandbox, FORMS + branding) as branded:
        page = branded.get("/forms/newsletter?lang=fr")
    assert "Restez informé par Acme &lt;Widgets&gt;" in page.text and "<Widgets>" not in page.text
    assert 'src="https://cdn.acme.example/logo.svg"' in page.text
    assert "Acme Widgets, 1 Main St" in page.text
    assert (
        "img-src 'self' data: https://cdn.acme.example" in page.headers["content-security-policy"]
    )


def _filled(client: TestClient, clock: ManualClock, email: str) -> list[tuple[str, str]]:
    """The hosted page's fields as a person fills them in, time enough to be one."""
    form = Inputs(client.get("/forms/newsletter").text)
    clock.advance(MIN_FILL_SECONDS + 1)
    hidden = [(name, form.named(name)["value"] or "") for name in ("_t", "_nonce")]
    return [*hidden, ("email", email)]


def test_a_double_click_on_the_page_records_one_request_answered_the_same(
    client: TestClient, clock: ManualClock
) -> None:
    fields = _filled(client, clock, "double.click@example.com")
    first = post(client, "newsletter", fields, **FROM_THE_PAGE)
    second = post(client, "newsletter", fields, **FROM_THE_PAGE)
    assert (first.status_code, first.headers["location"]) == (
        second.status_code,
        second.headers["location"],
    )
    assert first.status_code == 303
    [record] = recorded(client)
    nonce = dict(fields)["_nonce"]
    assert re.fullmatch(r"[0-9a-f]{32}", nonce) and record.request.event_id.endswith(f":{nonce}")
    assert posts(client, "newsletter", "accepted") == 2


def test_the_same_nonce_with_another_address_is_another_person_s_request(
    client: TestClient, clock: ManualClock
) -> None:
    fields = _filled(client, clock, "first@example.com")
    post(client, "newsletter", fields, **FROM_THE_PAGE)
    other = [(name, value) for name, value in fields if name != "email"]
    post(client, "newsletter", [*other, ("email", "second@example.com")], **FROM_THE_PAGE)
    emails = sorted(r.request.identity.email or "" for r in recorded(client))
    assert emails == ["first@example.com", "second@example.com"]


def test_each_new_view_of_the_page_has_a_new_nonce(client: TestClient) -> None:
    nonces = {Inputs(client.get("/forms/newsletter").text).named("_nonce")["value"] for _ in "ab"}
    assert len(nonces) == 2


def test_back_on_the_same_page_with_other_ticks_is_heard(
    client: TestClient, clock: ManualClock
) -> None:
    form = Inputs(client.get("/forms/choose").text)
    clock.advance(MIN_FILL_SECONDS + 1)
    hidden = [(name, form.named(name)["value"] or "") for name in ("_t", "_nonce")]
    sent = [*hidden, ("your-email", "back.again@example.com")]
    post(client, "choose", [*sent, ("subscription", "93")], **FROM_THE_PAGE)
    post(client, "choose", [*sent, ("subscription", "93")], **FROM_THE_PAGE)
    post(client, "choose", [*sent, ("subscription", "95")], **FROM_THE_PAGE)
    chosen = sorted(r.request.scope.type_ids for r in recorded(client))
    assert chosen == [("93",), ("95",)]
