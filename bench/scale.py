"""Three `ticketbot serve` instances on one PostgreSQL while one of them is killed every 15 s.

200 subscriptions (8 QuestionPro API keys, 25 subscriptions each, so the 300 calls a minute per
key is a real limit at a 5 s poll interval), 2,000 detractors arriving over ``--minutes`` (default
3) in the QuestionPro sandbox, round-robin over the subscriptions' segments. Every 15 s one
instance is killed with SIGKILL (by its pid) and started again. Prints:

- alerts lost and alerts doubled (goal 0 and 0): the Slack stand-in's posts, by subscription id
  + ticket id from their metadata, against the detractors created in each subscription's segment;
- the longest gap between two polls of one subscription while instances were being killed,
  beside the poll interval (a dead instance's subscriptions wait for their leases to lapse);
- the most QuestionPro calls made with one key in any 60 s (goal <= 300);
- ack p99 of signed `/ticket help` round-robin over the three instances vs one instance alone.

TICKETBOT_DIGEST_THRESHOLD is set high so every detractor gets its own post (and its ticket id
in the metadata); TICKETBOT_CHANNEL_POST_INTERVAL=0 (the stand-in has no channel rate limit).
Needs the PostgreSQL server binaries (initdb, pg_ctl), as the PostgreSQL tests do.

    .venv/bin/python -m bench.scale [--minutes 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from collections import Counter

import aiohttp
import asyncpg
from cryptography.fernet import Fernet

from bench.ack import help_request
from bench.common import Process, fire, median, percentile, start_process
from bot.config import Settings
from bot.credentials import QuestionProCredentials
from bot.posting import EVENT_TYPE
from bot.runtime import build_services
from bot.sandbox.slack import SlackStandIn
from bot.subscriptions import Subscription
from tests.harness import SIGNING_SECRET, TEAM
from tests.store.pg import INSTALL_HINT, find_bindir, running_server

SUBS, KEYS, DETRACTORS, INSTANCES = 200, 8, 2_000, 3
POLL_INTERVAL, KILL_EVERY, SEGMENT_BASE = 5.0, 15.0, 5_000
ACK_TOTAL, ACK_CONCURRENCY, ACK_ROUNDS, ACK_WARMUP = 2_000, 50, 3, 200
SERVING = r"serving Slack requests at http://127.0.0.1:(\d+)"


class Fleet:
    """The instances this bench started; ``kill`` and ``start`` act on one by its slot."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.slots: list[Process | None] = [None] * INSTANCES

    async def start(self, slot: int) -> None:
        data_dir = tempfile.mkdtemp(prefix="bench-scale-")  # only the database is shared
        self.slots[slot] = await start_process(
            ["-m", "bot", "serve", "--port", "0"],
            {**self.env, "TICKETBOT_DATA_DIR": data_dir},
            SERVING,
        )

    async def kill(self, slot: int) -> None:
        victim = self.slots[slot]
        assert victim is not None
        victim.proc.kill()  # SIGKILL to the pid this bench started: a crash, no clean-up
        await asyncio.wait_for(victim.proc.wait(), 20)

    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p.port}/slack/events" for p in self.slots if p is not None]

    async def stop(self) -> None:
        for proc in self.slots:
            if proc is not None:
                with contextlib.suppress(Exception):
                    await proc.stop()


async def _setup(settings: Settings, control) -> dict[str, Subscription]:
    """The keys, credentials and subscriptions, through the store API; by segment id."""
    keys = [f"qp-bench-key-{n:04d}" for n in range(KEYS)]
    await control(api_keys=keys)
    services = build_services(settings)
    subs = {}
    try:
        for n, key in enumerate(keys):
            await services.store.save_credentials(
                TEAM, f"U0SCALE{n}", QuestionProCredentials(api_key=key)
            )
        for i in range(SUBS):
            user = f"U0SCALE{i % KEYS}"
            sub = Subscription(
                team_id=TEAM,
                channel_id=f"C0SCALE{i:03d}",
                subscriber=user,
                segment_id=SEGMENT_BASE + i,
            )
            sub.credentials_stamp = await services.store.credentials_stamp(
                TEAM, user, "questionpro"
            )
            await services.alerts.save(sub)
            subs[SEGMENT_BASE + i] = sub
    finally:
        await services.aclose()
    return subs


