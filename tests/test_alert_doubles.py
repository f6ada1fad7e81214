"""Each alert reaches its channel once, even when the process dies (or Slack's answer is lost)
between the post and its record: posts carry metadata, and a post whose outcome is unknown is
looked for in the channel's history before it is made again."""

from __future__ import annotations

import asyncio

import pytest

from bot.alerts import DetractorPoller
from bot.config import Settings
from bot.posting import EVENT_TYPE
from bot.runtime import build_services
from bot.sandbox.run import Sandboxes
from bot.subscriptions import Subscription
from tests import test_alerts
from tests.harness import BotUnderTest, SlackUser
from tests.test_alerts import CHANNEL, alerts_posted, posts, subscribed, ticket_ids
from tests.waiting import eventually

# The fixtures of test_alerts: a connected CX lead in the channel, and a poller.
cx = test_alerts.cx
poller = test_alerts.poller


def post_of(bot: BotUnderTest, ticket_id: int) -> dict:
    (post,) = [p for p in alerts_posted(bot) if ticket_ids([p]) == [ticket_id]]
    return post


async def crash_mid_post(
    bot: BotUnderTest, poller: DetractorPoller, sub: Subscription, *, at: int, reaches: bool
) -> None:
    """Poll, and kill the poll while the channel's post number ``at`` (counted from now) is in
    flight; Slack takes that post when ``reaches``, else refuses it (the crash lost it)."""
    bot.slack.delay["chat.postMessage"] = 0.3
    before = len(posts(bot))
    crashing = asyncio.create_task(poller.poll(sub.id))
    if at > 1:
        await bot.slack.wait_for("chat.postMessage", count=before + at - 1, within=10)
    if not reaches:
        bot.slack.fail("chat.postMessage", "internal_error", times=1)
    await eventually(lambda: bot.slack.pending.get("chat.postMessage", 0) == 1)
    crashing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await crashing
    await bot.stop()
    if reaches:  # the stand-in finishes the held request: the post is in the channel
        await bot.slack.wait_for("chat.postMessage", count=before + at)
    else:
        await bot.slack.wait_for("chat.postMessage!fault")
    bot.slack.delay.clear()


async def poll_after_restart(bot: BotUnderTest, settings: Settings, sub: Subscription) -> None:
    restarted = await BotUnderTest(bot.slack, settings, build_services(settings)).start()
    try:
        await DetractorPoller(restarted.services, restarted.app.client).poll(sub.id)
    finally:
        await restarted.stop()


async def ledger_ts(settings: Settings, sub: Subscription, ticket_id: int) -> str | None:
    services = build_services(settings)
    try:
        alert = await services.alerts.alert(sub.id, ticket_id)
    finally:
        await services.aclose()
    assert alert is not None
    return alert.ts


async def test_a_crash_after_slack_took_the_alert_finds_it_instead_of_posting_it_again(
    bot: BotUnderTest,
    cx: SlackUser,
    poller: DetractorPoller,
    sandboxes: Sandboxes,
    settings: Settings,
) -> None:
    sub = await subscribed(bot, cx, poller)
    new = [d["ticketID"] for d in reversed(sandboxes.questionpro.add_detractors(3))]
    await crash_mid_post(bot, poller, sub, at=2, reaches=True)
    cut_short = post_of(bot, new[1])

    await poll_after_restart(bot, settings, sub)
    assert ticket_ids(alerts_posted(bot)) == new  # each once, in order
    assert await ledger_ts(settings, sub, new[1]) == cut_short["_ts"]  # its buttons still work
    (looked,) = bot.slack.calls_to("conversations.history")
    assert looked["channel"] == CHANNEL and looked["include_all_metadata"] in {"1", "true"}
    assert float(looked["oldest"]) < float(cut_short["_ts"]) < float(looked["latest"])


async def test_a_crash_before_the_post_reached_slack_posts_it_once_after_restart(
    bot: BotUnderTest,
    cx: SlackUser,
    poller: DetractorPoller,
    sandboxes: Sandboxes,
    settings: Settings,
) -> None:
    sub = await subscribed(bot, cx, poller)
    new = [d["ticketID"] for d in reversed(sandboxes.questionpro.add_detractors(3))]
    await crash_mid_post(bot, poller, sub, at=2, reaches=False)
    assert ticket_ids(alerts_posted(bot)) == new[:1]

    await poll_after_restart(bot, settings, sub)
    assert ticket_ids(alerts_posted(bot)) == new
    assert await ledger_ts(settings, sub, new[1]) == post_of(bot, new[1])["_ts"]
    assert len(bot.slack.calls_to("conversations.history")) == 1  # it looked, found nothing


async def test_another_subscriptions_alert_in_the_history_is_not_taken_for_this_one(
    bot: BotUnderTest,
    cx: SlackUser,
    poller: DetractorPoller,
    sandboxes: Sandboxes,
    settings: Settings,
) -> None:
    sub = await subscribed(bot, cx, poller)
    (new,) = [d["ticketID"] for d in sandboxes.questionpro.add_detractors(1)]
    await crash_mid_post(bot, poller, sub, at=1, reaches=False)
    # Meanwhile another subscription in the channel (another segment) alerted the same ticket.
    other = {"subscription_id": "0ther5ub", "post": f"ticket:{new}", "ticket_id": new}
    await bot.app.client.chat_postMessage(
        channel=CHANNEL,
        text="the other subscription's alert",
        metadata={"event_type": EVENT_TYPE, "event_payload": other},
    )

    await poll_after_restart(bot, settings, sub)
    assert len(bot.slack.calls_to("conversations.history")) == 1
    assert ticket_ids(alerts_posted(bot)) == [new]
    assert await ledger_ts(settings, sub, new) == post_of(bot, new)["_ts"]


