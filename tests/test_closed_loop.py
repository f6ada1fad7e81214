"""The closed loop: a detractor alert escalated into a ticket follows that ticket. Its status shows
on the alert; closed in the backend resolves the alert (naming who, when it was done through
ticketbot), reopened reopens it; a claim says what it does to the linked ticket; a claimed alert
at 75% of its time reminds its claimer by DM. Slack requests are signed, backends the sandboxes."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from bot.alerts import DetractorPoller
from bot.blocks import as_dicts
from bot.blocks.alerts import alert_blocks
from bot.credentials import OmnideskCredentials, QuestionProCredentials
from bot.ids import Action
from bot.sandbox import omnidesk, questionpro
from bot.sandbox.run import Sandboxes
from bot.subscriptions import Alert, alert_from_row, ledger_row
from tests.harness import TEAM, BotUnderTest, SlackUser
from tests.test_alerts import CHANNEL, posts, subscribed
from tests.waiting import eventually

AGENT = "U0AGENT"


@dataclass
class Linked:
    """An alert escalated into a new Omnidesk ticket by ``agent``."""

    bot: BotUnderTest
    poller: DetractorPoller
    agent: SlackUser
    sub_id: str
    ticket_id: int  # the QuestionPro detractor's
    value: str  # the alert buttons' value
    omnidesk_id: int
    ts: str  # the alert's message

    @property
    def ref(self) -> str:
        return f"omnidesk:{self.omnidesk_id}"

    async def alert(self) -> Alert:
        found = await self.bot.services.alerts.alert(self.sub_id, self.ticket_id)
        assert found is not None
        return found

    async def check(self) -> None:
        """One read of the linked ticket, as the poller's loop does when it is due."""
        await self.poller.links.check(self.sub_id, self.ticket_id, self.ref)

    def thread(self) -> list[str]:
        return [p["text"] for p in posts(self.bot, channel=CHANNEL, thread_ts=self.ts)]

    def updates(self) -> list[str]:
        return [
            json.dumps(u["blocks"], ensure_ascii=False)
            for u in self.bot.slack.calls_to("chat.update")
        ]


async def next_call(bot: BotUnderTest, method: str, before: int) -> dict:
    """Wait for the call to ``method`` after the ``before`` already made; returns it."""
    return (await bot.slack.wait_for(method, count=before + 1))[before]


async def escalate(bot: BotUnderTest, sandboxes: Sandboxes, *, hours_old: float = 0) -> Linked:
    """A subscribed channel, one new detractor alert, escalated by the agent into Omnidesk
    through the Escalate button and the create form."""
    store = bot.services.store
    await store.save_credentials(
        TEAM, "U0CX", QuestionProCredentials(datacenter="eu", api_key=questionpro.DEMO_API_KEY)
    )
    await store.save_credentials(
        TEAM,
        AGENT,
        OmnideskCredentials(base_url=sandboxes.omnidesk.base_url, api_key=omnidesk.FULL_KEY),
    )
    poller = DetractorPoller(bot.services, bot.app.client)
    sub = await subscribed(bot, bot.user("U0CX", CHANNEL), poller)
    at = datetime.now(UTC) - timedelta(hours=hours_old)
    (raw,) = sandboxes.questionpro.add_detractors(1, at=at)
    await poller.poll(sub.id)
    alert = await bot.services.alerts.alert(sub.id, raw["ticketID"])
    assert alert is not None and alert.ts is not None
    agent, value = bot.user(AGENT, CHANNEL), f"{sub.id}:{raw['ticketID']}"
    opened, updated = len(bot.slack.calls_to("views.open")), len(bot.slack.calls_to("chat.update"))
    await agent.click(Action.ALERT_ESCALATE, value)
    form = (await next_call(bot, "views.open", opened))["view"]
    existing = set(sandboxes.omnidesk.tickets)
    await agent.submit(form, {"title": "Detractor", "from": raw["emailAddress"]})
    await next_call(bot, "chat.update", updated)
    (new_id,) = set(sandboxes.omnidesk.tickets) - existing
    linked = Linked(bot, poller, agent, sub.id, raw["ticketID"], value, new_id, alert.ts)
    said = f":arrow_up: <@{AGENT}> escalated this to `{linked.ref}`."
    await eventually(lambda: said in linked.thread())  # the thread line follows the redraw
    return linked


