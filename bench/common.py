"""Shared by the benchmarks: start processes on loopback, fire signed requests, summarise."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Process:
    proc: asyncio.subprocess.Process
    port: int
    log: Path

    async def stop(self) -> None:
        # Only ever the process this benchmark started, by its id.
        if self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 20)


async def start_process(args: list[str], env: dict[str, str], port_pattern: str) -> Process:
    """Start ``python args…`` with stderr to a file; wait for the line that names its port."""
    log = Path(tempfile.mkstemp(prefix="bench-", suffix=".log")[1])
    handle = await asyncio.to_thread(log.open, "wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=handle,
        stderr=handle,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = await asyncio.to_thread(log.read_text, errors="replace")
        if match := re.search(port_pattern, text):
            return Process(proc, int(match.group(1)), log)
        if proc.returncode is not None:
            break
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{args} did not start; its log is {log}")


async def fire(
    url: str | list[str],
    make_request: Callable[[], tuple[str, dict[str, str]]],
    total: int,
    concurrency: int,
) -> tuple[float, list[float]]:
    """POST ``total`` requests from ``concurrency`` workers; returns (seconds, latencies in ms).
    A list of URLs is taken in turn, round-robin, as a load balancer in front of them would.

    The load comes from aiohttp's client: httpx's connection pool itself stalls past ~20
    concurrent requests on one loop, which would measure the client, not the server.
    """
    latencies: list[float] = []
    remaining = iter(range(total))
    urls = itertools.cycle([url] if isinstance(url, str) else url)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            for _ in remaining:
                body, headers = make_request()
                started = time.perf_counter()
                async with http.post(next(urls), data=body, headers=headers) as response:
                    await response.read()
                    latencies.append((time.perf_counter() - started) * 1000)
                    if response.status != 200:
                        raise RuntimeError(f"HTTP {response.status}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values)
