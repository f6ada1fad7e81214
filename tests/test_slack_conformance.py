"""Every kind of request Slack sends ticketbot, built from Slack's documented shapes
(bot/sandbox/payloads.py, from ../shared/slack/PAYLOADS.md) and replayed through the real app
over HTTP; each test asserts what the user sees (the ack, or what the Slack stand-in recorded)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from bot.alerts import DetractorPoller
from bot.credentials import QuestionProCredentials
from bot.ids import Action, Callback
from bot.sandbox import questionpro
from bot.sandbox.elements import view_state
from bot.sandbox.payloads import Who
from bot.sandbox.run import Sandboxes
from handlers.fallback import STALE
from tests.harness import TEAM, BotUnderTest, SlackUser
from tests.test_alerts import CHANNEL, subscribed
from tests.test_connect import OMNIDESK_KEY


@pytest.fixture
async def cx(bot: BotUnderTest) -> SlackUser:
    """Someone with QuestionPro connected, in the channel that gets detractor alerts."""
    await bot.services.store.save_credentials(
        TEAM, "U0CX", QuestionProCredentials(datacenter="eu", api_key=questionpro.DEMO_API_KEY)
    )
    return bot.user("U0CX", CHANNEL)


@pytest.fixture
def poller(bot: BotUnderTest) -> DetractorPoller:
    return DetractorPoller(bot.services, bot.app.client)


CSV = "email,firstName,lastName\na@example.com,Ann,Lee"


async def _opened(bot: BotUnderTest, count: int = 1) -> dict:
    return (await bot.slack.wait_for("views.open", count=count))[-1]["view"]


async def _updated(bot: BotUnderTest, count: int = 1) -> dict:
    return (await bot.slack.wait_for("views.update", count=count))[-1]["view"]


async def _view_with(bot: BotUnderTest, callback_id: str) -> dict:
    """The latest view updated to ``callback_id``, waiting for it."""
    count = 1
    while True:
        views = [u["view"] for u in await bot.slack.wait_for("views.update", count=count)]
        with_blocks = [v for v in views if v.get("callback_id") == callback_id and v["blocks"]]
        if with_blocks and "input" in json.dumps(with_blocks[-1]):
            return with_blocks[-1]
        count = len(views) + 1


def _any_ticket(sandboxes: Sandboxes) -> str:
    return f"omnidesk:{next(iter(sandboxes.omnidesk.tickets))}"


# Slash commands -------------------------------------------------------------------------------


async def test_slash_command_from_an_enterprise_grid_workspace(bot: BotUnderTest) -> None:
    user = SlackUser(bot, "W0GRID", enterprise_id="E0ORG", team_id="T0SECOND")
    response = await user.command("help")
    assert response.status_code == 200
    assert "/ticket connect" in str(response.json()["blocks"])


async def test_ssl_check_is_answered_and_runs_nothing(bot: BotUnderTest) -> None:
    response = await bot.user("U1").ssl_check()
    assert response.status_code == 200 and response.text == ""
    # A command after it answers through the response_url; it is the only thing recorded.
    await bot.user("U1").command("accounts")
    await bot.slack.wait_for("response_url")
    assert [c.method for c in bot.slack.calls if c.method != "auth.test"] == ["response_url"]


# block_actions ---------------------------------------------------------------------------------


async def test_button_in_an_ephemeral_message_has_no_message_and_still_works(
    bot: BotUnderTest, agent: SlackUser
) -> None:
    await agent.command("list")
    listing = (await bot.slack.wait_for("response_url"))[-1]
    assert listing.get("response_type", "ephemeral") == "ephemeral"
    opened = next(b["accessory"]["value"] for b in listing["blocks"] if "accessory" in b)
    response = await agent.click(Action.TICKET_SHOW, opened)  # found there: ephemeral
    assert response.status_code == 200
    shown = (await bot.slack.wait_for("response_url", count=2))[-1]
    assert f"`{opened}`" in json.dumps(shown)


async def test_button_in_a_channel_message_carries_the_message(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, cx, poller)
    (raw,) = sandboxes.questionpro.add_detractors(1)
    await poller.poll(sub.id)
    await cx.click(Action.ALERT_CLAIM, f"{sub.id}:{raw['ticketID']}")
    update = (await bot.slack.wait_for("chat.update"))[-1]
    assert "claimed by <@U0CX>" in json.dumps(update["blocks"])

    # Resolve (a view_submission of alert.resolve.submit) from the same alert.
    await cx.click(Action.ALERT_RESOLVE, f"{sub.id}:{raw['ticketID']}")
    form = await _opened(bot)
    assert form["callback_id"] == Callback.RESOLVE
    await cx.submit(form, {"note": "Refunded."})
    resolved = (await bot.slack.wait_for("chat.update", count=2))[-1]
    assert "resolved by <@U0CX>: “Refunded.”" in json.dumps(resolved["blocks"], ensure_ascii=False)


async def test_static_select_in_a_modal_actions_block(bot: BotUnderTest, agent: SlackUser) -> None:
    await agent.command("create")
    view = await _opened(bot)
    response = await agent.click(Action.CREATE_PICK_BACKEND, "omnidesk", view=view)
    assert response.status_code == 200
    form = await _updated(bot)
    assert form["private_metadata"] and "title" in [b.get("block_id") for b in form["blocks"]]


# view_submission -------------------------------------------------------------------------------


async def test_every_stateful_element_is_in_the_submitted_state(
    bot: BotUnderTest, agent: SlackUser
) -> None:
    await agent.command("create epixel")
    view = await _opened(bot)
    state = view_state(view, {"subject": "S"})["values"]
    # The backend picker (actions block) keeps its initial option; an untouched select is null.
    assert state["create_backend"][Action.CREATE_PICK_BACKEND]["selected_option"]["value"] == (
        "epixel"
    )
    assert state["category"][Action.CATEGORY_OPTIONS] == {
        "type": "external_select",
        "selected_option": None,
    }
    assert state["attachment"]["value"] == {"type": "file_input", "files": []}


async def test_connect_submission_from_an_org_wide_install(bot: BotUnderTest) -> None:
    # An org-wide install sends team: null in view payloads; the form must still answer.
    user = SlackUser(bot, "W0GRID", enterprise_id="E0ORG", org_install=True)
    await user.command("connect omnidesk")
    view = await _opened(bot)
    bad = await user.submit(view, {"base_url": "acme.omnidesk.com", "api_key": OMNIDESK_KEY})
    assert "https://" in bad.json()["errors"]["base_url"]


async def test_create_submission_and_category_suggestions(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    await agent.command("create epixel")
    view = await _opened(bot)
    options = await agent.options(Action.CATEGORY_OPTIONS, view, typed="tech")
    assert [o["value"] for o in options.json()["options"]] == ["2"]
    done = await agent.submit(
        view, {"subject": "Login", "priority": "2", "category": "2", "comment": "Fails."}
    )
    assert done.json()["response_action"] == "update"
    posted = (await bot.slack.wait_for("chat.postMessage"))[-1]
    created = max(sandboxes.epixel.tickets.values(), key=lambda t: t["id"])
    assert f"`epixel:{created['id']}`" in posted["text"] and created["category"] == 2


async def test_comment_status_priority_and_tags_submissions(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    epixel = next(
        t for t in sandboxes.epixel.tickets.values() if t["_owner"] == "agent@example.com"
    )
    ref = f"epixel:{epixel['id']}"
    await agent.click(Action.TICKET_COMMENT, ref, element="button")
    await agent.submit(await _opened(bot), {"comment": "Thanks"})
    await bot.slack.wait_for("response_url")
    assert sandboxes.epixel.conversations[-1]["comment"] == "Thanks"

    omni = _any_ticket(sandboxes)
    ticket = sandboxes.omnidesk.tickets[int(omni.split(":")[1])]
    for count, (kind, value) in enumerate([("status", "pending"), ("priority", "urgent")], 2):
        action = Action.TICKET_STATUS if kind == "status" else Action.TICKET_PRIORITY
        await agent.click(action, omni)
        await agent.submit(await _opened(bot, count), {kind: value})
        await bot.slack.wait_for("response_url", count=count)
        assert ticket[kind] == value

    await agent.click(Action.TICKET_TAGS, ref)
    modal = await _view_with(bot, Callback.TAGS)  # filled in after the loading state
    options = await agent.options(Action.TAG_OPTIONS, modal, typed="ur")
    assert [o["value"] for o in options.json()["options"]] == ["1"]
    await agent.submit(modal, {"tags": ["1"]})
    await bot.slack.wait_for("response_url", count=4)
    assert epixel["tags"] == [1]


async def test_import_sends_the_date_picked_in_the_datepicker(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    await bot.services.store.save_credentials(
        TEAM, "U0CXM", QuestionProCredentials(api_key=questionpro.DEMO_API_KEY)
    )
    manager = bot.user("U0CXM", "C0CX")
    await manager.command("import")
    form = await _opened(bot)
    picked = "2025-03-04"
    assert picked != date.today().isoformat()
    checked = await manager.submit(
        form, {"segment_code": "S1", "transaction_date": picked, "text": CSV}
    )
    assert checked.json()["response_action"] == "update"
    preview = (await bot.slack.wait_for("chat.postEphemeral"))[-1]
    await manager.click(Action.IMPORT_CONFIRM, blocks=preview["blocks"], value=None)
    await bot.slack.wait_for("chat.update", count=2)
    assert sandboxes.questionpro.imported[0]["transactionDate"] == "04/03/2025"


# message_action --------------------------------------------------------------------------------


async def test_message_shortcut_with_slack_escaped_text_opens_the_create_form(
    bot: BotUnderTest, agent: SlackUser
) -> None:
    response = await agent.shortcut(
        "Refund <https://shop.example/o/1|order 1> & call <@U0CUSTOMER>",
        Callback.CREATE_FROM_MESSAGE,
    )
    assert response.status_code == 200
    view = await _opened(bot)
    assert view["callback_id"] == Callback.CREATE
    assert "https://sandbox.slack.com/archives/C0GENERAL/p1763900000123400" in json.dumps(view)


# Requests no listener knows --------------------------------------------------------------------


async def test_a_stale_button_gets_200_and_a_one_line_hint(bot: BotUnderTest) -> None:
    response = await bot.user("U1").click("ticket.v0.gone", "x")
    assert response.status_code == 200
    said = (await bot.slack.wait_for("response_url"))[-1]
    assert said == {"response_type": "ephemeral", "replace_original": False, "text": STALE}


async def test_a_stale_overflow_in_an_ephemeral_message_gets_the_hint(bot: BotUnderTest) -> None:
    response = await bot.user("U1").click("old.overflow", "o1", element="overflow", ephemeral=True)
    assert response.status_code == 200
    assert (await bot.slack.wait_for("response_url"))[-1]["text"] == STALE


async def test_a_stale_modal_submission_and_select_in_a_modal(bot: BotUnderTest) -> None:
    user = bot.user("U1")
    await user.command("connect omnidesk")
    view = await _opened(bot)
    old = {**view, "callback_id": "connect.v0"}  # a modal left open across an upgrade
    response = await user.submit(old, {})
    assert response.status_code == 200 and response.text == ""  # closes the modal
    told = (await bot.slack.wait_for("chat.postMessage"))[-1]  # no response_url: a DM
    assert (told["channel"], told["text"]) == ("U1", STALE)

    stale_select = {
        **view,
        "blocks": [
            {
                "type": "actions",
                "block_id": "old",
                "elements": [{"type": "static_select", "action_id": "old.pick", "options": []}],
            }
        ],
    }
    picked = await user.click("old.pick", "x", view=stale_select)
    assert picked.status_code == 200
    assert (await bot.slack.wait_for("chat.postMessage", count=2))[-1]["text"] == STALE


async def test_an_unknown_options_request_gets_no_options(bot: BotUnderTest) -> None:
    user = bot.user("U1")
    await user.command("connect omnidesk")
    response = await user.options("gone.options", await _opened(bot))
    assert (response.status_code, response.json()) == (200, {"options": []})


async def test_an_unknown_message_shortcut_gets_the_hint(bot: BotUnderTest) -> None:
    response = await bot.user("U1").shortcut("hello", "old_shortcut")
    assert response.status_code == 200
    assert (await bot.slack.wait_for("response_url"))[-1]["text"] == STALE


def test_the_envelope_follows_the_documented_identity_fields() -> None:
    grid = Who("W1", team_id="T2", enterprise_id="E1", org_install=True, home_team_id="T1")
    assert grid.envelope("t")["user"]["team_id"] == "T1"
    assert grid.envelope("t", in_view=True)["team"] is None
    assert grid.envelope("t")["enterprise"] == {"id": "E1", "name": "Sandbox Org"}
    assert Who("U1").envelope("t")["enterprise"] is None
