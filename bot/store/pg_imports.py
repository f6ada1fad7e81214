"""Import jobs in PostgreSQL (``ImportStore``): records, and the checked contacts themselves, so
that whichever instance sends a job can read them.

A check still writes its spool to a local file (off the event loop, as it parses); ``keep_spool``
then copies it into ``import_lines`` and deletes the file, before the job record is saved.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from bot.import_jobs import ImportJob
from bot.store.embedded import rescoped
from bot.store.keys import ensure_private_dir
from bot.store.postgres import PgStore
from bot.tickets import Actor


class PgImportJobs:
    """Import records and their contacts in the database of ``store``; ``data_dir/imports`` only
    stages a spool between the check and ``keep_spool``."""

    def __init__(self, store: PgStore, data_dir: Path) -> None:
        self._store = store
        self.dir = data_dir / "imports"
        ensure_private_dir(self.dir)

    async def aclose(self) -> None:
        """Nothing of its own to close: the credential store closes the connection."""

    def _staged(self, job_id: str) -> Path:
        # Not ".jsonl": the embedded store's spool of the same job may share this directory
        # (migrate-store reads it while the copy is staged).
        return self.dir / f"{job_id}.pgstage"

    def open_spool(self, job_id: str) -> IO[str]:
        """A new staging file readable by this user only (it holds customers' contact data)."""
        fd = os.open(self._staged(job_id), os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        return os.fdopen(fd, "w", encoding="utf-8")

    async def keep_spool(self, job_id: str) -> None:
        """Copy the staged spool into the database, then delete the file."""
        path = self._staged(job_id)

        def read() -> list[tuple[str, int, str]]:
            with path.open(encoding="utf-8") as spool:
                return [
                    (job_id, int(line), encoded)
                    for line, _, encoded in (text.rstrip("\n").partition("\t") for text in spool)
                ]

        records = await asyncio.to_thread(read)
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM import_lines WHERE job_id = $1", job_id)
            await conn.copy_records_to_table(
                "import_lines", records=records, columns=["job_id", "line_no", "encoded"]
            )
        path.unlink(missing_ok=True)

    async def spool_chunks(self, job_id: str, size: int) -> AsyncIterator[list[tuple[int, str]]]:
        """The contacts in line order, ``size`` at a time (one query per chunk)."""
        pool, after = await self._store.pool(), -1
        while True:
            rows = await pool.fetch(
                "SELECT line_no, encoded FROM import_lines WHERE job_id = $1 AND line_no > $2"
                " ORDER BY line_no LIMIT $3",
                job_id,
                after,
                size,
            )
            if not rows:
                return
            after = rows[-1]["line_no"]
            yield [(row["line_no"], row["encoded"]) for row in rows]

    async def has_spool(self, job_id: str) -> bool:
        """Whether the job's contacts are still kept (staged or stored)."""
        if self._staged(job_id).exists():
            return True
        pool = await self._store.pool()
        return bool(
            await pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM import_lines WHERE job_id = $1)", job_id
            )
        )

    async def discard_spool(self, job_id: str) -> None:
        """Delete the job's contacts, staged and stored (idempotent)."""
        self._staged(job_id).unlink(missing_ok=True)
        await (await self._store.pool()).execute(
            "DELETE FROM import_lines WHERE job_id = $1", job_id
        )

    async def save(self, job: ImportJob) -> None:
        """Write the record; returns once committed."""
        job.updated_at = datetime.now(UTC)
        await (await self._store.pool()).execute(
            "INSERT INTO import_jobs (id, user_id, body) VALUES ($1, $2, $3)"
            " ON CONFLICT (id) DO UPDATE SET user_id = $2, body = $3",
            job.id,
            job.user_id,
            job.model_dump(mode="json"),
        )

    async def get(self, job_id: str) -> ImportJob | None:
        """The job, or None."""
        body = await (await self._store.pool()).fetchval(
            "SELECT body FROM import_jobs WHERE id = $1", job_id
        )
        return None if body is None else ImportJob.model_validate(body)

    async def for_user(self, actor: Actor, limit: int = 20) -> list[ImportJob]:
        """The actor's imports, newest first."""
        rows = await (await self._store.pool()).fetch(
            "SELECT body FROM import_jobs WHERE user_id = $1", actor.user_id
        )
        jobs = [ImportJob.model_validate(row["body"]) for row in rows]
        mine = [job for job in jobs if job.owner == actor]
        return sorted(mine, key=lambda j: j.created_at, reverse=True)[:limit]

    async def adopt(self, scope: str, user_id: str, teams: tuple[str, ...]) -> int:
        """Give the user's imports started in ``teams`` before Grid keys the key ``scope``."""
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, body FROM import_jobs WHERE user_id = $1 FOR UPDATE", user_id
            )
            changed = [
                (row["id"], new)
                for row in rows
                if (new := rescoped(row["body"], "user_id", user_id, teams, scope))
            ]
            await conn.executemany("UPDATE import_jobs SET body = $2 WHERE id = $1", changed)
            return len(changed)

    async def delete_owned(self, owned: Callable[[str, str], bool]) -> int:
        """Remove the import records and stored contacts for which ``owned(team_id, owner
        scope)`` holds; returns how many imports went."""
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch("SELECT id, body FROM import_jobs FOR UPDATE")
            gone = [
                row["id"]
                for row in rows
                if owned(row["body"]["team_id"], row["body"].get("scope") or row["body"]["team_id"])
            ]
            await conn.execute("DELETE FROM import_lines WHERE job_id = any($1::text[])", gone)
            await conn.execute("DELETE FROM import_jobs WHERE id = any($1::text[])", gone)
        for job_id in gone:
            self._staged(job_id).unlink(missing_ok=True)
        return len(gone)

    async def expire(self, max_age: timedelta, running: set[str]) -> int:
        """As the embedded store's: delete contacts no job needs, expire jobs untouched for
        ``max_age``, and drop staged or stored contacts whose record never got written."""
        now = datetime.now(UTC)
        pool = await self._store.pool()
        rows = await pool.fetch("SELECT body FROM import_jobs")
        jobs = {job.id: job for job in (ImportJob.model_validate(r["body"]) for r in rows)}
        expired = 0
        for job in jobs.values():
            if job.id in running:
                continue
            if job.keeps_spool and now - job.updated_at >= max_age:
                job.state, expired = "expired", expired + 1
                await self.save(job)
            if not job.keeps_spool:
                await self.discard_spool(job.id)
        oldest = now - max_age
        await pool.execute(
            "DELETE FROM import_lines l WHERE stored_at <= $1"
            " AND NOT EXISTS (SELECT 1 FROM import_jobs j WHERE j.id = l.job_id)",
            oldest,
        )
        for path in self.dir.glob("*.pgstage"):
            if path.stem not in jobs and path.stat().st_mtime <= oldest.timestamp():
                path.unlink(missing_ok=True)
        return expired
