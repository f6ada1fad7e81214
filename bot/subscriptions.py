"""Detractor-alert subscriptions and the alert ledger: the records, and how a ledger row is kept
(``bot/store`` keeps them, in sqlite or PostgreSQL).

The ledger is keyed by (subscription, QuestionPro ticketID) and lives in the store: a poll checks a
page of ids against it in one query batch, so memory does not grow with the number of detractors.
An id enters the ledger only after Slack accepted the message that shows it (or after that message
was found in the channel, when a crash lost Slack's answer: bot.posting).

A detractor's email, phone and comment are personal data. The ledger keeps them only where a
click must redraw the alert (or a digest's list is still owed), and then encrypted with the
store's keys like credentials; ids the bot only has to recognise (the first poll's baseline, a
digest already listed) are kept as bare ids. QuestionPro has no call to fetch one detractor, so
refetching on a click would mean paging the whole account.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field, field_validator

from bot.errors import UserInputError
from bot.keys import label
from bot.models import Detractor, NeutralStatus
from bot.subscription_rules import Access, Filters, Policy


def now() -> datetime:
    return datetime.now(UTC)


class Subscription(BaseModel):
    """One channel's subscription to one feed: QuestionPro detractors, or a ticket backend's new
    tickets (``source``), with what it asks for (``bot.subscription_rules``)."""

    id: str = Field(default_factory=lambda: secrets.token_hex(6))
    team_id: str
    channel_id: str
    subscriber: str
    source: str = "detractors"  # or a ticket backend's key: omnidesk, epixel, ispcrm
    filters: Filters = Field(default_factory=Filters)
    changes: bool = False  # ticket backends: status changes too, in each ticket's thread
    policy: Policy = Field(default_factory=Policy)
    access: Access = Field(default_factory=Access)
    # Whose credentials the poller uses: the subscriber's key scope (the org on Enterprise Grid).
    # Records written before Grid support have None, meaning team_id.
    scope: str | None = None
    segment_id: int | None = None
    status: int | None = None
    every_seconds: int = 300
    mode: Literal["each", "digest"] = "each"
    created_at: datetime = Field(default_factory=now)
    baseline_done: bool = False
    baseline_page: int = 0  # pages of the baseline already in the ledger (resumes after a failure)
    last_poll: datetime | None = None
    last_sweep: datetime | None = None
    next_poll: datetime | None = None
    failures: int = 0
    outage_since: datetime | None = None
    # Health (bot.poll_base): the last poll that went through, and the last error in the
    # backend's (or Slack's) words with its time. The error is kept after a recovery, as history
    # the next error replaces, so "what went wrong last night" stays answerable.
    last_ok: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    outage_told: bool = False  # the subscriber was DMed that this outage stopped deliveries
    # Why polling stopped: "credentials" resumes by itself when the subscriber reconnects;
    # "channel" (archived, the bot removed), "token" (Slack refuses the bot token) and "user"
    # (paused by the subscriber from App Home) only by Resume.
    paused: Literal["credentials", "channel", "token", "user"] | None = None
    paused_detail: str | None = None
    credentials_stamp: str | None = None
    pending_threads: list[dict[str, Any]] = Field(default_factory=list)
    last_detractor_at: datetime | None = None  # when a poll last found a new one
    quiet_noticed: bool = False  # the "this source is quiet, the other is not" notice was posted
    # A post whose outcome a crash may leave unknown (bot.posting): key, ids, when, found ts.
    posting: dict[str, Any] | None = None
    weekly: bool = True  # the Monday insights post (bot.weekly); `weekly:off` turns it off
    weekly_posted: str | None = None  # the ISO week ("2025-W03") of the last one posted

    def pause_by(self, user_id: str) -> None:
        """Stop polling until Resume; a reconnect of the backend does not undo this pause."""
        self.paused, self.paused_detail = "user", f"paused by <@{user_id}>"

    def resume(self) -> None:
        """Poll again at once. A credentials pause is not lifted here: it needs a reconnect."""
        if self.paused == "credentials":
            raise UserInputError(
                f"These alerts resume by themselves once the subscriber connects {self.vendor} "
                f"again (`/ticket connect {self.backend}`)."
            )
        self.paused = self.paused_detail = None
        self.next_poll = None

    @property
    def owner_scope(self) -> str:
        """The scope the subscriber's credentials are kept under."""
        return self.scope or self.team_id

    @property
    def backend(self) -> str:
        """The backend whose credentials the poller uses (``questionpro`` for detractors)."""
        return "questionpro" if self.source == "detractors" else self.source

    @property
    def title(self) -> str:
        """What this subscription posts, as people call it: "QuestionPro detractors",
        "Omnidesk tickets"."""
        if self.source == "detractors":
            return "QuestionPro detractors"
        return f"{label(self.source)} tickets"

    @property
    def vendor(self) -> str:
        """The backend as channel lines name it: "QuestionPro", "Omnidesk"."""
        return "QuestionPro" if self.source == "detractors" else label(self.source)

    @property
    def feed_name(self) -> str:
        """What the channel gets, in a sentence: "QuestionPro detractor alerts", "new Omnidesk
        tickets"."""
        if self.source == "detractors":
            return "QuestionPro detractor alerts"
        return f"new {self.title}"

    def same_feed(self, other: Subscription) -> bool:
        """Whether ``other`` would post exactly what this one posts (one channel needs only
        one of them)."""
        keys = ("source", "segment_id", "status", "filters", "changes")
        return all(getattr(self, k) == getattr(other, k) for k in keys)

    def describe(self) -> str:
        """ "segment 999, status 0, every 5 min, each alert" for confirmations and lists; the
        filters and policies as they would be typed."""
        parts = []
        if self.source == "detractors":
            parts.append(
                f"segment {self.segment_id}" if self.segment_id is not None else "all segments"
            )
            if self.status is not None:
                parts.append(f"status {self.status}")
        minutes = self.every_seconds / 60
        parts.append(f"every {minutes:g} min" if minutes >= 1 else f"every {self.every_seconds} s")
        parts.append("a digest per poll" if self.mode == "digest" else "each alert on its own")
        if not self.weekly:
            parts.append("no weekly insights")
        if self.changes:
            parts.append("status changes in threads")
        parts.extend(self.filters.describe())
        parts.extend(_policy_words(self.policy, self.access))
        return ", ".join(parts)


