"""Subscription health you can see (issue 16.5): `/ticket subscriptions` and App Home show the
last good poll, the last error in the backend's (or Slack's) words and whether posting works; the
subscriber is DMed once when a subscription stops delivering. Polls are driven by the poller's
poll function against the sandboxes over loopback; faults are the sandboxes' and the Slack
stand-in's own switches."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.sandbox.run import Sandboxes
from bot.subscriptions import Subscription, now
from bot.ticket_feeds import TicketFeedPoller
from tests.conftest import connect_sandbox_accounts
from tests.harness import TEAM, BotUnderTest
from tests.waiting import eventually

LEAD = "U0LEAD"


@pytest.fixture
async def connected(bot: BotUnderTest, sandboxes: Sandboxes) -> None:
    await connect_sandbox_accounts(bot, sandboxes, LEAD)


@pytest.fixture
def feeds(bot: BotUnderTest) -> TicketFeedPoller:
    return TicketFeedPoller(bot.services, bot.app.client)


async def subscribe(bot: BotUnderTest, channel: str, args: str) -> Subscription:
    await bot.user(LEAD, channel).command(f"subscribe {args}")

    async def added() -> list[Subscription]:
        return await bot.services.alerts.for_channel(TEAM, channel)

    return (await eventually(added, what=f"a subscription in {channel}"))[0]


def dms(bot: BotUnderTest, containing: str) -> list[dict]:
    return [
        c
        for c in bot.slack.calls_to("chat.postMessage")
        if c.get("channel") == LEAD and containing in str(c.get("text"))
    ]


async def listed(bot: BotUnderTest, channel: str) -> str:
    """What `/ticket subscriptions` in ``channel`` answers, as one string."""
    before = len(bot.slack.calls_to("response_url"))
    await bot.user(LEAD, channel).command("subscriptions")
    answer = (await bot.slack.wait_for("response_url", count=before + 1))[-1]
    return json.dumps(answer["blocks"], ensure_ascii=False)


def health_of(text: str) -> str:
    return text.split("Health: ")[1].split('"')[0]


async def test_health_lines_for_a_healthy_an_unreachable_a_gone_and_a_revoked_subscription(
    bot: BotUnderTest, connected: None, feeds: TicketFeedPoller, sandboxes: Sandboxes
) -> None:
    healthy = await subscribe(bot, "C0OK", "omnidesk")
    await feeds.poll(healthy.id)

    down = await subscribe(bot, "C0DOWN", "epixel")
    sandboxes.epixel.faults.status, sandboxes.epixel.faults.status_times = 503, 1000
    await feeds.poll(down.id)

    gone = await subscribe(bot, "C0GONE", "ispcrm")
    bot.slack.fail("chat.postMessage", "not_in_channel", times=1)  # the baseline's summary
    await feeds.poll(gone.id)

    revoked = await subscribe(bot, "C0REVOKED", "omnidesk priority:urgent")
    bot.slack.fail("chat.postMessage", "token_revoked", times=2)  # the post, then the DM
    await feeds.poll(revoked.id)
    stored = await bot.services.alerts.get(revoked.id)
    assert stored is not None and stored.paused == "token"

    ok = await listed(bot, "C0OK")
    assert ":large_green_circle: Active" in ok
    assert "last good poll <!date^" in health_of(ok) and "last error" not in health_of(ok)
    assert health_of(ok).endswith("posting works")

    unreachable = await listed(bot, "C0DOWN")
    assert "unreachable since" in unreachable
    assert "no good poll yet" in health_of(unreachable)
    assert "last error <!date^" in health_of(unreachable)
    assert "(Simulated failure (HTTP 503))" in health_of(unreachable)  # the backend's words

    removed = await listed(bot, "C0GONE")
    assert "Slack says `not_in_channel`" in health_of(removed)
    assert "posting does not work (the channel is gone or I was removed)" in health_of(removed)

    no_token = await listed(bot, "C0REVOKED")
    assert "Slack says `token_revoked` for my token" in health_of(no_token)
    assert "posting does not work (Slack refuses my token)" in health_of(no_token)

    await bot.user(LEAD).open_home()  # the subscriber's App Home shows the same four lines
    home = json.dumps((await bot.slack.wait_for("views.publish"))[-1]["view"]["blocks"])
    assert home.count("Health: ") == 4
    assert "posting does not work (Slack refuses my token)" in home
    assert "posting does not work (the channel is gone" in home
    assert "Simulated failure (HTTP 503)" in home and "last good poll" in home


async def test_an_outage_dms_the_subscriber_once_after_the_threshold_and_once_when_back(
    bot: BotUnderTest, connected: None, feeds: TicketFeedPoller, sandboxes: Sandboxes
) -> None:
    assert bot.services.settings.outage_dm_polls == 3
    sub = await subscribe(bot, "C0DOWN", "epixel")
    await feeds.poll(sub.id)  # a good baseline
    faults = sandboxes.epixel.faults
    faults.status, faults.status_times = 503, 1000
    await feeds.poll(sub.id)
    await feeds.poll(sub.id)
    assert dms(bot, "stopped arriving") == []  # two failed polls: under the threshold
    await feeds.poll(sub.id)  # the third: the subscriber hears of it
    (told,) = dms(bot, "stopped arriving")
    assert told["text"].startswith(
        f":warning: {sub.vendor} ticket alerts for <#C0DOWN> stopped arriving"
    )
    assert "3 poll(s) in a row" in told["text"] and "Simulated failure" in told["text"]
    for _ in range(3):
        await feeds.poll(sub.id)
    assert len(dms(bot, "stopped arriving")) == 1  # once per outage, however many polls fail

    faults.status_times = 0
    await feeds.poll(sub.id)
    assert len(dms(bot, "arrive again")) == 1
    stored = await bot.services.alerts.get(sub.id)
    assert stored is not None and stored.last_error and stored.failures == 0
    assert stored.last_ok is not None and stored.last_error_at < stored.last_ok  # kept, older


async def test_an_outage_longer_than_the_minutes_setting_dms_before_the_poll_count(
    bot: BotUnderTest, connected: None, feeds: TicketFeedPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribe(bot, "C0DOWN", "epixel")
    await feeds.poll(sub.id)
    sandboxes.epixel.faults.status, sandboxes.epixel.faults.status_times = 503, 1000
    await feeds.poll(sub.id)
    assert dms(bot, "stopped arriving") == []
    stored = await bot.services.alerts.get(sub.id)
    assert stored is not None and stored.outage_since is not None
    stored.outage_since = now() - timedelta(minutes=31)  # the outage began half an hour ago
    await bot.services.alerts.save(stored)
    await feeds.poll(sub.id)  # the second failed poll, past 30 minutes
    assert len(dms(bot, "stopped arriving")) == 1


async def test_a_gone_channel_pauses_with_one_dm_however_many_polls_follow(
    bot: BotUnderTest, connected: None, feeds: TicketFeedPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribe(bot, "C0GONE", "omnidesk")
    await feeds.poll(sub.id)  # the control: posting works, no DM
    assert dms(bot, "paused") == []
    sandboxes.omnidesk.create(title="Printer on fire")
    bot.slack.fail("chat.postMessage", "is_archived", times=1)
    await feeds.poll(sub.id)
    (told,) = dms(bot, "paused")
    assert "Slack says `is_archived` for <#C0GONE>" in told["text"]
    assert "then Resume in App Home" in told["text"]
    requests = len(sandboxes.omnidesk.requests)
    for _ in range(3):
        await feeds.poll(sub.id)
    assert len(dms(bot, "paused")) == 1
    assert len(sandboxes.omnidesk.requests) == requests  # paused: not polled at all
