"""Who may act (`actors:@group`, checked at click time) and what a channel may see
(`pii:masked`: contacts masked in every channel post, the full one only in Show contact)."""

from __future__ import annotations

import json
from datetime import datetime

from bot.alerts import DetractorPoller
from bot.credentials import EpixelCredentials
from bot.ids import Action, Callback
from bot.sandbox import epixel
from bot.sandbox.run import Sandboxes
from tests.alert_policy_kit import (
    CHANNEL,
    LEADS,
    Clock,
    alert_button,
    cx_lead,
    directory,
    one_alert,
    posts,
    runner,
    subscribe,
)
from tests.harness import TEAM, BotUnderTest
from tests.waiting import eventually

PHONE = "+31 6 1234 5678"


async def test_only_members_of_the_actors_group_may_claim(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    raw, value = await alert_button(bot, sandboxes, "actors:@support")

    for action in (Action.ALERT_CLAIM, Action.ALERT_RESOLVE, Action.ALERT_ESCALATE):
        count = len(bot.slack.calls_to("response_url")) + 1
        await bot.user("U0OUTSIDER", CHANNEL).click(action, value)
        refused = (await bot.slack.wait_for("response_url", count=count))[-1]
        verb = action.value.split(".")[1]
        assert refused["text"] == (
            f"Only members of @support can {verb} these alerts; ask one of them, or someone "
            "who manages @support to add you."
        )
    stored = await bot.services.alerts.alert(value.split(":")[0], raw["ticketID"])
    assert stored is not None and stored.state == "open" and stored.claimed_by is None
    assert bot.slack.calls_to("chat.update") == [] and bot.slack.calls_to("views.open") == []

    await bot.user("U0MEMBER", CHANNEL).click(Action.ALERT_CLAIM, value)  # the control
    (update,) = await bot.slack.wait_for("chat.update")
    assert "claimed by <@U0MEMBER>" in json.dumps(update["blocks"])
    # Four clicks within the minute: Slack was asked who is in @support once.
    assert len(bot.slack.calls_to("usergroups.users.list")) == 1


def channel_messages(bot: BotUnderTest, *channels: str) -> str:
    """Everything posted or redrawn in ``channels``: text, blocks and metadata."""
    return json.dumps(
        [
            c
            for method in ("chat.postMessage", "chat.update")
            for c in bot.slack.calls_to(method)
            if c.get("channel") in channels
        ],
        ensure_ascii=False,
    )


async def test_masked_contacts_everywhere_in_the_channel_and_show_contact_to_one_person(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    directory(bot)
    sub = await subscribe(bot, await cx_lead(bot), "pii:masked escalate:2h #cx-leads remind:30m")
    raw, alert = await one_alert(bot, sandboxes, sub, phoneNumber=PHONE)
    email = raw["emailAddress"]
    masked_email = f"c***@{email.partition('@')[2]}"
    assert masked_email in alert["text"] and "+31 6 **** **78" in json.dumps(alert["blocks"])
    assert email not in json.dumps(alert["metadata"])

    # The escalation copy and the reminder; then a digest and "Show them" lists.
    clock = Clock(datetime.now())
    clock.after_post(alert["_ts"], hours=2)
    await runner(bot, clock).run_due()
    (copy,) = posts(bot, LEADS)[1:]
    assert masked_email in copy["text"] and masked_email in json.dumps(copy["blocks"])
    digest = sandboxes.questionpro.add_detractors(12)
    await DetractorPoller(bot.services, bot.app.client).poll(sub.id)
    await bot.user("U0CX", CHANNEL).click(Action.ALERTS_SHOW_EXISTING, sub.id)
    await eventually(lambda: len(lists(bot)) >= 2, what="the digest's list, then Show them's")
    listed = lists(bot)
    everything = channel_messages(bot, CHANNEL, LEADS)
    for d in sandboxes.questionpro.detractors:  # Show them lists every one of them
        assert d["emailAddress"] not in everything
    assert PHONE not in everything
    for shown in listed:  # each list shows the masked form
        assert f"c***@{digest[0]['emailAddress'].partition('@')[2]}" in json.dumps(shown["blocks"])

    await bot.user("U0CX", CHANNEL).click(Action.ALERT_CONTACT, f"{sub.id}:{raw['ticketID']}")
    (contact,) = await bot.slack.wait_for("response_url")
    assert contact["response_type"] == "ephemeral" and contact["replace_original"] is False
    assert email in contact["text"] and PHONE in contact["text"]


def lists(bot: BotUnderTest) -> list[dict]:
    """The detractor lists posted in threads (a digest's, Show them's)."""
    return [p for p in bot.slack.calls_to("chat.postMessage") if p.get("text") == "Detractors"]


async def test_show_contact_follows_the_actors_rule(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    raw, value = await alert_button(bot, sandboxes, "pii:masked actors:@support")
    await bot.user("U0OUTSIDER", CHANNEL).click(Action.ALERT_CONTACT, value)
    refused = (await bot.slack.wait_for("response_url"))[-1]
    assert refused["text"].startswith("Only members of @support can see the contact of these")
    assert raw["emailAddress"] not in refused["text"]
    await bot.user("U0MEMBER", CHANNEL).click(Action.ALERT_CONTACT, value)
    shown = (await bot.slack.wait_for("response_url", count=2))[-1]
    assert raw["emailAddress"] in shown["text"]


async def test_without_actors_only_the_subscriber_sees_a_masked_contact(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    raw, value = await alert_button(bot, sandboxes, "pii:masked")
    email = raw["emailAddress"]
    await bot.user("U0ANY", CHANNEL).click(Action.ALERT_CONTACT, value)
    refused = (await bot.slack.wait_for("response_url"))[-1]
    assert refused["text"].startswith(
        "Only <@U0CX> (who subscribed) can see the contact of these alerts."
    )
    assert email not in json.dumps(refused)
    await bot.user("U0CX", CHANNEL).click(Action.ALERT_CONTACT, value)  # the control
    shown = (await bot.slack.wait_for("response_url", count=2))[-1]
    assert email in shown["text"]

    # Anyone may still resolve, but the form shows the contact masked.
    await bot.user("U0ANY", CHANNEL).click(Action.ALERT_RESOLVE, value)
    (opened,) = await bot.slack.wait_for("views.open")
    assert opened["view"]["callback_id"] == Callback.RESOLVE
    form = json.dumps(opened["view"])
    assert f"c***@{email.partition('@')[2]}" in form and email not in form


async def test_an_escalated_masked_alert_is_announced_masked_in_its_thread(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    directory(bot)
    sub = await subscribe(bot, await cx_lead(bot), "pii:masked")
    raw, alert = await one_alert(bot, sandboxes, sub, phoneNumber=PHONE, comment="")
    email = raw["emailAddress"]
    await bot.services.store.save_credentials(
        TEAM,
        "U0CX",
        EpixelCredentials(
            base_url=sandboxes.epixel.base_url,
            api_key=epixel.DEMO_API_KEY,
            access_token=epixel.DEMO_ACCESS_TOKEN,
        ),
    )
    cx = bot.user("U0CX", CHANNEL)
    await cx.click(Action.ALERT_ESCALATE, f"{sub.id}:{raw['ticketID']}")
    (opened,) = await bot.slack.wait_for("views.open")
    form = json.dumps(opened["view"])
    assert email in form and PHONE in form  # the form is the clicker's alone
    await cx.submit(opened["view"], {"category": "2"})  # the rest as prefilled

    def announced() -> list[dict]:
        return [
            p for p in posts(bot, CHANNEL, alert["_ts"]) if "created `epixel:" in str(p.get("text"))
        ]

    (announcement,) = await eventually(announced, what="the new ticket in the alert's thread")
    created = max(sandboxes.epixel.tickets.values(), key=lambda t: t["id"])
    assert email in created["comment"] and PHONE in created["comment"]  # the ticket has it all
    assert email not in created["subject"] and "no comment" in created["subject"]
    shown = json.dumps(announcement["blocks"], ensure_ascii=False)
    assert f"c***@{email.partition('@')[2]}" in shown and "+31 6 **** **78" in shown
    everything = channel_messages(bot, CHANNEL)
    assert email not in everything and PHONE not in everything
