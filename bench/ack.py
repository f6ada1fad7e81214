"""Ack latency of `ticketbot serve` for /ticket help, beside a bare AsyncApp that only acks.

2,000 signed requests at concurrency 50 against each, on loopback, alternating three rounds so
both see the same machine noise. Target: ticketbot's p99 within 1.5x of the floor's.

    .venv/bin/python -m bench.ack
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from urllib.parse import urlencode

from cryptography.fernet import Fernet

from bench.common import fire, median, percentile, start_process
from bot.sandbox.slack import SlackStandIn
from tests.harness import SIGNING_SECRET, signed_headers

TOTAL, CONCURRENCY, ROUNDS, WARMUP = 2_000, 50, 3, 200
# Each request its own trigger id, as Slack's are: identical bodies signed within the same second
# share a signature, and the gate refuses all but the first as replays (no handler runs).
_triggers = itertools.count()


def help_request() -> tuple[str, dict[str, str]]:
    body = urlencode(
        {
            "team_id": "T0SANDBOX",
            "user_id": "U1",
            "channel_id": "C1",
            "command": "/ticket",
            "text": "help",
            "trigger_id": f"t{next(_triggers)}",
            "response_url": "http://127.0.0.1:9/unused",
        }
    )
    return body, signed_headers(body)


async def main() -> None:
    slack = await SlackStandIn().start()
    env = {
        "SLACK_BOT_TOKEN": "xoxb-bench-0000-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "TICKETBOT_DATA_DIR": tempfile.mkdtemp(),
        "TICKETBOT_SECRET_KEY": Fernet.generate_key().decode(),
        "TICKETBOT_LOG_LEVEL": "INFO",
    }
    bot = await start_process(
        ["-m", "bot", "serve", "--port", "0"],
        env,
        r"serving Slack requests at http://127.0.0.1:(\d+)",
    )
    floor = await start_process(["bench/ack_floor_app.py"], env, r"floor on port (\d+)")
    results: dict[str, list[tuple[float, float, float]]] = {"floor": [], "ticketbot": []}
    try:
        for proc in (floor, bot):
            await fire(f"http://127.0.0.1:{proc.port}/slack/events", help_request, WARMUP, 10)
        for _ in range(ROUNDS):
            for name, proc in (("floor", floor), ("ticketbot", bot)):
                seconds, lat = await fire(
                    f"http://127.0.0.1:{proc.port}/slack/events", help_request, TOTAL, CONCURRENCY
                )
                results[name].append((TOTAL / seconds, percentile(lat, 50), percentile(lat, 99)))
    finally:
        await bot.stop()
        await floor.stop()
        await slack.stop()

    print(
        f"/ticket help, {TOTAL} signed requests at concurrency {CONCURRENCY}, {ROUNDS} rounds "
        "(median of rounds)"
    )
    print(f"{'':10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    summary = {}
    for name, rows in results.items():
        rps, p50, p99 = (median([row[i] for row in rows]) for i in range(3))
        summary[name] = (rps, p50, p99)
        print(f"{name:10} {rps:8.0f} {p50:8.1f} {p99:8.1f}")
    ratio = summary["ticketbot"][2] / summary["floor"][2]
    print(f"p99 ratio ticketbot/floor: {ratio:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    asyncio.run(main())