async def test_a_ticket_closed_in_omnidesk_resolves_the_alert_and_reopening_reopens_it(
    bot_over: BotUnderTest, sandboxes: Sandboxes
) -> None:
    linked = await escalate(bot_over, sandboxes)
    assert f"escalated to `{linked.ref}` · New" in linked.updates()[-1]
    link = (await linked.alert()).escalated[0]
    assert (link.by_scope, link.by_user, link.status_label) == (TEAM, AGENT, "New")

    # Someone closes it in Omnidesk's own UI: the sandbox's state changes, ticketbot is not told.
    sandboxes.omnidesk.tickets[linked.omnidesk_id]["status"] = "closed"
    updates = len(bot_over.slack.calls_to("chat.update"))
    await linked.check()
    redrawn = await next_call(bot_over, "chat.update", updates)
    assert redrawn["ts"] == linked.ts
    blocks = json.dumps(redrawn["blocks"], ensure_ascii=False)
    assert (
        ":white_check_mark: closed in Omnidesk" in blocks and "closed in Omnidesk by" not in blocks
    )
    assert f"`{linked.ref}` · Closed" in blocks
    assert Action.ALERT_RESOLVE not in blocks
    closed_line = (
        f":white_check_mark: Closed in Omnidesk: `{linked.ref}` is Closed, so this alert is "
        "resolved."
    )
    await eventually(lambda: closed_line in linked.thread())
    resolved = await linked.alert()
    assert (resolved.state, resolved.resolved_by, resolved.resolved_via) == (
        "resolved",
        None,
        linked.ref,
    )

    sandboxes.omnidesk.tickets[linked.omnidesk_id]["status"] = "open"
    await linked.check()
    reopened = await next_call(bot_over, "chat.update", updates + 1)
    assert Action.ALERT_CLAIM in json.dumps(reopened["blocks"])  # open again: claimable
    assert f"`{linked.ref}` · Open" in json.dumps(reopened["blocks"], ensure_ascii=False)
    await eventually(
        lambda: (
            f":arrows_counterclockwise: Reopened in Omnidesk: `{linked.ref}` is Open, so "
            "this alert is open again." in linked.thread()
        )
    )
    assert (await linked.alert()).state == "open"


