"""The preference page over HTTP: states, saving, languages, embedding, branding, failures."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from starlette.testclient import TestClient

from bridge.consent import Channel, Identity, Scope, Wanted
from bridge.i18n import load_catalogs
from bridge.ledger import LedgerUnavailable, RequestRecord
from bridge.links import LinkClaims, LinkSigner, Purpose
from bridge.sandbox import Sandbox
from bridge.web.app import create_app
from tests.conftest import SECRET, make_settings

JANE_ID = "63a07ddf05a32042dffac965"
JANE = Identity(contact_id=JANE_ID)
BASE = "https://consent.example.com"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def page_path(claims: LinkClaims) -> str:
    """The path of a preferences link signed with the test key."""
    return "/preferences/" + LinkSigner([SECRET]).token(Purpose.PREFERENCES, claims)


def recorded(client: TestClient) -> list[RequestRecord]:
    """Everything in the app's ledger, newest first."""
    ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
    return client.portal.call(lambda: ledger.list_requests())  # type: ignore[union-attr]


def states(page: str) -> dict[str, bool]:
    """Type id -> ticked, as the page's checkboxes show them."""
    found = {}
    for tag in re.findall(r'<input type="checkbox"[^>]*>', page):
        type_id = re.search(r'value="([^"]+)"', tag)
        assert type_id is not None
        found[type_id.group(1)] = " checked" in tag
    return found


def save_form(page: str) -> list[tuple[str, str]]:
    """The fields of the page's save form, exactly as a browser would send them unchanged."""
    form = page.split('class="choices"', 1)[1].split("</form>", 1)[0]
    fields = [
        (html.unescape(name), html.unescape(value))
        for name, value in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form)
    ]
    ticked = [type_id for type_id, on in states(form).items() if on]
    return fields + [("subscribed", type_id) for type_id in ticked]


def post(client: TestClient, path: str, fields: list[tuple[str, str]], **headers: str):  # type: ignore[no-untyped-def]
    """POST the fields urlencoded, as a browser's form does, without following the redirect."""
    return client.post(
        path, content=urlencode(fields), headers={**FORM, **headers}, follow_redirects=False
    )


def with_ticks(fields: list[tuple[str, str]], on: set[str]) -> list[tuple[str, str]]:
    """The form's fields with exactly the `on` types ticked."""
    return [f for f in fields if f[0] != "subscribed"] + [("subscribed", t) for t in sorted(on)]


def test_get_shows_every_live_type_with_its_state_and_changes_nothing(
    client: TestClient, sandbox: Sandbox
) -> None:
    response = client.get(page_path(LinkClaims(JANE)))
    assert response.status_code == 200
    assert response.template.name == "preferences/page.html"  # type: ignore[attr-defined]
    live = {t["id"] for t in sandbox.types.values() if t["state"] == "live"}
    assert set(states(response.text)) == live
    expected = {type_id: sandbox.receives(JANE_ID, type_id) for type_id in live}
    assert states(response.text) == expected
    assert "131" not in states(response.text) and "88" not in states(response.text)
    assert "<fieldset>" in response.text and "<legend>" in response.text
    assert response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers
    assert recorded(client) == []
    assert sandbox.count(method="POST") == sandbox.count(method="DELETE") == 0


def test_a_channel_link_shows_only_that_channel(client: TestClient, sandbox: Sandbox) -> None:
    response = client.get(page_path(LinkClaims(JANE, Scope(channel=Channel.SMS))))
    sms = {
        t["id"]
        for t in sandbox.types.values()
        if t["state"] == "live" and "sms_message" in t["content_types"]
    }
    assert set(states(response.text)) == sms
    assert "Unsubscribe from all text messages" in response.text


def test_a_view_costs_one_intercom_call_and_an_email_is_searched_once(
    client: TestClient, sandbox: Sandbox
) -> None:
    client.get(page_path(LinkClaims(JANE)))  # warms the type cache
    before = len(sandbox.requests)
    client.get(page_path(LinkClaims(JANE)))
    assert [r.path for r in sandbox.requests[before:]] == [f"/contacts/{JANE_ID}/subscriptions"]
    sandbox.add_contact(email="solo@example.com", contact_id="c" * 24)
    by_email = page_path(LinkClaims(Identity(email="solo@example.com")))
    before = len(sandbox.requests)
    client.get(by_email)
    client.get(by_email)
    paths = [r.path for r in sandbox.requests[before:]]
    assert paths.count("/contacts/search") == 1
    assert paths.count(f"/contacts/{'c' * 24}/subscriptions") == 2


