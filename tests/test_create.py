"""Creating tickets from the modal and from a message, with attachments, errors kept inline."""

from __future__ import annotations

import json

from bot.ids import Action, Callback
from bot.sandbox.payloads import message as slack_message
from bot.sandbox.run import Sandboxes
from tests.harness import BotUnderTest, SlackUser


def _inputs(view: dict) -> list[str]:
    return [b["block_id"] for b in view["blocks"] if b["type"] == "input"]


def _initial(view: dict, block_id: str) -> str | None:
    block = next(b for b in view["blocks"] if b.get("block_id") == block_id)
    return block["element"].get("initial_value")


async def _open(bot: BotUnderTest, user: SlackUser, text: str) -> dict:
    await user.command(text)
    return (await bot.slack.wait_for("views.open"))[-1]["view"]


async def test_create_in_epixel_with_a_category_and_an_attachment(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    view = await _open(bot, agent, "create epixel")
    assert _inputs(view) == ["subject", "priority", "category", "comment", "attachment"]
    options = await agent.options(Action.CATEGORY_OPTIONS, view, typed="tech")
    assert options.json()["options"] == [
        {"text": {"type": "plain_text", "text": "Technical"}, "value": "2"}
    ]
    screenshot = bot.slack.add_file("screen.png", b"\x89PNG" + b"x" * 5000, "image/png")
    response = await agent.submit(
        view,
        {
            "subject": "Checkout fails",
            "priority": "3",
            "category": "2",
            "comment": "Card declined twice.",
            "attachment": [screenshot],
        },
    )
    assert response.json()["response_action"] == "update"

    posted = (await bot.slack.wait_for("chat.postMessage"))[-1]
    assert posted["channel"] == "C0GENERAL"
    created = max(sandboxes.epixel.tickets.values(), key=lambda t: t["id"])
    assert (created["subject"], created["priority"], created["category"]) == (
        "Checkout fails",
        "3",
        2,
    )
    assert f"<@U0AGENT> created `epixel:{created['id']}`" in posted["text"]
    assert Action.TICKET_COMMENT in json.dumps(posted["blocks"])  # the new ticket, with buttons
    attachment = max(sandboxes.epixel.attachments.values(), key=lambda a: a["id"])
    assert (attachment["name"], attachment["content"]) == ("screen.png", b"\x89PNG" + b"x" * 5000)
    done = (await bot.slack.wait_for("views.update"))[-1]["view"]
    assert f"Created `epixel:{created['id']}`" in json.dumps(done["blocks"])


async def test_an_oversize_attachment_is_refused_inline_before_anything_is_sent(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    view = await _open(bot, agent, "create epixel")
    big = bot.slack.add_file("video.mp4", b"0" * (3 * 1024 * 1024), "video/mp4")
    response = await agent.submit(
        view,
        {"subject": "s", "priority": "2", "category": "1", "comment": "c", "attachment": [big]},
    )
    assert response.json() == {
        "response_action": "errors",
        "errors": {
            "attachment": "video.mp4 is 3.0 MiB; the limit is 2 MiB. Attach a smaller file."
        },
    }
    assert sandboxes.epixel.requests_to("create/ticket") == []


async def test_a_refusal_from_the_backend_keeps_everything_typed(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    sandboxes.epixel.open_ticket_limit = 0
    view = await _open(bot, agent, "create epixel")
    values = {
        "subject": "Still broken",
        "priority": "1",
        "category": "3",
        "comment": "Third time I write.",
    }
    await agent.submit(view, values)
    again = (await bot.slack.wait_for("views.update"))[-1]["view"]
    assert "Currenly Open Ticket Limit Exceed." in json.dumps(again["blocks"])
    assert _initial(again, "subject") == "Still broken"
    assert _initial(again, "comment") == "Third time I write."
    assert again["submit"]["text"] == "Create"


async def test_field_errors_from_the_backend_show_under_their_fields(
    bot: BotUnderTest, agent: SlackUser
) -> None:
    view = await _open(bot, agent, "create epixel")
    await agent.submit(view, {"subject": "s", "priority": "2", "category": "99", "comment": "c"})
    again = (await bot.slack.wait_for("views.update"))[-1]["view"]
    position = [b.get("block_id") for b in again["blocks"]].index("category")
    assert again["blocks"][position + 1]["elements"][0]["text"] == (
        ':warning: Invalid pk "99" - object does not exist.'
    )


async def test_create_in_omnidesk(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    view = await _open(bot, agent, "create omnidesk")
    assert _inputs(view)[:5] == ["title", "from", "fromName", "to", "direction"]
    bad = await agent.submit(view, {"title": "Hinge", "from": "not-an-email", "brandID": "x"})
    assert bad.json()["errors"] == {
        "from": "Enter an email address like customer@example.com.",
        "brandID": "Enter a number, or leave it empty.",
    }
    await agent.submit(
        view,
        {
            "title": "Hinge broke",
            "from": "ann@example.com",
            "fromName": "Ann",
            "direction": "inbound",
            "brandID": "4",
        },
    )
    posted = (await bot.slack.wait_for("chat.postMessage"))[-1]
    created = max(sandboxes.omnidesk.tickets.values(), key=lambda t: t["ticketID"])
    assert (created["title"], created["from"], created["brandID"]) == (
        "Hinge broke",
        "ann@example.com",
        "4",
    )
    assert f"`omnidesk:{created['ticketID']}`" in posted["text"]


async def test_without_a_backend_the_form_asks_which_first(
    bot: BotUnderTest, agent: SlackUser
) -> None:
    view = await _open(bot, agent, "create")
    assert _inputs(view) == [] and view.get("submit") is None
    picker = view["blocks"][0]["elements"][0]
    assert [o["value"] for o in picker["options"]] == ["epixel", "omnidesk"]  # not ISPCRM
    await agent.click(
        Action.CREATE_PICK_BACKEND, "omnidesk", view={**view, "id": "V1", "hash": "h"}
    )
    updated = (await bot.slack.wait_for("views.update"))[-1]["view"]
    assert _inputs(updated)[0] == "title"


async def test_create_ticket_from_a_message(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    message = slack_message(
        "Customer says the app crashes on login\nSince this morning.", ts="1763900000.123400"
    )
    await agent.shortcut(message, Callback.CREATE_FROM_MESSAGE)
    view = (await bot.slack.wait_for("views.open"))[-1]["view"]
    await agent.click(Action.CREATE_PICK_BACKEND, "epixel", view={**view, "id": "V1", "hash": "h"})
    form = (await bot.slack.wait_for("views.update"))[-1]["view"]
    link = "https://sandbox.slack.com/archives/C0GENERAL/p1763900000123400"
    assert _initial(form, "subject") == "Customer says the app crashes on login"
    assert _initial(form, "comment").endswith(f"From Slack: {link}")
    await agent.submit(
        form,
        {
            "subject": _initial(form, "subject"),
            "priority": "2",
            "category": "2",
            "comment": _initial(form, "comment"),
        },
    )
    posted = (await bot.slack.wait_for("chat.postMessage"))[-1]
    assert posted["thread_ts"] == "1763900000.123400"  # the confirmation goes in its thread
    created = max(sandboxes.epixel.tickets.values(), key=lambda t: t["id"])
    assert link in created["comment"]


async def test_nobody_can_create_without_a_connected_account(bot: BotUnderTest) -> None:
    await bot.user("U0NEW").command("create")
    said = (await bot.slack.wait_for("response_url"))[-1]
    assert said["text"].startswith("Connect Epixel or Omnidesk first")
