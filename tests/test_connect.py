"""A user's whole path through connecting, listing and disconnecting an account."""

from __future__ import annotations

import pytest

from bot.ids import Action, Callback
from bot.sandbox.run import Sandboxes
from tests.harness import TEAM, BotUnderTest

OMNIDESK_KEY = "omni-secret-key-77a1b2c3f9a"


@pytest.fixture
def omnidesk_url(sandboxes: Sandboxes) -> str:
    # A key of the sandbox's with every permission, so the live check at connect passes.
    sandboxes.omnidesk.keys[OMNIDESK_KEY] = {"TICKET_READ", "TICKET_CREATE"}
    return sandboxes.omnidesk.base_url


async def _open_connect(bot: BotUnderTest, user_id: str, text: str) -> dict:
    response = await bot.user(user_id).command(text)
    assert response.status_code == 200
    opened = await bot.slack.wait_for("views.open")
    return opened[-1]["view"]


async def test_connect_omnidesk_end_to_end(bot: BotUnderTest, omnidesk_url: str) -> None:
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

    good = await alice.submit(view, {"base_url": omnidesk_url + "/", "api_key": OMNIDESK_KEY})
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
    assert stored.base_url == omnidesk_url  # trailing slash trimmed
    assert stored.api_key.get_secret_value() == OMNIDESK_KEY

    # The file on disk holds neither the key nor the URL in plain text.
    raw = bot.settings.store_file.read_bytes()
    assert OMNIDESK_KEY.encode() not in raw
    assert omnidesk_url.encode() not in raw
    assert b"127.0.0.1" not in raw
    assert oct(bot.settings.store_file.stat().st_mode & 0o777) == "0o600"

    # /ticket accounts lists it, masked, with a Disconnect button.
    await alice.command("accounts")
    listed = (await bot.slack.wait_for("response_url"))[-1]
    assert "Omnidesk* · 127.0.0.1 · `…3f9a`" in str(listed["blocks"])
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


async def test_connect_without_backend_then_submit_saves_the_credentials(
    bot: BotUnderTest, omnidesk_url: str
) -> None:
    # The submitted state also holds the backend picker (an actions block), as Slack sends it;
    # it is not a credential field and must not be refused as one.
    alice = bot.user("U0ALICE")
    view = await _open_connect(bot, "U0ALICE", "connect")
    await alice.click(Action.CONNECT_PICK_BACKEND, "omnidesk", view=view)
    form = (await bot.slack.wait_for("views.update"))[-1]["view"]
    response = await alice.submit(form, {"base_url": omnidesk_url, "api_key": OMNIDESK_KEY})
    assert response.json()["response_action"] == "update"
    said = (await bot.slack.wait_for("chat.postEphemeral"))[-1]
    assert said["text"].startswith(":white_check_mark: Connected *Omnidesk*")
    assert list(await bot.services.store.list_credentials(TEAM, "U0ALICE")) == ["omnidesk"]


