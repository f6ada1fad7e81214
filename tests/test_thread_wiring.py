"""Two-way threads wired to what posts tickets and what reads them (issue 16.1): the watcher
hands a comment someone made in Epixel to the ticket's Slack thread (once, and never one written
through ticketbot), and a ticket posted by a feed takes replies as comments. Signed Events API
replies, the Epixel sandbox over loopback, the watcher's rounds driven with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Settings
from bot.sandbox import epixel
from bot.sandbox.run import Sandboxes
from bot.threads import ThreadSpot
from bot.ticket_feeds import TicketFeedPoller
from bot.watcher import TicketWatcher
from tests.conftest import connect_sandbox_accounts
from tests.harness import TEAM, BotUnderTest
from tests.test_threads import _comments, _epixel_ticket, _landed
from tests.waiting import eventually

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STEP = timedelta(seconds=300)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Every check of an Epixel ticket reads its conversation (the spread is the watcher's test).
    return settings.model_copy(update={"watch_full_every": 1})


def in_thread(bot: BotUnderTest, ts: str) -> list[dict]:
    return [c for c in bot.slack.calls_to("chat.postMessage") if c.get("thread_ts") == ts]


async def test_a_comment_made_in_epixel_reaches_the_thread_once_and_ours_is_not_echoed(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    await connect_sandbox_accounts(bot, sandboxes, "U0AGENT")
    agent = bot.user("U0AGENT")
    root, ticket_id = await _epixel_ticket(bot, agent, sandboxes)
    ref = f"epixel:{ticket_id}"
    watches = bot.services.watches
    assert watches is not None
    # The creator watches what they create (the default): that is what gets the ticket checked.
    await eventually(lambda: watches.watchers(ref), what="the creator's watch")
    watcher = TicketWatcher(bot.services, bot.app.client)
    await watcher.check_due(now=T0)  # the baseline

    await agent.reply(root, "We are on it", ts="9.2")  # written through ticketbot
    await _landed(bot, "9.2")
    sandboxes.epixel._add_conversation(ticket_id, "vendor@example.com", "Refund <b>done</b>", None)
    await watcher.check_due(now=T0 + STEP)
    (posted,) = in_thread(bot, root)
    assert posted["channel"] == "C0GENERAL"
    assert "Refund &lt;b&gt;done&lt;/b&gt;" in posted["text"]

    await watcher.check_due(now=T0 + 2 * STEP)  # read again: nothing posted twice
    assert len(in_thread(bot, root)) == 1
    assert not any("We are on it" in str(p["text"]) for p in in_thread(bot, root))


async def test_a_reply_under_a_feed_posted_epixel_ticket_lands_as_a_comment(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    await connect_sandbox_accounts(bot, sandboxes, "U0LEAD")
    lead = bot.user("U0LEAD", "C0SUPPORT")
    await lead.command("subscribe epixel")
    (sub,) = await eventually(
        lambda: bot.services.alerts.for_channel(TEAM, "C0SUPPORT"), what="the subscription"
    )
    feeds = TicketFeedPoller(bot.services, bot.app.client)
    await feeds.poll(sub.id)  # the baseline
    new = sandboxes.epixel.add_ticket("Card declined at checkout")
    await feeds.poll(sub.id)
    (posted,) = [
        c
        for c in bot.slack.calls_to("chat.postMessage")
        if str(c.get("text")).startswith("New ticket")
    ]
    threads = bot.services.threads
    assert threads is not None
    assert await threads.thread_ref(ThreadSpot(TEAM, "C0SUPPORT", posted["_ts"])) == (
        f"epixel:{new['id']}"
    )

    await lead.reply(posted["_ts"], "Called the customer back", ts="9.3")
    reaction = await _landed(bot, "9.3")
    assert (reaction["channel"], reaction["name"]) == ("C0SUPPORT", "white_check_mark")
    latest = _comments(sandboxes, new["id"])[-1]
    assert (latest["author"], latest["comment"]) == (epixel.DEMO_USER, "Called the customer back")


async def test_replies_under_an_omnidesk_feed_post_are_left_alone(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    """Omnidesk takes no comments through its API: its feed posts are not linked as threads, so
    chat under them earns no "Not added"; an Epixel post in the same channel is the control."""
    await connect_sandbox_accounts(bot, sandboxes, "U0LEAD")
    lead = bot.user("U0LEAD", "C0SUPPORT")
    for source in ("omnidesk", "epixel"):
        await lead.command(f"subscribe {source}")

    async def both() -> list:
        subs = await bot.services.alerts.for_channel(TEAM, "C0SUPPORT")
        return subs if len(subs) == 2 else []

    subs = await eventually(both, what="both feeds")
    feeds = TicketFeedPoller(bot.services, bot.app.client)
    for sub in subs:
        await feeds.poll(sub.id)  # the baselines
    omni = sandboxes.omnidesk.create(title="Printer on fire")
    new = sandboxes.epixel.add_ticket("Card declined at checkout")
    for sub in subs:
        await feeds.poll(sub.id)
    posts = {
        str(c["text"]): c["_ts"]
        for c in bot.slack.calls_to("chat.postMessage")
        if str(c.get("text")).startswith("New ticket")
    }
    (omni_ts,) = [ts for text, ts in posts.items() if f"omnidesk:{omni['ticketID']}" in text]
    (epixel_ts,) = [ts for text, ts in posts.items() if f"epixel:{new['id']}" in text]
    threads = bot.services.threads
    assert threads is not None
    assert await threads.thread_ref(ThreadSpot(TEAM, "C0SUPPORT", omni_ts)) is None

    await lead.reply(omni_ts, "Anyone seen the toner?", ts="9.4")
    await lead.reply(epixel_ts, "Called the customer back", ts="9.5")
    await _landed(bot, "9.5")  # the control: the Epixel reply became a comment
    assert bot.slack.calls_to("chat.postEphemeral") == []
    assert [r["timestamp"] for r in bot.slack.calls_to("reactions.add")] == ["9.5"]