def test_saving_records_one_request_per_changed_type_then_redirects(
    client: TestClient, sandbox: Sandbox
) -> None:
    path = page_path(LinkClaims(JANE, locale="fr"))
    page = client.get(path).text
    before = states(page)
    on = {t for t, ticked in before.items() if ticked}
    flipped = {"95", "37846"}
    response = post(client, path, with_ticks(save_form(page), on ^ flipped))
    assert response.status_code == 303
    assert response.headers["location"] == f"{path}?saved=saved"
    requests = {r.request.scope.type_ids[0]: r for r in recorded(client)}
    assert set(requests) == flipped
    for type_id in flipped:
        request = requests[type_id].request
        assert request.source == "preferences"
        wanted = Wanted.UNSUBSCRIBED if before[type_id] else Wanted.SUBSCRIBED
        assert request.wanted is wanted
        assert request.context["via"] == "page"
        assert request.context["locale"] == "fr"
        # What the person was shown, in the language they saw it in.
        name = sandbox.types[type_id]
        french = next(t for t in name["translations"] if t["locale"] == "fr")
        assert request.context["shown"] == {
            "name": french["name"],
            "description": french["description"],
            "locale": "fr",
        }
        assert "ip" not in request.context and "user_agent" not in request.context
    after = client.get(response.headers["location"])
    assert states(after.text) == {**before, **{t: not before[t] for t in flipped}}
    assert 'role="status"' in after.text
    french = load_catalogs()["fr"]
    notice = html.unescape(after.text)
    assert french.gettext("preferences.saved") in notice
    assert french.gettext("common.propagation") in notice
    assert sandbox.count(method="POST", path_prefix="/contacts/") == 0  # the worker is off


def test_unchanged_toggles_record_nothing(client: TestClient) -> None:
    path = page_path(LinkClaims(JANE))
    response = post(client, path, save_form(client.get(path).text))
    assert response.headers["location"].endswith("saved=unchanged")
    assert recorded(client) == []
    assert "Nothing to save" in client.get(response.headers["location"]).text


def test_a_double_submitted_form_records_once(client: TestClient) -> None:
    path = page_path(LinkClaims(JANE))
    fields = with_ticks(save_form(client.get(path).text), {"95", "37846", "124"})
    assert post(client, path, fields).headers["location"].endswith("saved=saved")
    again = post(client, path, fields)
    # The second submission recorded nothing new: it says the choices were already saved.
    assert again.headers["location"].endswith("saved=already")
    assert "These choices were already saved." in client.get(again.headers["location"]).text
    [only] = recorded(client)
    assert only.request.scope.type_ids == ("95",)


def test_two_people_sending_the_same_nonce_are_both_recorded(client: TestClient) -> None:
    lucia = Identity(contact_id="63a07de505a32042dffac981")
    for person in (JANE, lucia):
        path = page_path(LinkClaims(person))
        fields = with_ticks(save_form(client.get(path).text), {"95", "37846", "93"})
        fields = [(n, "f" * 32 if n == "nonce" else v) for n, v in fields]
        post(client, path, fields)
    # Each switched 95 on with the same nonce; each change is recorded.
    turned_on = [r.request for r in recorded(client) if r.request.scope.type_ids == ("95",)]
    assert sorted(r.identity.contact_id or "" for r in turned_on) == sorted(
        [JANE_ID, lucia.contact_id or ""]
    )


def test_a_405_names_every_method_the_page_takes(client: TestClient) -> None:
    response = client.put(page_path(LinkClaims(JANE)))
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}


def test_preferences_links_expire_after_the_configured_age(
    sandbox: Sandbox, sqlite_url: str
) -> None:
    old = LinkSigner([SECRET], clock=lambda: time.time() - 3601)
    token = old.token(Purpose.PREFERENCES, LinkClaims(JANE))
    with _app(sandbox, sqlite_url, BRIDGE_PREFERENCES_MAX_AGE="3600") as client:
        page = client.get(f"/preferences/{token}")
        assert page.status_code == 400
        assert "This link has expired" in html.unescape(page.text)
        fresh = LinkSigner([SECRET]).token(Purpose.PREFERENCES, LinkClaims(JANE))
        assert client.get(f"/preferences/{fresh}").status_code == 200


