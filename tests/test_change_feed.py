"""Every change made through ticketbot reaches the change feed, with who, where from and how it
ended: the audit trail and the ticket watcher listen there."""

from __future__ import annotations

import asyncio

from bot.changes import Change
from bot.ids import Action
from bot.sandbox.run import Sandboxes
from tests.harness import BotUnderTest, SlackUser


def _listen(bot: BotUnderTest) -> tuple[list[Change], asyncio.Event]:
    heard: list[Change] = []
    arrived = asyncio.Event()

    async def listener(change: Change) -> None:
        heard.append(change)
        arrived.set()

    bot.services.changes.subscribe(listener)
    return heard, arrived


async def test_a_status_command_is_published_with_its_actor_origin_and_outcome(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    heard, arrived = _listen(bot)
    ticket_id = next(iter(sandboxes.omnidesk.tickets))
    await agent.command(f"status omnidesk:{ticket_id} closed")
    await asyncio.wait_for(arrived.wait(), 5)
    [change] = heard
    assert change.kind == "status" and change.outcome == "done"
    assert change.refs == (f"omnidesk:{ticket_id}",)
    assert change.origin == "command"
    assert change.actor.user_id == agent.user_id
    assert change.new == {"status": "Closed"}
    assert sandboxes.omnidesk.tickets[ticket_id]["status"] == "closed"


async def test_a_refused_change_from_a_button_is_published_as_refused(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    heard, arrived = _listen(bot)
    await agent.click(Action.TICKET_DELETE, "omnidesk:999999")  # no such ticket
    await asyncio.wait_for(arrived.wait(), 5)
    [change] = heard
    assert change.kind == "delete" and change.origin == "button"
    assert change.outcome == "refused" and change.detail
    assert change.refs == ("omnidesk:999999",)
