"""Fan-out and ack latency with slow backends, against `ticketbot serve` in its own process.

1. `/ticket list` over every connected backend, each sandbox set to answer in 300 ms: the time
   from the command to the list arriving at the response_url, beside the slowest backend asked
   alone (target: within 1.2x of it, not the sum). QuestionPro has no ticket list, so the list
   asks the other three.
2. 100 concurrent "Open" clicks (`/ticket show`) against Omnidesk set to 2 s: the p99 of the
   acks, beside the same clicks with Omnidesk answering at once (target: no worse than 1.5x).
   Three bursts each; a burst starts once every show of the previous one has answered.

    .venv/bin/python -m bench.fanout
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import aiohttp
from cryptography.fernet import Fernet

from bench.common import Process, median, percentile, start_process
from bot.config import Settings
from bot.credentials import (
    EpixelCredentials,
    IspcrmCredentials,
    OmnideskCredentials,
    QuestionProCredentials,
)
from bot.sandbox import epixel, ispcrm, omnidesk, questionpro
from bot.sandbox.slack import SlackStandIn
from bot.store import Store, parse_keys
from tests.harness import SIGNING_SECRET, TEAM, signed_headers

USER, ROUNDS, CLICKS = "U0BENCH", 5, 100
_CLICK_NUMBERS = itertools.count()


def _urls(log: str) -> dict[str, str]:
    found = dict(re.findall(r"^(epixel|omnidesk|ispcrm)\s+base URL (\S+)", log, re.M))
    found["questionpro"] = re.search(r"TICKETBOT_QUESTIONPRO_BASE_URL=(\S+)", log).group(1)  # type: ignore[union-attr]
    return found


async def _connect_all(data_dir: Path, key: str, urls: dict[str, str]) -> None:
    store = Store(Settings(data_dir=data_dir, _env_file=None).store_file, parse_keys(key))
    for creds in (
        QuestionProCredentials(api_key=questionpro.DEMO_API_KEY),
        EpixelCredentials(
            base_url=urls["epixel"],
            api_key=epixel.DEMO_API_KEY,
            access_token=epixel.DEMO_ACCESS_TOKEN,
        ),
        OmnideskCredentials(base_url=urls["omnidesk"], api_key=omnidesk.FULL_KEY),
        IspcrmCredentials(base_url=urls["ispcrm"], token=ispcrm.DEMO_TOKEN),
    ):
        await store.save_credentials(TEAM, USER, creds)
    store.close()


async def _latency(http: aiohttp.ClientSession, urls: dict[str, str], seconds: float) -> None:
    for url in urls.values():
        parts = urlsplit(url)
        root = f"{parts.scheme}://{parts.netloc}"
        async with http.post(f"{root}/_sandbox/faults", json={"latency": seconds}) as response:
            assert response.status == 200


async def _list_seconds(
    http: aiohttp.ClientSession, bot: Process, slack: SlackStandIn, text: str, tag: str
) -> float:
    form = urlencode(
        {
            "team_id": TEAM,
            "user_id": USER,
            "channel_id": "C1",
            "command": "/ticket",
            "text": text,
            "trigger_id": "t",
            "response_url": slack.response_url(tag),
        }
    )
    before = len(slack.calls_to("response_url"))
    started = time.perf_counter()
    async with http.post(
        f"http://127.0.0.1:{bot.port}/slack/events", data=form, headers=signed_headers(form)
    ) as response:
        assert response.status == 200
    answer = (await slack.wait_for("response_url", count=before + 1, within=30))[before]
    elapsed = time.perf_counter() - started
    assert "Tickets 1" in json.dumps(answer["blocks"]), answer
    return elapsed


async def _click_acks(
    http: aiohttp.ClientSession, bot: Process, slack: SlackStandIn
) -> list[float]:
    async def click(n: int) -> float:
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": USER, "team_id": TEAM},
            "trigger_id": f"t{n}",
            "response_url": slack.response_url(f"show-{n}"),
            "channel": {"id": "C1"},
            "actions": [{"action_id": "ticket.show", "value": "omnidesk:1001", "type": "button"}],
        }
        form = urlencode({"payload": json.dumps(payload)})
        started = time.perf_counter()
        async with http.post(
            f"http://127.0.0.1:{bot.port}/slack/events", data=form, headers=signed_headers(form)
        ) as response:
            assert response.status == 200
        return (time.perf_counter() - started) * 1000

    before = len(slack.calls_to("response_url"))
    # Numbered across bursts: the same body signed in the same second is a replay, not a click.
    first = next(_CLICK_NUMBERS)
    for _ in range(CLICKS - 1):
        next(_CLICK_NUMBERS)
    acks = list(await asyncio.gather(*(click(first + n) for n in range(CLICKS))))
    # Every show answers before the next burst, so no burst's work overlaps another's acks.
    await slack.wait_for("response_url", count=before + CLICKS, within=60)
    return acks


async def main() -> None:
    slack = await SlackStandIn().start()
    sandbox = await start_process(
        ["-m", "bot", "sandbox", "--port", "0"], {}, r"ispcrm\s+base URL http://127.0.0.1:(\d+)"
    )
    urls = _urls(sandbox.log.read_text())
    data_dir, key = Path(tempfile.mkdtemp()), Fernet.generate_key().decode()
    await _connect_all(data_dir, key, urls)
    env = {
        "SLACK_BOT_TOKEN": "xoxb-bench-0000-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "TICKETBOT_DATA_DIR": str(data_dir),
        "TICKETBOT_SECRET_KEY": key,
        "TICKETBOT_QUESTIONPRO_BASE_URL": urls["questionpro"],
        "TICKETBOT_BACKEND_ALLOWLIST": "127.0.0.1",  # the sandboxes are on loopback
        "TICKETBOT_LOG_LEVEL": "WARNING",
    }
    bot = await start_process(
        ["-m", "bot", "serve", "--port", "0"],
        {**env, "TICKETBOT_LOG_LEVEL": "INFO"},
        r"serving Slack requests at http://127.0.0.1:(\d+)",
    )
    connector = aiohttp.TCPConnector(limit=CLICKS)
    try:
        async with aiohttp.ClientSession(connector=connector) as http:
            await _latency(http, urls, 0.3)
            await _list_seconds(http, bot, slack, "list", "warm")
            merged, single = [], {k: [] for k in ("epixel", "omnidesk", "ispcrm")}
            for n in range(ROUNDS):
                merged.append(await _list_seconds(http, bot, slack, "list", f"all-{n}"))
                for backend, times in single.items():
                    times.append(
                        await _list_seconds(http, bot, slack, f"list {backend}", f"{backend}-{n}")
                    )
            acks = {}
            for label, seconds in (("fast (0 s)", 0.0), ("slow (2 s)", 2.0)):
                await _latency(http, urls, seconds)
                await _click_acks(http, bot, slack)  # warm connections
                acks[label] = [ms for _ in range(3) for ms in await _click_acks(http, bot, slack)]
    finally:
        await bot.stop()
        await sandbox.stop()
        await slack.stop()

    slowest = max(median(times) for times in single.values())
    print(f"/ticket list, every backend at 300 ms, {ROUNDS} rounds (median), end to end:")
    for backend, times in single.items():
        print(f"  {backend:9} alone  {median(times) * 1000:7.0f} ms")
    print(
        f"  all three merged {median(merged) * 1000:7.0f} ms   "
        f"ratio to the slowest alone: {median(merged) / slowest:.2f}x (target <= 1.2x)"
    )
    print(f"{CLICKS} concurrent Open clicks (/ticket show), 3 bursts, ack latency:")
    for label, values in acks.items():
        p50, p99 = percentile(values, 50), percentile(values, 99)
        print(f"  omnidesk {label:11} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms")
    ratio = percentile(acks["slow (2 s)"], 99) / percentile(acks["fast (0 s)"], 99)
    print(f"  p99 ratio slow/fast: {ratio:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    asyncio.run(main())
