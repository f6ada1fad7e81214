"""Work shared across instances, each piece done once: leases and the shared call counter.

``WorkLeases`` is the store facet behind it. On PostgreSQL (``bot/store/pg_leases.py``) leases
are rows that expire unless their holder renews them, so a dead instance's work passes to the
others once its leases lapse; QuestionPro calls are counted in a table every instance reads.
The embedded store serves one instance (its file lock refuses a second), so ``SoloLeases``
grants everything to it and leaves rate limits to the in-process limiter.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection
from typing import Protocol


class WorkLeases(Protocol):
    """Who does which piece of shared work, and the calls counted across instances."""

    shared: bool  # True where several instances share the store (the call counter is used)

    async def claim_subscriptions(self, owner: str, ttl: float, keep: Collection[str]) -> set[str]:
        """Renew ``owner``'s subscription leases for ``ttl`` seconds and take free or lapsed
        ones up to a fair share (the subscriptions over the live instances); returns the ids
        ``owner`` now holds. Beyond its share, it gives back leases not in ``keep`` (the
        subscriptions it is polling right now), so a new instance gets some work."""
        ...

    async def release_subscriptions(self, owner: str) -> None:
        """Give back every subscription lease of ``owner`` (a clean stop)."""
        ...

    async def claim(self, name: str, owner: str, ttl: float) -> bool:
        """Take or renew the lease ``name`` for ``ttl`` seconds; False while another holds it."""
        ...

    async def release(self, name: str, owner: str) -> None:
        """Give back ``name`` if ``owner`` holds it."""
        ...

    async def take_call(self, bucket: str, calls: int, period: float) -> float:
        """Count one call in ``bucket`` if fewer than ``calls`` were counted in the last
        ``period`` seconds (0.0), else count nothing and return how long to wait."""
        ...


class SoloLeases:
    """The embedded store's leases: one instance, so every lease is its own."""

    shared = False

    def __init__(self, subscription_ids: Callable[[], Awaitable[Collection[str]]]) -> None:
        self._ids = subscription_ids
        self._held: dict[str, tuple[str, float]] = {}

    async def claim_subscriptions(self, owner: str, ttl: float, keep: Collection[str]) -> set[str]:
        """Every subscription."""
        return set(await self._ids())

    async def release_subscriptions(self, owner: str) -> None:
        """Nothing held elsewhere to give back."""

    async def claim(self, name: str, owner: str, ttl: float) -> bool:
        """Granted unless another task of this process holds ``name``."""
        holder = self._held.get(name)
        if holder is not None and holder[0] != owner and holder[1] > time.monotonic():
            return False
        self._held[name] = (owner, time.monotonic() + ttl)
        return True

    async def release(self, name: str, owner: str) -> None:
        """Forget ``name`` if ``owner`` holds it."""
        if self._held.get(name, ("",))[0] == owner:
            del self._held[name]

    async def take_call(self, bucket: str, calls: int, period: float) -> float:
        """Never limits: the in-process limiter counts this instance's calls."""
        return 0.0
