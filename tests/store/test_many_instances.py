"""Three (and two) real `ticketbot serve` processes polling one PostgreSQL database, with the
QuestionPro sandbox in a process of its own and the Slack stand-in in the test: every detractor is
posted once even with instances killed (`kill -9`, by pid) mid-poll, a dead instance's
subscriptions are polled again by a survivor, and the QuestionPro limit holds across instances.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from cryptography.fernet import Fernet

from bot.config import Settings
from bot.credentials import QuestionProCredentials
from bot.sandbox import questionpro
from bot.sandbox.slack import SlackStandIn
from bot.store import open_postgres
from bot.subscriptions import Subscription
from tests.harness import SIGNING_SECRET, TEAM
from tests.test_import_crash import Process, sandbox_call, start
from tests.waiting import eventually

USER = "U0MANY"
SERVING = r"serving Slack requests at (http://127\.0\.0\.1:\d+)"


@pytest.fixture
async def qp(tmp_path: Path) -> AsyncIterator[Process]:
    """`ticketbot sandbox` in its own process; its QuestionPro server's address."""
    server = await start(
        ["sandbox", "--port", "0"],
        dict(os.environ),
        tmp_path / "sandbox.log",
        r"TICKETBOT_QUESTIONPRO_BASE_URL=(http://127\.0\.0\.1:\d+)/",
    )
    yield server
    await server.stop()


async def _subscribe(tmp_path: Path, pg_url: str, key: str, count: int) -> list[Subscription]:
    """``count`` subscriptions, each on its own segment and channel, with a connected key."""
    stores = open_postgres(
        Settings(data_dir=tmp_path / "seed", secret_key=key, _env_file=None), pg_url
    )
    await stores.start()
    try:
        await stores.store.save_credentials(
            TEAM, USER, QuestionProCredentials(api_key=questionpro.DEMO_API_KEY)
        )
        subs = [
            Subscription(team_id=TEAM, channel_id=f"C0SEG{n}", subscriber=USER, segment_id=n)
            for n in range(1, count + 1)
        ]
        for sub in subs:
            await stores.alerts.save(sub)
        return subs
    finally:
        await stores.aclose()


class Fleet:
    """The serve processes of one test, started and killed by the pid this test holds."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path, self.env = tmp_path, env
        self.procs: dict[str, Process] = {}
        self._starts = 0

    async def start(self, name: str) -> Process:
        self._starts += 1
        env = self.env | {"TICKETBOT_DATA_DIR": str(self.tmp_path / f"data-{name}")}
        log = self.tmp_path / f"{name}-{self._starts}.log"
        self.procs[name] = await start(["serve", "--port", "0"], env, log, SERVING)
        return self.procs[name]

    async def close(self) -> None:
        for proc in self.procs.values():
            await proc.stop()


@pytest.fixture
async def fleet(
    tmp_path: Path, slack: SlackStandIn, qp: Process, pg_url: str
) -> AsyncIterator[Callable[..., Awaitable[Fleet]]]:
    made: list[Fleet] = []

    async def make(names: list[str], subscriptions: int, **settings: str) -> Fleet:
        key = Fernet.generate_key().decode()
        await _subscribe(tmp_path, pg_url, key, subscriptions)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TICKETBOT_"))}
        env |= {
            "SLACK_BOT_TOKEN": "xoxb-1111-2222-manytest",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "TICKETBOT_SECRET_KEY": key,
            "TICKETBOT_DATABASE_URL": pg_url,
            "TICKETBOT_QUESTIONPRO_BASE_URL": f"{qp.url}/a/api/v2/",
            "TICKETBOT_BACKEND_ALLOWLIST": "127.0.0.1",
            "TICKETBOT_POLL_INTERVAL": "1",
            "TICKETBOT_CHANNEL_POST_INTERVAL": "0",
        } | settings
        made.append(fleet := Fleet(tmp_path, env))
        for name in names:
            await fleet.start(name)
        return fleet

    yield make
    for fleet in made:
        await fleet.close()


def posted(slack: SlackStandIn) -> Counter[tuple[str, int]]:
    """How often each (channel, ticket id) alert was posted, from the posts' metadata."""
    counts: Counter[tuple[str, int]] = Counter()
    for call in slack.calls_to("chat.postMessage"):
        metadata = call.get("metadata") or {}
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        ticket = (metadata.get("event_payload") or {}).get("ticket_id")
        if ticket is not None:
            counts[(call["channel"], int(ticket))] += 1
    return counts


async def add(qp: Process, segment: int, count: int) -> list[tuple[str, int]]:
    """``count`` new detractors on ``segment``; the (channel, ticket id) alerts they owe."""
    before = (await sandbox_call(qp, "/_sandbox/questionpro", {}))["total"]
    added = await sandbox_call(
        qp, "/_sandbox/questionpro", {"add_detractors": count, "segment_id": segment}
    )
    assert added["added"] == count
    # The sandbox numbers tickets from 401 on, 40 demo detractors first; totals give the ids.
    return [(f"C0SEG{segment}", 400 + n) for n in range(before + 1, before + count + 1)]


async def until(condition: Callable[[], Awaitable[bool] | bool], within: float) -> None:
    """Wait (bounded) for ``condition``; fails with a timeout if it never holds."""
    await eventually(condition, within)


async def owners(pg_url: str) -> dict[str, str]:
    """Subscription id -> the instance holding its lease now."""
    conn = await asyncpg.connect(pg_url)
    try:
        rows = await conn.fetch(
            "SELECT name, owner FROM leases"
            " WHERE kind = 'sub' AND expires_at > extract(epoch FROM now())"
        )
    finally:
        await conn.close()
    return {row["name"]: row["owner"] for row in rows}