def test_preferences_links_expire_by_default(client: TestClient) -> None:
    ninety_one_days_ago = LinkSigner([SECRET], clock=lambda: time.time() - 91 * 86400)
    token = ninety_one_days_ago.token(Purpose.PREFERENCES, LinkClaims(JANE))
    assert client.get(f"/preferences/{token}").status_code == 400


def test_the_preferences_link_after_an_unsubscribe_is_as_old_as_the_unsubscribe_link(
    sandbox: Sandbox, sqlite_url: str
) -> None:
    signed_at = time.time() - 3000
    old = LinkSigner([SECRET], clock=lambda: signed_at)
    unsubscribe = old.url(BASE, Purpose.UNSUBSCRIBE, LinkClaims(JANE)).removeprefix(BASE)
    with _app(sandbox, sqlite_url, BRIDGE_PREFERENCES_MAX_AGE="3600") as client:
        done = client.post(unsubscribe, data={"action": "unsubscribe"})
        manage = re.search(r'href="https://consent\.example\.com(/preferences/[^"]+)"', done.text)
        assert manage is not None
        token = html.unescape(manage.group(1)).rsplit("/", 1)[1]
        issued = LinkSigner([SECRET]).claims(Purpose.PREFERENCES, token).issued_at
        assert issued is not None and abs(issued.timestamp() - signed_at) < 1
    # Older than the preferences age: no preferences link is offered at all.
    with _app(sandbox, sqlite_url, BRIDGE_PREFERENCES_MAX_AGE="1000") as client:
        done = client.post(unsubscribe, data={"action": "unsubscribe"})
        assert done.status_code == 200
        assert "/preferences/" not in done.text


def test_unsubscribe_from_all_records_every_receiving_type(
    client: TestClient, sandbox: Sandbox
) -> None:
    path = page_path(LinkClaims(JANE, Scope(channel=Channel.EMAIL)))
    page = client.get(path).text
    receiving = {t for t, on in states(page).items() if on}
    assert receiving
    stop_all = page.split('class="stop-all"', 1)[1]
    fields = [
        (name, html.unescape(value))
        for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', stop_all)
    ]
    response = post(client, path, fields)
    assert response.status_code == 303
    requests = recorded(client)
    assert {r.request.scope.type_ids[0] for r in requests} == receiving
    assert {r.request.wanted for r in requests} == {Wanted.UNSUBSCRIBED}
    after = client.get(response.headers["location"]).text
    assert not any(states(after).values())
    assert "unsubscribed from everything" in after
    assert 'class="stop-all"' not in after


def test_a_type_created_after_the_page_was_shown_is_left_alone(
    client: TestClient, sandbox: Sandbox
) -> None:
    path = page_path(LinkClaims(JANE))
    fields = save_form(client.get(path).text)
    new = sandbox.add_type(
        state="live",
        consent_type="opt_out",
        content_types=["email"],
        default_translation={"name": "Brand new", "description": "", "locale": "en"},
    )
    client.app.state.services.type_cache._fetched_at = float("-inf")  # type: ignore[attr-defined]
    post(client, path, fields)
    assert new["id"] not in {r.request.scope.type_ids[0] for r in recorded(client)}


def test_forged_shown_fields_cannot_reach_types_outside_the_link(client: TestClient) -> None:
    path = page_path(LinkClaims(JANE, Scope(channel=Channel.SMS)))
    fields = [*save_form(client.get(path).text), ("shown", "93:1")]
    post(client, path, fields)
    assert "93" not in {r.request.scope.type_ids[0] for r in recorded(client)}


def test_head_changes_nothing(client: TestClient) -> None:
    response = client.head(page_path(LinkClaims(JANE)))
    assert response.status_code == 200 and response.content == b""
    assert recorded(client) == []


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_token_gets_a_plain_400_page(client: TestClient, method: str) -> None:
    path = page_path(LinkClaims(JANE))
    response = getattr(client, method)(path[:-3] + "xyz")
    assert response.status_code == 400
    assert "isn't valid" in html.unescape(response.text)
    assert recorded(client) == []


