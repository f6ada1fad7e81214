"""Watched tickets in PostgreSQL (``WatchStore``).

Three tables (migration 3): ``watches`` keyed by person then ticket, with an index on the ticket
for "who watches it"; ``ticket_seen`` one row per watched ticket and account (migration 7);
``watch_prefs`` one row per
person. Rows hold the same JSON as the embedded store's tables: what was seen and what is held
sealed with the store's keys. Every instance reads the tables themselves (no in-memory index as
the embedded store keeps), since another instance may have changed them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.store.embedded_watches import (
    owned_scope,
    prefs_from_row,
    prefs_row,
    resealed,
    seen_from_row,
    seen_row,
)
from bot.store.postgres import PgStore
from bot.watches import TicketSeen, Watch, WatchPrefs

# A ticket's seen-state goes with its last watcher (one statement, after a watch is removed).
# (Per account: a watch's account is in its body; "" on watches from before accounts were kept.)
_FORGET_UNWATCHED = (
    "DELETE FROM ticket_seen WHERE ref = any($1::text[])"
    " AND NOT EXISTS (SELECT 1 FROM watches WHERE watches.ref = ticket_seen.ref"
    " AND coalesce(watches.body->>'account', '') = ticket_seen.account)"
)


class PgWatchStore:
    """Watches, seen-states and preferences in the database of ``store``."""

    def __init__(self, store: PgStore) -> None:
        self._store = store

    async def aclose(self) -> None:
        """Nothing of its own to close: the credential store closes the connection."""

    async def add_watch(self, watch: Watch) -> bool:
        """Start ``watch``; False when the person already watched that ticket."""
        status = await (await self._store.pool()).execute(
            "INSERT INTO watches (scope, user_id, ref, team_id, since, body)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            watch.scope,
            watch.user_id,
            watch.ref,
            watch.team_id,
            watch.since,
            watch.model_dump(mode="json"),
        )
        return status.endswith(" 1")

    async def remove_watch(self, scope: str, user_id: str, ref: str) -> bool:
        """Stop one watch, and forget the ticket's seen-state with its last watcher."""
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                "DELETE FROM watches WHERE scope = $1 AND user_id = $2 AND ref = $3",
                scope,
                user_id,
                ref,
            )
            await conn.execute(_FORGET_UNWATCHED, [ref])
        return status.endswith(" 1")

    async def watches_of(self, scope: str, user_id: str) -> list[Watch]:
        """The person's watches, newest first."""
        rows = await (await self._store.pool()).fetch(
            "SELECT body FROM watches WHERE scope = $1 AND user_id = $2 ORDER BY since DESC",
            scope,
            user_id,
        )
        return [Watch.model_validate(row["body"]) for row in rows]

    async def watchers(self, ref: str) -> list[Watch]:
        """Everyone watching ``ref``."""
        rows = await (await self._store.pool()).fetch(
            "SELECT body FROM watches WHERE ref = $1", ref
        )
        return [Watch.model_validate(row["body"]) for row in rows]

    async def watched_refs(self) -> list[str]:
        """Every ticket someone watches."""
        rows = await (await self._store.pool()).fetch("SELECT DISTINCT ref FROM watches")
        return [row["ref"] for row in rows]

    async def seen(self, ref: str, account: str) -> TicketSeen | None:
        """What was last seen of ``ref`` in ``account``, or None."""
        body = await (await self._store.pool()).fetchval(
            "SELECT body FROM ticket_seen WHERE account = $1 AND ref = $2", account, ref
        )
        return None if body is None else seen_from_row(self._store, body)

    async def save_seen(self, seen: TicketSeen) -> None:
        """Write what was seen of a ticket (sealed)."""
        await (await self._store.pool()).execute(
            "INSERT INTO ticket_seen (account, ref, body) VALUES ($1, $2, $3)"
            " ON CONFLICT (account, ref) DO UPDATE SET body = $3",
            seen.account,
            seen.ref,
            seen_row(self._store, seen),
        )

    async def prefs(self, scope: str, user_id: str) -> WatchPrefs:
        """The person's preferences, the defaults when they never changed any."""
        body = await (await self._store.pool()).fetchval(
            "SELECT body FROM watch_prefs WHERE scope = $1 AND user_id = $2", scope, user_id
        )
        return WatchPrefs() if body is None else prefs_from_row(self._store, body)

    async def save_prefs(self, scope: str, user_id: str, prefs: WatchPrefs) -> None:
        """Write the person's preferences (the held notices sealed)."""
        await (await self._store.pool()).execute(
            "INSERT INTO watch_prefs (scope, user_id, body) VALUES ($1, $2, $3)"
            " ON CONFLICT (scope, user_id) DO UPDATE SET body = $3",
            scope,
            user_id,
            prefs_row(self._store, prefs),
        )

    async def delete_owned(self, owned: Callable[[str, str], bool]) -> int:
        """Remove the watches for which ``owned(team_id, scope)`` holds, the seen-states no one
        watches any more, and the preferences kept under an owned scope."""
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch("SELECT scope, user_id, ref, team_id FROM watches FOR UPDATE")
            gone = [r for r in rows if owned(r["team_id"], r["scope"])]
            await conn.executemany(
                "DELETE FROM watches WHERE scope = $1 AND user_id = $2 AND ref = $3",
                [(r["scope"], r["user_id"], r["ref"]) for r in gone],
            )
            await conn.execute(_FORGET_UNWATCHED, list({r["ref"] for r in gone}))
            scopes = await conn.fetch("SELECT DISTINCT scope FROM watch_prefs")
            await conn.execute(
                "DELETE FROM watch_prefs WHERE scope = any($1::text[])",
                [r["scope"] for r in scopes if owned_scope(owned, r["scope"])],
            )
        return len(gone)

    async def rotate_keys(self) -> int:
        """Re-encrypt what was seen and what is held under the newest key, in one transaction;
        how many rows."""
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            seen = await conn.fetch("SELECT account, ref, body FROM ticket_seen FOR UPDATE")
            await conn.executemany(
                "UPDATE ticket_seen SET body = $3 WHERE account = $1 AND ref = $2",
                [(r["account"], r["ref"], self._resealed(r["body"])) for r in seen],
            )
            prefs = await conn.fetch("SELECT scope, user_id, body FROM watch_prefs FOR UPDATE")
            await conn.executemany(
                "UPDATE watch_prefs SET body = $3 WHERE scope = $1 AND user_id = $2",
                [(r["scope"], r["user_id"], self._resealed(r["body"])) for r in prefs],
            )
        return len(seen) + len(prefs)

    def _resealed(self, body: dict[str, Any]) -> dict[str, Any]:
        return resealed(self._store, body) if "sealed" in body else body
