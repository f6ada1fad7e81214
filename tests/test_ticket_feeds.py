"""Ticket feeds end to end: `/ticket subscribe omnidesk|epixel|ispcrm` through signed slash
commands, polls driven by the poller's poll function, tickets added in the sandboxes as a person
in the vendor's UI would, and what the Slack stand-in received."""

from __future__ import annotations

import json

import pytest

from bot.alerts import DetractorPoller
from bot.credentials import QuestionProCredentials
from bot.ids import Action
from bot.runtime import build_services
from bot.sandbox import omnidesk, questionpro
from bot.sandbox.run import Sandboxes
from bot.subscriptions import Subscription
from bot.ticket_feeds import TicketFeedPoller
from tests.conftest import connect_sandbox_accounts
from tests.harness import TEAM, BotUnderTest, SlackUser
from tests.waiting import eventually

CHANNEL = "C0SUPPORT"


@pytest.fixture
async def lead(bot: BotUnderTest, sandboxes: Sandboxes) -> SlackUser:
    """A support lead with Omnidesk, Epixel, ISPCRM and QuestionPro connected, in #support."""
    await connect_sandbox_accounts(bot, sandboxes, "U0LEAD")
    await bot.services.store.save_credentials(
        TEAM, "U0LEAD", QuestionProCredentials(datacenter="eu", api_key=questionpro.DEMO_API_KEY)
    )
    return bot.user("U0LEAD", CHANNEL)


@pytest.fixture
def feeds(bot: BotUnderTest) -> TicketFeedPoller:
    return TicketFeedPoller(bot.services, bot.app.client)


def posts(bot: BotUnderTest, **where: str) -> list[dict]:
    return [
        c
        for c in bot.slack.calls_to("chat.postMessage")
        if all(c.get(k) == v for k, v in where.items())
    ]


def ticket_posts(bot: BotUnderTest) -> list[dict]:
    return [c for c in posts(bot, channel=CHANNEL) if str(c.get("text")).startswith("New ticket")]


def refs(messages: list[dict]) -> list[str]:
    """The ticket refs of posted tickets, in the order posted (from each one's text)."""
    return [m["text"].split("`")[1] for m in messages]


def actions_of(message: dict) -> list[str]:
    return [
        e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]


async def subscribe(bot: BotUnderTest, user: SlackUser, args: str) -> Subscription:
    """Subscribe with ``args``, wait for the confirmation, return the new subscription."""
    before = {s.id for s in await bot.services.alerts.for_channel(TEAM, CHANNEL)}
    await user.command(f"subscribe {args}")

    async def added() -> list[Subscription]:
        subs = await bot.services.alerts.for_channel(TEAM, CHANNEL)
        return [s for s in subs if s.id not in before]

    return (await eventually(added, what=f"a subscription for {args!r}"))[0]


