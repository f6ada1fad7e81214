"""A login token is reused only by the very same credentials (issue 10, item 2)."""

from __future__ import annotations

import json

import pytest

from bot.backends.registry import Backends
from bot.credentials import EpixelCredentials, IspcrmCredentials
from bot.errors import BackendAuthError
from bot.sandbox import epixel, ispcrm
from bot.sandbox.run import Sandboxes
from tests.harness import TEAM, BotUnderTest


def _epixel(sandboxes: Sandboxes, username: str, password: str) -> EpixelCredentials:
    return EpixelCredentials(
        base_url=sandboxes.epixel.base_url,
        api_key=epixel.DEMO_API_KEY,
        username=username,
        password=password,
    )


def _bearers(sandboxes: Sandboxes, path: str) -> list[str]:
    return [r.headers.get("Authorization", "") for r in sandboxes.epixel.requests_to(path)]


async def _connect(bot: BotUnderTest, user_id: str, values: dict[str, str]) -> dict:
    """Submit the Epixel connect form as ``user_id``; the form or confirmation that follows."""
    before = len(bot.slack.calls_to("views.update"))
    await bot.user(user_id).command("connect epixel")
    view = (await bot.slack.wait_for("views.open", count=before + 1))[-1]["view"]
    answer = await bot.user(user_id).submit(view, values)
    assert answer.json()["response_action"] == "update"
    return (await bot.slack.wait_for("views.update", count=before + 1))[-1]["view"]


async def _alice_connects(bot: BotUnderTest, sandboxes: Sandboxes) -> dict[str, str]:
    """Alice connects Epixel with her username and password; what she typed."""
    base = {"base_url": sandboxes.epixel.base_url, "api_key": epixel.DEMO_API_KEY}
    alice = {**base, "username": epixel.DEMO_USER, "password": epixel.DEMO_PASSWORD}
    assert "Connected" in str(await _connect(bot, "U0ALICE", alice))
    return alice


async def test_someone_typing_alices_username_never_gets_her_token(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    alice = await _alice_connects(bot, sandboxes)
    alices_tokens = {h for h in _bearers(sandboxes, "category-list") if h}

    mallory = {**alice, "password": "a-guess"}
    form = await _connect(bot, "U0MALLORY", mallory)
    assert "No active account found with the given credentials" in str(form)
    assert await bot.services.store.list_credentials(TEAM, "U0MALLORY") == {}
    # Mallory's check logged in (and was refused); no call went out with Alice's token for her.
    logins = sandboxes.epixel.requests_to("user/login")
    assert json.loads(logins[-1].body)["password"] == "a-guess"
    assert len({h for h in _bearers(sandboxes, "category-list") if h}) == len(alices_tokens)
    assert len(sandboxes.epixel.requests_to("category-list")) == 1  # Alice's check only


async def test_the_live_check_logs_in_afresh_even_with_a_token_cached(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    alice = await _alice_connects(bot, sandboxes)
    # The password is changed at Epixel; a token for the old one is still cached (and valid).
    sandboxes.epixel.passwords[epixel.DEMO_USER] = "changed-at-epixel"
    form = await _connect(bot, "U0ALICE2", alice)
    assert "No active account found with the given credentials" in str(form)
    assert len(sandboxes.epixel.requests_to("user/login")) == 2
    assert await bot.services.store.list_credentials(TEAM, "U0ALICE2") == {}


async def test_two_accounts_get_two_tokens(backends: Backends, sandboxes: Sandboxes) -> None:
    alice = backends.for_credentials(_epixel(sandboxes, epixel.DEMO_USER, epixel.DEMO_PASSWORD))
    bob = backends.for_credentials(_epixel(sandboxes, epixel.OTHER_USER, "other-password"))
    await alice.categories()  # type: ignore[attr-defined]
    await bob.categories()  # type: ignore[attr-defined]
    await alice.categories()  # type: ignore[attr-defined]
    assert len(sandboxes.epixel.requests_to("user/login")) == 2
    first, second, third = _bearers(sandboxes, "category-list")
    assert first != second and first == third  # each account its own, reused by itself
    users = {sandboxes.epixel.tokens[h.removeprefix("Bearer ")][0] for h in (first, second)}
    assert users == {epixel.DEMO_USER, epixel.OTHER_USER}


async def test_the_same_username_with_another_password_gets_no_cached_token(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    # Not through the connect check: any call made with such credentials must log in itself.
    right = backends.for_credentials(_epixel(sandboxes, epixel.DEMO_USER, epixel.DEMO_PASSWORD))
    await right.categories()  # type: ignore[attr-defined]
    wrong = backends.for_credentials(_epixel(sandboxes, epixel.DEMO_USER, "a-guess"))
    with pytest.raises(BackendAuthError):
        await wrong.categories()  # type: ignore[attr-defined]
    assert len(sandboxes.epixel.requests_to("category-list")) == 1


async def test_ispcrm_tokens_follow_the_password_too(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    def creds(password: str) -> IspcrmCredentials:
        return IspcrmCredentials(
            base_url=sandboxes.ispcrm.base_url, username=ispcrm.DEMO_USER, password=password
        )

    await backends.verify(creds(ispcrm.DEMO_PASSWORD))
    with pytest.raises(BackendAuthError):
        await backends.for_credentials(creds("a-guess")).customer_tickets()  # type: ignore[attr-defined]
    assert len(sandboxes.ispcrm.requests_to("getCustomerTickets")) == 1  # the right one's only
