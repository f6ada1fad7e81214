"""The poller's paging, sweep, pauses and pacing, each checked against what it costs or posts."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import timedelta

from bot.alerts import DetractorPoller
from bot.sandbox.run import Sandboxes
from bot.subscriptions import Subscription, now
from tests import test_alerts
from tests.harness import TEAM, BotUnderTest, SlackUser
from tests.test_alerts import CHANNEL, alerts_posted, posts, subscribed, ticket_ids

# The fixtures of test_alerts: a connected CX lead in the channel, and a poller.
cx = test_alerts.cx
poller = test_alerts.poller


def detractor_calls(sandboxes: Sandboxes) -> int:
    return len(sandboxes.questionpro.requests_to("detractors"))


def pages_asked(sandboxes: Sandboxes, since: int) -> list[str]:
    asked = sandboxes.questionpro.requests_to("detractors")[since:]
    return [r.query["page"][0] for r in asked]


async def test_a_steady_poll_stops_at_the_first_page_with_nothing_new(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sandboxes.questionpro.add_detractors(260)  # 300 in all: three pages of 100
    sub = await subscribed(bot, cx, poller)
    before = detractor_calls(sandboxes)
    await poller.poll(sub.id)
    assert pages_asked(sandboxes, before) == ["1"]

    (new,) = sandboxes.questionpro.add_detractors(1)
    before = detractor_calls(sandboxes)
    await poller.poll(sub.id)
    assert pages_asked(sandboxes, before) == ["1", "2"]  # page 2 had nothing new: no page 3
    assert ticket_ids(alerts_posted(bot)) == [new["ticketID"]]


async def test_new_detractors_spanning_two_pages_are_all_posted(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, cx, poller)
    new = sandboxes.questionpro.add_detractors(150)  # page 1 all new, page 2 half new
    before_calls, before_posts = detractor_calls(sandboxes), len(posts(bot, channel=CHANNEL))
    await poller.poll(sub.id)
    assert pages_asked(sandboxes, before_calls) == ["1", "2"]
    digest, *listing = posts(bot, channel=CHANNEL)[before_posts:]
    assert digest["text"] == "150 new detractors"
    listed = json.dumps([m["blocks"] for m in listing])
    assert [d["ticketID"] for d in new if f"`{d['ticketID']}`" not in listed] == []
    assert await bot.services.alerts.seen(sub.id, [d["ticketID"] for d in new]) == {
        d["ticketID"] for d in new
    }


async def test_the_daily_sweep_pages_everything_and_catches_a_late_arrival(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    qp = sandboxes.questionpro
    qp.add_detractors(260)
    sub = await subscribed(bot, cx, poller)
    # A detractor that shows up out of order: on the last page, behind ones already seen.
    (late,) = qp.add_detractors(1)
    qp.detractors.remove(late)
    qp.detractors.append(late)

    before = detractor_calls(sandboxes)
    await poller.poll(sub.id)  # a steady poll does not see it: page 1 has nothing new
    assert pages_asked(sandboxes, before) == ["1"]
    assert alerts_posted(bot) == []

    due = await bot.services.alerts.get(sub.id)
    assert due is not None
    due.last_sweep = now() - timedelta(seconds=bot.services.settings.sweep_interval + 60)
    await bot.services.alerts.save(due)
    before = detractor_calls(sandboxes)
    await poller.poll(sub.id)  # the sweep is due: every page
    assert pages_asked(sandboxes, before) == ["1", "2", "3", "4"]
    assert ticket_ids(alerts_posted(bot)) == [late["ticketID"]]

    before = detractor_calls(sandboxes)
    await poller.poll(sub.id)  # the sweep was recorded: the next poll is a steady one
    assert pages_asked(sandboxes, before) == ["1"]


async def test_an_exhausted_quota_pauses_and_tells_the_subscriber(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, cx, poller)
    faults = sandboxes.questionpro.faults
    faults.status, faults.status_times, faults.error_id = 429, 1000, "1013"
    await poller.poll(sub.id)
    paused = await bot.services.alerts.get(sub.id)
    assert paused is not None and paused.paused == "credentials"
    (dm,) = posts(bot, channel="U0CX")
    assert dm["text"].startswith(f":pause_button: Detractor alerts for <#{CHANNEL}> are paused:")
    assert "quota" in dm["text"]

    before = detractor_calls(sandboxes)
    await poller.poll(sub.id)  # paused: QuestionPro is not asked again
    assert detractor_calls(sandboxes) == before


async def test_credentials_removed_pause_without_asking_questionpro(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, cx, poller)
    assert await bot.services.store.delete_credentials(TEAM, "U0CX", "questionpro")
    sandboxes.questionpro.add_detractors(1)
    before = detractor_calls(sandboxes)
    await poller.poll(sub.id)
    await poller.poll(sub.id)
    paused = await bot.services.alerts.get(sub.id)
    assert paused is not None and paused.paused == "credentials"
    (dm,) = posts(bot, channel="U0CX")  # said once, not at every poll
    assert "QuestionPro is not connected any more" in dm["text"]
    assert "/ticket connect questionpro" in dm["text"]
    assert detractor_calls(sandboxes) == before
    assert alerts_posted(bot) == []


def alert_times(bot: BotUnderTest, channel: str) -> list[float]:
    """When the Slack stand-in received each alert posted to ``channel``."""
    return [
        c.at
        for c in bot.slack.calls
        if c.method == "chat.postMessage"
        and c.args.get("channel") == channel
        and str(c.args.get("text", "")).startswith("Detractor:")
    ]


async def test_posts_to_one_channel_are_paced_and_other_channels_do_not_wait(
    bot: BotUnderTest, cx: SlackUser, sandboxes: Sandboxes
) -> None:
    interval = 0.2
    bot.services.settings.channel_post_interval = interval
    paced = DetractorPoller(bot.services, bot.app.client)
    here = await subscribed(bot, cx, paced)
    stamp = await bot.services.store.credentials_stamp(TEAM, "U0CX", "questionpro")
    there = Subscription(
        team_id=TEAM,
        channel_id="C0OTHER",
        subscriber="U0CX",
        segment_id=999,
        credentials_stamp=stamp,
    )
    await bot.services.alerts.save(there)
    await paced.poll(there.id)  # its baseline
    sandboxes.questionpro.add_detractors(4)
    await asyncio.gather(paced.poll(here.id), paced.poll(there.id))

    for channel in (CHANNEL, "C0OTHER"):
        times = alert_times(bot, channel)
        assert len(times) == 4
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) >= interval, gaps
    # Both channels post side by side: eight posts in one queue would take 7 intervals.
    everything = alert_times(bot, CHANNEL) + alert_times(bot, "C0OTHER")
    assert max(everything) - min(everything) < 7 * interval
