"""The buttons on a single ticket and on list rows: Delete (after Slack's confirm) and Open."""

from __future__ import annotations

from bot.ids import Action
from bot.sandbox.run import Sandboxes
from tests.harness import BotUnderTest, SlackUser


async def _said(bot: BotUnderTest, count: int) -> dict:
    return (await bot.slack.wait_for("response_url", count=count))[count - 1]


def _button(message: dict, action_id: str) -> dict:
    for block in message.get("blocks", []):
        elements = block.get("elements", []) if block["type"] == "actions" else []
        for element in [*elements, block.get("accessory") or {}]:
            if element.get("action_id") == action_id:
                return element
    raise AssertionError(f"no {action_id} button")


async def test_the_delete_button_deletes_after_the_confirm_and_replaces_the_message(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    first, second = list(sandboxes.omnidesk.tickets)[:2]
    await agent.command(f"show omnidesk:{first}")
    shown = await _said(bot, 1)
    delete = _button(shown, Action.TICKET_DELETE)
    assert delete["value"] == f"omnidesk:{first}"
    assert delete["confirm"]["title"]["text"] == "Delete this ticket?"  # Slack asks first
    assert first in sandboxes.omnidesk.tickets

    await agent.click(delete["action_id"], delete["value"])
    result = await _said(bot, 2)
    assert result["replace_original"] is True  # the ticket message becomes the outcome
    assert result["text"] == f":white_check_mark: Deleted: `omnidesk:{first}`"
    assert first not in sandboxes.omnidesk.tickets
    assert second in sandboxes.omnidesk.tickets  # only that one


async def test_the_open_button_on_a_list_row_shows_that_ticket_and_keeps_the_list(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    await agent.command("list ispcrm")
    listing = await _said(bot, 1)
    rows = [b for b in listing["blocks"] if b.get("accessory")]
    row = rows[1]  # not the first: the button must carry its own row's ticket
    ref = row["accessory"]["value"]
    backend, _, ticket_id = ref.partition(":")
    subject = next(
        t["subject"]
        for tickets in sandboxes.ispcrm.tickets.values()
        for t in tickets
        if str(t["ticket_id"]) == ticket_id
    )
    assert backend == "ispcrm" and subject in row["text"]["text"]

    await agent.click(Action.TICKET_SHOW, ref)
    shown = await _said(bot, 2)
    assert shown["replace_original"] is False and shown["response_type"] == "ephemeral"
    assert shown["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": subject, "emoji": True},
    }
    assert f"`{ref}`" in shown["blocks"][1]["elements"][0]["text"]
    assert shown["text"] == f"`{ref}`: {subject}"