async def test_epixel_needs_a_token_or_a_username_and_password(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    alice = bot.user("U0ALICE")
    view = await _open_connect(bot, "U0ALICE", "connect epixel")
    base = {"base_url": sandboxes.epixel.base_url, "api_key": "epx-demo-apikey"}
    response = await alice.submit(view, {**base, "username": "agent@example.com"})
    assert response.json()["errors"] == {"password": "Enter the password for this username."}
    response = await alice.submit(view, base)
    assert "access_token" in response.json()["errors"]
    login = {"username": "agent@example.com", "password": "demo-password"}
    ok = await alice.submit(view, {**base, **login})
    assert ok.json()["response_action"] == "update"
    await bot.slack.wait_for("chat.postEphemeral")


async def test_disconnect_button_redraws_the_list(bot: BotUnderTest) -> None:
    alice = bot.user("U0ALICE")
    view = await _open_connect(bot, "U0ALICE", "connect questionpro")
    await alice.submit(view, {"datacenter": "eu", "api_key": "qp-demo-key-0001"})
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
    # A form a later command opens proves the first command's listener had its chance to open one.
    await _open_connect(bot, "U0ALICE", "connect omnidesk")
    (opened,) = bot.slack.calls_to("views.open")
    assert [b["block_id"] for b in opened["view"]["blocks"] if b["type"] == "input"] == [
        "base_url",
        "api_key",
    ]


async def test_confirmation_falls_back_to_a_dm_where_the_bot_cannot_post(
    bot: BotUnderTest, omnidesk_url: str
) -> None:
    bot.slack.fail("chat.postEphemeral", "channel_not_found")
    alice = bot.user("U0ALICE")
    view = await _open_connect(bot, "U0ALICE", "connect omnidesk")
    await alice.submit(view, {"base_url": omnidesk_url, "api_key": OMNIDESK_KEY})
    dm = (await bot.slack.wait_for("chat.postMessage"))[-1]
    assert dm["channel"] == "U0ALICE"
    assert "…3f9a" in dm["text"]


async def _notice_after(bot: BotUnderTest, user_id: str, backend: str, values: dict) -> dict:
    """Submit the connect form; return the re-rendered form the live check sent back."""
    view = await _open_connect(bot, user_id, f"connect {backend}")
    response = await bot.user(user_id).submit(view, values)
    assert response.json()["response_action"] == "update"  # the ack came before the check
    updates = await bot.slack.wait_for("views.update")
    return updates[-1]["view"]


def _initial_values(view: dict) -> dict[str, str | None]:
    return {
        b["block_id"]: b["element"].get("initial_value")
        for b in view["blocks"]
        if b["type"] == "input" and b["element"]["type"] == "plain_text_input"
    }


async def test_live_check_refuses_a_wrong_key_in_the_vendors_words(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    values = {"base_url": sandboxes.omnidesk.base_url, "api_key": "omni-wrong-key-0000"}
    view = await _notice_after(bot, "U0ALICE", "omnidesk", values)
    notice = next(b for b in view["blocks"] if b.get("block_id") == "connect_notice")
    assert (
        "Omnidesk refused these credentials (Invalid API key). Check them and submit again."
        in notice["text"]["text"]
    )
    # The URL is kept; the key is not sent back into the form, and the form says so.
    assert _initial_values(view) == {"base_url": values["base_url"], "api_key": None}
    assert "omni-wrong-key-0000" not in str(view)
    assert "Enter the API key again." in str(view["blocks"])
    assert await bot.services.store.list_credentials(TEAM, "U0ALICE") == {}
    assert bot.slack.calls_to("chat.postEphemeral") == []


async def test_live_check_names_the_missing_permission(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    sandboxes.omnidesk.keys["omni-create-only-key"] = {"TICKET_CREATE"}
    values = {"base_url": sandboxes.omnidesk.base_url, "api_key": "omni-create-only-key"}
    view = await _notice_after(bot, "U0ALICE", "omnidesk", values)
    assert "Your key needs the TICKET_READ permission." in str(view["blocks"])
    assert await bot.services.store.list_credentials(TEAM, "U0ALICE") == {}


async def test_live_check_reports_an_unreachable_url(bot: BotUnderTest) -> None:
    values = {"base_url": "http://127.0.0.1:9/api/v1", "token": "isp-demo-token"}
    view = await _notice_after(bot, "U0ALICE", "ispcrm", values)
    assert "ISPCRM is not answering right now (could not connect (check the base URL))" in str(
        view["blocks"]
    )
    assert _initial_values(view)["base_url"] == values["base_url"]


async def test_live_check_with_wrong_epixel_password(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    values = {
        "base_url": sandboxes.epixel.base_url,
        "api_key": "epx-demo-apikey",
        "username": "agent@example.com",
        "password": "not-it",
    }
    view = await _notice_after(bot, "U0ALICE", "epixel", values)
    assert "No active account found with the given credentials" in str(view["blocks"])
    assert "not-it" not in str(bot.slack.calls_to("chat.postEphemeral"))
    # Names and URLs stay; every secret typed is cleared with a hint; none typed, no hint.
    assert _initial_values(view) == {
        "base_url": values["base_url"],
        "api_key": None,
        "access_token": None,
        "username": "agent@example.com",
        "password": None,
    }
    assert "not-it" not in str(view) and "epx-demo-apikey" not in str(view)
    hints = str(view["blocks"])
    assert "Enter the API key again." in hints and "Enter the password again." in hints
    assert "Enter the access token again." not in hints


async def test_a_closed_loop_workspace_id_in_other_digits_is_refused(bot: BotUnderTest) -> None:
    # "١٢٣".isdigit() is True; the id goes into the Closed Loop URL's path, so ASCII digits only.
    alice = bot.user("U0ALICE")
    view = await _open_connect(bot, "U0ALICE", "connect questionpro")
    for typed in ("١٢٣", "²"):
        response = await alice.submit(
            view, {"datacenter": "eu", "api_key": "qp-demo-key-0001", "workspace_id": typed}
        )
        assert response.json()["response_action"] == "errors"
        assert "workspace id is a number" in response.json()["errors"]["workspace_id"]
    assert await bot.services.store.list_credentials(TEAM, "U0ALICE") == {}