async def test_closed_through_ticketbot_names_who_closed_it_and_a_claimer_gets_it_back(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    linked = await escalate(bot, sandboxes)
    await linked.agent.click(Action.ALERT_CLAIM, linked.value)
    await linked.agent.command(f"status {linked.ref} closed")
    await eventually(lambda: sandboxes.omnidesk.tickets[linked.omnidesk_id]["status"] == "closed")
    await linked.check()
    await eventually(
        lambda: (
            f":white_check_mark: Closed in Omnidesk by <@{AGENT}>: `{linked.ref}` is Closed, "
            "so this alert is resolved." in linked.thread()
        )
    )
    assert f"closed in Omnidesk by <@{AGENT}>" in linked.updates()[-1]
    assert (await linked.alert()).resolved_by == AGENT

    sandboxes.omnidesk.tickets[linked.omnidesk_id]["status"] = "pending"  # reopened there
    await linked.check()
    await eventually(lambda: any("Reopened in Omnidesk: " in t for t in linked.thread()))
    again = await linked.alert()
    assert (again.state, again.claimed_by, again.resolved_by) == ("claimed", AGENT, None)


async def test_a_new_status_redraws_the_alert_without_a_thread_line(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    linked = await escalate(bot, sandboxes)
    thread, updates = linked.thread(), len(bot.slack.calls_to("chat.update"))
    await linked.check()  # nothing changed: neither redrawn nor said
    assert len(bot.slack.calls_to("chat.update")) == updates
    sandboxes.omnidesk.tickets[linked.omnidesk_id]["status"] = "pending"
    await linked.check()  # check() returns once its Slack calls are answered
    assert f"`{linked.ref}` · Pending" in linked.updates()[-1]
    assert len(bot.slack.calls_to("chat.update")) == updates + 1
    assert linked.thread() == thread
    assert (await linked.alert()).state == "open"


async def test_links_are_read_at_the_set_pace_from_the_pollers_loop(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    linked = await escalate(bot, sandboxes)
    reads = f"/ticket/{linked.omnidesk_id}"

    def read_count() -> int:
        return sum(1 for r in sandboxes.omnidesk.requests if r.path.endswith(reads))

    before = read_count()
    await linked.poller.links.check_due()  # just escalated: not due for 120 s
    assert read_count() == before
    alert = await linked.alert()
    alert.escalated[0].checked_at = datetime.now(UTC) - timedelta(seconds=121)
    await bot.services.alerts.record([alert])
    await linked.poller.links.check_due()  # due now: read once
    assert read_count() == before + 1
    await linked.poller.links.check_due()
    assert read_count() == before + 1

    # The poller's own loop, with a short interval: closing the ticket resolves the alert.
    bot.services.settings.link_check_interval = 0.05
    sandboxes.omnidesk.tickets[linked.omnidesk_id]["status"] = "solved"
    stop = asyncio.Event()
    running = asyncio.create_task(linked.poller.run(stop, tick=0.05))
    try:
        await eventually(lambda: any("Closed in Omnidesk" in t for t in linked.thread()))
    finally:
        stop.set()
        await running
    assert f"`{linked.ref}` · Solved" in linked.updates()[-1]


async def test_a_backend_outage_keeps_the_status_logs_once_and_says_nothing_in_the_thread(
    bot: BotUnderTest, sandboxes: Sandboxes, caplog: pytest.LogCaptureFixture
) -> None:
    linked = await escalate(bot, sandboxes)
    thread, updates = linked.thread(), len(bot.slack.calls_to("chat.update"))
    faults = sandboxes.omnidesk.faults
    faults.status, faults.status_times = 503, 1000
    with caplog.at_level(logging.WARNING, logger="ticketbot.alert_links"):
        await linked.check()
        await linked.check()
    lines = [r.getMessage() for r in caplog.records if r.name == "ticketbot.alert_links"]
    assert len(lines) == 1 and lines[0].startswith(f"could not check {linked.ref}")
    assert omnidesk.FULL_KEY not in lines[0]
    assert linked.thread() == thread
    assert len(bot.slack.calls_to("chat.update")) == updates
    assert (await linked.alert()).escalated[0].status_label == "New"

    faults.status_times = 0  # back: the same check now resolves the alert
    sandboxes.omnidesk.tickets[linked.omnidesk_id]["status"] = "closed"
    await linked.check()
    assert (await linked.alert()).state == "resolved"
    assert (await linked.alert()).escalated[0].failing_since is None


async def test_disconnected_credentials_stop_the_checks_with_one_line_until_reconnected(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    linked = await escalate(bot, sandboxes)
    await bot.services.store.delete_credentials(TEAM, AGENT, "omnidesk")
    await linked.check()
    await linked.check()
    stopped = [t for t in linked.thread() if t.startswith(":warning: I can no longer check")]
    assert stopped == [
        f":warning: I can no longer check `{linked.ref}`: it is read with <@{AGENT}>'s Omnidesk "
        f"account, which is no longer connected. <@{AGENT}>, run `/ticket connect omnidesk` "
        "and I will pick it up again."
    ]
    assert (await linked.alert()).escalated[0].stopped

    await bot.services.store.save_credentials(
        TEAM,
        AGENT,
        OmnideskCredentials(base_url=sandboxes.omnidesk.base_url, api_key=omnidesk.FULL_KEY),
    )
    sandboxes.omnidesk.tickets[linked.omnidesk_id]["status"] = "closed"
    await linked.check()
    assert (await linked.alert()).state == "resolved"


async def test_claim_says_the_linked_ticket_has_no_assignee_to_set(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    linked = await escalate(bot, sandboxes)
    requests = len(sandboxes.omnidesk.requests)
    await linked.agent.click(Action.ALERT_CLAIM, linked.value)
    await eventually(
        lambda: (
            f":raising_hand: <@{AGENT}> claimed this. Omnidesk has no assignee field in its "
            f"API, so `{linked.ref}` stays as it is." in linked.thread()
        )
    )
    assert len(sandboxes.omnidesk.requests) == requests  # nothing was sent to Omnidesk


async def test_a_claimed_alert_at_75_percent_reminds_its_claimer_by_dm_once(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    linked = await escalate(bot, sandboxes, hours_old=60)  # 83% of QuestionPro's 72 h
    await linked.agent.click(Action.ALERT_CLAIM, linked.value)
    await eventually(lambda: any("claimed this" in t for t in linked.thread()))
    await linked.poller.remind_due()
    await linked.poller.remind_due()
    reminders = [t for t in linked.thread() if t.startswith(":alarm_clock:")]
    assert len(reminders) == 1
    assert "this is still unresolved. <@U0AGENT>: Respond by <!date^" in reminders[0]
    dms = [p["text"] for p in posts(bot, channel=AGENT)]
    assert len(dms) == 1
    assert dms[0].startswith(
        f":alarm_clock: The detractor alert you claimed in <#{CHANNEL}> (QuestionPro ticket "
        f"{linked.ticket_id}) is at 75% of its response time and still unresolved."
    )


async def test_a_ledger_row_from_before_links_loads_and_is_shown_but_never_checked(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    linked = await escalate(bot, sandboxes)
    row = ledger_row(bot.services.store, await linked.alert())
    # As releases before links wrote it: bare refs, no resolved_via.
    legacy = {k: v for k, v in row.items() if k != "resolved_via"} | {"escalated": [linked.ref]}
    old = alert_from_row(bot.services.store, legacy)
    assert old is not None and old.escalated[0].ref == linked.ref
    assert not old.escalated[0].checkable and old.watched_links == []
    shown = json.dumps(as_dicts(alert_blocks(old, "https://example.com/t")))
    assert f"escalated to `{linked.ref}`" in shown
    await bot.services.alerts.record([old])
    requests = len(sandboxes.omnidesk.requests)
    await linked.check()
    await linked.poller.links.check_due()
    assert len(sandboxes.omnidesk.requests) == requests
