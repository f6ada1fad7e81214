"""Retries end within their budget, waits and attempts included (issue 10, item 9)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from bot.backends.http import RetryPolicy
from bot.backends.registry import Backends
from bot.config import Settings
from bot.errors import BackendUnavailable
from bot.models import TicketQuery
from bot.sandbox.run import Sandboxes
from tests.backends.test_faults import _omnidesk

BUDGET, SLACK = 1.0, 0.3


@pytest.fixture
async def budgeted(settings: Settings) -> AsyncIterator[Backends]:
    # Each read may take 5 s (the test settings), far longer than the whole call's budget.
    policy = RetryPolicy(attempts=4, max_seconds=BUDGET, base_delay=0.01)
    registry = Backends(settings, policy=policy)
    yield registry
    await registry.aclose()


async def test_a_backend_slower_than_the_budget_is_cut_off_at_the_budget(
    budgeted: Backends, sandboxes: Sandboxes
) -> None:
    sandboxes.omnidesk.faults.latency = 3.0
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="no answer in time"):
        await _omnidesk(budgeted, sandboxes).list_tickets(TicketQuery(limit=1))
    assert time.monotonic() - started <= BUDGET + SLACK
    assert len(sandboxes.omnidesk.requests) == 1  # no attempt started with no time left


async def test_slow_failures_are_retried_but_the_last_attempt_is_cut_off(
    settings: Settings, sandboxes: Sandboxes
) -> None:
    # Two slow 503s fit in 2 s; a third attempt would end at 2.7 s, so it is cut off at 2 s.
    budget = 2.0
    faults = sandboxes.omnidesk.faults
    faults.latency, faults.status, faults.status_times = 0.9, 503, 100
    backends = Backends(
        settings, policy=RetryPolicy(attempts=4, max_seconds=budget, base_delay=0.01)
    )
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        await _omnidesk(backends, sandboxes).list_tickets(TicketQuery(limit=1))
    elapsed = time.monotonic() - started
    await backends.aclose()
    assert elapsed <= budget + SLACK
    assert len(sandboxes.omnidesk.requests) >= 2  # it did retry within the budget


async def test_a_change_cut_off_by_the_budget_says_it_may_have_been_made(
    budgeted: Backends, sandboxes: Sandboxes
) -> None:
    sandboxes.omnidesk.faults.latency = 3.0
    ticket = next(iter(sandboxes.omnidesk.tickets))
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="may or may not have been made"):
        await _omnidesk(budgeted, sandboxes).delete_ticket(str(ticket))
    assert time.monotonic() - started <= BUDGET + SLACK
