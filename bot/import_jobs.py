"""Import jobs: the checked file spooled to disk, sent to QuestionPro in chunks, and a record of
every import that `/ticket import history` lists."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from bot.backends.questionpro import QuestionProBackend
from bot.errors import BackendError, BackendUnavailable
from bot.importer import read_chunks
from bot.store import Store, ensure_private_dir, open_table, rescope
from bot.tickets import Actor

log = logging.getLogger("ticketbot.imports")


class Chunk(BaseModel):
    index: int
    first_line: int
    last_line: int
    rows: int
    # "sending" is committed to disk before the POST: found after a restart, it means the
    # process died with the chunk in flight, so it may have been imported ("unknown").
    status: Literal["pending", "sending", "ok", "failed", "unknown"] = "pending"
    imported: int = 0
    message: str = ""
    email_status: str = ""


class ImportJob(BaseModel):
    id: str = Field(default_factory=lambda: secrets.token_hex(6))
    team_id: str
    user_id: str
    scope: str | None = None  # the owner's key scope (the org on Grid); None in older records
    channel_id: str | None = None
    file_name: str
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    segment_code: str
    encoding: str = ""
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    chunk_size: int = 1000
    chunks: list[Chunk] = Field(default_factory=list)
    state: Literal["checked", "importing", "done", "cancelled", "expired"] = "checked"
    progress_ts: str | None = None
    progress_channel: str | None = None

    @property
    def owner(self) -> Actor:
        """Who started the import: only they see it and may resume it."""
        return Actor(self.scope or self.team_id, self.user_id)

    @property
    def imported(self) -> int:
        return sum(c.imported for c in self.chunks if c.status == "ok")

    def rows_with(self, status: str) -> int:
        return sum(c.rows for c in self.chunks if c.status == status)

    def resumable(self, running: set[str]) -> bool:
        """Whether "send the rest" has anything to do: rejected chunks, or an interrupted run."""
        if self.id in running or self.state in {"checked", "cancelled", "expired"}:
            return False
        return self.state == "importing" or any(c.status == "failed" for c in self.chunks)

    @property
    def keeps_spool(self) -> bool:
        """Whether Import, Retry or Send the rest may still read the spooled contacts."""
        if self.state in {"checked", "importing"}:
            return True
        return self.state == "done" and any(c.status == "failed" for c in self.chunks)

    @property
    def outcome(self) -> str:
        if self.state in {"cancelled", "expired"}:
            return self.state
        if self.state == "importing":
            return "importing or interrupted"
        if self.state != "done":
            return self.state
        if self.rows_with("failed") or self.rows_with("unknown"):
            return "partly imported"
        return "imported"


class ImportJobs:
    """Job records (a store table) and their spool files (``<data dir>/imports``, 0700)."""

    def __init__(self, store: Store, data_dir: Path) -> None:
        self._table = open_table(store.path, "imports")
        self.dir = data_dir / "imports"
        ensure_private_dir(self.dir)

    def close(self) -> None:
        self._table.close()

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
            self.discard_spool(job_id)
        return len(gone)

    def discard_spool(self, job_id: str) -> None:
        self.spool(job_id).unlink(missing_ok=True)

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
                self.discard_spool(job.id)
        oldest = (now - max_age).timestamp()
        for path in self.dir.glob("*.jsonl"):
            # A spool with no record: a check still writing it, or a crash before the record.
            if path.stem not in jobs and path.stat().st_mtime <= oldest:
                path.unlink(missing_ok=True)
        return expired


async def expire_until(
    jobs: ImportJobs, keep: timedelta, running: set[str], stop: asyncio.Event
) -> None:
    """``jobs.expire(keep)`` now and every hour (or every ``keep``, if shorter) until ``stop``:
    contacts' data must not outlive its use just because nobody runs `/ticket import`."""
    while not stop.is_set():
        try:
            await jobs.expire(keep, running)
        except Exception:  # a bad record must not end the sweeping for good
            log.exception("could not expire old imports")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), min(keep.total_seconds(), 3600))


async def run_import(
    jobs: ImportJobs,
    job: ImportJob,
    backend: QuestionProBackend,
    progress: Callable[[ImportJob, bool], Awaitable[None]],
    only: set[int] | None = None,
) -> ImportJob:
    """Send the spooled contacts chunk by chunk (or only the chunks in ``only``). A chunk the
    backend refused is "failed" (safe to send again); one whose answer was lost after sending is
    "unknown" and never resent by a retry."""
    job.state = "importing"
    for chunk in job.chunks:
        if chunk.status == "sending":  # in flight when this process's predecessor died
            chunk.status = "unknown"
            chunk.message = "the bot stopped while sending them"
    await jobs.save(job)
    for index, rows in enumerate(read_chunks(jobs.spool(job.id), job.chunk_size)):
        if index >= len(job.chunks):
            job.chunks.append(
                Chunk(
                    index=index,
                    first_line=rows[0][0],
                    last_line=rows[-1][0],
                    rows=len(rows),
                )
            )
        chunk = job.chunks[index]
        if (only is not None and index not in only) or chunk.status in {"ok", "unknown"}:
            continue
        chunk.status = "sending"
        await jobs.save(job)
        try:
            result = await backend.import_encoded([encoded for _line, encoded in rows])
        except BackendUnavailable as exc:
            chunk.status = "unknown" if exc.maybe_done else "failed"
            chunk.message = exc.message
        except BackendError as exc:
            chunk.status, chunk.message = "failed", exc.message
        else:
            chunk.status, chunk.imported = "ok", result.imported
            chunk.email_status, chunk.message = result.email_status, result.import_status
        await jobs.save(job)
        await progress(job, False)
    job.state = "done"
    await jobs.save(job)
    if not job.keeps_spool:
        jobs.discard_spool(job.id)
    await progress(job, True)
    return job
