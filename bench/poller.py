"""The detractor poller against a large QuestionPro account.

A subscription over 50,000 existing detractors (500 pages) in the sandbox, then 200 new ones.
Prints the time, QuestionPro calls and Slack calls of the first (baseline) poll, of a steady
poll with nothing new and of one with 200 new, and the peak memory of the baseline poll beside
that of a 5,000-detractor account (the ledger lives on disk, so it should not grow).
Targets: nothing new = 1 QuestionPro call, 0 Slack calls; 200 new = pages spanned + 1 calls and
one digest with its list in as few thread messages as Block Kit allows; baseline <= 2 Slack
calls and within QuestionPro's 300 calls a minute; no conversations.history call in any of them
(the poller reads history only for a post whose outcome a crash or lost answer left unknown).

    .venv/bin/python -m bench.poller        (about two minutes: the baseline is rate limited)
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import tracemalloc

import aiohttp
from cryptography.fernet import Fernet

from bench.common import start_process
from bot.alerts import DetractorPoller
from bot.app import build_slack_client
from bot.config import Settings
from bot.credentials import QuestionProCredentials
from bot.runtime import build_services
from bot.sandbox.questionpro import DEMO_API_KEY
from bot.sandbox.slack import SlackStandIn
from bot.subscriptions import Subscription

BIG, SMALL, NEW = 50_000, 5_000, 200


async def main() -> None:
    slack = await SlackStandIn().start()
    sandbox = await start_process(
        ["-m", "bot", "sandbox", "--port", "0"],
        {},
        r"TICKETBOT_QUESTIONPRO_BASE_URL=http://127.0.0.1:(\d+)/",
    )
    root = f"http://127.0.0.1:{sandbox.port}"
    http = aiohttp.ClientSession()

    async def control(**body: int) -> None:
        async with http.post(f"{root}/_sandbox/questionpro", json=body) as response:
            assert response.status == 200

    async def qp_stats() -> dict[str, int]:
        async with http.get(f"{root}/_sandbox/stats") as response:
            return await response.json()

    async def qp_calls() -> int:
        return (await qp_stats())["requests"]

    await control(add_detractors=BIG - 40, segment_id=999)
    await control(add_detractors=SMALL, segment_id=1)
    settings = Settings(
        slack_bot_token="xoxb-bench-0000-token",
        slack_api_url=slack.api_url,
        data_dir=tempfile.mkdtemp(),
        secret_key=Fernet.generate_key().decode(),
        questionpro_base_url=f"{root}/a/api/v2/",
        backend_allowlist="127.0.0.1",  # the sandbox is on loopback
        _env_file=None,
    )
    services = build_services(settings)
    await services.store.save_credentials("T1", "U1", QuestionProCredentials(api_key=DEMO_API_KEY))
    poller = DetractorPoller(services, build_slack_client(settings))
    rows = []

    async def measure(label: str, sub: Subscription, *, memory: bool = False) -> None:
        qp_before, slack_before = await qp_calls(), len(slack.calls)
        history_before = len(slack.calls_to("conversations.history"))
        if memory:
            tracemalloc.start()
        started = time.perf_counter()
        await poller.poll(sub.id)
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / 1024 / 1024 if memory else None
        if memory:
            tracemalloc.stop()
        history = len(slack.calls_to("conversations.history")) - history_before
        rows.append(
            (
                label,
                seconds,
                await qp_calls() - qp_before,
                len(slack.calls) - slack_before,
                history,
                peak,
            )
        )

    try:
        small = Subscription(team_id="T1", channel_id="C1", subscriber="U1", segment_id=1)
        big = Subscription(team_id="T1", channel_id="C2", subscriber="U1", segment_id=999)
        for sub in (small, big):
            sub.credentials_stamp = await services.store.credentials_stamp(
                "T1", "U1", "questionpro"
            )
            await services.alerts.save(sub)
        await measure(f"baseline, {SMALL:,} existing", small, memory=True)
        # 500 pages exceed one minute of the key's 300 calls: the baseline pauses at the limit and
        # resumes at its page on the next poll, so it is measured over as many polls as it takes.
        for attempt in range(1, 6):
            await measure(f"baseline, {BIG:,} existing, poll {attempt}", big, memory=True)
            if (found := await services.alerts.get(big.id)) and found.baseline_done:
                break
        await measure("steady, nothing new", big)
        await control(add_detractors=NEW, segment_id=999)
        await measure(f"steady, {NEW} new", big)
        busiest = (await qp_stats())["max_in_60s"]
    finally:
        await http.close()
        await services.aclose()
        await sandbox.stop()
        await slack.stop()

    print(
        f"{'poll':36} {'seconds':>8} {'QuestionPro calls':>18} {'Slack calls':>12} "
        f"{'of them history':>16} {'peak MiB':>9}"
    )
    for label, seconds, qp, slack_calls, history, peak in rows:
        peak_text = f"{peak:9.1f}" if peak is not None else f"{'':9}"
        print(f"{label:36} {seconds:8.1f} {qp:18} {slack_calls:12} {history:16} {peak_text}")
    print(f"most QuestionPro calls in any 60 s (all polls, one API key): {busiest} (limit 300)")
    print(
        f"steady with {NEW} new: {NEW} new span {-(-NEW // 100)} pages, so the target is "
        f"{-(-NEW // 100) + 1} QuestionPro calls and 2 Slack calls (digest + one thread message)"
    )


if __name__ == "__main__":
    asyncio.run(main())
