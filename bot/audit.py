"""The audit trail: every change made through ticketbot, one line each, kept for a while.

``AuditTrail`` listens to the change feed (``bot.changes``) and appends an ``AuditLine`` to the
store's ``AuditLog`` facet for each change; ``/ticket audit`` and "History in Slack" read them
back with an ``AuditQuery``. A line holds who, where from, which backend and tickets, what
changed and how it ended. What could be a customer's words (a comment's first 80 characters, a
ticket's title, a resolve note's start) is sealed like the rest of the personal data; the other
values are plain so that they can be filtered on. Nothing else is ever written: no secret, no
full comment body (``bot.changes`` keeps only a comment's length and start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.fernet import InvalidToken

from bot.errors import StoreError

if TYPE_CHECKING:
    from bot.changes import Change
    from bot.store.interface import AuditLog

log = logging.getLogger(__name__)

# Values that may hold a customer's (or an agent's) own words: sealed at rest.
PERSONAL_FIELDS = frozenset({"comment_start", "title", "note_start", "subject"})

# How long one prune may wait before the next (it also runs once at start).
PRUNE_EVERY = timedelta(days=1)


class Sealing(Protocol):
    """What the trail needs of the credential store to keep words sealed."""

    def seal(self, value: Any) -> str: ...
    def open_sealed(self, token: str) -> Any: ...


@dataclass(frozen=True)
class AuditLine:
    """One change as the audit log keeps it. ``refs`` are ``backend:id`` strings; ``sealed`` is
    the sealed dict of the personal values of ``new`` (opened by :func:`opened`); ``id`` is
    given by the store (None until appended)."""

    at: datetime
    scope: str
    user_id: str
    kind: str
    origin: str
    outcome: str
    team_id: str = ""
    backend: str | None = None
    refs: tuple[str, ...] = ()
    new: dict[str, Any] = field(default_factory=dict)
    old: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    sealed: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class AuditQuery:
    """Which lines to read, newest first. ``user_id`` None: everyone in ``scope`` (None: every
    scope, for the operator and the insights). ``kinds`` empty: every kind."""

    scope: str | None = None
    user_id: str | None = None
    backend: str | None = None
    ref: str | None = None
    kinds: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0

    def page(self, offset: int) -> AuditQuery:
        """The same selection from ``offset``."""
        return replace(self, offset=max(0, offset))


def line_of(change: Change, sealing: Sealing) -> AuditLine:
    """The audit line for ``change``, its personal values sealed."""
    personal = {k: v for k, v in change.new.items() if k in PERSONAL_FIELDS}
    plain = {k: v for k, v in change.new.items() if k not in PERSONAL_FIELDS}
    old = {k: v for k, v in change.old.items() if k not in PERSONAL_FIELDS}
    return AuditLine(
        at=change.at.astimezone(UTC),
        scope=change.actor.scope,
        user_id=change.actor.user_id,
        team_id=change.actor.teams[0] if change.actor.teams else change.actor.scope,
        kind=change.kind,
        origin=change.origin,
        outcome=change.outcome,
        backend=change.backend,
        refs=tuple(change.refs),
        new=plain,
        old=old,
        detail=change.detail[:500],
        sealed=sealing.seal(personal) if personal else None,
    )


def opened(line: AuditLine, sealing: Sealing) -> dict[str, Any]:
    """Everything ``line`` says changed, the sealed values opened (a value sealed under a key
    that was since retired reads as such, rather than failing the whole listing)."""
    if line.sealed is None:
        return dict(line.new)
    try:
        personal = sealing.open_sealed(line.sealed)
    except (InvalidToken, StoreError):
        personal = {"sealed": "(sealed under a retired key)"}
    return {**line.new, **personal}


class AuditTrail:
    """Appends a line for every change it hears (subscribe :meth:`hear` to the change feed)."""

    def __init__(self, log_: AuditLog, sealing: Sealing) -> None:
        self.log = log_
        self._sealing = sealing

    async def hear(self, change: Change) -> None:
        """The change feed's listener."""
        await self.log.append(line_of(change, self._sealing))


async def prune_until(audit: AuditLog, keep: timedelta, stop: asyncio.Event) -> None:
    """Drop lines older than ``keep`` now and once a day until ``stop``: retention holds even
    when nobody reads the trail."""
    while True:  # at start first, even when stopping already
        try:
            gone = await audit.prune(datetime.now(UTC) - keep)
            if gone:
                log.info("audit trail: %d line(s) older than %s removed", gone, keep)
        except Exception:  # a failing prune must not end pruning for good
            log.exception("could not prune the audit trail")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PRUNE_EVERY.total_seconds())
        if stop.is_set():
            return
