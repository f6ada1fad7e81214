"""The embedded store's subscriptions and alert ledger (tables in its sqlite file)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlitedict import SqliteDict

from bot.store.embedded import Store, open_table, rescope
from bot.subscriptions import (
    Alert,
    FeedItem,
    Subscription,
    alert_from_row,
    bare_row,
    in_window,
    is_open,
    ledger_row,
    maybe_in_window,
)

log = logging.getLogger("bot.subscriptions")

# Marks a ledger whose personal data is encrypted; no "<subscription>:<ticket>" key looks like it.
_FORMAT_KEY, _FORMAT = "format", 2


class EmbeddedAlertStore:
    """Subscriptions, the ledger and the open alerts awaiting a deadline reminder, in the
    embedded store's sqlite file."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._subscriptions = open_table(store.path, "subscriptions")
        self._ledger = open_table(store.path, "ledger")
        self._open = open_table(store.path, "open_alerts")
        self._feed = open_table(store.path, "feed_ledger")
        # One instance uses the embedded store (its file lock), so a lock in this process makes
        # each update_alert one step.
        self._updating = asyncio.Lock()
        self._migrate()

    def close(self) -> None:
        """Close the tables; every write was already committed."""
        for table in (self._subscriptions, self._ledger, self._open, self._feed):
            table.close()

    async def aclose(self) -> None:
        """See :meth:`close`."""
        self.close()

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
        ledger rows (personal data) and open alerts; returns how many subscriptions went."""

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
            for table in (self._ledger, self._open, self._feed):  # one committed before the next
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
        return ledger_row(self._store, alert)

    def _alert(self, row: dict[str, Any] | None) -> Alert | None:
        return alert_from_row(self._store, row)

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
                if is_open(alert):
                    self._open[key] = True
                else:
                    self._open.pop(key, None)
            self._open.commit()

        await self._io(write)

    async def mark_seen(self, sub_id: str, ticket_ids: Iterable[int]) -> None:
        """Record ids as known without anything else about them (no alert shows them)."""
        rows = [(self._key(sub_id, t), bare_row(sub_id, t)) for t in ticket_ids]

        def write() -> None:
            for key, row in rows:
                self._ledger[key] = row
            self._ledger.commit()

        await self._io(write)

    async def alert(self, sub_id: str, ticket_id: int) -> Alert | None:
        """The alert with its detractor, or None if unknown or kept as a bare id."""
        return self._alert(await self._io(self._ledger.get, self._key(sub_id, ticket_id)))

    async def update_alert(
        self, sub_id: str, ticket_id: int, change: Callable[[Alert], bool]
    ) -> Alert | None:
        """See ``AlertStore.update_alert``."""
        async with self._updating:
            alert = await self.alert(sub_id, ticket_id)
            if alert is not None and change(alert):
                await self.record([alert])
            return alert

    async def open_alerts(self) -> list[Alert]:
        """Alerts the poller still has work on (``bot.subscriptions.is_open``): a deadline
        reminder, or linked tickets to check."""
        keys = await self._io(lambda: list(self._open.keys()))
        raws = await self._io(lambda: [self._ledger.get(k) for k in keys])
        return [a for a in map(self._alert, raws) if a is not None]

    async def alerts_between(self, sub_id: str, start: datetime, end: datetime) -> list[Alert]:
        """The subscription's alerts whose detractor arrived in [start, end)."""
        # Keys are "<subscription>:<ticket>": a range on the key's index reads only this
        # subscription's rows (";" sorts right after ":").
        table = self._ledger.tablename  # our own constant, never input
        query = f'SELECT value FROM "{table}" WHERE key >= ? AND key < ?'  # noqa: S608

        def read() -> list[dict[str, Any]]:
            rows = (
                self._ledger.decode(v)
                for (v,) in self._ledger.conn.select(query, (f"{sub_id}:", f"{sub_id};"))
            )
            return [r for r in rows if isinstance(r, dict) and maybe_in_window(r, start, end)]

        found = map(self._alert, await self._io(read))
        return [a for a in found if a is not None and in_window(a, start, end)]

    # Ticket feeds ------------------------------------------------------------------------------

    async def feed_items(self, sub_id: str, ticket_ids: Iterable[str]) -> dict[str, FeedItem]:
        """See ``AlertStore.feed_items``."""
        keys = [(t, f"{sub_id}:{t}") for t in ticket_ids]

        def read() -> dict[str, FeedItem]:
            found = {t: self._feed.get(key) for t, key in keys}
            return {t: FeedItem.model_validate(raw) for t, raw in found.items() if raw}

        return await self._io(read)

    async def record_feed(self, items: Iterable[FeedItem]) -> None:
        """See ``AlertStore.record_feed``."""
        rows = [(f"{i.subscription_id}:{i.ticket_id}", i.model_dump(mode="json")) for i in items]

        def write() -> None:
            for key, row in rows:
                self._feed[key] = row
            self._feed.commit()

        await self._io(write)

    async def feed_posted(self, sub_id: str) -> list[FeedItem]:
        """See ``AlertStore.feed_posted``."""
        prefix = f"{sub_id}:"

        def scan() -> list[FeedItem]:
            raws = (raw for key, raw in self._feed.items() if key.startswith(prefix))
            return [FeedItem.model_validate(raw) for raw in raws if raw.get("ts")]

        return await self._io(scan)

    # At rest -----------------------------------------------------------------------------------

    async def rotate_keys(self) -> int:
        """See ``AlertStore.rotate_keys``."""
        return await self._io(self.rotate)

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
            bare = bare_row(alert.subscription_id, alert.detractor.ticket_id)
            self._ledger[key] = self._row(alert) if redrawn else bare
        self._ledger[_FORMAT_KEY] = _FORMAT
        self._ledger.commit()
        if not legacy:
            return
        _scrub(self._store.path)
        log.info("ledger: %d entries rewritten without plain personal data", len(legacy))


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
