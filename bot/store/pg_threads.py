"""Ticket threads in PostgreSQL (``ThreadStore``): the same records as the embedded store's
tables, shared by every instance, so a reply reaching any of them finds its ticket."""

from __future__ import annotations

from collections.abc import Callable

from bot.store.postgres import PgStore
from bot.threads import ThreadSpot


class PgThreadStore:
    """Threads, channel settings and known comments, in the database of ``store``."""

    def __init__(self, store: PgStore) -> None:
        self._store = store

    async def aclose(self) -> None:
        """Nothing of its own to close: the credential store closes the connection."""

    async def link_thread(self, spot: ThreadSpot, ref: str, account: str) -> None:
        await (await self._store.pool()).execute(
            "INSERT INTO thread_links (team_id, channel_id, ts, ref, account)"
            " VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (team_id, channel_id, ts) DO UPDATE SET ref = $4, account = $5",
            spot.team_id,
            spot.channel_id,
            spot.ts,
            ref,
            account,
        )

    async def thread_ref(self, spot: ThreadSpot) -> str | None:
        return await (await self._store.pool()).fetchval(
            "SELECT ref FROM thread_links WHERE team_id = $1 AND channel_id = $2 AND ts = $3",
            spot.team_id,
            spot.channel_id,
            spot.ts,
        )

    async def thread_account(self, spot: ThreadSpot) -> str | None:
        return await (await self._store.pool()).fetchval(
            "SELECT account FROM thread_links WHERE team_id = $1 AND channel_id = $2 AND ts = $3",
            spot.team_id,
            spot.channel_id,
            spot.ts,
        )

    async def threads_of(self, ref: str, account: str) -> list[ThreadSpot]:
        rows = await (await self._store.pool()).fetch(
            "SELECT team_id, channel_id, ts FROM thread_links WHERE ref = $1"
            " AND account IN ('', $2) ORDER BY linked_at",
            ref,
            account,
        )
        return [ThreadSpot(r["team_id"], r["channel_id"], r["ts"]) for r in rows]

    async def set_slack_only(self, team_id: str, channel_id: str, on: bool) -> None:
        await (await self._store.pool()).execute(
            "INSERT INTO thread_channels (team_id, channel_id, slack_only) VALUES ($1, $2, $3)"
            " ON CONFLICT (team_id, channel_id) DO UPDATE SET slack_only = $3",
            team_id,
            channel_id,
            on,
        )

    async def slack_only(self, team_id: str, channel_id: str) -> bool:
        value = await (await self._store.pool()).fetchval(
            "SELECT slack_only FROM thread_channels WHERE team_id = $1 AND channel_id = $2",
            team_id,
            channel_id,
        )
        return bool(value)

    async def note_comment(self, ref: str, key: str) -> bool:
        # The primary key makes "record if new" one step across instances.
        inserted = await (await self._store.pool()).fetchval(
            "INSERT INTO thread_comments (ref, key) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING RETURNING true",
            ref,
            key,
        )
        return bool(inserted)

    async def forget_comment(self, ref: str, key: str) -> None:
        await (await self._store.pool()).execute(
            "DELETE FROM thread_comments WHERE ref = $1 AND key = $2", ref, key
        )

    async def knows_comment(self, ref: str, key: str) -> bool:
        found = await (await self._store.pool()).fetchval(
            "SELECT true FROM thread_comments WHERE ref = $1 AND key = $2", ref, key
        )
        return bool(found)

    async def delete_owned(self, owned: Callable[[str, str], bool]) -> int:
        pool = await self._store.pool()
        teams = {
            r["team_id"]
            for r in await pool.fetch(
                "SELECT DISTINCT team_id FROM thread_links"
                " UNION SELECT DISTINCT team_id FROM thread_channels"
            )
        }
        # Threads and channels belong to a workspace, never to a person.
        gone = [team for team in teams if owned(team, team)]
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM thread_channels WHERE team_id = any($1::text[])", gone)
            deleted = await conn.execute(
                "DELETE FROM thread_links WHERE team_id = any($1::text[])", gone
            )
        return int(deleted.split()[-1])
