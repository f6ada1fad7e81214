"""The embedded store's import jobs: records in its sqlite file, contacts in spool files."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.import_jobs import ImportJob
from bot.importer import read_chunks
from bot.store.embedded import Store, open_table, rescope
from bot.store.keys import ensure_private_dir
from bot.tickets import Actor


class EmbeddedImportJobs:
    """Job records (a store table) and their spool files (``<data dir>/imports``, 0700)."""

    def __init__(self, store: Store, data_dir: Path) -> None:
        self._table = open_table(store.path, "imports")
        self.dir = data_dir / "imports"
        ensure_private_dir(self.dir)

    def close(self) -> None:
        """Close the table; every write was already committed."""
        self._table.close()

    async def aclose(self) -> None:
        """See :meth:`close`."""
        self.close()

    def spool(self, job_id: str) -> Path:
        return self.dir / f"{job_id}.jsonl"

    def open_spool(self, job_id: str) -> Any:
        """A new spool file readable by this user only (it holds customers' contact data)."""
        fd = os.open(self.spool(job_id), os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        return os.fdopen(fd, "w", encoding="utf-8")

    async def save(self, job: ImportJob) -> None:
        """Write the record and wait for the commit, so a crash right after cannot lose it."""
        job.updated_at = datetime.now(UTC)

        def write() -> None:
            self._table[job.id] = job.model_dump(mode="json")
            self._table.commit()

        await asyncio.to_thread(write)

    async def get(self, job_id: str) -> ImportJob | None:
        raw = await asyncio.to_thread(self._table.get, job_id)
        return None if raw is None else ImportJob.model_validate(raw)

    async def for_user(self, actor: Actor, limit: int = 20) -> list[ImportJob]:
        raws = await asyncio.to_thread(lambda: list(self._table.values()))
        jobs = [ImportJob.model_validate(r) for r in raws]
        mine = [j for j in jobs if j.owner == actor]
        return sorted(mine, key=lambda j: j.created_at, reverse=True)[:limit]

    async def adopt(self, scope: str, user_id: str, teams: tuple[str, ...]) -> int:
        """Give the user's imports started in ``teams`` before Grid keys the key ``scope``;
        returns how many changed (0 the second time)."""
        return await asyncio.to_thread(rescope, self._table, "user_id", user_id, teams, scope)

    async def keep_spool(self, job_id: str) -> None:
        """Nothing to do: the spool file is read where it was written."""

    async def spool_chunks(self, job_id: str, size: int) -> AsyncIterator[list[tuple[int, str]]]:
        """The spooled contacts, ``size`` at a time, each chunk read off the event loop."""
        chunks = read_chunks(self.spool(job_id), size)
        while (rows := await asyncio.to_thread(next, chunks, None)) is not None:
            yield rows

    async def has_spool(self, job_id: str) -> bool:
        """Whether the job's contacts are still kept."""
        return self.spool(job_id).exists()

    async def discard_spool(self, job_id: str) -> None:
        """Delete the job's contacts (idempotent)."""
        self.spool(job_id).unlink(missing_ok=True)

    async def delete_owned(self, owned: Callable[[str, str], bool]) -> int:
        """Remove the import records and spooled contacts for which ``owned(team_id, owner
        scope)`` holds; returns how many imports went."""

        def remove() -> list[str]:
            gone = [
                job_id
                for job_id, raw in self._table.items()
                if owned(raw["team_id"], raw.get("scope") or raw["team_id"])
            ]
            for job_id in gone:
                del self._table[job_id]
            self._table.commit()
            return gone

        gone = await asyncio.to_thread(remove)
        for job_id in gone:
            await self.discard_spool(job_id)
        return len(gone)

    async def expire(self, max_age: timedelta, running: set[str]) -> int:
        """Delete the spool (customers' contact data) of every job that no longer needs it, and
        give up on jobs untouched for ``max_age``: a preview never confirmed, an import cut short
        and never resumed, rejected chunks never retried. Returns how many jobs expired."""
        now = datetime.now(UTC)
        raws = await asyncio.to_thread(lambda: list(self._table.values()))
        jobs = {job.id: job for job in map(ImportJob.model_validate, raws)}
        expired = 0
        for job in jobs.values():
            if job.id in running:
                continue
            if job.keeps_spool and now - job.updated_at >= max_age:
                job.state, expired = "expired", expired + 1
                await self.save(job)
            if not job.keeps_spool:
                await self.discard_spool(job.id)
        oldest = (now - max_age).timestamp()
        for path in self.dir.glob("*.jsonl"):
            # A spool with no record: a check still writing it, or a crash before the record.
            if path.stem not in jobs and path.stat().st_mtime <= oldest:
                path.unlink(missing_ok=True)
        return expired
