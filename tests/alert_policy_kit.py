"""What the escalation and access tests share: a subscribed channel with one posted alert, the
workspace's groups and channels in the stand-in, and a clock the tests move."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.alerts import DetractorPoller
from bot.credentials import QuestionProCredentials
from bot.escalation import Escalations
from bot.sandbox import questionpro
from bot.sandbox.run import Sandboxes
from bot.subscriptions import Subscription
from tests.harness import TEAM, BotUnderTest, SlackUser
from tests.waiting import eventually

CHANNEL, LEADS = "C0CX", "C0LEADS"


def directory(bot: BotUnderTest) -> None:
    """#cx and #cx-leads; @cx-leads (U0LEAD) and @support (U0MEMBER)."""
    bot.slack.directory.add_channel(CHANNEL, "cx")
    bot.slack.directory.add_channel(LEADS, "cx-leads")
    bot.slack.directory.add_group("S0LEADS", "cx-leads", ["U0LEAD"])
    bot.slack.directory.add_group("S0SUP", "support", ["U0MEMBER"])


async def cx_lead(bot: BotUnderTest) -> SlackUser:
    """Someone in #cx with QuestionPro connected."""
    await bot.services.store.save_credentials(
        TEAM, "U0CX", QuestionProCredentials(datacenter="eu", api_key=questionpro.DEMO_API_KEY)
    )
    return bot.user("U0CX", CHANNEL)


async def subscribe(bot: BotUnderTest, cx: SlackUser, options: str) -> Subscription:
    """`/ticket subscribe detractors segment:999 <options>`, then the first poll (the baseline)."""
    await cx.command(f"subscribe detractors segment:999 {options}")
    subs = await eventually(lambda: bot.services.alerts.for_channel(TEAM, CHANNEL))
    await DetractorPoller(bot.services, bot.app.client).poll(subs[0].id)
    return subs[0]


def posts(bot: BotUnderTest, channel: str, thread: str | None = None) -> list[dict]:
    """chat.postMessage calls to ``channel``: top-level ones, or the replies in ``thread``."""
    return [
        c
        for c in bot.slack.calls_to("chat.postMessage")
        if c.get("channel") == channel and c.get("thread_ts") == thread
    ]


@dataclass
class Clock:
    """The time the escalation runner sees; tests set it."""

    at: datetime

    def __call__(self) -> datetime:
        return self.at

    def after_post(self, ts: str, **delta: float) -> None:
        self.at = datetime.fromtimestamp(float(ts), UTC) + timedelta(**delta)


async def one_alert(
    bot: BotUnderTest, sandboxes: Sandboxes, sub: Subscription, **raw: str
) -> tuple[dict, dict]:
    """A new detractor (with ``raw`` fields) polled into an alert: (its raw record, its post)."""
    (detractor,) = sandboxes.questionpro.add_detractors(1)
    detractor.update(raw)
    await DetractorPoller(bot.services, bot.app.client).poll(sub.id)
    alert = next(p for p in posts(bot, CHANNEL) if str(p.get("text", "")).startswith("Detractor:"))
    return detractor, alert


async def alert_button(bot: BotUnderTest, sandboxes: Sandboxes, options: str) -> tuple[dict, str]:
    """#cx subscribed with ``options`` and one alert posted: its raw record and button value."""
    directory(bot)
    sub = await subscribe(bot, await cx_lead(bot), options)
    raw, _ = await one_alert(bot, sandboxes, sub)
    return raw, f"{sub.id}:{raw['ticketID']}"


def runner(bot: BotUnderTest, clock: Clock) -> Escalations:
    """The poller's escalation step with ``clock`` for its time."""
    return Escalations(bot.services, DetractorPoller(bot.services, bot.app.client).poster, clock)
