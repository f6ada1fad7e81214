"""Detractor insights: figures on a ledger with known timings, `/ticket insights` with its chart
uploaded into the thread, and the weekly post (time zones, once per week, weekly:off)."""

from __future__ import annotations

import asyncio
import json
import struct
from datetime import UTC, datetime, timedelta

import pytest

from bot.alerts import DetractorPoller
from bot.charts import HEIGHT, WIDTH
from bot.config import Settings
from bot.errors import UserInputError
from bot.insights import Period, escalation_closed, percentile, period, top_terms
from bot.insights_post import gather
from bot.models import Detractor, NeutralStatus
from bot.runtime import build_services
from bot.subscriptions import Alert, Subscription, TicketLink, alert_from_row, ledger_row
from bot.weekly import WeeklyInsights
from handlers.insights import NOT_SUBSCRIBED, pick
from tests.harness import TEAM, BotUnderTest

CHANNEL = "C0CX"
DAY = datetime(2026, 3, 1, tzinfo=UTC)  # a Sunday
SPAN = Period(DAY, DAY + timedelta(days=7))


def alert(ticket: int, at: datetime, comment: str = "", sub: str = "s1", **fields) -> Alert:
    detractor = Detractor(
        ticket_id=ticket,
        response_id=ticket,
        email=f"c{ticket}@example.com",
        comment=comment,
        created_at=at,
        timelimit_hours=48,
    )
    return Alert(subscription_id=sub, detractor=detractor, channel_id=CHANNEL, **fields)


def timed(ticket: int, at: datetime, claim_h: float | None, resolve_h: float | None, **f) -> Alert:
    return alert(
        ticket,
        at,
        claimed_at=at + timedelta(hours=claim_h) if claim_h is not None else None,
        resolved_at=at + timedelta(hours=resolve_h) if resolve_h is not None else None,
        **f,
    )


LEDGER = [
    # Claims after 1, 2, 3, 4, 10 hours; resolutions after 5, 7, 20 hours; one never claimed.
    timed(1, DAY + timedelta(hours=1), 1, 5, comment="Slow delivery, rude staff", state="resolved"),
    timed(2, DAY + timedelta(hours=2), 4, None, comment="slow delivery again!", state="claimed"),
    timed(3, DAY + timedelta(days=1), 2, 7, comment="The app crashes", state="resolved"),
    timed(4, DAY + timedelta(days=3), 3, None, comment="rude staff and slow delivery"),
    timed(5, DAY + timedelta(days=6, hours=23), 10, 20, state="resolved", escalated=["omnidesk:7"]),
    timed(6, DAY + timedelta(days=6), None, None, escalated=["epixel:9"]),
    timed(7, DAY - timedelta(hours=1), 99, 99, comment="slow delivery"),  # the previous period
    timed(8, DAY - timedelta(days=3), 99, 99),
]


async def test_figures_on_a_ledger_with_known_timings(bot: BotUnderTest) -> None:
    await bot.services.alerts.record(LEDGER)
    await bot.services.alerts.record([alert(9, DAY, "other subscription", sub="s2")])
    ins = await gather(bot.services.alerts, Subscription(id="s1", **_where()), SPAN)

    assert ins.per_day == [(DAY.date() + timedelta(days=n), c) for n, c in enumerate(_per_day())]
    assert (ins.total, ins.previous_total, ins.trend) == (6, 2, 2.0)
    # Claimed: 1, 4, 2, 3, 10 h -> median 3, nearest-rank p90 = the 5th of 5 = 10.
    assert (ins.to_claim.median, ins.to_claim.p90, ins.to_claim.count) == (3.0, 10.0, 5)
    # Resolved: 5, 7, 20 h -> median 7, p90 20.
    assert (ins.to_resolve.median, ins.to_resolve.p90, ins.to_resolve.count) == (7.0, 20.0, 3)
    assert (ins.escalated, ins.escalated_closed) == (2, 1)  # ticket 5 resolved, 6 not
    assert ins.claim_per_day[0] == 2.5  # the first day's median of 1 h and 4 h
    assert ins.claim_per_day[2] is None  # nothing arrived that day: a gap in the line
    assert ins.top_terms[:2] == [("slow delivery", 3), ("rude staff", 2)]


def _where() -> dict:
    return {"team_id": TEAM, "channel_id": CHANNEL, "subscriber": "U0CX", "segment_id": 999}


def _per_day() -> list[int]:
    return [2, 1, 0, 1, 0, 0, 2]


def test_an_even_count_median_and_percentiles_are_exact() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0
    assert percentile([float(n) for n in range(1, 21)], 90) == 18.0
    assert percentile([], 90) is None
    early = timed(1, DAY, 1, None)
    assert escalation_closed(early) is False
    early.state = "resolved"
    assert escalation_closed(early) is True