def test_an_unsubscribe_token_is_not_a_preferences_token(client: TestClient) -> None:
    token = LinkSigner([SECRET]).token(Purpose.UNSUBSCRIBE, LinkClaims(JANE))
    assert client.get(f"/preferences/{token}").status_code == 400


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
    ],
)
def test_a_post_another_site_started_is_refused(
    client: TestClient, headers: dict[str, str]
) -> None:
    path = page_path(LinkClaims(JANE))
    fields = with_ticks(save_form(client.get(path).text), set())
    response = post(client, path, fields, **headers)
    assert response.status_code == 403
    assert recorded(client) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "null"},  # our no-referrer pages
        {"Origin": "https://consent.example.com"},
        {},  # not a browser
    ],
)
def test_a_post_from_our_own_page_is_accepted(client: TestClient, headers: dict[str, str]) -> None:
    path = page_path(LinkClaims(JANE))
    fields = with_ticks(save_form(client.get(path).text), set())
    assert post(client, path, fields, **headers).status_code == 303
    assert recorded(client)


def test_a_multipart_form_is_read_too(client: TestClient) -> None:
    path = page_path(LinkClaims(JANE))
    fields = with_ticks(save_form(client.get(path).text), {"95", "93", "37846", "124"})
    response = client.post(
        path,
        files={"ignored": ("", b"")},
        data={k: [v for n, v in fields if n == k] for k in {n for n, _ in fields}},
        follow_redirects=False,
    )
    assert response.request.headers["content-type"].startswith("multipart/form-data")
    assert response.status_code == 303
    # Jane had opted out of 93 and not into 95: those two changed.
    assert {r.request.scope.type_ids[0] for r in recorded(client)} == {"93", "95"}


def test_an_unknown_action_is_a_clear_400(client: TestClient) -> None:
    response = post(client, page_path(LinkClaims(JANE)), [("action", "explode")])
    assert response.status_code == 400
    assert "explode" in response.text


def test_the_ledger_down_gives_503_and_changes_nothing(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = page_path(LinkClaims(JANE))
    fields = with_ticks(save_form(client.get(path).text), set())

    async def broken(*args: object, **kwargs: object) -> None:
        raise LedgerUnavailable("database unreachable")

    ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
    monkeypatch.setattr(ledger, "record", broken)
    response = post(client, path, fields)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"


def test_intercom_down_still_offers_unsubscribe_from_all(
    client: TestClient, sandbox: Sandbox
) -> None:
    path = page_path(LinkClaims(JANE, Scope(channel=Channel.EMAIL)))
    client.get(path)  # the types are cached
    sandbox.faults.error_rate = 1.0
    page = client.get(path)
    assert page.status_code == 200
    assert 'role="alert"' in page.text
    assert states(page.text) == {}  # no toggles when the state is unknown
    assert "Newsletter" in page.text  # the cached type names are still shown
    stop_all = page.text.split('class="stop-all"', 1)[1]
    fields = re.findall(r'name="([^"]+)" value="([^"]*)"', stop_all)
    assert ("shown", "93:?") in fields
    assert post(client, path, fields).status_code == 303
    requests = recorded(client)
    assert {r.request.scope.type_ids[0] for r in requests} == {"93", "37846", "95"}


def test_intercom_down_from_the_start_records_one_scope_wide_unsubscribe(
    client: TestClient, sandbox: Sandbox
) -> None:
    sandbox.faults.error_rate = 1.0
    path = page_path(LinkClaims(JANE, Scope(channel=Channel.EMAIL)))
    page = client.get(path).text
    assert 'role="alert"' in page and "Unsubscribe from all emails" in page
    response = post(client, path, [("action", "unsubscribe_all"), ("nonce", "a" * 32)])
    assert response.status_code == 303
    [request] = recorded(client)
    assert request.request.scope == Scope(channel=Channel.EMAIL)
    assert request.request.wanted is Wanted.UNSUBSCRIBED
    saving = post(client, path, [("action", "save"), ("nonce", "b" * 32)])
    assert saving.status_code == 503  # toggles can't be saved without knowing the types


def test_a_saved_choice_shows_as_updating_until_the_worker_applies_it(
    client: TestClient,
) -> None:
    path = page_path(LinkClaims(JANE))
    post(client, path, with_ticks(save_form(client.get(path).text), {"95"}))
    assert "being updated" in client.get(path).text


@pytest.mark.parametrize(
    ("claims_locale", "query", "accept", "lang"),
    [
        (None, "", "de-DE,de;q=0.9", "de"),
        ("fr", "", "de", "fr"),
        ("fr", "?lang=ja", "de", "ja"),  # the switcher wins over the link
        (None, "?lang=zz", "pt-BR", "pt"),
        (None, "", "sv", "en"),
    ],
)
def test_the_page_language(
    client: TestClient, claims_locale: str | None, query: str, accept: str, lang: str
) -> None:
    path = page_path(LinkClaims(JANE, locale=claims_locale))
    response = client.get(path + query, headers={"Accept-Language": accept})
    assert f'<html lang="{lang}"' in response.text
    assert response.headers["content-language"] == lang


def test_arabic_is_laid_out_right_to_left(client: TestClient) -> None:
    response = client.get(page_path(LinkClaims(JANE)) + "?lang=ar")
    assert '<html lang="ar" dir="rtl">' in response.text
    assert "اشتراكاتك" in response.text


def test_the_language_switcher_keeps_embedding_and_offers_every_catalog(
    client: TestClient,
) -> None:
    path = page_path(LinkClaims(JANE))
    page = client.get(path + "?embed=1").text
    for code in ("en", "fr", "de", "es", "pt", "it", "nl", "ja", "ar"):
        assert f'href="{path}?lang={code}&amp;embed=1" hreflang="{code}"' in page
    assert 'class="embedded"' in page


def test_the_page_may_be_framed_by_itself_only_by_default(client: TestClient) -> None:
    csp = client.get(page_path(LinkClaims(JANE))).headers["content-security-policy"]
    assert "frame-ancestors 'self';" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    unsubscribe = client.get(
        "/unsubscribe/" + LinkSigner([SECRET]).token(Purpose.UNSUBSCRIBE, LinkClaims(JANE))
    )
    assert "frame-ancestors 'none'" in unsubscribe.headers["content-security-policy"]
    # Even an error page under /preferences/ can be shown inside the marketer's iframe.
    error = client.get("/preferences/nonsense")
    assert "frame-ancestors 'self';" in error.headers["content-security-policy"]


def _app(sandbox: Sandbox, sqlite_url: str, **env: str) -> TestClient:
    settings = make_settings(sqlite_url, BRIDGE_WORKER_IN_PROCESS="false", **env)
    app = create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app))
    return TestClient(app, base_url="https://consent.example.com")


