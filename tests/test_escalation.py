"""Escalation policies per subscription: reminders while unclaimed (mentioning the notify group),
a copy into another channel once, working hours, and the names resolved at subscribe time."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.ids import Action
from bot.sandbox.run import Sandboxes
from tests.alert_policy_kit import (
    CHANNEL,
    LEADS,
    Clock,
    cx_lead,
    directory,
    one_alert,
    posts,
    runner,
    subscribe,
)
from tests.harness import TEAM, BotUnderTest

AMS = ZoneInfo("Europe/Amsterdam")


def reminders(bot: BotUnderTest, alert: dict) -> list[dict]:
    return [p for p in posts(bot, CHANNEL, alert["_ts"]) if p["text"].startswith(":bell:")]


async def test_reminders_go_out_each_interval_naming_the_group_until_claimed(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    directory(bot)
    sub = await subscribe(bot, await cx_lead(bot), "remind:30m notify:@cx-leads")
    assert (await bot.services.alerts.get(sub.id)).policy.notify.id == "S0LEADS"  # type: ignore[union-attr]
    raw, alert = await one_alert(bot, sandboxes, sub)
    clock = Clock(datetime.now(AMS))
    escalations = runner(bot, clock)

    clock.after_post(alert["_ts"], minutes=29)
    await escalations.run_due()
    assert reminders(bot, alert) == []  # not yet: the first one is due at 30 min
    clock.after_post(alert["_ts"], minutes=30)
    await escalations.run_due()
    await escalations.run_due()  # the same moment again: still one
    (first,) = reminders(bot, alert)
    assert "<!subteam^S0LEADS>" in first["text"] and "30 min" in first["text"]
    clock.after_post(alert["_ts"], minutes=61)
    await escalations.run_due()
    assert len(reminders(bot, alert)) == 2

    await bot.user("U0AGENT", CHANNEL).click(Action.ALERT_CLAIM, f"{sub.id}:{raw['ticketID']}")
    await bot.slack.wait_for("chat.update")
    clock.after_post(alert["_ts"], hours=5)
    await escalations.run_due()
    assert len(reminders(bot, alert)) == 2  # claimed: the nudging stopped


async def test_an_unclaimed_alert_is_copied_once_into_the_other_channel_and_acts_there(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    directory(bot)
    sub = await subscribe(bot, await cx_lead(bot), "escalate:2h #cx-leads")
    (notice,) = posts(bot, LEADS)  # said at subscribe time, which also proved posting works
    assert notice["text"].startswith(
        f"QuestionPro detractor alerts from <#{CHANNEL}> still unclaimed"
    )
    raw, alert = await one_alert(bot, sandboxes, sub)
    clock = Clock(datetime.now(AMS))
    escalations = runner(bot, clock)

    clock.after_post(alert["_ts"], hours=1, minutes=59)
    await escalations.run_due()
    assert len(posts(bot, LEADS)) == 1
    clock.after_post(alert["_ts"], hours=2)
    await escalations.run_due()
    clock.after_post(alert["_ts"], hours=6)
    await escalations.run_due()
    copies = posts(bot, LEADS)[1:]
    assert len(copies) == 1  # once, however long it stays unclaimed
    value = f"{sub.id}:{raw['ticketID']}"
    assert value in json.dumps(copies[0]["blocks"]) and raw["comment"] in json.dumps(
        copies[0]["blocks"]
    )
    (line,) = [p for p in posts(bot, CHANNEL, alert["_ts"]) if "copied to" in p["text"]]
    assert line["text"] == f":arrow_double_up: Unclaimed for 2 h: copied to <#{LEADS}>."

    # A lead claims from the copy: the same alert changes, and both messages are redrawn.
    await bot.user("U0LEAD", LEADS).click(Action.ALERT_CLAIM, value)
    updates = await bot.slack.wait_for("chat.update", count=2)
    assert {(u["channel"], u["ts"]) for u in updates} == {
        (CHANNEL, alert["_ts"]),
        (LEADS, copies[0]["_ts"]),
    }
    assert all("claimed by <@U0LEAD>" in json.dumps(u["blocks"]) for u in updates)
    stored = await bot.services.alerts.alert(sub.id, raw["ticketID"])
    assert stored is not None and stored.state == "claimed"


async def test_outside_working_hours_nothing_goes_out_and_at_opening_one_of_each(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    directory(bot)
    sub = await subscribe(
        bot, await cx_lead(bot), "remind:30m escalate:2h #cx-leads hours:09-18 Europe/Amsterdam"
    )
    _, alert = await one_alert(bot, sandboxes, sub)
    tomorrow = (datetime.now(AMS) + timedelta(days=1)).date()
    clock = Clock(datetime.combine(tomorrow, time(22, 0), tzinfo=AMS))  # long overdue, but closed
    escalations = runner(bot, clock)

    await escalations.run_due()
    assert reminders(bot, alert) == [] and len(posts(bot, LEADS)) == 1  # only the notice
    clock.at = datetime.combine(tomorrow + timedelta(days=1), time(9, 0), tzinfo=AMS)
    await escalations.run_due()
    clock.at += timedelta(minutes=10)
    await escalations.run_due()
    assert len(reminders(bot, alert)) == 1  # one at the opening, not one per missed interval
    assert len(posts(bot, LEADS)) == 2  # and the copy
    clock.at += timedelta(minutes=20)
    await escalations.run_due()
    assert len(reminders(bot, alert)) == 2  # then every 30 min again


async def test_unknown_names_are_refused_at_subscribe_and_nothing_is_saved(
    bot: BotUnderTest,
) -> None:
    directory(bot)
    bot.slack.directory.add_channel("C0SECRET", "secret", private=True, member=False)
    cx = await cx_lead(bot)
    cases = {
        "notify:@nobody": "I can't find a user group `@nobody` in this workspace.",
        "actors:@ghosts": "I can't find a user group `@ghosts` in this workspace.",
        "escalate:2h #nowhere": "I can't find a channel `#nowhere`.",
        "escalate:2h #secret": "I can't find a channel `#secret`. If it is private, invite me",
    }
    for count, (option, said) in enumerate(cases.items(), start=1):
        await cx.command(f"subscribe detractors {option}")
        answer = (await bot.slack.wait_for("response_url", count=count))[-1]
        assert answer["text"].startswith(said), answer["text"]
    assert await bot.services.alerts.for_channel(TEAM, CHANNEL) == []
    assert posts(bot, CHANNEL) == []  # not even the confirmation


async def test_an_archived_escalation_channel_is_refused_with_what_to_do(
    bot: BotUnderTest,
) -> None:
    directory(bot)
    bot.slack.directory.add_channel("C0OLD", "old-leads", archived=True)
    await (await cx_lead(bot)).command("subscribe detractors escalate:2h <#C0OLD|old-leads>")
    answer = (await bot.slack.wait_for("response_url"))[-1]
    assert answer["text"].startswith("I can't post in <#C0OLD> (Slack says `is_archived`).")
    assert await bot.services.alerts.for_channel(TEAM, CHANNEL) == []


async def test_the_escalation_channel_is_found_past_the_first_page(bot: BotUnderTest) -> None:
    directory(bot)
    for n in range(250):
        bot.slack.directory.add_channel(f"C{n:05d}", f"team-{n}")
    bot.slack.directory.add_channel("C0LATE", "late-leads")
    sub = await subscribe(bot, await cx_lead(bot), "escalate:2h #late-leads")
    assert sub.policy.escalate_to is not None and sub.policy.escalate_to.id == "C0LATE"
    pages = bot.slack.calls_to("conversations.list")
    assert len(pages) == 2 and pages[1]["cursor"]


async def test_a_claim_made_while_the_reminder_posts_stays_and_stops_the_copy(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    directory(bot)
    sub = await subscribe(bot, await cx_lead(bot), "remind:30m escalate:2h #cx-leads")
    raw, alert = await one_alert(bot, sandboxes, sub)
    value = f"{sub.id}:{raw['ticketID']}"
    clock = Clock(datetime.now(AMS))
    escalations = runner(bot, clock)
    post = escalations.poster.post

    async def claimed_meanwhile(channel: str, **message: object) -> str:
        ts = await post(channel, **message)  # type: ignore[arg-type]
        if str(message.get("text", "")).startswith(":bell:"):
            # The runner read the alert before this post; someone claims it in between.
            await bot.user("U0AGENT", CHANNEL).click(Action.ALERT_CLAIM, value)
            await bot.slack.wait_for("chat.update")
        return ts

    escalations.poster.post = claimed_meanwhile  # type: ignore[method-assign]
    clock.after_post(alert["_ts"], hours=3)  # a reminder and the copy are both due
    await escalations.run_due()

    assert len(reminders(bot, alert)) == 1  # the control: the window was hit
    stored = await bot.services.alerts.alert(sub.id, raw["ticketID"])
    assert stored is not None and (stored.state, stored.claimed_by) == ("claimed", "U0AGENT")
    assert stored.nudged_at == clock.at  # its own field was still written
    assert len(posts(bot, LEADS)) == 1  # only the subscribe notice: claimed, so no copy
    clock.after_post(alert["_ts"], hours=5)
    await escalations.run_due()
    assert len(reminders(bot, alert)) == 1  # and no more reminders


async def test_two_claims_at_once_one_wins_and_the_other_is_told(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    directory(bot)
    sub = await subscribe(bot, await cx_lead(bot), "remind:30m")
    raw, _ = await one_alert(bot, sandboxes, sub)
    value = f"{sub.id}:{raw['ticketID']}"
    await asyncio.gather(
        bot.user("U0AGENT", CHANNEL).click(Action.ALERT_CLAIM, value),
        bot.user("U0LEAD", CHANNEL).click(Action.ALERT_CLAIM, value),
    )
    (told,) = await bot.slack.wait_for("response_url")
    stored = await bot.services.alerts.alert(sub.id, raw["ticketID"])
    assert stored is not None and stored.claimed_by in {"U0AGENT", "U0LEAD"}
    assert told["text"] == f"<@{stored.claimed_by}> already claimed this one."
    lines = [p for p in bot.slack.calls_to("chat.postMessage") if "claimed this" in p["text"]]
    assert len(lines) == 1 and f"<@{stored.claimed_by}>" in lines[0]["text"]
