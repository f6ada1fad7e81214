"""The PostgreSQL store: credentials, sealing and the request memory (``CredentialStore``), and
the connection the other PostgreSQL facets share (``Database``).

Any number of instances may share one database: work done once (polling a subscription, sending
an import) is leased (``bot/store/pg_leases.py``).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from cryptography.fernet import MultiFernet

from bot.credentials import Credentials, credentials_from_store
from bot.errors import StoreError
from bot.store.keys import Sealer
from bot.store.migrations import MIGRATIONS

# Arbitrary, fixed: the migration lock (a pg_advisory_xact_lock key).
MIGRATION_LOCK = 0x74626D67

_SWEEP_SECONDS = 60.0


def describe_url(url: str) -> str:
    """``host:port/database`` of a connection URL: enough to name it, no user or password."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path or '/'}"


async def _jsonb(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class Database:
    """A pool on one PostgreSQL database, migrated."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = describe_url(url)
        self._pool: asyncpg.Pool | None = None
        self._starting = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        """The pool, connecting (and migrating) on first use."""
        if self._pool is None:
            async with self._starting:
                if self._pool is None:
                    await self._connect()
        assert self._pool is not None
        return self._pool

    async def _connect(self) -> None:
        try:
            holder = await asyncpg.connect(self.url)
        except (OSError, asyncpg.PostgresError) as exc:
            # asyncpg's messages name host and database, never the password.
            raise StoreError(f"Could not connect to the database {self.where}: {exc}") from None
        try:
            await migrate(holder)
        finally:
            await holder.close()
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=8, init=_jsonb)

    async def close(self) -> None:
        """Close the pool."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


async def migrate(conn: asyncpg.Connection) -> int:
    """Apply the migrations this database lacks; returns its schema version. Two instances
    starting at once take turns (a transaction-level advisory lock)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
        if current > len(MIGRATIONS):
            raise StoreError(
                f"The database schema is version {current}, newer than this ticketbot knows "
                f"({len(MIGRATIONS)}): run the newer ticketbot, or upgrade this one."
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            await conn.execute(MIGRATIONS[version - 1])
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
        return len(MIGRATIONS)


class PgStore:
    """``CredentialStore`` on PostgreSQL; ``db`` is shared with the alert and import facets."""

    def __init__(self, db: Database, keys: MultiFernet) -> None:
        self.db = db
        self._sealer = Sealer(keys, db.where)
        self._checked = False
        self._swept_at = 0.0

    async def pool(self) -> asyncpg.Pool:
        """The pool, once connected, migrated and key-checked."""
        pool = await self.db.pool()
        if not self._checked:
            await self._check_key(pool)
            self._checked = True
        return pool

    async def start(self) -> None:
        """Connect, migrate and check the key."""
        await self.pool()

    async def aclose(self) -> None:
        """Close the database connections."""
        await self.db.close()

    async def _check_key(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn, conn.transaction():
            canary = await conn.fetchval("SELECT value FROM meta WHERE key = 'canary' FOR UPDATE")
            if canary is not None:
                self._sealer.check_canary(canary)
                return
            # Data without a canary: verify against one record instead of guessing.
            if secret := await conn.fetchval("SELECT secret FROM credentials LIMIT 1"):
                self._sealer.decrypt(secret)
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES ('canary', $1) ON CONFLICT DO NOTHING",
                self._sealer.new_canary(),
            )

    # Credentials -----------------------------------------------------------------------------

    async def save_credentials(self, scope: str, user_id: str, creds: Credentials) -> None:
        """Encrypt and store; returns once committed."""
        secret = self._sealer.encrypt(json.dumps(creds.secret_values()).encode())
        stamp = datetime.now(UTC).isoformat(timespec="microseconds")
        await (await self.pool()).execute(
            "INSERT INTO credentials (scope, user_id, backend, secret, connected_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, user_id, backend) DO UPDATE"
            " SET secret = $4, connected_at = $5, adopted_from = NULL",
            scope,
            user_id,
            creds.backend,
            secret,
            stamp,
        )

    async def load_credentials(self, scope: str, user_id: str, backend: str) -> Credentials | None:
        """The user's credentials for ``backend``, or None."""
        secret = await (await self.pool()).fetchval(
            "SELECT secret FROM credentials WHERE scope = $1 AND user_id = $2 AND backend = $3",
            scope,
            user_id,
            backend,
        )
        return None if secret is None else self._unseal(secret)

    async def list_credentials(self, scope: str, user_id: str) -> dict[str, Credentials]:
        """Every backend the user has connected, by backend key."""
        rows = await (await self.pool()).fetch(
            "SELECT backend, secret FROM credentials WHERE scope = $1 AND user_id = $2",
            scope,
            user_id,
        )
        return {row["backend"]: self._unseal(row["secret"]) for row in rows}

    async def credentials_stamp(self, scope: str, user_id: str, backend: str) -> str | None:
        """When the user last connected ``backend`` (None if not connected)."""
        return await (await self.pool()).fetchval(
            "SELECT connected_at FROM credentials"
            " WHERE scope = $1 AND user_id = $2 AND backend = $3",
            scope,
            user_id,
            backend,
        )

    async def delete_scope(self, scope: str) -> int:
        """Remove every credential kept under ``scope`` (a workspace, or an Enterprise Grid org,
        that uninstalled the app); returns how many were removed."""
        rows = await (await self.pool()).fetch(
            "DELETE FROM credentials WHERE scope = $1 RETURNING backend", scope
        )
        return len(rows)

    async def delete_credentials(self, scope: str, user_id: str, backend: str) -> bool:
        """Remove the user's credentials for ``backend`` (and the workspace copy it was adopted
        from); False when there were none."""
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "DELETE FROM credentials WHERE scope = $1 AND user_id = $2 AND backend = $3"
                " RETURNING adopted_from",
                scope,
                user_id,
                backend,
            )
            if row is None:
                return False
            if row["adopted_from"]:
                old_scope, old_user, old_backend = row["adopted_from"].split(":", 2)
                await conn.execute(
                    "DELETE FROM credentials WHERE scope = $1 AND user_id = $2 AND backend = $3",
                    old_scope,
                    old_user,
                    old_backend,
                )
            return True

    async def adopt_credentials(self, scope: str, user_id: str, teams: tuple[str, ...]) -> int:
        """Copy the user's credentials kept under one of ``teams`` to ``scope`` where ``scope``
        has none for that backend (see the embedded store); returns how many were copied."""
        others = [team for team in teams if team != scope]
        if not others:
            return 0
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            copied = 0
            for team in others:  # in order: the first workspace holding a backend wins
                status = await conn.execute(
                    "INSERT INTO credentials"
                    " (scope, user_id, backend, secret, connected_at, adopted_from)"
                    " SELECT $1, user_id, backend, secret, connected_at,"
                    "  scope || ':' || user_id || ':' || backend"
                    " FROM credentials WHERE scope = $2 AND user_id = $3"
                    " ON CONFLICT DO NOTHING",
                    scope,
                    team,
                    user_id,
                )
                copied += int(status.rsplit(" ", 1)[-1])
            return copied

    def _unseal(self, secret: str) -> Credentials:
        return credentials_from_store(json.loads(self._sealer.decrypt(secret)))

    # Other personal data at rest ---------------------------------------------------------------

    def seal(self, value: Any) -> str:
        """Encrypt a JSON-able value under the newest key."""
        return self._sealer.seal(value)

    def open_sealed(self, token: str) -> Any:
        """The value :meth:`seal` encrypted into ``token``."""
        return self._sealer.open_sealed(token)

    def reseal(self, token: str) -> str:
        """``token`` re-encrypted under the newest key."""
        return self._sealer.reseal(token)

    # Request memory --------------------------------------------------------------------------

    async def remember_request(self, key: str, ttl_seconds: float) -> bool:
        """True the first time ``key`` is seen within ``ttl_seconds``, across every instance:
        one statement inserts the key, or renews it only if it had expired."""
        now = time.time()
        pool = await self.pool()
        first = await pool.fetchval(
            "INSERT INTO request_memory (key, expires_at) VALUES ($1, $2)"
            " ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at"
            " WHERE request_memory.expires_at <= $3 RETURNING true",
            key,
            now + ttl_seconds,
            now,
        )
        if now - self._swept_at >= _SWEEP_SECONDS:
            self._swept_at = now
            await pool.execute("DELETE FROM request_memory WHERE expires_at <= $1", now)
        return bool(first)

    # Key rotation ----------------------------------------------------------------------------

    async def rotate_keys(self) -> int:
        """Re-encrypt credentials and the canary under the newest key, in one transaction."""
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT scope, user_id, backend, secret FROM credentials FOR UPDATE"
            )
            await conn.executemany(
                "UPDATE credentials SET secret = $4"
                " WHERE scope = $1 AND user_id = $2 AND backend = $3",
                [(*row[:3], self._sealer.reseal(row["secret"])) for row in rows],
            )
            canary = await conn.fetchval("SELECT value FROM meta WHERE key = 'canary'")
            await conn.execute(
                "UPDATE meta SET value = $1 WHERE key = 'canary'", self._sealer.reseal(canary)
            )
            return len(rows)