def test_top_terms_drop_stop_words_and_prefer_phrases() -> None:
    comments = [
        "The delivery was late and the driver was rude.",
        "Late delivery. Again!",
        "I waited two weeks: late delivery, no refund",
        "refund please",
        "It's the support; support never answers",
    ]
    assert top_terms(comments) == [
        ("delivery", 3),
        ("late", 3),
        ("late delivery", 2),  # twice in that order; "delivery late" only across a full stop
        ("refund", 2),
        ("answers", 1),  # "support" twice in one comment counts once, and "again" is a stop word
    ]


def test_rows_written_before_insights_still_open() -> None:
    class Plain:
        def seal(self, value: object) -> str:
            return json.dumps(value)

        def open_sealed(self, token: str) -> object:
            return json.loads(token)

    row = ledger_row(Plain(), timed(1, DAY, 1, 2))
    old = {k: v for k, v in row.items() if k not in {"at", "claimed_at", "resolved_at"}}
    found = alert_from_row(Plain(), old)
    assert found is not None and (found.claimed_at, found.resolved_at) == (None, None)


def png_size(content: bytes) -> tuple[int, int]:
    """The width and height in a PNG's IHDR chunk (after checking the signature)."""
    assert content[:8] == b"\x89PNG\r\n\x1a\n"
    assert content[12:16] == b"IHDR"
    return struct.unpack(">II", content[16:24])


async def subscription(bot: BotUnderTest, **fields) -> Subscription:
    sub = Subscription(
        id="s1",
        **_where(),
        created_at=DAY - timedelta(days=30),
        baseline_done=True,
        next_poll=datetime(2100, 1, 1, tzinfo=UTC),  # the poller leaves it alone
        **fields,
    )
    await bot.services.alerts.save(sub)
    return sub


async def test_insights_command_posts_the_figures_and_the_chart_in_its_thread(
    bot: BotUnderTest,
) -> None:
    await subscription(bot)
    now = datetime.now(UTC)
    await bot.services.alerts.record(
        [timed(1, now - timedelta(hours=5), 2, 4, comment="slow delivery", state="resolved")]
    )
    response = await bot.user("U0CX", CHANNEL).command("insights days:7")
    assert response.status_code == 200

    posted = (await bot.slack.wait_for("chat.postMessage"))[-1]
    assert posted["channel"] == CHANNEL
    assert posted["text"].startswith("<@U0CX> asked for detractor insights.\n")
    assert "segment 999, last 7 days: 1 detractor (0.1 a day)" in posted["text"]
    assert "Time to claim: median 2.0 h, 90th percentile 2.0 h (1 alert)" in posted["text"]
    blocks = json.dumps(posted["blocks"])
    assert "Time to resolve: median 4.0 h" in blocks
    assert "\\u201cdelivery\\u201d (1)" in blocks  # a phrase needs two comments

    await bot.slack.wait_for("files.completeUploadExternal")
    asked = bot.slack.calls_to("files.getUploadURLExternal")[-1]
    (shared,) = bot.slack.shared_files
    assert (shared["channel_id"], shared["thread_ts"]) == (CHANNEL, posted["_ts"])
    assert shared["filename"] == asked["filename"] == "detractor-insights.png"
    assert int(asked["length"]) == len(shared["content"])
    assert png_size(shared["content"]) == (WIDTH, HEIGHT)


async def test_a_channel_without_a_subscription_is_told_how_to_subscribe(
    bot: BotUnderTest,
) -> None:
    await bot.user("U0CX", "C0ELSEWHERE").command("insights")
    said = (await bot.slack.wait_for("response_url"))[-1]
    assert said["response_type"] == "ephemeral"
    assert "no detractor subscription" in said["text"]
    assert "/ticket subscribe detractors segment:&lt;id&gt;" in said["text"]
    await bot.user("U0CX", "C0ELSEWHERE").command("insights days:9999")
    said = (await bot.slack.wait_for("response_url", count=2))[-1]
    assert "days:&lt;1-365&gt;" in said["text"]
    assert bot.slack.calls_to("chat.postMessage") == []


# The weekly post -------------------------------------------------------------------------------

# Monday 9 March 2026: New York is on daylight-saving time (UTC-4), so 09:00 there is 13:00 UTC.
MONDAY_9_UTC = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
MONDAY_9_NEW_YORK = datetime(2026, 3, 9, 13, 0, tzinfo=UTC)


def weekly_posts(bot: BotUnderTest) -> list[dict]:
    return [
        c
        for c in bot.slack.calls_to("chat.postMessage")
        if c.get("text", "").startswith("Weekly detractor insights")
    ]


def clock_at(when: list[datetime]):
    return lambda: when[0]


