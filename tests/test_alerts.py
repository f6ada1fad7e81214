"""Detractor alerts end to end: subscribe, poll, alert, claim/escalate/resolve, and failures."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.alerts import DetractorPoller
from bot.credentials import OmnideskCredentials, QuestionProCredentials
from bot.ids import Action, Callback
from bot.runtime import build_services
from bot.sandbox import omnidesk, questionpro
from bot.sandbox.run import Sandboxes
from bot.subscriptions import Subscription
from tests.harness import TEAM, BotUnderTest, SlackUser
from tests.waiting import eventually

CHANNEL = "C0CX"


@pytest.fixture
async def cx(bot: BotUnderTest) -> SlackUser:
    """A CX lead with QuestionPro (and Omnidesk, for escalations) connected, in #cx."""
    await bot.services.store.save_credentials(
        TEAM, "U0CX", QuestionProCredentials(datacenter="eu", api_key=questionpro.DEMO_API_KEY)
    )
    return bot.user("U0CX", CHANNEL)


@pytest.fixture
def poller(bot: BotUnderTest) -> DetractorPoller:
    return DetractorPoller(bot.services, bot.app.client)


def posts(bot: BotUnderTest, **where: str) -> list[dict]:
    return [
        c
        for c in bot.slack.calls_to("chat.postMessage")
        if all(c.get(k) == v for k, v in where.items())
    ]


async def posted_text(bot: BotUnderTest, text: str) -> dict:
    """Wait for the bot to post ``text``; returns that post."""
    return (await eventually(lambda: posts(bot, text=text), what=f"a post of {text!r}"))[0]


def alerts_posted(bot: BotUnderTest) -> list[dict]:
    return [
        c for c in posts(bot, channel=CHANNEL) if str(c.get("text", "")).startswith("Detractor:")
    ]


def ticket_ids(messages: list[dict]) -> list[int]:
    return [
        int(b["elements"][0]["value"].split(":")[1])
        for m in messages
        for b in m["blocks"]
        if b.get("block_id", "").startswith("alert|")
    ]


async def subscribed(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, args: str = ""
) -> Subscription:
    await cx.command(f"subscribe detractors segment:999 {args}".strip())
    await bot.slack.wait_for("chat.postMessage")
    subs = await eventually(lambda: bot.services.alerts.for_channel(TEAM, CHANNEL))
    await poller.poll(subs[0].id)  # the first poll: the baseline
    return subs[0]


async def test_subscribe_confirms_and_the_first_poll_posts_one_summary(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, cx, poller, "every:10m")
    confirm, summary = posts(bot, channel=CHANNEL)
    assert confirm["text"] == (
        "<@U0CX> subscribed this channel to QuestionPro detractor alerts "
        "(segment 999, every 10 min, each alert on its own), fetched with "
        "their QuestionPro account."
    )
    assert "40 already exist" in json.dumps(summary["blocks"])
    assert alerts_posted(bot) == []  # nothing replayed one by one
    assert len(sandboxes.questionpro.requests) == 1

    await cx.click(Action.ALERTS_SHOW_EXISTING, sub.id, message_ts="1700000002.000100")
    await bot.slack.wait_for("chat.postMessage", count=3)
    listed = posts(bot, channel=CHANNEL)[-1]
    assert (listed["thread_ts"], listed["text"]) == ("1700000002.000100", "Detractors")
    lines = [line for b in listed["blocks"] for line in b["text"]["text"].splitlines()]
    assert len(lines) == 40