def test_frame_ancestors_come_from_the_allow_list(sandbox: Sandbox, sqlite_url: str) -> None:
    with _app(
        sandbox, sqlite_url, BRIDGE_FRAME_ANCESTORS="https://www.example.com, 'self'"
    ) as client:
        csp = client.get(page_path(LinkClaims(JANE))).headers["content-security-policy"]
    assert "frame-ancestors https://www.example.com 'self';" in csp
    assert "x-frame-options" not in {k.lower() for k in client.get("/healthz").headers}


def test_proof_fields_keep_ip_and_user_agent_when_configured(
    sandbox: Sandbox, sqlite_url: str
) -> None:
    with _app(sandbox, sqlite_url, BRIDGE_PROOF_FIELDS="ip,user_agent") as client:
        path = page_path(LinkClaims(JANE))
        fields = with_ticks(save_form(client.get(path).text), set())
        post(client, path, fields, **{"User-Agent": "Mozilla/5.0 (test)"})
        contexts = [r.request.context for r in recorded(client)]
    assert contexts
    assert {c["user_agent"] for c in contexts} == {"Mozilla/5.0 (test)"}
    assert {c["ip"] for c in contexts} == {"testclient"}


@pytest.fixture
def branded(sandbox: Sandbox, sqlite_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The bridge with a [branding] table and an operator's template folder."""
    overrides = tmp_path / "templates" / "preferences"
    overrides.mkdir(parents=True)
    (tmp_path / "templates" / "error.html").write_text("<p>Acme error: {{ message }}</p>", "utf-8")
    config = tmp_path / "bridge.toml"
    config.write_text(
        f"""
[branding]
company_name = "Acme <Widgets>"
logo_url = "https://cdn.acme.example/logo.svg"
primary_color = "#ffcc00"
stylesheet_url = "https://cdn.acme.example/consent.css"
footer_text = "Acme Widgets, 1 Main St"
privacy_url = "https://acme.example/privacy"
templates = "{tmp_path / "templates"}"
""",
        "utf-8",
    )
    with _app(sandbox, sqlite_url, BRIDGE_CONFIG=str(config)) as client:
        yield client


def test_branding_shows_on_the_page(branded: TestClient) -> None:
    response = branded.get(page_path(LinkClaims(JANE, locale="de")))
    page = response.text
    assert "Acme &lt;Widgets&gt;" in page and "<Widgets>" not in page  # autoescaped
    assert 'src="https://cdn.acme.example/logo.svg"' in page
    assert 'href="https://cdn.acme.example/consent.css"' in page
    assert "Acme Widgets, 1 Main St" in page
    assert 'href="https://acme.example/privacy"' in page and "Datenschutz" in page
    csp = response.headers["content-security-policy"]
    assert "img-src 'self' data: https://cdn.acme.example" in csp
    assert "style-src 'self' https://cdn.acme.example" in csp
    brand_css = re.search(r'href="(/brand\.css\?v=[0-9a-f]+)"', page)
    assert brand_css is not None
    css = branded.get(brand_css.group(1))
    assert css.headers["content-type"].startswith("text/css")
    # A yellow brand colour gets dark button text, for contrast.
    assert "--accent: #ffcc00;" in css.text and "--on-accent: #1a1a1a;" in css.text


def test_an_operator_template_overrides_the_built_in_one(branded: TestClient) -> None:
    response = branded.get("/preferences/nonsense")
    assert response.status_code == 400
    assert response.text.startswith("<p>Acme error:")


def test_query_parameters_are_never_reflected_unchecked(client: TestClient) -> None:
    path = page_path(LinkClaims(JANE))
    page = client.get(path + '?lang="><script>&embed="><b>').text
    assert "<script>" not in page and "<b>" not in page
    assert f'action="{path}"' in page


def test_an_error_page_in_the_frame_is_embedded_and_not_stored(client: TestClient) -> None:
    response = client.get("/preferences/nonsense?embed=1")
    assert response.status_code == 400
    assert response.headers["cache-control"] == "no-store"
    assert 'class="embedded"' in response.text
    assert "auto-height.js" in response.text


def test_concurrent_views_of_one_person_share_one_search(
    client: TestClient, sandbox: Sandbox
) -> None:
    sandbox.add_contact(email="twice@example.com", contact_id="d" * 24)
    sandbox.faults.latency = 0.05  # long enough for all five views to be searching at once
    path = page_path(LinkClaims(Identity(email="twice@example.com")))

    async def five_views_at_once() -> set[int]:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url=str(client.base_url)) as http:
            answers = await asyncio.gather(*(http.get(path) for _ in range(5)))
        return {answer.status_code for answer in answers}

    assert client.portal.call(five_views_at_once) == {200}  # type: ignore[union-attr]
    assert sandbox.count(method="POST", path_prefix="/contacts/search") == 1


