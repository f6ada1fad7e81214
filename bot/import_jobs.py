"""Import jobs: the checked file spooled, sent to QuestionPro in chunks, and a record of every
import that `/ticket import history` lists (kept by ``bot/store``, in sqlite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from bot.backends.questionpro import QuestionProBackend
from bot.changes import Change, ChangeFeed, Outcome
from bot.errors import BackendError, BackendUnavailable
from bot.tickets import Actor

if TYPE_CHECKING:
    from bot.store.interface import ImportStore

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


async def expire_until(
    jobs: ImportStore, keep: timedelta, running: set[str], stop: asyncio.Event
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
    jobs: ImportStore,
    job: ImportJob,
    backend: QuestionProBackend,
    progress: Callable[[ImportJob, bool], Awaitable[None]],
    only: set[int] | None = None,
    changes: ChangeFeed | None = None,
) -> ImportJob:
    """Send the spooled contacts chunk by chunk (or only the chunks in ``only``). A chunk the
    backend refused is "failed" (safe to send again); one whose answer was lost after sending is
    "unknown" and never resent by a retry. Each chunk sent is published to ``changes`` (one
    audit line per chunk, with its outcome)."""
    job.state = "importing"
    for chunk in job.chunks:
        if chunk.status == "sending":  # in flight when this process's predecessor died
            chunk.status = "unknown"
            chunk.message = "the bot stopped while sending them"
    await jobs.save(job)
    index = -1
    async for rows in jobs.spool_chunks(job.id, job.chunk_size):
        index += 1
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
        if changes is not None:
            await changes.publish(_chunk_change(job, chunk))
        await progress(job, False)
    job.state = "done"
    await jobs.save(job)
    if not job.keeps_spool:
        await jobs.discard_spool(job.id)
    await progress(job, True)
    return job


_CHUNK_OUTCOME: dict[str, Outcome] = {"ok": "done", "failed": "refused", "unknown": "unknown"}


def _chunk_change(job: ImportJob, chunk: Chunk) -> Change:
    """One chunk sent, as the audit trail records it: which lines, how many imported."""
    return Change(
        job.owner,
        "import",
        "questionpro",
        new={
            "job": job.id,
            "chunk": chunk.index + 1,
            "lines": f"{chunk.first_line}-{chunk.last_line}",
            "rows": chunk.rows,
            "imported": chunk.imported,
        },
        outcome=_CHUNK_OUTCOME.get(chunk.status, "unknown"),
        detail="" if chunk.status == "ok" else chunk.message,
    )
