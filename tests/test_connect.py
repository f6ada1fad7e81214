"""A user's whole path through connecting, listing and disconnecting an account."""

from __future__ import annotations

import asyncio

from bot.ids import Action, Callback
from tests.harness import TEAM, BotUnderTest

OMNIDESK_KEY = "omni-secret-key-77a1b2c3f9a"
OMNIDESK_URL = "https://acme-support.omnidesk.com/api/v2"


async def _open_connect(bot: BotUnderTest, user_id: str, text: str) -> dict:
    response = await bot.user(user_id).command(text)
    assert response.status_code == 200
    opened = await bot.slack.wait_for("views.open")
    return opened[-1]["view"]


async def test_connect_omnidesk_end_to_end(bot: BotUnderTest) -> None:
    alice = bot.user("U0ALICE")
    view = await _open_connect(bot, "U0ALICE", "connect omnidesk")
    assert view["callback_id"] == Callback.CONNECT
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == [
        "base_url",
        "api_key",
    ]

    # Bad values: inline errors in the ack, nothing stored.
    bad = await alice.submit(view, {"base_url": "acme.omnidesk.com", "api_key": "  "})
    assert bad.json()["response_action"] == "errors"
    errors = bad.json()["errors"]
    assert "https://" in errors["base_url"]
    assert errors["api_key"] == "This field is required."
    assert await bot.services.store.list_credentials(TEAM, "U0ALICE") == {}

    # Plain http to a public host is refused too: the key would travel in clear text.
    insecure = await alice.submit(
        view, {"base_url": "http://acme.omnidesk.com/api/v2", "api_key": OMNIDESK_KEY}
    )
    assert "https://" in insecure.json()["errors"]["base_url"]

    good = await alice.submit(view, {"base_url": OMNIDESK_URL + "/", "api_key": OMNIDESK_KEY})
    assert good.json()["response_action"] == "update"
    confirmations = await bot.slack.wait_for("chat.postEphemeral")
    assert confirmations[0]["user"] == "U0ALICE"
    assert confirmations[0]["channel"] == "C0GENERAL"
    assert "`…3f9a`" in confirmations[0]["text"]
    assert OMNIDESK_KEY not in str(bot.slack.calls)
    updated = await bot.slack.wait_for("views.update")
    assert "Connected *Omnidesk*" in str(updated[-1]["view"]["blocks"])

    stored = await bot.services.store.load_credentials(TEAM, "U0ALICE", "omnidesk")
    assert stored is not None
    assert stored.base_url == OMNIDESK_URL  # trailing slash trimmed
    assert stored.api_key.get_secret_value() == OMNIDESK_KEY

    # The file on disk holds neither the key nor the URL in plain text.
    raw = bot.settings.store_file.read_bytes()
    assert OMNIDESK_KEY.encode() not in raw
    assert b"acme-support" not in raw
    assert oct(bot.settings.store_file.stat().st_mode & 0o777) == "0o600"

    # /ticket accounts lists it, masked, with a Disconnect button.
    await alice.command("accounts")
    listed = (await bot.slack.wait_for("response_url"))[-1]
    assert "Omnidesk* · acme-support.omnidesk.com · `…3f9a`" in str(listed["blocks"])
    assert Action.DISCONNECT in str(listed["blocks"])

    # Another user sees nothing of it.
    await bot.user("U0BOB").command("accounts")
    bobs = (await bot.slack.wait_for("response_url", count=2))[-1]
    assert "no accounts connected" in str(bobs["blocks"])
    assert await bot.services.store.load_credentials(TEAM, "U0BOB", "omnidesk") is None

    # Disconnect by command.
    await alice.command("disconnect omnidesk")
    said = (await bot.slack.wait_for("response_url", count=3))[-1]
    assert said["text"] == "Disconnected Omnidesk: your stored credentials were deleted."
    assert await bot.services.store.list_credentials(TEAM, "U0ALICE") == {}


async def test_connect_without_backend_picks_one_then_shows_its_fields(bot: BotUnderTest) -> None:
    view = await _open_connect(bot, "U0ALICE", "connect")
    assert view.get("submit") is None  # nothing to submit until a backend is chosen
    await bot.user("U0ALICE").click(
        Action.CONNECT_PICK_BACKEND, "epixel", view={**view, "id": "V00001", "hash": "h1"}
    )
    updated = (await bot.slack.wait_for("views.update"))[-1]
    inputs = [b["block_id"] for b in updated["view"]["blocks"] if b["type"] == "input"]
    assert inputs == ["base_url", "api_key", "access_token", "username", "password"]
    assert updated["view_id"] == "V00001"


async def test_epixel_needs_a_token_or_a_username_and_password(bot: BotUnderTest) -> None:
    alice = bot.user("U0ALICE")
    view = await _open_connect(bot, "U0ALICE", "connect epixel")
    base = {"base_url": "https://support.example.com/api/v1", "api_key": "epx-key-123456"}
    response = await alice.submit(view, {**base, "username": "agent@example.com"})
    assert response.json()["errors"] == {"password": "Enter the password for this username."}
    response = await alice.submit(view, base)
    assert "access_token" in response.json()["errors"]
    ok = await alice.submit(view, {**base, "username": "agent@example.com", "password": "pw"})
    assert ok.json()["response_action"] == "update"
    await bot.slack.wait_for("chat.postEphemeral")


async def test_disconnect_button_redraws_the_list(bot: BotUnderTest) -> None:
    alice = bot.user("U0ALICE")
    view = await _open_connect(bot, "U0ALICE", "connect questionpro")
    await alice.submit(view, {"datacenter": "eu", "api_key": "qp-key-abcdef123456"})
    await bot.slack.wait_for("chat.postEphemeral")
    await alice.click(Action.DISCONNECT, "questionpro")
    redraw = (await bot.slack.wait_for("response_url"))[-1]
    assert redraw["replace_original"] is True
    assert "no accounts connected" in str(redraw["blocks"])
    assert await bot.services.store.list_credentials(TEAM, "U0ALICE") == {}


async def test_unknown_backend_gets_a_clear_message(bot: BotUnderTest) -> None:
    await bot.user("U0ALICE").command("connect zendesk")
    said = (await bot.slack.wait_for("response_url"))[-1]
    assert said["text"] == (
        "`zendesk` is not a backend I know. Use one of: questionpro, epixel, omnidesk, ispcrm."
    )
    await asyncio.sleep(0.05)
    assert bot.slack.calls_to("views.open") == []


async def test_confirmation_falls_back_to_a_dm_where_the_bot_cannot_post(bot: BotUnderTest) -> None:
    bot.slack.fail("chat.postEphemeral", "channel_not_found")
    alice = bot.user("U0ALICE")
    view = await _open_connect(bot, "U0ALICE", "connect omnidesk")
    await alice.submit(view, {"base_url": OMNIDESK_URL, "api_key": OMNIDESK_KEY})
    dm = (await bot.slack.wait_for("chat.postMessage"))[-1]
    assert dm["channel"] == "U0ALICE"
    assert "…3f9a" in dm["text"]
