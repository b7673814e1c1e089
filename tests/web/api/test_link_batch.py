"""Reading a links batch and writing its answer, without HTTP: what the route's thread runs."""

from __future__ import annotations

import json

import pytest

from bridge.consent import Channel, Identity, Scope
from bridge.link_checks import LinkRefused
from bridge.links import LinkClaims, LinkSigner, Purpose
from bridge.web.api.link_batch import InvalidBatch, read_batch, reworded, write_links
from bridge.web.errors import BadForm


def read(body: object) -> list[LinkClaims]:
    """The people of a batch given as a JSON value."""
    return read_batch(json.dumps(body).encode()).people


def test_a_person_s_own_scope_and_locale_override_the_batch_s() -> None:
    people = read(
        {
            "people": [{"email": "A@Example.com"}, {"contact_id": "7", "channel": "sms"}],
            "subscription": ["93", " 95", "93"],
            "locale": "fr",
        }
    )
    assert people == [
        LinkClaims(Identity(email="a@example.com"), Scope(type_ids=("93", "95")), "fr"),
        LinkClaims(Identity(contact_id="7"), Scope(channel=Channel.SMS), "fr"),
    ]


def test_each_scope_is_kept_once_with_the_first_place_naming_it() -> None:
    batch = read_batch(
        json.dumps(
            {
                "people": [
                    {"contact_id": "1", "subscription": ["95"]},
                    {"contact_id": "2", "subscription": ["95"]},
                    {"contact_id": "3"},
                ],
                "channel": "email",
            }
        ).encode()
    )
    assert batch.scopes == {
        Scope(channel=Channel.EMAIL): "channel",
        Scope(type_ids=("95",)): "people[0].subscription",
    }


@pytest.mark.parametrize("raw", [b"{", b"\xff", b"[" * 100_000])
def test_a_body_that_is_not_json_is_a_bad_form(raw: bytes) -> None:
    with pytest.raises(BadForm):
        read_batch(raw)


def test_the_422_names_the_first_mistake_s_place() -> None:
    with pytest.raises(InvalidBatch) as caught:
        read({"people": [{"email": "ok@example.com"}, {"phone": "+1"}, {"email": "x"}]})
    assert caught.value.details() == {"field": "people[1].phone"}
    assert caught.value.message.count("people[") == 2


def test_refusals_name_the_field_not_the_command_line_option() -> None:
    assert reworded(LinkRefused("--subscription is empty")) == "is empty"
    assert (
        reworded(LinkRefused("--locale 'x!' is not a language tag")) == "'x!' is not a language tag"
    )
    assert (
        reworded(LinkRefused("--channel sms: the workspace has none")) == "the workspace has none"
    )


def test_the_answer_keeps_the_order_and_the_identity_as_checked() -> None:
    signer = LinkSigner(["k" * 32])
    people = [LinkClaims(Identity(phone="+353871234567")), LinkClaims(Identity(contact_id="2"))]
    answer = json.loads(write_links(signer, "https://c.example", people, ["note"]))
    assert answer["warnings"] == ["note"]
    assert [link.get("phone") or link.get("contact_id") for link in answer["links"]] == [
        "+353871234567",
        "2",
    ]
    first = answer["links"][0]
    token = first["unsubscribe_url"].removeprefix("https://c.example/unsubscribe/")
    assert signer.claims(Purpose.UNSUBSCRIBE, token) == people[0]
    assert first["list_unsubscribe"] == f"<{first['unsubscribe_url']}>"