async def _wait_for_baselines(settings: Settings, within: float) -> int:
    """Wait (bounded) until every subscription's first poll is recorded; how many are."""
    services = build_services(settings)
    try:
        deadline, done = time.monotonic() + within, 0
        while time.monotonic() < deadline:
            done = sum(sub.baseline_done for sub in await services.alerts.all())
            if done >= SUBS:
                break
            await asyncio.sleep(1)
        return done
    finally:
        await services.aclose()


def _posted(slack: SlackStandIn) -> Counter[tuple[str, int]]:
    """(subscription id, ticket id) of every alert the stand-in recorded, with how often."""
    seen: Counter[tuple[str, int]] = Counter()
    for args in slack.calls_to("chat.postMessage"):
        metadata = args.get("metadata") or {}
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        payload = metadata.get("event_payload") or {}
        if metadata.get("event_type") == EVENT_TYPE and "ticket_id" in payload:
            seen[(payload["subscription_id"], int(payload["ticket_id"]))] += 1
    return seen


def _busiest_minute(times: list[float]) -> int:
    """The most of ``times`` within any 60 s."""
    ordered, start, busiest = sorted(times), 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= 60:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest


def _longest_gap(times: list[float], since: float, until: float) -> float:
    """The longest time between two polls (or from ``since`` to the first) within the window."""
    inside = [since, *sorted(t for t in times if since < t <= until)]
    ends = inside[1:] if inside[-1] >= until else [*inside[1:], until]
    return max((b - a for a, b in zip(inside, ends, strict=False)), default=until - since)


async def _arrivals(control, subs: dict[int, Subscription], seconds: float) -> dict:
    """DETRACTORS detractors, evenly over ``seconds``, round-robin over the segments; the ticket
    ids created, by subscription id."""
    expected: dict[str, set[int]] = {sub.id: set() for sub in subs.values()}
    segments, started = list(subs), time.monotonic()
    for j in range(DETRACTORS):
        delay = started + j * seconds / DETRACTORS - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        segment = segments[j % len(segments)]
        answer = await control(add_detractors=1, segment_id=segment)
        expected[subs[segment].id].update(answer["ticket_ids"])
    return expected


async def _killer(fleet: Fleet, stop: asyncio.Event, kills: list[float]) -> None:
    """Every KILL_EVERY s, SIGKILL the next instance in turn and start it again."""
    for n in range(10_000):  # bounded; ``stop`` ends it long before
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), KILL_EVERY)
        if stop.is_set():
            return
        slot = n % INSTANCES
        await fleet.kill(slot)
        kills.append(time.monotonic())
        await fleet.start(slot)


async def _acks(fleet: Fleet) -> dict[str, float]:
    """p99 of /ticket help acks: round-robin over every instance vs the first alone, alternated."""
    urls, p99s = fleet.urls(), {"round-robin": [], "one instance": []}
    await fire(urls, help_request, ACK_WARMUP, 10)
    for _ in range(ACK_ROUNDS):
        for name, target in (("one instance", urls[0]), ("round-robin", urls)):
            _, latencies = await fire(target, help_request, ACK_TOTAL, ACK_CONCURRENCY)
            p99s[name].append(percentile(latencies, 99))
    return {name: median(values) for name, values in p99s.items()}