async def test_omnidesk_posts_only_matching_new_tickets_once_with_buttons_and_threads_changes(
    bot: BotUnderTest, lead: SlackUser, feeds: TicketFeedPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribe(bot, lead, "omnidesk priority:urgent changes:on")
    confirm = posts(bot, channel=CHANNEL)[0]
    assert confirm["text"].startswith("<@U0LEAD> subscribed this channel to new Omnidesk tickets")
    assert "priority:urgent" in confirm["text"]

    await feeds.poll(sub.id)  # the baseline: one line, nothing replayed
    summary = posts(bot, channel=CHANNEL)[-1]
    assert "40 already exist and are not posted" in summary["text"]
    assert ticket_posts(bot) == []

    desk = sandboxes.omnidesk
    first = desk.create(title="Site down", priority="urgent")
    desk.create(title="Typo on the pricing page", priority="low")
    second = desk.create(title="Checkout fails", priority="urgent", status="open")
    await feeds.poll(sub.id)
    posted = ticket_posts(bot)
    assert refs(posted) == [f"omnidesk:{first['ticketID']}", f"omnidesk:{second['ticketID']}"]
    assert "Site down" in json.dumps(posted[0]["blocks"])
    assert actions_of(posted[0])[:2] == [Action.TICKET_STATUS, Action.TICKET_PRIORITY]
    assert Action.TICKET_CLOSE in actions_of(posted[0])

    await feeds.poll(sub.id)  # nothing new: nothing posted twice
    assert len(ticket_posts(bot)) == 2

    desk.tickets[first["ticketID"]]["status"] = "closed"
    await feeds.poll(sub.id)
    update = (await bot.slack.wait_for("chat.update"))[-1]
    assert update["ts"] == posted[0]["_ts"]
    assert Action.TICKET_REOPEN in actions_of(update)  # redrawn with the new status
    line = posts(bot, thread_ts=posted[0]["_ts"])[-1]
    assert line["text"] == ":arrows_counterclockwise: Status is now *Closed* (was New)."
    await feeds.poll(sub.id)  # the change is told once
    assert len(bot.slack.calls_to("chat.update")) == 1


async def test_many_new_tickets_at_once_make_one_digest_with_the_list_in_its_thread(
    bot: BotUnderTest, lead: SlackUser, feeds: TicketFeedPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribe(bot, lead, "omnidesk")
    await feeds.poll(sub.id)
    threshold = bot.services.settings.digest_threshold
    for n in range(threshold + 1):
        sandboxes.omnidesk.create(title=f"Outage report {n} <b>")
    await feeds.poll(sub.id)
    assert ticket_posts(bot) == []
    digest = posts(bot, text=f"{threshold + 1} new Omnidesk tickets")[0]
    listed = posts(bot, thread_ts=digest["_ts"])
    text = json.dumps([m["blocks"] for m in listed])
    assert text.count("Outage report") == threshold + 1
    assert "&lt;b&gt;" in text and "<b>" not in text  # backend text is escaped

    sandboxes.omnidesk.create(title="One more")  # below the threshold again: posted on its own
    await feeds.poll(sub.id)
    assert [m["text"].endswith("One more") for m in ticket_posts(bot)] == [True]


async def test_a_restarted_bot_on_the_same_data_posts_nothing_twice(
    bot: BotUnderTest,
    lead: SlackUser,
    feeds: TicketFeedPoller,
    sandboxes: Sandboxes,
    settings,
) -> None:
    sub = await subscribe(bot, lead, "omnidesk mode:each")
    await feeds.poll(sub.id)
    shown = sandboxes.omnidesk.create(title="Before the restart")
    await feeds.poll(sub.id)
    assert len(ticket_posts(bot)) == 1
    await bot.stop()

    later = sandboxes.omnidesk.create(title="After the restart")
    restarted = await BotUnderTest(bot.slack, settings, build_services(settings)).start()
    try:
        await DetractorPoller(restarted.services, restarted.app.client).feeds.poll(sub.id)
    finally:
        await restarted.stop()
    assert refs(ticket_posts(bot)) == [
        f"omnidesk:{shown['ticketID']}",
        f"omnidesk:{later['ticketID']}",
    ]


async def test_epixel_tag_filter_reads_the_tags_of_new_tickets(
    bot: BotUnderTest, lead: SlackUser, feeds: TicketFeedPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribe(bot, lead, "epixel tag:vip")
    await feeds.poll(sub.id)
    assert "already exist" in posts(bot, channel=CHANNEL)[-1]["text"]
    vip = sandboxes.epixel.add_ticket("Premium customer cannot pay", tags=[2])
    sandboxes.epixel.add_ticket("Ordinary question")
    await feeds.poll(sub.id)
    posted = ticket_posts(bot)
    assert refs(posted) == [f"epixel:{vip['id']}"]
    assert Action.TICKET_COMMENT in actions_of(posted[0])


async def test_ispcrm_tickets_are_posted_read_only(
    bot: BotUnderTest, lead: SlackUser, feeds: TicketFeedPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribe(bot, lead, "ispcrm text:fiber")
    await feeds.poll(sub.id)
    assert "4 already exist" in posts(bot, channel=CHANNEL)[-1]["text"]
    wanted = sandboxes.ispcrm.add_ticket("Fiber cut on Main street", priority="High")
    sandboxes.ispcrm.add_ticket("Change my invoice address")
    await feeds.poll(sub.id)
    posted = ticket_posts(bot)
    assert refs(posted) == [f"ispcrm:{wanted['ticket_id']}"]
    # Reading only: Watch and the History menu, no change buttons.
    assert actions_of(posted[0]) == [Action.TICKET_WATCH, Action.TICKET_MORE]
    assert "Read-only here" in json.dumps(posted[0]["blocks"])


async def test_refused_credentials_pause_the_feed_and_tell_the_subscriber(
    bot: BotUnderTest, lead: SlackUser, feeds: TicketFeedPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribe(bot, lead, "omnidesk")
    await feeds.poll(sub.id)
    del sandboxes.omnidesk.keys[omnidesk.FULL_KEY]  # revoked in Omnidesk
    await feeds.poll(sub.id)
    told = posts(bot, channel="U0LEAD")[-1]
    assert told["text"].startswith(
        f":pause_button: Omnidesk ticket alerts for <#{CHANNEL}> are paused:"
    )
    assert "/ticket connect omnidesk" in told["text"]
    assert (await bot.services.alerts.get(sub.id)).paused == "credentials"  # type: ignore[union-attr]


async def test_detractor_rating_filter_records_but_never_posts_the_others(
    bot: BotUnderTest, lead: SlackUser, sandboxes: Sandboxes
) -> None:
    poller = DetractorPoller(bot.services, bot.app.client)
    sub = await subscribe(bot, lead, "detractors segment:999 rating:0-3")
    await poller.poll(sub.id)
    new = sandboxes.questionpro.add_detractors(3)
    for detractor, rating in zip(new, ("2", "6", "0"), strict=True):
        detractor["rating"] = rating
    await poller.poll(sub.id)
    alerts = [c for c in posts(bot, channel=CHANNEL) if c["text"].startswith("Detractor:")]
    assert [a["metadata"]["event_payload"]["ticket_id"] for a in alerts] == [
        new[2]["ticketID"],
        new[0]["ticketID"],
    ]
    assert await bot.services.alerts.seen(sub.id, [new[1]["ticketID"]]) == {new[1]["ticketID"]}


async def test_two_subscriptions_share_a_channel_and_are_listed_with_their_filters(
    bot: BotUnderTest, lead: SlackUser, feeds: TicketFeedPoller
) -> None:
    await subscribe(bot, lead, "detractors segment:999")
    await subscribe(bot, lead, "omnidesk priority:urgent text:<b>refund</b>")
    await lead.command("omnidesk priority:urgent text:<b>refund</b>".join(("subscribe ", "")))
    refused = (await bot.slack.wait_for("response_url"))[-1]
    assert "already gets exactly those alerts" in refused["text"]
    await subscribe(bot, lead, "omnidesk priority:high")  # another filter: allowed

    await lead.command("subscriptions")
    listed = (await bot.slack.wait_for("response_url", count=2))[-1]
    sections = [b["text"]["text"] for b in listed["blocks"]]
    assert [s.split(" · ")[0] for s in sections] == [
        "*QuestionPro detractors*",
        "*Omnidesk tickets*",
        "*Omnidesk tickets*",
    ]
    assert "priority:urgent" in sections[1] and "&lt;b&gt;refund&lt;/b&gt;" in sections[1]
    assert "<b>" not in json.dumps(listed["blocks"])
    assert all(b["accessory"]["action_id"] == Action.UNSUBSCRIBE for b in listed["blocks"])

    await lead.open_home()  # App Home lists every source too
    home = (await bot.slack.wait_for("views.publish"))[-1]["view"]
    shown = json.dumps(home["blocks"], ensure_ascii=False)
    assert shown.count("· Omnidesk tickets ·") == 2 and "· QuestionPro detractors ·" in shown

    await lead.command("unsubscribe omnidesk priority:high")
    await bot.slack.wait_for("response_url", count=3)
    left = await bot.services.alerts.for_channel(TEAM, CHANNEL)
    assert [s.source for s in left] == ["detractors", "omnidesk"]
    gone = posts(bot, channel=CHANNEL)[-1]
    assert gone["text"].startswith("<@U0LEAD> unsubscribed this channel from new Omnidesk tickets")

    await lead.click(Action.UNSUBSCRIBE, left[1].id, blocks=listed["blocks"])  # the button

    async def only_detractors() -> bool:
        subs = await bot.services.alerts.for_channel(TEAM, CHANNEL)
        return [s.source for s in subs] == ["detractors"]

    await eventually(only_detractors, what="the button removed the Omnidesk subscription")


async def test_filter_values_the_backend_does_not_know_are_refused_before_saving(
    bot: BotUnderTest, lead: SlackUser
) -> None:
    await lead.command("subscribe omnidesk priority:asap")
    said = (await bot.slack.wait_for("response_url"))[-1]
    assert said["text"].startswith("`asap` is not a Omnidesk priority. Valid values: `low`")
    await lead.command("subscribe omnidesk tag:vip")
    said = (await bot.slack.wait_for("response_url", count=2))[-1]
    assert said["text"] == "Omnidesk tickets carry no tags here: drop `tag:`."
    await lead.command("subscribe epixel tag:vip")  # control: Epixel has tags
    await eventually(lambda: bot.services.alerts.for_channel(TEAM, CHANNEL))
    assert [s.source for s in await bot.services.alerts.for_channel(TEAM, CHANNEL)] == ["epixel"]
