"""The audit log in PostgreSQL (``AuditLog``): tables ``audit`` and ``audit_refs`` (migration 3),
the same columns and indexes as the embedded store's ``audit.sqlite``."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import datetime

from bot.audit import AuditLine, AuditQuery
from bot.store.embedded_audit import where_of
from bot.store.postgres import PgStore

_COLUMNS = (
    "at, scope, user_id, team_id, origin, kind, backend, refs, new, old, outcome, detail, sealed"
)


_INSERT = (
    f"INSERT INTO audit ({_COLUMNS}) VALUES"  # noqa: S608 (constants)
    " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id"
)


class PgAuditLog:
    """Audit lines in the database of ``store``; any instance appends, every instance reads."""

    def __init__(self, store: PgStore) -> None:
        self._store = store

    async def aclose(self) -> None:
        """Nothing of its own to close: the credential store closes the connection."""

    async def append(self, line: AuditLine) -> None:
        """Append one line (committed when this returns)."""
        await self.append_many([line])

    async def append_many(self, lines: Iterable[AuditLine]) -> int:
        """Append lines in one transaction; how many."""
        lines = list(lines)
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            ids = [
                await conn.fetchval(
                    _INSERT,
                    line.at,
                    line.scope,
                    line.user_id,
                    line.team_id,
                    line.origin,
                    line.kind,
                    line.backend,
                    list(line.refs),
                    line.new,
                    line.old,
                    line.outcome,
                    line.detail,
                    line.sealed,
                )
                for line in lines
            ]
            refs = [
                (ref, i, line.at) for line, i in zip(lines, ids, strict=True) for ref in line.refs
            ]
            if refs:
                await conn.executemany(
                    "INSERT INTO audit_refs (ref, line_id, at) VALUES ($1, $2, $3)", refs
                )
        return len(lines)

    async def query(self, query: AuditQuery) -> list[AuditLine]:
        """The lines ``query`` selects, newest first."""
        numbers = itertools.count(1)
        where, args = where_of(query, lambda: f"${next(numbers)}", lambda t: t)
        limit, offset = next(numbers), next(numbers)
        # ``where`` is built of constant clauses and placeholders only; values go as arguments.
        sql = f"SELECT id, {_COLUMNS} FROM audit{where} ORDER BY at DESC, id DESC"  # noqa: S608
        rows = await (await self._store.pool()).fetch(
            f"{sql} LIMIT ${limit} OFFSET ${offset}",
            *args,
            query.limit,
            query.offset,
        )
        return [
            AuditLine(**{**dict(row), "refs": tuple(row["refs"]), "backend": row["backend"]})
            for row in rows
        ]

    async def prune(self, before: datetime) -> int:
        """Remove the lines older than ``before`` (retention); how many went."""
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM audit_refs WHERE at < $1", before)
            status = await conn.execute("DELETE FROM audit WHERE at < $1", before)
        return int(status.rsplit(" ", 1)[-1])

    async def rotate_keys(self, reseal: Callable[[str], str]) -> int:
        """Re-encrypt the sealed values under the newest key; how many lines."""
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, sealed FROM audit WHERE sealed IS NOT NULL FOR UPDATE"
            )
            await conn.executemany(
                "UPDATE audit SET sealed = $2 WHERE id = $1",
                [(row["id"], reseal(row["sealed"])) for row in rows],
            )
        return len(rows)
