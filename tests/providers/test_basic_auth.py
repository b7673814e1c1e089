"""HTTP Basic credentials, as the providers that sign nothing (Mailjet, Postmark) check them."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from bridge.providers import Rejected
from bridge.settings import SettingsError
from tests.providers import test_mailjet, test_postmark
from tests.providers.webhooks import basic_auth, delivery, make_provider

# Each provider with its webhook's credentials: Mailjet's travel in the callback URL (letters
# and digits), Postmark's password has a colon in it (fine in a password, RFC 7617).
CREDENTIALS = {
    "mailjet": (test_mailjet.USER, test_mailjet.PASSWORD),
    "postmark": (test_postmark.USER, test_postmark.PASSWORD),
}


def encoded(text: str) -> str:
    """`text` in base64, as a Basic header carries it."""
    return base64.b64encode(text.encode()).decode()


WRONG: dict[str, Callable[[str, str], dict[str, str]]] = {
    "wrong user": lambda user, password: basic_auth("someone-else", password),
    "wrong password": lambda user, password: basic_auth(user, "wrong"),
    "shorter password": lambda user, password: basic_auth(user, password[:-1]),
    "longer password": lambda user, password: basic_auth(user, password + "x"),
    "user in another case": lambda user, password: basic_auth(user.upper(), password),
    "empty": lambda user, password: basic_auth("", ""),
    "missing header": lambda user, password: {},
    "empty header": lambda user, password: {"Authorization": ""},
    "bearer credentials": lambda user, password: {
        "Authorization": "Bearer " + encoded(f"{user}:{password}")
    },
    "bearer password": lambda user, password: {"Authorization": "Bearer " + password},
    "no credentials": lambda user, password: {"Authorization": "Basic"},
    "bad base64": lambda user, password: {"Authorization": "Basic %%%not-base64"},
    "no colon": lambda user, password: {"Authorization": "Basic " + encoded(user + password)},
    "user only": lambda user, password: {"Authorization": "Basic " + encoded(user)},
    "password only": lambda user, password: {"Authorization": "Basic " + encoded(password)},
    "not ascii": lambda user, password: {"Authorization": "Basic é"},
}


async def verify(name: str, headers: dict[str, str]) -> None:
    """The provider's verify (it needs no HTTP client) on a delivery with these headers."""
    user, password = CREDENTIALS[name]
    provider = make_provider(name, username=user, password=password)
    await provider.verify(delivery(b"{}", headers), None)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(CREDENTIALS))
async def test_the_right_credentials_are_accepted(name: str) -> None:
    right = basic_auth(*CREDENTIALS[name])
    await verify(name, right)
    await verify(name, {"authorization": right["Authorization"].replace("Basic", "basic")})


@pytest.mark.parametrize("wrong", sorted(WRONG))
@pytest.mark.parametrize("name", sorted(CREDENTIALS))
async def test_wrong_credentials_are_rejected(name: str, wrong: str) -> None:
    with pytest.raises(Rejected):
        await verify(name, WRONG[wrong](*CREDENTIALS[name]))


@pytest.mark.parametrize("table", [{"password": "x"}, {"username": "u"}, {"username": "a:b"}])
@pytest.mark.parametrize("name", sorted(CREDENTIALS))
def test_missing_or_unusable_credentials_stop_start_up(name: str, table: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=rf"providers\.{name}\.(username|password)"):
        make_provider(name, **table)