async def test_new_detractors_become_alerts_with_their_fields_and_buttons(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, cx, poller)
    new = sandboxes.questionpro.add_detractors(3)  # newest first
    await poller.poll(sub.id)
    alerts = alerts_posted(bot)
    assert ticket_ids(alerts) == [d["ticketID"] for d in reversed(new)]  # oldest first
    first, raw = alerts[0], new[-1]
    text = json.dumps(alerts[0]["blocks"], ensure_ascii=False)
    assert raw["comment"] in text and raw["emailAddress"] in text
    assert f"ticket {raw['ticketID']} · response {raw['responseID']}" in text
    assert "<!date^" in text and "respond by" in text
    buttons = [
        e["action_id"] for b in first["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert buttons == [
        Action.ALERT_CLAIM,
        Action.ALERT_ESCALATE,
        Action.ALERT_RESOLVE,
        Action.ALERT_OPEN,
    ]

    before = len(sandboxes.questionpro.requests)
    await poller.poll(sub.id)  # nothing new: one QuestionPro call, no Slack call
    assert len(sandboxes.questionpro.requests) == before + 1
    assert len(alerts_posted(bot)) == 3


async def test_claim_escalate_and_resolve_update_the_alert_for_everyone(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, cx, poller)
    (raw,) = sandboxes.questionpro.add_detractors(1)
    await poller.poll(sub.id)
    value = f"{sub.id}:{raw['ticketID']}"
    agent = bot.user("U0AGENT", CHANNEL)

    await agent.click(Action.ALERT_CLAIM, value)
    update = (await bot.slack.wait_for("chat.update"))[-1]
    assert "claimed by <@U0AGENT>" in json.dumps(update["blocks"])
    assert Action.ALERT_CLAIM not in json.dumps(update["blocks"])
    # The thread line follows the redraw: wait for it rather than read it at once.
    claimed = await posted_text(bot, ":raising_hand: <@U0AGENT> claimed this.")
    assert claimed["thread_ts"] == update["ts"]
    await bot.user("U0OTHER", CHANNEL).click(Action.ALERT_CLAIM, value)
    taken = (await bot.slack.wait_for("response_url"))[-1]
    assert taken["text"] == "<@U0AGENT> already claimed this one."

    await bot.services.store.save_credentials(
        TEAM,
        "U0AGENT",
        OmnideskCredentials(base_url=sandboxes.omnidesk.base_url, api_key=omnidesk.FULL_KEY),
    )
    await agent.click(Action.ALERT_ESCALATE, value)
    form = (await bot.slack.wait_for("views.open"))[-1]["view"]
    assert raw["comment"] in json.dumps(form)
    created_before = set(sandboxes.omnidesk.tickets)
    await agent.submit(
        form,
        {
            "title": f"Detractor: {raw['comment']}",
            "from": raw["emailAddress"],
            "direction": "inbound",
        },
    )
    escalated = (await bot.slack.wait_for("chat.update", count=2))[-1]
    (new_id,) = set(sandboxes.omnidesk.tickets) - created_before
    assert f"escalated to `omnidesk:{new_id}`" in json.dumps(escalated["blocks"])
    await posted_text(bot, f":arrow_up: <@U0AGENT> escalated this to `omnidesk:{new_id}`.")

    await agent.click(Action.ALERT_RESOLVE, value)
    resolve_form = (await bot.slack.wait_for("views.open", count=2))[-1]["view"]
    assert resolve_form["callback_id"] == Callback.RESOLVE
    await agent.submit(resolve_form, {"note": "Called her back, refunded."})
    resolved = (await bot.slack.wait_for("chat.update", count=3))[-1]
    text = json.dumps(resolved["blocks"], ensure_ascii=False)
    assert "resolved by <@U0AGENT>: “Called her back, refunded.”" in text
    assert Action.ALERT_RESOLVE not in text


async def test_twelve_at_once_come_as_one_digest_with_the_list_in_its_thread(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, cx, poller)
    before = len(posts(bot, channel=CHANNEL))
    new = sandboxes.questionpro.add_detractors(12)
    await poller.poll(sub.id)
    digest, listing = posts(bot, channel=CHANNEL)[before:]
    assert digest["text"] == "12 new detractors"
    assert listing["thread_ts"] == digest["_ts"]
    listed = json.dumps(listing["blocks"])
    assert all(f"`{d['ticketID']}`" in listed for d in new)
    assert alerts_posted(bot) == []


async def test_slack_rate_limits_delay_alerts_but_lose_and_repeat_none(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, cx, poller)
    new = sandboxes.questionpro.add_detractors(3)
    bot.slack.rate_limit(
        "chat.postMessage", retry_after=0, times=7
    )  # beyond the client's 5 retries
    await poller.poll(sub.id)
    await poller.poll(sub.id)  # what could not be posted goes out now, in order
    assert ticket_ids(alerts_posted(bot)) == [d["ticketID"] for d in reversed(new)]
    assert len(bot.slack.calls_to("chat.postMessage!fault")) == 7


async def test_a_questionpro_outage_says_so_once_and_loses_nothing(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, cx, poller)
    faults = sandboxes.questionpro.faults
    faults.status, faults.status_times = 503, 1000
    for _ in range(4):
        await poller.poll(sub.id)
    down = [p for p in posts(bot, channel=CHANNEL) if "unreachable" in p["text"]]
    assert len(down) == 1 and down[0]["text"].startswith(
        ":warning: QuestionPro is unreachable since"
    )
    assert (await bot.services.alerts.get(sub.id)).next_poll > datetime.now(UTC)  # backing off
    new = sandboxes.questionpro.add_detractors(2)
    faults.status_times = 0
    await poller.poll(sub.id)
    assert len([p for p in posts(bot, channel=CHANNEL) if "QuestionPro is back" in p["text"]]) == 1
    assert ticket_ids(alerts_posted(bot)) == [d["ticketID"] for d in reversed(new)]


@pytest.mark.parametrize("in_flight_reaches_slack", [True, False])
async def test_a_restart_mid_batch_posts_each_alert_once_and_misses_nothing(
    bot: BotUnderTest,
    cx: SlackUser,
    poller: DetractorPoller,
    sandboxes: Sandboxes,
    settings,
    in_flight_reaches_slack: bool,
) -> None:
    sub = await subscribed(bot, cx, poller)
    new = [d["ticketID"] for d in reversed(sandboxes.questionpro.add_detractors(5))]
    bot.slack.delay["chat.postMessage"] = 0.3
    before = len(posts(bot))
    crashing = asyncio.create_task(poller.poll(sub.id))
    await bot.slack.wait_for("chat.postMessage", count=before + 2, within=10)
    if not in_flight_reaches_slack:
        # The crash lost the third post: Slack never shows it (answered as a failure, once).
        bot.slack.fail("chat.postMessage", "internal_error", times=1)
    # The third post is in flight (held by the stand-in's delay) when the process dies.
    await eventually(lambda: bot.slack.pending.get("chat.postMessage", 0) == 1)
    crashing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await crashing
    await bot.stop()
    if in_flight_reaches_slack:
        await bot.slack.wait_for("chat.postMessage", count=before + 3)
    else:
        await bot.slack.wait_for("chat.postMessage!fault")
    bot.slack.delay.clear()

    restarted = await BotUnderTest(bot.slack, settings, build_services(settings)).start()
    try:
        await DetractorPoller(restarted.services, restarted.app.client).poll(sub.id)
    finally:
        await restarted.stop()
    # Nothing missed, even the post that was lost; nothing twice, even the one Slack took.
    assert ticket_ids(alerts_posted(bot)) == new


async def test_unsubscribe_only_by_the_subscriber_or_an_admin_and_then_silence(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, cx, poller)
    await bot.user("U0RANDOM", CHANNEL).command("unsubscribe detractors")
    refused = (await bot.slack.wait_for("response_url"))[-1]
    assert refused["text"] == (
        "Only <@U0CX> (who subscribed) or a workspace admin can remove this subscription."
    )
    await cx.command("subscriptions")
    listed = (await bot.slack.wait_for("response_url", count=2))[-1]
    assert "segment 999" in json.dumps(listed["blocks"])
    await cx.command("unsubscribe detractors segment:999")
    await bot.slack.wait_for("response_url", count=3)
    assert await bot.services.alerts.get(sub.id) is None
    sandboxes.questionpro.add_detractors(2)
    await poller.poll(sub.id)
    assert alerts_posted(bot) == []


async def test_revoked_credentials_pause_tell_the_subscriber_and_resume_on_reconnect(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, cx, poller)
    sandboxes.questionpro.api_keys.clear()
    await poller.poll(sub.id)
    dm = posts(bot, channel="U0CX")[-1]
    assert dm["text"].startswith(f":pause_button: Detractor alerts for <#{CHANNEL}> are paused:")
    assert "/ticket connect questionpro" in dm["text"]
    requests = len(sandboxes.questionpro.requests)
    await poller.poll(sub.id)
    assert len(sandboxes.questionpro.requests) == requests  # paused: not retried

    sandboxes.questionpro.api_keys.add("qp-new-key-after-rotation")
    await bot.services.store.save_credentials(
        TEAM, "U0CX", QuestionProCredentials(datacenter="eu", api_key="qp-new-key-after-rotation")
    )
    new = sandboxes.questionpro.add_detractors(1)
    await poller.poll(sub.id)
    assert any("resumed" in p["text"] for p in posts(bot, channel=CHANNEL))
    assert ticket_ids(alerts_posted(bot)) == [new[0]["ticketID"]]


async def test_an_archived_channel_pauses_the_subscription(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, cx, poller)
    bot.slack.fail("chat.postMessage", "is_archived", times=1)
    sandboxes.questionpro.add_detractors(1)
    await poller.poll(sub.id)
    paused = await bot.services.alerts.get(sub.id)
    assert paused is not None and paused.paused == "channel"
    assert "is_archived" in posts(bot, channel="U0CX")[-1]["text"]
    requests = len(sandboxes.questionpro.requests)
    await poller.poll(sub.id)
    assert len(sandboxes.questionpro.requests) == requests


async def test_a_reminder_goes_into_the_thread_once_at_75_percent(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, cx, poller)
    sandboxes.questionpro.add_detractors(
        1, at=datetime.now(UTC) - timedelta(hours=60)
    )  # 83% of 72 h
    sandboxes.questionpro.add_detractors(1)  # fresh: no reminder
    await poller.poll(sub.id)
    await poller.remind_due()
    await poller.remind_due()
    reminders = [p for p in posts(bot, channel=CHANNEL) if p["text"].startswith(":alarm_clock:")]
    assert len(reminders) == 1 and reminders[0]["thread_ts"]


async def test_a_private_channel_without_the_bot_says_how_to_invite_it(
    bot: BotUnderTest, cx: SlackUser
) -> None:
    bot.slack.fail("chat.postMessage", "channel_not_found", times=1)
    await cx.command("subscribe detractors")
    said = (await bot.slack.wait_for("response_url"))[-1]
    assert "invite me with `/invite @ticketbot`" in said["text"]
    assert await bot.services.alerts.for_channel(TEAM, CHANNEL) == []


async def test_subscribing_in_a_direct_message_says_to_use_a_channel(
    bot: BotUnderTest, cx: SlackUser
) -> None:
    # Slack refuses posts to a one-to-one DM the bot is not part of, and nobody can invite it.
    bot.slack.fail("chat.postMessage", "channel_not_found", times=1)
    dm = bot.user("U0CX", "D0CXBOB")
    await dm.command("subscribe detractors", channel_name="directmessage")
    said = (await bot.slack.wait_for("response_url"))[-1]
    assert said["text"] == (
        "Alerts are posted in a channel, and I can't post in this direct message. Run "
        "`/ticket subscribe detractors …` in the channel that should receive them."
    )
    assert await bot.services.alerts.for_channel(TEAM, "D0CXBOB") == []


async def test_a_segment_or_status_in_other_digits_is_refused(
    bot: BotUnderTest, cx: SlackUser
) -> None:
    for word in ("segment:²", "status:١"):
        count = len(bot.slack.calls_to("response_url")) + 1
        await cx.command(f"subscribe detractors {word}")
        said = (await bot.slack.wait_for("response_url", count=count))[-1]
        option = word.partition(":")[0]
        assert said["text"] == f"`{option}:` takes a number, e.g. `{option}:999`.", said["text"]
    assert await bot.services.alerts.for_channel(TEAM, CHANNEL) == []


async def test_subscribing_needs_questionpro_connected(bot: BotUnderTest) -> None:
    await bot.user("U0NEW", CHANNEL).command("subscribe detractors")
    said = (await bot.slack.wait_for("response_url"))[-1]
    assert said["text"].startswith("You have not connected questionpro yet.")


async def test_the_poller_runs_by_itself_in_the_serving_process(
    bot: BotUnderTest, cx: SlackUser, sandboxes: Sandboxes
) -> None:
    bot.services.settings.poll_interval = 0.1
    poller, stop = DetractorPoller(bot.services, bot.app.client), asyncio.Event()
    running = asyncio.create_task(poller.run(stop, tick=0.05))
    try:
        await cx.command("subscribe detractors")
        await bot.slack.wait_for("chat.postMessage", count=2, within=5)  # confirm + summary
        sandboxes.questionpro.add_detractors(1)
        await bot.slack.wait_for("chat.postMessage", count=3, within=5)
    finally:
        stop.set()
        await running
    assert len(alerts_posted(bot)) == 1


async def test_a_questionpro_rate_limit_waits_quietly(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, cx, poller)
    before = len(posts(bot, channel=CHANNEL))
    faults = sandboxes.questionpro.faults
    faults.rate_limit_times, faults.retry_after = 100, 120  # longer than the client will wait
    await poller.poll(sub.id)
    later = await bot.services.alerts.get(sub.id)
    assert later is not None and later.next_poll > datetime.now(UTC) + timedelta(seconds=100)
    assert len(posts(bot, channel=CHANNEL)) == before  # a rate limit is not an outage
    assert later.outage_since is None


async def test_an_interrupted_baseline_resumes_where_it_stopped(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sandboxes.questionpro.add_detractors(260)  # 300 in all: three pages
    sandboxes.questionpro.calls_per_minute = 2  # the third page is refused for a minute
    sub = await subscribed(bot, cx, poller)  # its first poll stops at page 3
    stopped = await bot.services.alerts.get(sub.id)
    assert stopped is not None and (stopped.baseline_page, stopped.baseline_done) == (2, False)
    sandboxes.questionpro.calls_per_minute = 300
    await poller.poll(sub.id)
    done = await bot.services.alerts.get(sub.id)
    assert done is not None and done.baseline_done
    pages = [r.query["page"][0] for r in sandboxes.questionpro.requests_to("detractors")]
    assert pages == ["1", "2", "3", "3"]  # page 3 refused once, then fetched; 1-2 not again
    assert "300 already exist" in json.dumps(posts(bot, channel=CHANNEL)[-1]["blocks"])


async def test_a_workspace_admin_may_remove_someone_elses_subscription(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller
) -> None:
    sub = await subscribed(bot, cx, poller)
    bot.slack.admins.add("U0ADMIN")
    await bot.user("U0ADMIN", CHANNEL).click(Action.UNSUBSCRIBE, sub.id)
    redrawn = (await bot.slack.wait_for("response_url"))[-1]
    assert "no subscriptions" in json.dumps(redrawn["blocks"])
    assert await bot.services.alerts.get(sub.id) is None
    assert await posted_text(
        bot,
        "<@U0ADMIN> unsubscribed this channel from QuestionPro detractor "
        "alerts (segment 999, every 5 min, each alert on its own).",
    )
