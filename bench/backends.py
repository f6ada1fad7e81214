"""Listing 10,000 QuestionPro detractors (100 pages of 100) from the sandbox.

ticketbot's client (iter_detractors: retries, rate limiter, pydantic models) beside the floor of
raw httpx POSTs of the same pages with only json decoding. The sandbox runs in its own process so
its work is not counted. Timing alternates the two over five rounds; memory is measured in
separate runs with tracemalloc, for 10, 100 and 400 pages, to show how it grows with pages.
Targets: time within 1.3x of the floor; peak memory flat in the page count.

    .venv/bin/python -m bench.backends
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable

import httpx

from bench.common import median, start_process
from bot.backends.questionpro import QuestionProBackend
from bot.backends.registry import Backends
from bot.config import Settings
from bot.credentials import QuestionProCredentials
from bot.sandbox.questionpro import DEMO_API_KEY

TOTAL, PER_PAGE, ROUNDS = 10_000, 100, 9
MEMORY_PAGES = (10, 100, 400)


async def main() -> None:
    sandbox = await start_process(
        ["-m", "bot", "sandbox", "--port", "0"],
        {},
        r"TICKETBOT_QUESTIONPRO_BASE_URL=http://127.0.0.1:(\d+)/",
    )
    base = f"http://127.0.0.1:{sandbox.port}/a/api/v2/"
    async with httpx.AsyncClient() as http:
        await http.post(
            f"http://127.0.0.1:{sandbox.port}/_sandbox/questionpro",
            json={"add_detractors": TOTAL - 40, "calls_per_minute": 10**9},
        )
    settings = Settings(
        data_dir=tempfile.mkdtemp(),
        questionpro_base_url=base,
        questionpro_calls_per_minute=10**9,
        backend_allowlist="127.0.0.1",  # the sandbox is on loopback, refused by default
        _env_file=None,
    )
    backends = Backends(settings)
    client = backends.for_credentials(QuestionProCredentials(api_key=DEMO_API_KEY))
    assert isinstance(client, QuestionProBackend)
    raw = httpx.AsyncClient()

    async def ticketbot_pages(pages: int) -> int:
        seen = 0
        async for _detractor in client.iter_detractors():
            seen += 1
            if seen == pages * PER_PAGE:
                break
        return seen

    async def floor_pages(pages: int) -> int:
        seen = 0
        for page in range(1, pages + 1):
            response = await raw.post(
                base + "cx/tickets/detractors",
                json={},
                params={"page": page, "perPage": PER_PAGE},
                headers={"api-key": DEMO_API_KEY},
            )
            seen += len(response.json()["response"])
        return seen

    async def timed(run: Callable[[int], Awaitable[int]]) -> float:
        started = time.perf_counter()
        assert await run(TOTAL // PER_PAGE) == TOTAL
        return (TOTAL // PER_PAGE) / (time.perf_counter() - started)

    async def peak_kib(run: Callable[[int], Awaitable[int]], pages: int) -> float:
        tracemalloc.start()
        tracemalloc.reset_peak()
        await run(pages)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak / 1024

    try:
        await timed(floor_pages)  # warm both paths (connections, imports)
        await timed(ticketbot_pages)
        rates: dict[str, list[float]] = {"floor (raw httpx)": [], "ticketbot client": []}
        for _ in range(ROUNDS):
            rates["floor (raw httpx)"].append(await timed(floor_pages))
            rates["ticketbot client"].append(await timed(ticketbot_pages))
        async with httpx.AsyncClient() as http:  # 40,000 in all for the 400-page run
            await http.post(
                f"http://127.0.0.1:{sandbox.port}/_sandbox/questionpro",
                json={"add_detractors": 30_000},
            )
        runs = (("floor (raw httpx)", floor_pages), ("ticketbot client", ticketbot_pages))
        memory = {
            name: [await peak_kib(run, pages) for pages in MEMORY_PAGES] for name, run in runs
        }
    finally:
        await raw.aclose()
        await backends.aclose()
        await sandbox.stop()

    print(
        f"QuestionPro detractors: {TOTAL} in {TOTAL // PER_PAGE} pages, {ROUNDS} rounds "
        "(median), sandbox in its own process"
    )
    print(f"{'':20} {'pages/s':>8}   peak KiB at " + " / ".join(f"{p} pages" for p in MEMORY_PAGES))
    for name, values in rates.items():
        peaks = " / ".join(f"{kib:.0f}" for kib in memory[name])
        print(f"{name:20} {median(values):8.1f}   {peaks}")
    ratio = median(rates["floor (raw httpx)"]) / median(rates["ticketbot client"])
    peaks = memory["ticketbot client"]
    print(f"time ratio ticketbot/floor: {ratio:.2f}x (target <= 1.3x)")
    print(
        f"ticketbot peak memory, {MEMORY_PAGES[-1]} vs {MEMORY_PAGES[0]} pages: "
        f"{peaks[-1] / peaks[0]:.2f}x for {MEMORY_PAGES[-1] // MEMORY_PAGES[0]}x the pages "
        "(target: flat; one page is held at a time)"
    )


if __name__ == "__main__":
    asyncio.run(main())
