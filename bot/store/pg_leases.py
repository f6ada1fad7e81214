"""Leases and the shared call counter on PostgreSQL (``WorkLeases``).

Times come from the database's clock (``clock_timestamp()``), so instances on machines whose
clocks disagree still agree on when a lease lapsed. Claims lock candidate subscriptions with
``FOR UPDATE SKIP LOCKED``: two instances claiming at once take different ones instead of
waiting for each other.
"""

from __future__ import annotations

import math
from collections.abc import Collection

import asyncpg

from bot.store.postgres import PgStore

_NOW = "SELECT extract(epoch FROM clock_timestamp())::double precision"


class PgLeases:
    """Leases in the ``leases`` table, live instances in ``instances``, calls in ``calls``."""

    shared = True

    def __init__(self, store: PgStore) -> None:
        self._store = store

    async def claim_subscriptions(self, owner: str, ttl: float, keep: Collection[str]) -> set[str]:
        """See ``WorkLeases.claim_subscriptions``; one transaction."""
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            now = await conn.fetchval(_NOW)
            await conn.execute(
                "INSERT INTO instances (owner, expires_at) VALUES ($1, $2)"
                " ON CONFLICT (owner) DO UPDATE SET expires_at = $2",
                owner,
                now + ttl,
            )
            await conn.execute("DELETE FROM instances WHERE expires_at <= $1", now)
            await conn.execute(
                "DELETE FROM leases WHERE kind = 'sub' AND (expires_at <= $1"
                " OR NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.id = leases.name))",
                now,
            )
            live = await conn.fetchval("SELECT count(*) FROM instances")
            total = await conn.fetchval("SELECT count(*) FROM subscriptions")
            fair = math.ceil(total / max(live, 1))
            mine = await _renew(conn, owner, now + ttl)
            if len(mine) > fair:
                spare = sorted(mine - set(keep))[: len(mine) - fair]
                await conn.execute(
                    "DELETE FROM leases WHERE kind = 'sub' AND owner = $1 AND name = any($2)",
                    owner,
                    spare,
                )
                return mine - set(spare)
            free = await conn.fetch(
                "SELECT s.id FROM subscriptions s"
                " WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE l.kind = 'sub' AND l.name = s.id)"
                " ORDER BY s.seq LIMIT $1 FOR UPDATE OF s SKIP LOCKED",
                fair - len(mine),
            )
            for row in free:
                taken = await conn.fetchval(
                    "INSERT INTO leases (kind, name, owner, expires_at) VALUES ('sub', $1, $2, $3)"
                    " ON CONFLICT (kind, name) DO NOTHING RETURNING name",
                    row["id"],
                    owner,
                    now + ttl,
                )
                if taken is not None:
                    mine.add(taken)
            return mine

    async def release_subscriptions(self, owner: str) -> None:
        """Give back ``owner``'s subscription leases and its place among the live instances."""
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM leases WHERE kind = 'sub' AND owner = $1", owner)
            await conn.execute("DELETE FROM instances WHERE owner = $1", owner)

    async def claim(self, name: str, owner: str, ttl: float) -> bool:
        """One statement: insert the lease, or take it over if it is ours or has lapsed."""
        pool = await self._store.pool()
        got = await pool.fetchval(
            "INSERT INTO leases (kind, name, owner, expires_at)"
            " VALUES ('job', $1, $2, extract(epoch FROM clock_timestamp()) + $3)"
            " ON CONFLICT (kind, name) DO UPDATE SET owner = $2, expires_at = EXCLUDED.expires_at"
            " WHERE leases.owner = $2"
            " OR leases.expires_at <= extract(epoch FROM clock_timestamp()) RETURNING true",
            name,
            owner,
            ttl,
        )
        return bool(got)

    async def release(self, name: str, owner: str) -> None:
        """Give back ``name`` if ``owner`` holds it."""
        await (await self._store.pool()).execute(
            "DELETE FROM leases WHERE kind = 'job' AND name = $1 AND owner = $2", name, owner
        )

    async def take_call(self, bucket: str, calls: int, period: float) -> float:
        """A sliding window per bucket: the bucket's rows are serialised by a transaction-level
        advisory lock, so two instances never both take the last call of a window."""
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", bucket)
            now = await conn.fetchval(_NOW)
            await conn.execute(
                "DELETE FROM calls WHERE bucket = $1 AND at <= $2", bucket, now - period
            )
            count, oldest = await conn.fetchrow(
                "SELECT count(*), min(at) FROM calls WHERE bucket = $1", bucket
            )
            if count < calls:
                await conn.execute("INSERT INTO calls (bucket, at) VALUES ($1, $2)", bucket, now)
                return 0.0
            return max(0.001, oldest + period - now)


async def _renew(conn: asyncpg.Connection, owner: str, until: float) -> set[str]:
    rows = await conn.fetch(
        "UPDATE leases SET expires_at = $2 WHERE kind = 'sub' AND owner = $1 RETURNING name",
        owner,
        until,
    )
    return {row["name"] for row in rows}
