"""Text as people really type and post it: phone quotes, pasted no-break spaces, digits that
are not ASCII, and Slack's markup in a message made into a ticket."""

from __future__ import annotations

import json
import time

from bot.ids import Action, Callback
from bot.sandbox.run import Sandboxes
from bot.text import slack_markup_to_text
from tests.harness import BotUnderTest, SlackUser


async def _said(bot: BotUnderTest, count: int = 1) -> dict:
    return (await bot.slack.wait_for("response_url", count=count))[count - 1]


def _rows(message: dict) -> list[str]:
    return [b["text"]["text"] for b in message.get("blocks", []) if b.get("accessory")]


def _initial(view: dict, block_id: str) -> str | None:
    block = next(b for b in view["blocks"] if b.get("block_id") == block_id)
    return block["element"].get("initial_value")


async def test_phone_quotes_group_words_like_ascii_quotes(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    sandboxes.omnidesk.create(title="Late delivery to Lyon", status="open")
    sandboxes.omnidesk.create(title="Delivery was late", status="open")  # words, not the phrase
    for typed in ("q:“late delivery”", "q:„late delivery‟", "q:″late delivery″"):
        sandboxes.omnidesk.requests.clear()
        count = len(bot.slack.calls_to("response_url")) + 1
        await agent.command(f"list omnidesk {typed}")
        rows = _rows(await _said(bot, count))
        assert len(rows) == 1 and "Late delivery to Lyon" in rows[0], typed
        [listed] = sandboxes.omnidesk.requests_to("/api/v2/ticket")
        assert listed.query["query"] == ["late delivery"]


async def test_a_no_break_space_separates_words_like_a_space(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    title = sandboxes.omnidesk.tickets[1001]["title"]
    for space in ("\u00a0", "\u2007", "\u202f", "\u3000"):
        count = len(bot.slack.calls_to("response_url")) + 1
        response = await agent.command(f"show{space}omnidesk:1001")
        assert "I don't know" not in response.text
        shown = await _said(bot, count)
        assert title in json.dumps(shown["blocks"], ensure_ascii=False), repr(space)


async def test_ticket_ids_are_ascii_digits_only(bot: BotUnderTest, agent: SlackUser) -> None:
    for bad in ("²", "١٢٣", "1²"):
        count = len(bot.slack.calls_to("response_url")) + 1
        await agent.command(f"show omnidesk:{bad}")
        said = await _said(bot, count)
        assert said["text"] == (
            f"`{bad}` is not a ticket id: omnidesk ids are numbers, e.g. `omnidesk:1234`."
        )


async def test_a_message_shortcut_turns_slack_markup_into_readable_text(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    bot.slack.add_user("U0ALICE", "alice", real_name="Alice Martin", display_name="ali")
    bot.slack.add_user("U0BOB", "bob", real_name="Bob Stone")
    message = {
        "type": "message",
        "user": "U0CUSTOMER",
        "ts": "1763900000.123400",
        # As Slack sends it: &, <, > escaped, links, mentions and specials as <…> sequences.
        "text": "Refund &lt;urgent&gt; for <https://shop.example.com/o/1|order 1> &amp; more\n"
        "<@U0ALICE> and <@U0BOB> in <#C0SALES|sales>, <!here> <!subteam^S0SUP|@support>: "
        "see <https://shop.example.com/faq>, mail <mailto:help@shop.example|help@shop.example>, "
        "ask <@U0GONE>.",
    }
    await agent.shortcut(message, Callback.CREATE_FROM_MESSAGE)
    view = (await bot.slack.wait_for("views.open"))[-1]["view"]
    await agent.click(Action.CREATE_PICK_BACKEND, "epixel", view={**view, "id": "V1", "hash": "h"})
    form = (await bot.slack.wait_for("views.update"))[-1]["view"]
    subject = "Refund <urgent> for order 1 (https://shop.example.com/o/1) & more"
    assert _initial(form, "subject") == subject
    body = _initial(form, "comment") or ""
    assert body.startswith(
        f"{subject}\n@ali and @Bob Stone in #sales, @here @support: see "
        "https://shop.example.com/faq, mail help@shop.example, ask @U0GONE."
    )
    assert {c["user"] for c in bot.slack.calls_to("users.info")} == {"U0ALICE", "U0BOB", "U0GONE"}
    await agent.submit(
        form, {"subject": subject, "priority": "2", "category": "2", "comment": body}
    )
    await bot.slack.wait_for("chat.postMessage")
    created = max(sandboxes.epixel.tickets.values(), key=lambda t: t["id"])
    assert created["subject"] == subject
    assert "&lt;" not in created["comment"] and "<@" not in created["comment"]


async def test_the_shortcut_form_opens_in_time_when_users_info_is_slow(
    bot: BotUnderTest, agent: SlackUser
) -> None:
    bot.slack.add_user("U0ALICE", "alice", real_name="Alice Martin")
    bot.slack.delay["users.info"] = 3.0  # as long as the trigger_id lives
    message = {"type": "message", "user": "U0X", "ts": "1763900000.1", "text": "ask <@U0ALICE>"}
    started = time.monotonic()
    await agent.shortcut(message, Callback.CREATE_FROM_MESSAGE)
    [opened] = await bot.slack.wait_for("views.open", within=2.5)
    assert time.monotonic() - started < 2.5  # the trigger_id lives 3 s
    # The name did not come back in time: the id stands in for it.
    assert json.loads(opened["view"]["private_metadata"])["values"]["subject"] == "ask @U0ALICE"


def test_markup_conversion_leaves_plain_text_alone() -> None:
    assert slack_markup_to_text("no markup: 2 + 2 = 4") == "no markup: 2 + 2 = 4"
    assert slack_markup_to_text("&amp;lt; stays a literal &lt;") == "&lt; stays a literal <"
    assert slack_markup_to_text("<!channel> <!everyone> <@W0X|x>") == "@channel @everyone @x"
