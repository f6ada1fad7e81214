"""Detractor-alert subscriptions and the alert ledger, persisted in the store's sqlite file.

The ledger is keyed by (subscription, QuestionPro ticketID) and lives on disk: a poll checks a
page of ids against it in one query batch, so memory does not grow with the number of detractors.
An id enters the ledger only after Slack accepted the message that shows it (or after that message
was found in the channel, when a crash lost Slack's answer: bot.posting).

A detractor's email, phone and comment are personal data. The ledger keeps them only where a
click must redraw the alert (or a digest's list is still owed), and then encrypted with the
store's keys like credentials; ids the bot only has to recognise (the first poll's baseline, a
digest already listed) are kept as bare ids. QuestionPro has no call to fetch one detractor, so
refetching on a click would mean paging the whole account.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlitedict import SqliteDict

from bot.models import Detractor
from bot.store import Store, open_table, rescope

log = logging.getLogger(__name__)

# Marks a ledger whose personal data is encrypted; no "<subscription>:<ticket>" key looks like it.
_FORMAT_KEY, _FORMAT = "format", 2


def now() -> datetime:
    return datetime.now(UTC)


class Subscription(BaseModel):
    """One channel's subscription to one QuestionPro detractor feed."""

    id: str = Field(default_factory=lambda: secrets.token_hex(6))
    team_id: str
    channel_id: str
    subscriber: str
    # Whose credentials the poller uses: the subscriber's key scope (the org on Enterprise Grid).
    # Records written before Grid support have None, meaning team_id.
    scope: str | None = None
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
    # A post whose outcome a crash may leave unknown (bot.posting): key, ids, when, found ts.
    posting: dict[str, Any] | None = None

    @property
    def owner_scope(self) -> str:
        """The scope the subscriber's credentials are kept under."""
        return self.scope or self.team_id

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
        self._store = store
        self._subscriptions = open_table(store.path, "subscriptions")
        self._ledger = open_table(store.path, "ledger")
        self._open = open_table(store.path, "open_alerts")
        self._migrate()

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

    async def adopt(self, scope: str, user_id: str, teams: tuple[str, ...]) -> int:
        """Point the user's subscriptions made in ``teams`` before Grid keys at ``scope``;
        returns how many changed (0 the second time)."""
        return await self._io(rescope, self._subscriptions, "subscriber", user_id, teams, scope)

    async def delete(self, sub: Subscription) -> None:
        """Remove the subscription; its ledger rows stay harmlessly (ids are never reused)."""

        def remove() -> None:
            self._subscriptions.pop(sub.id, None)
            self._subscriptions.commit()

        await self._io(remove)

    async def delete_owned(self, owned: Callable[[str, str], bool]) -> int:
        """Remove the subscriptions for which ``owned(team_id, owner scope)`` holds, with their
        ledger rows (personal data) and reminders; returns how many subscriptions went."""

        def remove() -> int:
            gone = [
                sub_id
                for sub_id, raw in self._subscriptions.items()
                if owned(raw["team_id"], raw.get("scope") or raw["team_id"])
            ]
            for sub_id in gone:
                del self._subscriptions[sub_id]
            self._subscriptions.commit()
            prefixes = tuple(f"{sub_id}:" for sub_id in gone)
            for table in (self._ledger, self._open):  # one table committed before the next
                for key in [k for k in table if prefixes and k.startswith(prefixes)]:
                    del table[key]
                table.commit()
            return len(gone)

        return await self._io(remove)

    # Ledger ------------------------------------------------------------------------------------

    @staticmethod
    def _key(sub_id: str, ticket_id: int) -> str:
        return f"{sub_id}:{ticket_id}"

    def _row(self, alert: Alert) -> dict[str, Any]:
        row = alert.model_dump(mode="json", exclude={"detractor", "note"})
        row["ticket_id"] = alert.detractor.ticket_id
        # The resolver's note is free text about the customer too.
        personal = {"detractor": alert.detractor.model_dump(mode="json"), "note": alert.note}
        row["sealed"] = self._store.seal(personal)
        return row

    def _alert(self, row: dict[str, Any] | None) -> Alert | None:
        if row is None or "sealed" not in row:
            return None  # a bare id: nothing to redraw
        personal = self._store.open_sealed(row["sealed"])
        fields = {k: v for k, v in row.items() if k not in {"sealed", "ticket_id"}}
        return Alert.model_validate({**fields, **personal})

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
                self._ledger[key] = self._row(alert)
            self._ledger.commit()
            for key, alert in rows:
                if alert.state == "open" and not alert.reminded:
                    self._open[key] = True
                else:
                    self._open.pop(key, None)
            self._open.commit()

        await self._io(write)

    async def mark_seen(self, sub_id: str, ticket_ids: Iterable[int]) -> None:
        """Record ids as known without anything else about them (no alert shows them)."""
        rows = [(self._key(sub_id, t), _bare(sub_id, t)) for t in ticket_ids]

        def write() -> None:
            for key, row in rows:
                self._ledger[key] = row
            self._ledger.commit()

        await self._io(write)

    async def alert(self, sub_id: str, ticket_id: int) -> Alert | None:
        """The alert with its detractor, or None if unknown or kept as a bare id."""
        return self._alert(await self._io(self._ledger.get, self._key(sub_id, ticket_id)))

    async def open_alerts(self) -> list[Alert]:
        """Alerts still waiting for a claim, a resolution or their reminder."""
        keys = await self._io(lambda: list(self._open.keys()))
        raws = await self._io(lambda: [self._ledger.get(k) for k in keys])
        return [a for a in map(self._alert, raws) if a is not None]

    # At rest -----------------------------------------------------------------------------------

    def rotate(self) -> int:
        """Re-encrypt the ledger's personal data under the newest key; returns how many rows."""
        rows = [(k, r) for k, r in self._ledger.items() if isinstance(r, dict) and "sealed" in r]
        for key, row in rows:
            self._ledger[key] = {**row, "sealed": self._store.reseal(row["sealed"])}
        self._ledger.commit()
        return len(rows)

    def _migrate(self) -> None:
        """Ledgers written before the ledger kept personal data encrypted held each detractor in
        plain JSON: keep bare ids where nothing will redraw them, encrypt the rest, then rewrite
        the file so the plain text is gone from its free pages and write-ahead log too."""
        if self._ledger.get(_FORMAT_KEY) == _FORMAT:
            return
        owed = {
            self._key(sub["id"], t)
            for sub in self._subscriptions.values()
            for thread in sub.get("pending_threads", [])
            for t in thread["ids"]
        }
        legacy = [
            (k, r) for k, r in self._ledger.items() if isinstance(r, dict) and "detractor" in r
        ]
        for key, raw in legacy:
            alert = Alert.model_validate(raw)
            redrawn = alert.ts is not None or alert.state != "seen" or key in owed
            bare = _bare(alert.subscription_id, alert.detractor.ticket_id)
            self._ledger[key] = self._row(alert) if redrawn else bare
        self._ledger[_FORMAT_KEY] = _FORMAT
        self._ledger.commit()
        if not legacy:
            return
        _scrub(self._store.path)
        log.info("ledger: %d entries rewritten without plain personal data", len(legacy))


def _bare(sub_id: str, ticket_id: int) -> dict[str, Any]:
    return {"subscription_id": sub_id, "ticket_id": ticket_id, "state": "seen"}


def _scrub(path: Any) -> None:
    # VACUUM rebuilds every page (dropping freed ones that still hold old rows); the TRUNCATE
    # checkpoints empty the write-ahead log, which held those rows' earlier versions.
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _put(table: SqliteDict, key: str, value: Any) -> None:
    table[key] = value
    table.commit()