async def test_weekly_post_is_monday_nine_in_the_subscribers_zone_once_across_a_restart(
    bot: BotUnderTest, settings: Settings
) -> None:
    bot.slack.add_user("U0CX")["tz"] = "America/New_York"
    await subscription(bot)
    await bot.services.alerts.record(LEDGER)
    when = [MONDAY_9_UTC]
    weekly = WeeklyInsights(bot.services, bot.app.client, clock_at(when))

    assert await weekly.post_if_due("s1") is False  # 05:00 in New York
    when[0] = MONDAY_9_NEW_YORK
    assert await weekly.post_if_due("s1") is True
    (post,) = weekly_posts(bot)
    assert "Weekly detractor insights (2026-W11)" in post["text"]
    assert "last 7 days: 4 detractors" in post["text"]  # 2-8 March: Monday not included
    await bot.slack.wait_for("files.completeUploadExternal")
    assert bot.slack.shared_files[-1]["thread_ts"] == post["_ts"]
    assert len(bot.slack.calls_to("users.info")) == 1  # the zone is cached
    await bot.stop()

    restarted = await BotUnderTest(bot.slack, settings, build_services(settings)).start()
    try:
        when[0] = MONDAY_9_NEW_YORK + timedelta(hours=3)
        again = WeeklyInsights(restarted.services, restarted.app.client, clock_at(when))
        assert await again.post_if_due("s1") is False
        when[0] = MONDAY_9_NEW_YORK + timedelta(days=7)  # the next Monday: due again
        assert await again.post_if_due("s1") is True
        assert len(weekly_posts(bot)) == 2
        assert "(2026-W12)" in weekly_posts(bot)[-1]["text"]
    finally:
        await restarted.stop()


async def test_the_poller_loop_posts_the_weekly_insights(bot: BotUnderTest) -> None:
    bot.slack.add_user("U0CX")  # Europe/Berlin: 09:00 there is 08:00 UTC in March
    await subscription(bot)
    poller = DetractorPoller(bot.services, bot.app.client)
    poller.weekly.clock = lambda: datetime(2026, 3, 9, 8, 1, tzinfo=UTC)
    stop = asyncio.Event()
    running = asyncio.create_task(poller.run(stop, tick=0.05))
    try:
        await bot.slack.wait_for("files.completeUploadExternal", within=15)
    finally:
        stop.set()
        await running
    assert len(weekly_posts(bot)) == 1
    assert (await bot.services.alerts.get("s1")).weekly_posted == "2026-W11"  # type: ignore[union-attr]


@pytest.mark.parametrize("setting", ["on", "off"])
async def test_weekly_off_on_an_existing_subscription(bot: BotUnderTest, setting: str) -> None:
    bot.slack.add_user("U0CX")
    await subscription(bot)
    await bot.user("U0CX", CHANNEL).command(f"subscribe detractors segment:999 weekly:{setting}")
    said = (await bot.slack.wait_for("response_url"))[-1]
    assert said["text"].startswith(f"Weekly insights are {setting} for this subscription")
    sub = await bot.services.alerts.get("s1")
    assert sub is not None and sub.weekly is (setting == "on")
    assert ("no weekly insights" in sub.describe()) is (setting == "off")
    weekly = WeeklyInsights(bot.services, bot.app.client, lambda: MONDAY_9_NEW_YORK)
    assert await weekly.post_if_due("s1") is (setting == "on")
    assert len(weekly_posts(bot)) == (1 if setting == "on" else 0)


def test_a_period_is_whole_utc_days() -> None:
    span = period(datetime(2026, 3, 9, 13, 30, tzinfo=UTC), 7, include_today=False)
    assert (span.start, span.end, span.days) == (
        DAY + timedelta(days=1),
        DAY + timedelta(days=8),
        7,
    )
    assert span.previous == Period(DAY - timedelta(days=6), DAY + timedelta(days=1))


def test_an_escalation_counts_closed_by_its_linked_tickets_status() -> None:
    checked = TicketLink(ref="omnidesk:7", status=NeutralStatus.CLOSED, status_label="Closed")
    still_open = TicketLink(ref="omnidesk:8", status=NeutralStatus.OPEN, status_label="Open")
    assert escalation_closed(alert(1, DAY, state="claimed", escalated=[checked]))
    # Resolved in Slack while its ticket is still open there: the ticket is not closed.
    assert not escalation_closed(alert(2, DAY, state="resolved", escalated=[still_open]))
    # A link never checked (written before links were kept): the alert's own state decides.
    assert escalation_closed(alert(3, DAY, state="resolved", escalated=["epixel:9"]))


def test_a_channels_ticket_feeds_are_not_asked_for_insights() -> None:
    where = {"team_id": "T1", "channel_id": "C1", "subscriber": "U1"}
    feed = Subscription(source="omnidesk", **where)
    detractors = Subscription(segment_id=999, **where)
    assert pick([feed, detractors], None) is detractors  # not "several subscriptions"
    with pytest.raises(UserInputError) as refused:
        pick([feed], None)
    assert refused.value.user_message() == NOT_SUBSCRIBED
