"""Watched tickets: who watches which ticket, what ticketbot last saw of it, and each person's
watch preferences (watch what I create, quiet hours).

A watch is per person and ticket; the ticket's state (``TicketSeen``) is one record per ticket
and account (the same ``backend:id`` in two accounts is two tickets) however many people watch
it, so one check serves every watcher. Both are kept by the store's ``WatchStore`` facet
(``bot/store/interface.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


def _now() -> datetime:
    return datetime.now(UTC)


class Watch(BaseModel):
    """One person watching one ticket (``ref`` is ``backend:id``)."""

    ref: str
    team_id: str
    scope: str  # whose credentials read the ticket: the Grid org, else the workspace
    user_id: str
    since: datetime = Field(default_factory=_now)
    # "created": watched because the person created it through ticketbot (the default).
    source: Literal["manual", "created"] = "manual"
    # The backend account the ticket is in (``bot.credentials.account_key`` of the credentials
    # that watched it): ``ref`` names a ticket only within one account. "" on watches from
    # before accounts were kept: taken as the account of the person's current credentials.
    account: str = ""

    @property
    def backend(self) -> str:
        """The backend key of the watched ticket."""
        return self.ref.partition(":")[0]


class TicketSeen(BaseModel):
    """What ticketbot last saw of a watched ticket, shared by all its watchers.

    ``fields`` holds the compared values (status, priority, assignee, tags, the last comment's
    id, the title) as the watcher's DM shows them; the store seals it, as it may name customers.
    """

    ref: str
    account: str = ""  # the account of its watchers' credentials, see ``Watch.account``
    fields: dict[str, Any] = Field(default_factory=dict)
    checked_at: datetime | None = None
    next_check: datetime | None = None
    failures: int = 0


class WatchPrefs(BaseModel):
    """One person's watch settings."""

    watch_created: bool = True  # tickets they create through ticketbot are watched
    quiet: str | None = None  # "19:00-08:00", in ``tz``
    tz: str | None = None  # the person's Slack time zone (users.info), e.g. "Europe/Amsterdam"
    # Change notices held during quiet hours, sent as one summary after (sealed by the store).
    held: list[dict[str, Any]] = Field(default_factory=list)


@dataclass(frozen=True)
class Watched:
    """One of a person's watches with what ticketbot last saw of its ticket (None: not yet)."""

    watch: Watch
    seen: TicketSeen | None
