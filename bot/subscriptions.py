"""Detractor-alert subscriptions and the alert ledger, persisted in the store's sqlite file.

The ledger is keyed by (subscription, QuestionPro ticketID) and lives on disk: a poll checks a
page of ids against it in one query batch, so memory does not grow with the number of detractors.
An id enters the ledger only after Slack accepted the message that shows it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlitedict import SqliteDict

from bot.models import Detractor
from bot.store import Store, open_table


def now() -> datetime:
    return datetime.now(UTC)


class Subscription(BaseModel):
    """One channel's subscription to one QuestionPro detractor feed."""

    id: str = Field(default_factory=lambda: secrets.token_hex(6))
    team_id: str
    channel_id: str
    subscriber: str
    segment_id: int | None = None
    status: int | None = None
    every_seconds: int = 300
    mode: Literal["each", "digest"] = "each"
    created_at: datetime = Field(default_factory=now)
    baseline_done: bool = False
    baseline_page: int = 0  # pages of the baseline already in the ledger (resumes after a failure)
    last_poll: datetime | None = None
    last_sweep: datetime | None = None
    next_poll: datetime | None = None
    failures: int = 0
    outage_since: datetime | None = None
    paused: Literal["credentials", "channel"] | None = None
    paused_detail: str | None = None
    credentials_stamp: str | None = None
    pending_threads: list[dict[str, Any]] = Field(default_factory=list)
    last_detractor_at: datetime | None = None  # when a poll last found a new one
    quiet_noticed: bool = False  # the "this source is quiet, the other is not" notice was posted

    def describe(self) -> str:
        """ "segment 999, status 0, every 5 min, each alert" for confirmations and lists."""
        parts = [f"segment {self.segment_id}" if self.segment_id is not None else "all segments"]
        if self.status is not None:
            parts.append(f"status {self.status}")
        minutes = self.every_seconds / 60
        parts.append(f"every {minutes:g} min" if minutes >= 1 else f"every {self.every_seconds} s")
        parts.append("a digest per poll" if self.mode == "digest" else "each alert on its own")
        return ", ".join(parts)


class Alert(BaseModel):
    """What the ledger knows of one detractor in one subscription."""

    subscription_id: str
    detractor: Detractor
    channel_id: str
    ts: str | None = None  # the alert's own message; None when shown only in a summary/digest
    state: Literal["seen", "open", "claimed", "resolved"] = "seen"
    claimed_by: str | None = None
    resolved_by: str | None = None
    note: str | None = None
    escalated: list[str] = Field(default_factory=list)
    reminded: bool = False


class AlertStore:
    """Subscriptions, the ledger and the open alerts awaiting a deadline reminder."""

    def __init__(self, store: Store) -> None:
        self._subscriptions = open_table(store.path, "subscriptions")
        self._ledger = open_table(store.path, "ledger")
        self._open = open_table(store.path, "open_alerts")

    def close(self) -> None:
        for table in (self._subscriptions, self._ledger, self._open):
            table.close()

    @staticmethod
    async def _io(func: Any, *args: Any) -> Any:
        return await asyncio.to_thread(func, *args)

    # Subscriptions -----------------------------------------------------------------------------

    async def save(self, sub: Subscription) -> None:
        """Write (and commit) ``sub``."""
        await self._io(_put, self._subscriptions, sub.id, sub.model_dump(mode="json"))

    async def get(self, sub_id: str) -> Subscription | None:
        raw = await self._io(self._subscriptions.get, sub_id)
        return None if raw is None else Subscription.model_validate(raw)

    async def all(self) -> list[Subscription]:
        raws = await self._io(lambda: list(self._subscriptions.values()))
        return [Subscription.model_validate(raw) for raw in raws]

    async def for_channel(self, team_id: str, channel_id: str) -> list[Subscription]:
        return [s for s in await self.all() if (s.team_id, s.channel_id) == (team_id, channel_id)]

    async def delete(self, sub: Subscription) -> None:
        """Remove the subscription; its ledger rows stay harmlessly (ids are never reused)."""

        def remove() -> None:
            self._subscriptions.pop(sub.id, None)
            self._subscriptions.commit()

        await self._io(remove)

    # Ledger ------------------------------------------------------------------------------------

    @staticmethod
    def _key(sub_id: str, ticket_id: int) -> str:
        return f"{sub_id}:{ticket_id}"

    async def seen(self, sub_id: str, ticket_ids: Iterable[int]) -> set[int]:
        """Which of ``ticket_ids`` the ledger already has for ``sub_id``."""
        ids = list(ticket_ids)
        return await self._io(lambda: {t for t in ids if self._key(sub_id, t) in self._ledger})

    async def record(self, alerts: Iterable[Alert]) -> None:
        """Write alerts to the ledger (and open ones to the reminder list) in one commit."""
        rows = [(self._key(a.subscription_id, a.detractor.ticket_id), a) for a in alerts]

        def write() -> None:
            # One table at a time, each committed before the next is touched: two sqlite
            # connections with open write transactions on one file would wait on each other.
            for key, alert in rows:
                self._ledger[key] = alert.model_dump(mode="json")
            self._ledger.commit()
            for key, alert in rows:
                if alert.state == "open" and not alert.reminded:
                    self._open[key] = True
                else:
                    self._open.pop(key, None)
            self._open.commit()

        await self._io(write)

    async def alert(self, sub_id: str, ticket_id: int) -> Alert | None:
        raw = await self._io(self._ledger.get, self._key(sub_id, ticket_id))
        return None if raw is None else Alert.model_validate(raw)

    async def open_alerts(self) -> list[Alert]:
        """Alerts still waiting for a claim, a resolution or their reminder."""
        keys = await self._io(lambda: list(self._open.keys()))
        raws = await self._io(lambda: [self._ledger.get(k) for k in keys])
        return [Alert.model_validate(r) for r in raws if r is not None]


def _put(table: SqliteDict, key: str, value: Any) -> None:
    table[key] = value
    table.commit()