def _policy_words(policy: Policy, access: Access) -> list[str]:
    words = []
    if policy.remind_seconds:
        words.append(f"remind:{policy.remind_seconds // 60}m")
    if policy.notify:
        words.append(f"notify:@{policy.notify.name}")
    if policy.escalate_seconds and policy.escalate_to:
        words.append(f"escalate:{policy.escalate_seconds // 60}m #{policy.escalate_to.name}")
    if policy.hours:
        words.append(policy.hours.describe())
    if access.actors:
        words.append(f"actors:@{access.actors.name}")
    if access.pii_masked:
        words.append("pii:masked")
    return words


class TicketLink(BaseModel):
    """A ticket an alert was escalated into, kept linked (bot.alert_links): who escalated it
    (their credentials read it), its last known status, and what the checker knows of it."""

    ref: str  # backend:id
    # Who escalated: their key scope and user id. None on links written before links were kept
    # (a bare ref), which are shown but never checked: nobody's credentials are known for them.
    by_scope: str | None = None
    by_user: str | None = None
    status_label: str | None = None
    status: NeutralStatus | None = None
    checked_at: datetime | None = None
    failing_since: datetime | None = None  # checks failing since (an outage: said once in the log)
    # Checks stopped because the escalator's credentials are gone or refused, with the stamp of
    # the credentials that were refused (None: not connected); a new stamp resumes them.
    stopped: bool = False
    stopped_stamp: str | None = None
    # The last status change made to this ticket through ticketbot (bot.changes), and by whom:
    # names who closed or reopened it when the checker sees the change.
    changed_by: str | None = None
    changed_to: str | None = None
    changed_at: datetime | None = None

    @property
    def backend(self) -> str:
        """The ref's backend key."""
        return self.ref.partition(":")[0]

    @property
    def checkable(self) -> bool:
        """Whether the checker reads this ticket (someone's credentials are known for it)."""
        return self.by_user is not None and self.by_scope is not None


