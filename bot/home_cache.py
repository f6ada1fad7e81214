"""The ticket rows each person's App Home showed last, kept for a short while (``HomeCache``).

Apart from ``bot.home`` because ``bot.services`` keeps one, and ``bot.home`` needs the services.
"""

from __future__ import annotations

import time

from bot.tickets import Actor, Listing


class HomeCache:
    """The last ticket rows each person's Home showed, for ``ttl_seconds``: a second visit
    shows them at once while the backends are asked again. In memory: losing it costs one
    "refreshing…" view, nothing else."""

    def __init__(self, ttl_seconds: float = 120.0) -> None:
        self._ttl = ttl_seconds
        self._rows: dict[tuple[str, str], tuple[float, Listing]] = {}

    def get(self, actor: Actor) -> Listing | None:
        """The rows kept for ``actor``, if still fresh."""
        entry = self._rows.get((actor.scope, actor.user_id))
        return entry[1] if entry and entry[0] > time.monotonic() else None

    def keep(self, actor: Actor, listing: Listing) -> None:
        """Remember ``listing`` for ``actor`` (and drop anything stale while here)."""
        now = time.monotonic()
        self._rows = {k: v for k, v in self._rows.items() if v[0] > now}
        self._rows[(actor.scope, actor.user_id)] = (now + self._ttl, listing)

    def forget(self, actor: Actor) -> None:
        """Drop ``actor``'s rows (an account was disconnected: they may show its tickets)."""
        self._rows.pop((actor.scope, actor.user_id), None)
