"""Every message and modal stays within Slack's Block Kit limits, however big the data."""

from __future__ import annotations

import json
from typing import Any

from bot.blocks.limits import BUTTON_VALUE, HEADER_TEXT, MESSAGE_BLOCKS, SECTION_TEXT
from bot.sandbox.run import Sandboxes
from tests.harness import BotUnderTest, SlackUser


def assert_within_limits(message: dict[str, Any]) -> None:
    blocks = message["blocks"]
    assert len(blocks) <= MESSAGE_BLOCKS
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= SECTION_TEXT
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= HEADER_TEXT
        for element in block.get("elements", []):
            assert len(element.get("value", "")) <= BUTTON_VALUE
    assert len(json.dumps(blocks)) < 50_000


async def test_a_300_ticket_list_pages_within_limits_and_reaches_every_ticket(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    for n in range(300 - len(sandboxes.omnidesk.tickets)):
        sandboxes.omnidesk.create(title=f"Bulk ticket {n} " + "x" * 400)
    await agent.command("list omnidesk")
    seen: list[str] = []
    for page in range(1, 30):
        message = (await bot.slack.wait_for("response_url", count=page))[page - 1]
        assert_within_limits(message)
        seen += [b["accessory"]["value"] for b in message["blocks"] if "accessory" in b]
        buttons = {
            e["action_id"]: e
            for b in message["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
        }
        forward = buttons.get("list.page.next")
        if forward is None:
            break
        await agent.click(forward["action_id"], forward["value"])
    assert len(seen) == 300 and len(set(seen)) == 300


async def test_a_20000_character_comment_is_shown_within_limits(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    ticket = next(
        t for t in sandboxes.epixel.tickets.values() if t["_owner"] == "agent@example.com"
    )
    long_comment = "The customer wrote at length. " * 667  # 20,010 characters
    await agent.command(f"comment epixel:{ticket['id']} {long_comment}")
    await bot.slack.wait_for("response_url")
    assert sandboxes.epixel.conversations[-1]["comment"] == long_comment.strip()
    for _ in range(12):  # more comments than a message shows
        await agent.command(f"comment epixel:{ticket['id']} " + "<b>&</b> " * 400)
    await agent.command(f"show epixel:{ticket['id']}")
    shown = (await bot.slack.wait_for("response_url", count=14))[13]
    assert_within_limits(shown)
    text = json.dumps(shown["blocks"])
    assert "more characters not shown" in text
    assert "earlier comment(s) not shown" in text
    assert "<b>" not in text  # the customer's markup is escaped, not rendered