class Alert(BaseModel):
    """What the ledger knows of one detractor in one subscription."""

    subscription_id: str
    detractor: Detractor
    channel_id: str
    ts: str | None = None  # the alert's own message; None when shown only in a summary/digest
    state: Literal["seen", "open", "claimed", "resolved"] = "seen"
    claimed_by: str | None = None
    resolved_by: str | None = None
    note: str | None = None
    escalated: list[TicketLink] = Field(default_factory=list)
    reminded: bool = False
    # When the clicks happened, for insights; None in rows written before they were kept.
    claimed_at: datetime | None = None
    resolved_at: datetime | None = None
    # The linked ticket (its ref) whose closing resolved this alert; reopening it reopens the
    # alert. None when resolved in Slack (or not resolved).
    resolved_via: str | None = None
    # The subscription's policy (bot.escalation): when the last `remind:` went out, and the copy
    # `escalate:` posted in another channel (redrawn with the alert). Old rows: none yet.
    nudged_at: datetime | None = None
    copy_channel_id: str | None = None
    copy_ts: str | None = None

    @field_validator("escalated", mode="before")
    @classmethod
    def _bare_refs(cls, value: Any) -> Any:
        # Ledger rows written before links were kept hold bare refs.
        if isinstance(value, list):
            return [{"ref": v} if isinstance(v, str) else v for v in value]
        return value

    def link(self, ref: str) -> TicketLink | None:
        """The link to ``ref``, if this alert has one."""
        return next((link for link in self.escalated if link.ref == ref), None)

    @property
    def watched_links(self) -> list[TicketLink]:
        """The links the checker reads: all checkable ones while the alert is unresolved, or
        once a linked ticket's closing resolved it (a reopen there reopens it)."""
        if self.state == "resolved" and self.resolved_via is None:
            return []
        return [link for link in self.escalated if link.checkable]

    def messages(self) -> list[tuple[str, str]]:
        """Every message showing this alert, as (channel, ts): its own, then its copy."""
        shown = [(self.channel_id, self.ts)] if self.ts else []
        if self.copy_channel_id and self.copy_ts:
            shown.append((self.copy_channel_id, self.copy_ts))
        return shown


class FeedItem(BaseModel):
    """What the ticket-feed ledger knows of one backend ticket in one subscription: the message
    that shows it (None for a ticket only recorded, by the baseline, a filter or a digest) and
    the status it was last shown with. Ids and a status value only: no personal data."""

    subscription_id: str
    ticket_id: str
    ts: str | None = None
    status: str | None = None  # the backend's status value when last shown
    closed: bool = False  # closed when last seen: a poll stops looking for it far back


class Sealing(Protocol):
    """What the ledger needs of a store to keep personal data encrypted."""

    def seal(self, value: Any) -> str: ...
    def open_sealed(self, token: str) -> Any: ...


def ledger_row(sealer: Sealing, alert: Alert) -> dict[str, Any]:
    """The stored form of ``alert``: the detractor and the note sealed, the rest plain."""
    row = alert.model_dump(mode="json", exclude={"detractor", "note"})
    row["ticket_id"] = alert.detractor.ticket_id
    # Plain beside the sealed detractor so a time window is selected without opening each row.
    row["at"] = alert.detractor.created_at.astimezone(UTC).isoformat()
    # The resolver's note is free text about the customer too.
    personal = {"detractor": alert.detractor.model_dump(mode="json"), "note": alert.note}
    row["sealed"] = sealer.seal(personal)
    return row


def alert_from_row(sealer: Sealing, row: dict[str, Any] | None) -> Alert | None:
    """The alert a :func:`ledger_row` holds; None for a bare id (nothing to redraw)."""
    if row is None or "sealed" not in row:
        return None
    personal = sealer.open_sealed(row["sealed"])
    fields = {k: v for k, v in row.items() if k not in {"sealed", "ticket_id", "at"}}
    return Alert.model_validate({**fields, **personal})


def maybe_in_window(row: dict[str, Any], start: datetime, end: datetime) -> bool:
    """False when the row's plain ``at`` shows its detractor outside [start, end); True when it
    may be inside (rows written before ``at`` was kept are opened and checked by
    :func:`in_window`)."""
    if "sealed" not in row:
        return False
    at = row.get("at")
    return at is None or start <= datetime.fromisoformat(at) < end


def in_window(alert: Alert, start: datetime, end: datetime) -> bool:
    """Whether the alert's detractor arrived in [start, end)."""
    return start <= alert.detractor.created_at < end


def bare_row(sub_id: str, ticket_id: int) -> dict[str, Any]:
    """A ledger row that only says the id is known (no alert shows it)."""
    return {"subscription_id": sub_id, "ticket_id": ticket_id, "state": "seen"}


def is_open(alert: Alert) -> bool:
    """Whether the poller still has work on ``alert``: waiting for a claim (reminders and
    escalation copies go on after the 75% reminder, so that reminder does not close it), its
    claimer's deadline reminder (claimed, not yet reminded) or its linked tickets to check."""
    unclaimed = alert.state == "open"
    awaits_reminder = alert.state == "claimed" and not alert.reminded
    return unclaimed or awaits_reminder or bool(alert.watched_links)
