"""The Slack paths against Omnidesk answering in the vendor's current shape (issue 15): a create
or a change the backend accepted is shown as done, never as a failure."""

from __future__ import annotations

import json

from bot.sandbox.run import Sandboxes
from tests.harness import BotUnderTest, SlackUser


async def _create(bot: BotUnderTest, agent: SlackUser, title: str) -> dict:
    await agent.command("create omnidesk")
    view = (await bot.slack.wait_for("views.open"))[-1]["view"]
    await agent.submit(view, {"title": title, "from": "ann@example.com", "fromName": "Ann"})
    return view


async def test_create_answered_with_a_result_shows_the_new_ticket(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    # https://www.omnidesk.nl/api/docs: creates answer {"type": "result", "message": ...}.
    sandboxes.omnidesk.shape = "vendor"
    await _create(bot, agent, "Hinge broke")
    posted = (await bot.slack.wait_for("chat.postMessage"))[-1]
    new_id = max(sandboxes.omnidesk.tickets)
    assert f"<@U0AGENT> created `omnidesk:{new_id}`: Hinge broke" in posted["text"]
    done = (await bot.slack.wait_for("views.update"))[-1]["view"]
    assert f"Created `omnidesk:{new_id}`" in json.dumps(done)
    assert ":warning:" not in json.dumps(done)


async def test_create_that_cannot_be_found_again_still_says_created(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    sandboxes.omnidesk.shape = "vendor"
    sandboxes.omnidesk.created_message = "Ticket created"
    sandboxes.omnidesk.search_lag = True
    before = len(sandboxes.omnidesk.tickets)
    await _create(bot, agent, "Hinge broke")
    done = json.dumps((await bot.slack.wait_for("views.update"))[-1]["view"])
    assert "created; Omnidesk did not return it" in done and "do not create it again" in done
    assert ":warning:" not in done
    assert len(sandboxes.omnidesk.tickets) == before + 1


async def test_status_and_rename_answered_with_results_say_done(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    sandboxes.omnidesk.shape = "vendor"
    one = next(iter(sandboxes.omnidesk.tickets))
    await agent.command(f"status omnidesk:{one} solved")
    said = (await bot.slack.wait_for("response_url", count=1))[0]["text"]
    assert f":white_check_mark: Status set to Solved: `omnidesk:{one}`" in said
    assert sandboxes.omnidesk.tickets[one]["status"] == "solved"
    await agent.command(f"rename omnidesk:{one} Refund for order 5521")
    said = (await bot.slack.wait_for("response_url", count=2))[1]["text"]
    assert said == f":pencil2: `omnidesk:{one}` is now titled “Refund for order 5521”."
