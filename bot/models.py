"""Backend-neutral models. Raw vendor JSON never leaves its backend module; everything else in
ticketbot sees these.

Statuses and priorities keep the backend's own value and label, and carry a neutral value for
display and filtering across backends.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from bot.blocks.limits import escape
from bot.credentials import check_backend
from bot.errors import BadTicketRefError, UnknownBackendError
from bot.text import is_number

T = TypeVar("T")


class NeutralStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    CLOSED = "closed"


class NeutralPriority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class TicketRef(_Model):
    """``<backend>:<id>``, the way a ticket is named everywhere in Slack."""

    backend: str
    id: str

    def __str__(self) -> str:
        return f"{self.backend}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> TicketRef:
        """Parse ``omnidesk:123``; raises BadTicketRefError saying what a ref looks like."""
        refs = cls.parse_many(text)
        if len(refs) != 1:
            raise BadTicketRefError(
                f"`{escape(text)}` names {len(refs)} tickets; give exactly one."
            )
        return refs[0]

    @classmethod
    def parse_many(cls, text: str) -> list[TicketRef]:
        """Parse ``omnidesk:1,2,3`` (one backend, several ids) into refs."""
        backend, sep, ids = text.strip().partition(":")
        if not sep or not backend or not ids:
            raise BadTicketRefError(
                f"`{escape(text)}` is not a ticket ref. Write `&lt;backend&gt;:&lt;id&gt;`, "
                "e.g. `omnidesk:1234`."
            )
        try:
            key = check_backend(backend)
        except UnknownBackendError as exc:
            raise BadTicketRefError(str(exc)) from None
        parts = [part.strip() for part in ids.split(",")]
        bad = [part for part in parts if not is_number(part)]
        if bad:
            raise BadTicketRefError(
                f"`{escape(bad[0]) or '(empty)'}` is not a ticket id: {key} ids are numbers, "
                f"e.g. `{key}:1234`."
            )
        return [cls(backend=key, id=part) for part in dict.fromkeys(parts)]


class Status(_Model):
    value: str
    label: str
    neutral: NeutralStatus


class Priority(_Model):
    value: str
    label: str
    neutral: NeutralPriority


class Category(_Model):
    id: str
    name: str
    description: str = ""


class Tag(_Model):
    id: str
    name: str
    keyword: str = ""


class Attachment(_Model):
    id: str
    name: str | None = None
    comment_id: str | None = None


class Comment(_Model):
    id: str
    body: str
    author: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)


class Ticket(_Model):
    ref: TicketRef
    subject: str
    status: Status | None = None
    priority: Priority | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    author: str | None = None
    body: str | None = None
    category: Category | None = None
    tags: list[Tag] = Field(default_factory=list)
    comments: list[Comment] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    details: dict[str, str] = Field(default_factory=dict)


class Page(_Model, Generic[T]):
    """One page of a listing; ``offset`` of its first item, ``total`` when the backend says."""

    items: list[T]
    offset: int = 0
    total: int | None = None
    has_more: bool = False


class BulkResult(_Model):
    """What a bulk change did, per ticket id."""

    succeeded: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)


class Upload(_Model):
    """A file to send to a backend."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


class Download(_Model):
    """A file fetched from a backend."""

    filename: str
    content: bytes
    content_type: str


class TicketQuery(_Model):
    """What `/ticket list` asks a backend for."""

    status: str | None = None
    text: str | None = None
    offset: int = 0
    limit: int = 25


class NewTicket(_Model):
    """A ticket to create. Backends read the fields they have and ignore the rest."""

    subject: str
    body: str = ""
    priority: str | None = None
    category: str | None = None
    attachment: Upload | None = None
    requester: str | None = None
    requester_name: str | None = None
    recipient: str | None = None
    direction: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)


class Detractor(_Model):
    """A QuestionPro CX detractor ticket."""

    ticket_id: int
    response_id: int
    email: str
    phone: str = ""
    rating: str = ""
    comment: str = ""
    created_at: datetime
    timelimit_hours: int

    @property
    def deadline(self) -> datetime:
        """When the response is due (``timelimit`` is in hours; unconfirmed, see README)."""
        return self.created_at + timedelta(hours=self.timelimit_hours)


class Product(_Model):
    name: str
    group: str = ""
    custom: list[str] = Field(default_factory=list, max_length=3)


class Contact(_Model):
    """One row of a QuestionPro transactions import."""

    email: str
    first_name: str = ""
    last_name: str = ""
    mobile: str = ""
    segment_code: str
    transaction_date: date
    custom: list[str] = Field(default_factory=list)
    products: list[Product] = Field(default_factory=list)


class ImportResult(_Model):
    import_status: str
    email_status: str
    imported: int


_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z")


def parse_timestamp(value: object) -> datetime | None:
    """A vendor timestamp as aware UTC, or None. Accepts Omnidesk's ``2019-09-28 22:06:16``
    (no zone: taken as UTC), QuestionPro's ``2020-01-14T12:51:48.000+0000`` and ISO 8601."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        # fromisoformat (3.11+) reads all three forms and is ~60x faster than strptime,
        # which matters when a poll parses thousands of detractors.
        return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        pass
    for fmt in _TIME_FORMATS:
        try:
            return utc(datetime.strptime(text, fmt))
        except ValueError:
            continue
    return None


def utc(dt: datetime) -> datetime:
    """``dt`` as an aware UTC datetime (naive values are taken to be UTC)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