def test_error_pages_speak_the_persons_language(client: TestClient) -> None:
    broken = client.get("/preferences/nonsense", headers={"Accept-Language": "fr-FR,fr"})
    assert broken.status_code == 400
    assert '<html lang="fr"' in broken.text
    french = load_catalogs()["fr"].gettext("errors.invalid_link.title")
    assert french in html.unescape(broken.text)
    missing = client.get("/nowhere?lang=de", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and '<html lang="de"' in missing.text
    path = page_path(LinkClaims(JANE))
    refused = post(client, path, [("action", "save")], **{"Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403
    assert "For your safety" in refused.text  # English without a language to go by
    # Machines keep English, which is what their logs want.
    api = client.get("/api/v1/preferences/nonsense", headers={"Accept-Language": "fr"})
    assert api.json()["error"] == "This link isn't valid"


def test_an_address_intercom_does_not_know_is_searched_once_a_minute(
    client: TestClient, sandbox: Sandbox
) -> None:
    path = page_path(LinkClaims(Identity(email="stranger@example.com")))
    first = client.get(path)
    second = client.get(path)
    assert first.status_code == second.status_code == 200
    # A new contact has made no explicit choice: the types show their defaults.
    assert states(second.text)["93"] is True and states(second.text)["95"] is False
    assert sandbox.count(method="POST", path_prefix="/contacts/search") == 1
