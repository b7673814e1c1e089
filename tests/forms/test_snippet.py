"""`snippet`: a form's HTML to paste, parsed as a browser would and posted back to the bridge."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from bridge.consent import Scope
from bridge.forms import form_settings
from bridge.forms.layout import Offer, layout
from bridge.forms.snippet import snippet
from bridge.i18n import load_catalogs
from bridge.sandbox import Sandbox
from tests.web.forms.posting import FORMS, PUBLIC_URL, SITE, bridge_with_forms, recorded

T = load_catalogs()["en"].gettext
CHOOSE = form_settings(
    "choose",
    {
        "types": ["93", "95"],
        "choose": True,
        "consent_text": "Send me what I tick. <b>now</b>",
        "origins": [SITE],
        "fields": {"email": "your-email", "name": "full-name"},
        "honeypot": "url",
    },
    PUBLIC_URL,
)


class Snippet(HTMLParser):
    """A pasted snippet as a browser reads it: its form's action, inputs, scripts and texts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.action = ""
        self.method = ""
        self.inputs: list[dict[str, str | None]] = []
        self.scripts = 0
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.action, self.method = found["action"] or "", found["method"] or ""
        elif tag == "input":
            self.inputs.append(found)
        elif tag == "script":
            self.scripts += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def filled(self, values: dict[str, str], ticked: set[str]) -> list[tuple[str, str]]:
        """The fields a browser posts with these values typed in and these boxes ticked."""
        fields = []
        for item in self.inputs:
            name = item.get("name") or ""
            if item.get("type") == "checkbox":
                if item.get("value") in ticked:
                    fields.append((name, item.get("value") or ""))
            else:
                fields.append((name, values.get(name, item.get("value") or "")))
        return fields


def test_the_snippet_posted_back_signs_the_person_up_for_what_they_ticked(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    with bridge_with_forms(tmp_path, sandbox, FORMS) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        form = services.forms["choose"]
        types = client.portal.call(services.type_cache.describe, Scope(type_ids=form.types))  # type: ignore[union-attr]
        html = snippet(layout(form, types, ["en"]), PUBLIC_URL, T)
        pasted = Snippet(html)
        assert pasted.method == "post" and pasted.scripts == 0
        assert pasted.action == f"{PUBLIC_URL}/forms/choose"
        assert "Offers and promotions" in "".join(pasted.text)
        assert "_t" not in [i.get("name") for i in pasted.inputs]
        fields = pasted.filled({"your-email": "pasted@example.com", "full-name": "Pat"}, {"95"})
        assert dict(fields)["url"] == ""  # the honeypot, left empty as people leave it
        response = client.post(
            pasted.action.removeprefix(PUBLIC_URL),
            data={name: [v for n, v in fields if n == name] for name, _ in fields},
            headers={"Origin": SITE, "Sec-Fetch-Site": "cross-site"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        [record] = recorded(client)
    assert record.request.identity.email == "pasted@example.com"
    assert record.request.scope == Scope(type_ids=("95",))
    assert record.request.context["consent_text"] == form.consent_text
    assert record.request.create is not None
    assert record.request.create.name == "Pat"


def test_the_honeypot_is_off_screen_and_out_of_the_keyboard_s_way() -> None:
    html = snippet(layout(CHOOSE, None, ["en"]), PUBLIC_URL, T)
    [trap] = [i for i in Snippet(html).inputs if i.get("name") == "url"]
    assert trap["tabindex"] == "-1" and trap["autocomplete"] == "off" and "type" not in trap
    holder = html[: html.index('name="url"')].rsplit("<div", 1)[1]
    assert "left:-10000px" in holder and 'aria-hidden="true"' in holder


def test_a_manage_form_s_snippet_asks_for_the_address_alone() -> None:
    manage = form_settings("mylink", {"action": "manage", "confirm_admin_id": "1"}, PUBLIC_URL)
    html = snippet(layout(manage, None, ["en"]), PUBLIC_URL, T, fetch=True)
    names = [i.get("name") for i in Snippet(html).inputs]
    assert names == ["email", "website"]
    assert "Email me my link" in html and "we've sent it a link to your preferences" in html


def test_without_the_workspace_s_names_the_boxes_carry_the_ids_and_say_so() -> None:
    html = snippet(layout(CHOOSE, None, ["en"]), PUBLIC_URL, T)
    boxes = [i["value"] for i in Snippet(html).inputs if i.get("type") == "checkbox"]
    assert boxes == ["93", "95"]
    assert "INTERCOM_ACCESS_TOKEN was not set" in html


def test_the_consent_text_is_shown_as_written_never_as_markup() -> None:
    html = snippet(layout(CHOOSE, None, ["en"]), PUBLIC_URL, T)
    assert "<p>Send me what I tick. &lt;b&gt;now&lt;/b&gt;</p>" in html
    assert "no signed `_t` stamp" in html


@pytest.mark.parametrize("origins", [[], [SITE]])
def test_the_comment_says_which_sites_may_post_it(origins: list[str]) -> None:
    form = form_settings(
        "n", {"types": ["93"], "consent_text": "Yes.", "origins": origins}, PUBLIC_URL
    )
    html = snippet(layout(form, None, ["en"]), PUBLIC_URL, T)
    assert ("403" in html) is not bool(origins)
    assert (SITE in html) is bool(origins)


def test_the_fetch_variant_posts_json_and_shows_the_answer_in_place() -> None:
    offers = (Offer("93", "News </script><script>alert(1)</script>"),)
    shown = layout(CHOOSE, None, ["en"])
    shown = type(shown)(CHOOSE, offers, phone=True)
    html = snippet(shown, PUBLIC_URL, T, fetch=True)
    pasted = Snippet(html)
    assert pasted.scripts == 1
    assert '"Accept": "application/json"' in html and "JSON.stringify(fields)" in html
    assert 'role="status"' in html
    assert "</script><script>alert" not in html  # a type's name is text, never markup
    assert [i.get("type") for i in pasted.inputs if i.get("name") == "phone"] == ["tel"]