async def test_an_answer_lost_on_the_way_back_is_not_resent(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, cx, poller)
    new = [d["ticketID"] for d in reversed(sandboxes.questionpro.add_detractors(2))]
    # Slack posts the first alert, then the connection drops before its answer: slack_sdk's
    # connection-error retry would send it again.
    bot.slack.drop_connection("chat.postMessage")
    await poller.poll(sub.id)
    assert ticket_ids(alerts_posted(bot)) == new
    alert = await bot.services.alerts.alert(sub.id, new[0])
    assert alert is not None and alert.ts == post_of(bot, new[0])["_ts"]
    assert len(bot.slack.calls_to("conversations.history")) == 1


async def test_a_digest_cut_short_by_a_crash_is_found_and_listed_once(
    bot: BotUnderTest,
    cx: SlackUser,
    poller: DetractorPoller,
    sandboxes: Sandboxes,
    settings: Settings,
) -> None:
    sub = await subscribed(bot, cx, poller)
    sandboxes.questionpro.add_detractors(12)
    before = len(posts(bot, channel=CHANNEL))
    await crash_mid_post(bot, poller, sub, at=1, reaches=True)

    await poll_after_restart(bot, settings, sub)
    digest, listing = posts(bot, channel=CHANNEL)[before:]
    assert digest["text"] == "12 new detractors"
    assert listing["thread_ts"] == digest["_ts"] and listing["text"] == "Detractors"


async def test_a_history_we_may_not_read_falls_back_to_posting(
    bot: BotUnderTest,
    cx: SlackUser,
    poller: DetractorPoller,
    sandboxes: Sandboxes,
    settings: Settings,
) -> None:
    sub = await subscribed(bot, cx, poller)
    (new,) = [d["ticketID"] for d in sandboxes.questionpro.add_detractors(1)]
    await crash_mid_post(bot, poller, sub, at=1, reaches=False)
    bot.slack.fail("conversations.history", "missing_scope")  # installed before the scope

    await poll_after_restart(bot, settings, sub)
    assert bot.slack.calls_to("conversations.history!fault")
    assert ticket_ids(alerts_posted(bot)) == [new]  # never lost for want of a scope


async def test_every_alert_carries_metadata_and_steady_polls_read_no_history(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, cx, poller)
    sandboxes.questionpro.add_detractors(2)
    await poller.poll(sub.id)
    sandboxes.questionpro.add_detractors(12)
    await poller.poll(sub.id)
    await poller.poll(sub.id)  # nothing new

    summary, *alerts, digest = [p for p in posts(bot, channel=CHANNEL) if "metadata" in p]
    assert "already exist" in str(summary["blocks"])
    assert [p["_ts"] for p in alerts] == [p["_ts"] for p in alerts_posted(bot)]
    assert digest["text"] == "12 new detractors"
    for post in (summary, *alerts, digest):
        assert post["metadata"]["event_type"] == EVENT_TYPE
        assert post["metadata"]["event_payload"]["subscription_id"] == sub.id
    assert [a["metadata"]["event_payload"]["ticket_id"] for a in alerts] == ticket_ids(alerts)
    assert bot.slack.calls_to("conversations.history") == []  # only unknown outcomes look


async def test_the_stand_in_answers_conversations_history_as_slack_documents(
    bot: BotUnderTest,
) -> None:
    client = bot.app.client
    tss = []
    for n in range(4):
        metadata = {"event_type": "probe", "event_payload": {"n": n}}
        answer = await client.chat_postMessage(channel="C0H", text=f"m{n}", metadata=metadata)
        tss.append(answer["ts"])
    await client.chat_postMessage(channel="C0H", text="reply", thread_ts=tss[0])
    await client.chat_postMessage(channel="C0OTHER", text="elsewhere")

    first = await client.conversations_history(channel="C0H", limit=3)
    assert [m["text"] for m in first["messages"]] == ["m3", "m2", "m1"]  # newest first
    assert first["has_more"] and all("metadata" not in m for m in first["messages"])
    cursor = first["response_metadata"]["next_cursor"]
    rest = await client.conversations_history(channel="C0H", limit=3, cursor=cursor)
    assert [m["text"] for m in rest["messages"]] == ["m0"]  # thread replies are not history
    assert not rest["has_more"] and rest["response_metadata"]["next_cursor"] == ""

    between = await client.conversations_history(
        channel="C0H", oldest=tss[1], latest=tss[3], include_all_metadata=True
    )
    assert [m["ts"] for m in between["messages"]] == [tss[2]]  # both ends exclusive
    assert between["messages"][0]["metadata"] == {"event_type": "probe", "event_payload": {"n": 2}}
    inclusive = await client.conversations_history(
        channel="C0H", oldest=tss[1], latest=tss[3], inclusive=True
    )
    assert [m["ts"] for m in inclusive["messages"]] == [tss[3], tss[2], tss[1]]
