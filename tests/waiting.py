"""Waiting for what a test asserts, never for a fixed time: one bounded poll for every test."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

# How often a condition is looked at again; short, as every condition here is cheap to check.
POLL_SECONDS = 0.01


async def eventually(condition: Callable[[], Any], within: float = 5.0, what: str = "") -> Any:
    """The first truthy value ``condition()`` gives (awaited when it is a coroutine); fails the
    test, saying ``what`` was awaited, when none comes within ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still not true after {within} s: {what or condition}")
        await asyncio.sleep(POLL_SECONDS)
