"""What the ticket watcher compares, how two readings differ, whose change a difference was, and
whether a person is in their quiet hours: pure functions and one small memory, no I/O.

A reading (``TicketSeen.fields``) holds, as a watcher's DM shows them: ``title``, ``status``,
``priority``, ``group`` (Omnidesk's assigned group: no vendor document names a person assignee),
``tags`` (sorted names), ``comments`` (how many) and ``last_comment`` (the newest one's id). A
listing call carries only some of them (``BaseBackend.listed_fields``); the others keep their
last value until a full read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.changes import Change
from bot.models import Comment, Ticket

FIELDS = ("title", "status", "priority", "group", "tags", "comments", "last_comment")
COMMENT_FIELDS = frozenset({"comments", "last_comment"})
LABELS = {
    "title": "Title",
    "status": "Status",
    "priority": "Priority",
    "group": "Group",
    "tags": "Tags",
}


def reading(ticket: Ticket, carried: Iterable[str] = FIELDS) -> dict[str, Any]:
    """The compared fields of ``ticket`` that its read carried (all of them for a full read)."""
    values: dict[str, Any] = {
        "title": ticket.subject,
        "status": ticket.status.label if ticket.status else None,
        "priority": ticket.priority.label if ticket.priority else None,
        "group": ticket.details.get("Group"),
        "tags": sorted(t.name or t.id for t in ticket.tags),
        "comments": len(ticket.comments),
        "last_comment": ticket.comments[-1].id if ticket.comments else None,
    }
    wanted = set(carried)
    if "comments" in wanted:
        wanted |= COMMENT_FIELDS
    return {k: v for k, v in values.items() if k in wanted}


@dataclass(frozen=True)
class Delta:
    """One field that changed (``field`` is a key of FIELDS, or "comment" for a new comment)."""

    field: str
    old: Any = None
    new: Any = None
    author: str | None = None  # a comment's


def diff(old: Mapping[str, Any], new: Mapping[str, Any], ticket: Ticket) -> list[Delta]:
    """What changed from ``old`` to ``new`` (keys absent from either are not compared); new
    comments are each one Delta carrying the comment's author and words."""
    deltas = [
        Delta(name, old[name], new[name])
        for name in LABELS
        if name in old and name in new and old[name] != new[name]
    ]
    deltas += [
        Delta("comment", new=c.body, author=c.author) for c in new_comments(old, new, ticket)
    ]
    return deltas


def new_comments(old: Mapping[str, Any], new: Mapping[str, Any], ticket: Ticket) -> list[Comment]:
    """The comments of ``ticket`` made since the reading ``old`` (none when either reading did
    not carry the comments)."""
    if "comments" not in old or "comments" not in new:
        return []
    if new.get("last_comment") == old.get("last_comment"):
        return []
    return _after(ticket.comments, old.get("last_comment"))


def _after(comments: list[Comment], last_id: Any) -> list[Comment]:
    ids = [c.id for c in comments]
    if last_id in ids:
        return comments[ids.index(last_id) + 1 :]
    return comments[-1:]  # the last seen one is gone: tell of the newest only


@dataclass
class _Own:
    person: tuple[str, str]
    new: dict[str, Any]
    at: datetime


@dataclass
class OwnChanges:
    """Changes people made through ticketbot, remembered for ``keep`` so that the watcher can
    leave a person's own change out of their DM (others are still told)."""

    keep: timedelta
    _by_ref: dict[str, list[_Own]] = field(default_factory=dict)

    def remember(self, change: Change) -> None:
        """Note a change that was done (refused ones changed nothing)."""
        if change.outcome == "refused" or not change.refs:
            return
        person = (change.actor.scope, change.actor.user_id)
        new = dict(change.new)
        if change.kind == "comment":
            new = {"comment": str(change.new.get("comment_start", ""))}
        for ref in change.refs:
            self._by_ref.setdefault(ref, []).append(_Own(person, new, change.at))

    def forget_old(self, now: datetime) -> None:
        """Drop what is older than ``keep``."""
        for ref in list(self._by_ref):
            kept = [own for own in self._by_ref[ref] if now - own.at <= self.keep]
            if kept:
                self._by_ref[ref] = kept
            else:
                del self._by_ref[ref]

    def others(self, ref: str, person: tuple[str, str], deltas: list[Delta]) -> list[Delta]:
        """``deltas`` without the ones ``person`` made themselves through ticketbot."""
        mine = [own.new for own in self._by_ref.get(ref, ()) if own.person == person]
        return [d for d in deltas if not any(_made(d, new) for new in mine)]

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_ref.values())


def _made(delta: Delta, new: Mapping[str, Any]) -> bool:
    if delta.field == "comment":
        start = str(new.get("comment", "")).strip()
        return bool(start) and str(delta.new or "").strip().startswith(start)
    key = "title" if delta.field == "title" else delta.field
    if key not in new:
        return False
    if delta.field == "tags":
        return {str(t).lower() for t in new[key]} == {str(t).lower() for t in delta.new or ()}
    return str(new[key]).strip().lower() == str(delta.new or "").strip().lower()


def quiet_now(quiet: str | None, tz: str | None, now: datetime) -> bool:
    """Whether ``now`` falls in ``quiet`` ("19:00-08:00", may wrap midnight) in zone ``tz``
    (UTC when unknown). A window that cannot be read holds nothing."""
    window = parse_quiet(quiet)
    if window is None:
        return False
    try:
        zone = ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone).time()
    start, end = window
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def parse_quiet(text: str | None) -> tuple[time, time] | None:
    """``"19:00-08:00"`` as two times; None for nothing or something else."""
    if not text:
        return None
    first, sep, second = text.strip().partition("-")
    if not sep:
        return None
    try:
        return time.fromisoformat(first.strip()), time.fromisoformat(second.strip())
    except ValueError:
        return None