async def run(minutes: float, pg_url: str) -> None:
    slack = await SlackStandIn().start()
    sandbox = await start_process(
        ["-m", "bot", "sandbox", "--port", "0"],
        {},
        r"TICKETBOT_QUESTIONPRO_BASE_URL=http://127.0.0.1:(\d+)/",
    )
    root = f"http://127.0.0.1:{sandbox.port}"
    http = aiohttp.ClientSession()

    async def control(**body) -> dict:
        async with http.post(f"{root}/_sandbox/questionpro", json=body) as response:
            assert response.status == 200
            return await response.json()

    key = Fernet.generate_key().decode()
    settings = Settings(
        database_url=pg_url,
        secret_key=key,
        data_dir=tempfile.mkdtemp(),
        questionpro_base_url=f"{root}/a/api/v2/",
        backend_allowlist="127.0.0.1",
        _env_file=None,
    )
    fleet = Fleet(
        {
            "SLACK_BOT_TOKEN": "xoxb-bench-0000-token",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "TICKETBOT_SECRET_KEY": key,
            "TICKETBOT_DATABASE_URL": pg_url,
            "TICKETBOT_QUESTIONPRO_BASE_URL": f"{root}/a/api/v2/",
            "TICKETBOT_BACKEND_ALLOWLIST": "127.0.0.1",  # the sandboxes are on loopback
            "TICKETBOT_POLL_INTERVAL": str(POLL_INTERVAL),
            "TICKETBOT_CHANNEL_POST_INTERVAL": "0",
            "TICKETBOT_DIGEST_THRESHOLD": "100000",
            "TICKETBOT_LOG_LEVEL": "INFO",
        }
    )
    kills: list[float] = []
    try:
        subs = await _setup(settings, control)
        for slot in range(INSTANCES):
            await fleet.start(slot)
        baselines = await _wait_for_baselines(settings, 120)
        print(f"{baselines}/{SUBS} subscriptions past their first poll; detractors start arriving")
        stop = asyncio.Event()
        killer = asyncio.create_task(_killer(fleet, stop, kills))
        arrivals_from = time.monotonic()
        expected = await _arrivals(control, subs, minutes * 60)
        stop.set()
        await killer
        kills_until = time.monotonic()
        wanted = {(sub_id, t) for sub_id, ids in expected.items() for t in ids}
        for _ in range(120):  # up to 2 min for the last arrivals and any lapsed lease to settle
            if wanted <= set(_posted(slack)):
                break
            await asyncio.sleep(1)
        posted = _posted(slack)
        async with http.get(f"{root}/_sandbox/questionpro/calls") as response:
            calls = await response.json()
        acks = await _acks(fleet)
    finally:
        await fleet.stop()
        await http.close()
        await sandbox.stop()
        await slack.stop()

    lost = len(wanted - set(posted))
    doubled = sum(n - 1 for pair, n in posted.items() if pair in wanted and n > 1)
    ours = {str(segment) for segment in subs}
    gaps = [
        _longest_gap(times, arrivals_from, kills_until)
        for segment, times in calls["by_segment"].items()
        if segment in ours
    ]
    busiest = max(
        (
            _busiest_minute(times)
            for k, times in calls["by_key"].items()
            if k.startswith("qp-bench")
        ),
        default=0,
    )
    print(
        f"{INSTANCES} instances, {SUBS} subscriptions on {KEYS} keys, {DETRACTORS:,} detractors "
        f"over {minutes:g} min, {len(kills)} kills (SIGKILL every {KILL_EVERY:g} s, restarted)"
    )
    print(f"alerts lost:    {lost} (goal 0)")
    print(f"alerts doubled: {doubled} (goal 0)")
    print(
        "longest gap between two polls of one subscription while killing: "
        f"{max(gaps, default=0):.1f} s "
        f"(poll interval {POLL_INTERVAL:g} s; median of the subscriptions' longest "
        f"{median(gaps) if gaps else 0:.1f} s)"
    )
    print(f"most QuestionPro calls with one key in any 60 s: {busiest} (goal <= 300)")
    print(
        f"/ticket help ack p99, {ACK_TOTAL} signed requests at concurrency {ACK_CONCURRENCY}, "
        f"median of {ACK_ROUNDS} rounds: round-robin over {INSTANCES} "
        f"{acks['round-robin']:.1f} ms, "
        f"one instance alone {acks['one instance']:.1f} ms"
    )


async def _create_database(admin_url: str, name: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="arrival time (default 3)")
    minutes = parser.parse_args().minutes
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit(INSTALL_HINT)
    with running_server(bindir) as server:
        asyncio.run(_create_database(server.url(), "scale"))
        asyncio.run(run(minutes, server.url("scale")))


if __name__ == "__main__":
    main()