async def _all_baselined(slack: SlackStandIn, subs: int) -> bool:
    return len({c["channel"] for c in slack.calls_to("chat.postMessage")}) >= subs


async def test_three_instances_post_every_detractor_once_and_share_the_subscriptions(
    fleet, slack: SlackStandIn, qp: Process, pg_url: str
) -> None:
    subs = 6
    await fleet(["a", "b", "c"], subs)
    await until(lambda: _all_baselined(slack, subs), 60)  # each posted its "Watching" summary
    holders: set[str] = set()

    async def spread() -> bool:
        holders.update((await owners(pg_url)).values())
        return len(holders) > 1

    await until(spread, 30)
    owed: list[tuple[str, int]] = []
    for batch in range(4):
        for segment in range(1, subs + 1):
            owed += await add(qp, segment, 1 + (batch + segment) % 3)
        await until(lambda owed=owed: set(owed) <= set(posted(slack)), 60)
    # A last detractor per subscription, posted after the others: any late repeat of an earlier
    # alert would be in by now, as each subscription's polls run one at a time.
    last = [alert for segment in range(1, subs + 1) for alert in await add(qp, segment, 1)]
    await until(lambda: set(last) <= set(posted(slack)), 60)
    counts = posted(slack)
    assert {alert: counts[alert] for alert in owed + last} == dict.fromkeys(owed + last, 1)
    assert set(counts) == set(owed + last)
    assert len(holders) > 1, holders


async def test_instances_killed_mid_poll_and_restarted_still_post_each_detractor_once(
    fleet, slack: SlackStandIn, qp: Process, pg_url: str
) -> None:
    subs, rng = 6, random.Random()
    names = ["a", "b", "c"]
    running = await fleet(names, subs)
    await until(lambda: _all_baselined(slack, subs), 60)
    owed: list[tuple[str, int]] = []
    kills = 0
    for batch in range(5):
        posts = len(slack.calls_to("chat.postMessage"))
        for segment in range(1, subs + 1):
            owed += await add(qp, segment, 1 + (batch + segment) % 3)
        # Right after the stand-in records a post (other posts of the batch still to come), or a
        # moment later: one instance dies with its poll under way.
        await slack.wait_for("chat.postMessage", posts + 1, within=30)
        await asyncio.sleep(rng.uniform(0, 0.3))
        victim = rng.choice(names)
        await running.procs[victim].kill()
        kills += 1
        await running.start(victim)
    await until(lambda: set(owed) <= set(posted(slack)), 90)
    last = [alert for segment in range(1, subs + 1) for alert in await add(qp, segment, 1)]
    await until(lambda: set(last) <= set(posted(slack)), 60)
    counts = posted(slack)
    doubled = {alert: n for alert, n in counts.items() if n > 1}
    assert doubled == {}
    assert set(counts) == set(owed + last)  # none lost, none made up
    assert kills == 5


async def test_a_dead_instances_subscription_is_polled_by_a_survivor_within_two_intervals(
    fleet, slack: SlackStandIn, qp: Process, pg_url: str
) -> None:
    subs, interval = 4, 2.0
    running = await fleet(["a", "b"], subs, TICKETBOT_POLL_INTERVAL=str(interval))
    await until(lambda: _all_baselined(slack, subs), 60)
    held: dict[str, str] = {}

    async def both_hold_some() -> bool:
        held.update(await owners(pg_url))
        return len(set(held.values())) == 2 and len(held) == subs

    await until(both_hold_some, 30)
    by_pid = {str(p.proc.pid): name for name, p in running.procs.items()}
    sub_id, owner = next(iter(held.items()))
    victim = by_pid[owner.split(":")[1]]
    conn = await asyncpg.connect(pg_url)
    try:
        segment = await conn.fetchval(
            "SELECT (body->>'segment_id')::int FROM subscriptions WHERE id = $1", sub_id
        )
    finally:
        await conn.close()
    await running.procs[victim].kill()
    killed = time.monotonic()
    owed = await add(qp, segment, 1)  # the first poll of that subscription posts it
    await until(lambda: set(owed) <= set(posted(slack)), 30)
    gap = time.monotonic() - killed
    # Two poll intervals, plus a second for the poll itself and the post reaching the stand-in.
    assert gap <= 2 * interval + 1.0, f"{gap:.1f} s"
    survivor = (await owners(pg_url))[sub_id]
    assert survivor != owner


async def test_the_questionpro_limit_holds_across_two_instances(
    fleet, slack: SlackStandIn, qp: Process
) -> None:
    limit = 20
    await fleet(["a", "b"], 6, TICKETBOT_QUESTIONPRO_CALLS_PER_MINUTE=str(limit))
    # Six subscriptions polled every second want ~360 calls a minute. The first calls come at
    # once; the 21st can only come once the first has aged out of the 60 s window.
    await until(lambda: _stats_over(qp, 0), 30)  # the first call arrived
    first = time.monotonic()
    await until(lambda: _stats_over(qp, limit), 75)
    assert time.monotonic() - first >= 58  # not before the first call left the window
    stats = await sandbox_call(qp, "/_sandbox/stats")
    assert stats["max_in_60s"] <= limit, stats


async def _stats_over(qp: Process, count: int) -> bool:
    return (await sandbox_call(qp, "/_sandbox/stats"))["requests"] > count
