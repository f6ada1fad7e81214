"""Reading Epixel's answers (seed 002): the ``{"status_code", "errors", "data"}`` envelope
mapped onto the exception tree (errors per field), the status and priority codes, and tickets,
categories' lists and the detailed view read into ``bot.models``.

Kept apart from ``epixel.py`` so the backend there holds only auth and the endpoints; raw vendor
JSON is read here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from bot.backends.http import body_of, generic_error
from bot.errors import (
    BackendAuthError,
    BackendError,
    BackendUnexpectedResponse,
    BackendValidationError,
)
from bot.models import (
    Attachment,
    Category,
    Comment,
    NeutralPriority,
    NeutralStatus,
    Priority,
    Status,
    Tag,
    Ticket,
    TicketRef,
)

KEY = "epixel"

STATUSES = (
    Status(value="1", label="Open", neutral=NeutralStatus.OPEN),
    Status(value="2", label="Processing", neutral=NeutralStatus.PENDING),
    Status(value="3", label="Closed", neutral=NeutralStatus.CLOSED),
)
PRIORITIES = (
    Priority(value="1", label="Low", neutral=NeutralPriority.LOW),
    Priority(value="2", label="Medium", neutral=NeutralPriority.MEDIUM),
    Priority(value="3", label="High", neutral=NeutralPriority.HIGH),
)


def _field_messages(errors: Any) -> dict[str, list[str]]:
    if isinstance(errors, dict):
        fields: dict[str, list[str]] = {}
        for name, value in errors.items():
            if isinstance(value, list | tuple):
                fields[str(name)] = [str(v) for v in value]
            elif isinstance(value, dict):
                fields.update({f"{name}.{k}": v for k, v in _field_messages(value).items()})
            elif value not in (None, ""):
                fields[str(name)] = [str(value)]
        return fields
    if isinstance(errors, list | tuple) and errors:
        return {"detail": [str(e) for e in errors]}
    if isinstance(errors, str) and errors:
        return {"detail": [errors]}
    return {}


def epixel_error(response: httpx.Response, body: Any = None) -> BackendError:
    """Map Epixel's envelope; ``body`` when the envelope came inside an HTTP 200."""
    data = body if isinstance(body, dict) else body_of(response)
    if not {"status_code", "errors"} <= data.keys():
        # Not Epixel's envelope: another server's words (a base URL pointed elsewhere) are
        # never shown, only the HTTP status.
        return generic_error(KEY, response)
    fields = _field_messages(data.get("errors"))
    status = data.get("status_code") if isinstance(data.get("status_code"), int) else None
    status = status or response.status_code
    message = "; ".join(m for msgs in fields.values() for m in msgs)
    if status == 401 and "limit" in message.lower():
        # Documented as a 401, but it is not about credentials: the user has too many open.
        return BackendValidationError(KEY, message, fields=fields, status=status)
    if status == 401:
        return BackendAuthError(KEY, message or "invalid API key or access token", status=status)
    if status in {400, 422}:
        return BackendValidationError(KEY, message or "invalid input", fields=fields, status=status)
    return generic_error(KEY, response, message or None)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _lookup(choices: Sequence[Status] | Sequence[Priority], value: Any) -> Any:
    return next((c for c in choices if c.value == _text(value)), None)


def ticket_of(item: dict[str, Any]) -> Ticket:
    """A ticket from one item of the history list (or the detailed view's ``ticket``)."""
    category = None
    if item.get("category") is not None:
        category = Category(id=_text(item.get("category")), name=_text(item.get("category_title")))
    return Ticket(
        ref=TicketRef(backend=KEY, id=_text(item.get("id"))),
        subject=_text(item.get("subject")),
        status=_lookup(STATUSES, item.get("status")),
        priority=_lookup(PRIORITIES, item.get("priority")),
        body=_text(item.get("comment")) or None,
        category=category,
    )


def detailed_ticket(data: Any) -> Ticket:
    """The ticket of ``support/ticket/detailed-view/``, with its author, comments, attachments
    and tags."""
    if not isinstance(data, dict) or not isinstance(data.get("ticket"), dict):
        raise BackendUnexpectedResponse(KEY, "the detailed view had no ticket")
    attachments = [
        Attachment(id=_text(a.get("id")), comment_id=_text(a.get("conversation_id")) or None)
        for a in data.get("attachments") or []
        if isinstance(a, dict)
    ]
    comments = [
        Comment(
            id=_text(c.get("id")),
            body=_text(c.get("comment")),
            author=_text(c.get("author")) or None,
            attachments=[a for a in attachments if a.comment_id == _text(c.get("id"))],
        )
        for c in data.get("conversations") or []
        if isinstance(c, dict)
    ]
    ticket = ticket_of(data["ticket"])
    return ticket.model_copy(
        update={
            "author": _text(data.get("author")) or None,
            "comments": comments,
            "attachments": attachments,
            "tags": [Tag(id=_text(t), name=_text(t)) for t in data["ticket"].get("tags") or []],
        }
    )


def items_of(data: Any, key: str) -> list[dict[str, Any]]:
    """The dicts of the list ``data[key]``; an answer without that list is unexpected."""
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise BackendUnexpectedResponse(KEY, f"the answer had no {key} list")
    return [item for item in items if isinstance(item, dict)]


def categories_of(data: Any) -> list[Category]:
    """The categories of ``support/get/category-list/``."""
    return [
        Category(
            id=_text(c.get("id")),
            name=_text(c.get("category")),
            description=_text(c.get("description")),
        )
        for c in items_of(data, "CategoryList")
    ]


def tags_of(data: Any) -> list[Tag]:
    """The tags of ``support/get/ticket/tags/``."""
    return [
        Tag(id=_text(t.get("id")), name=_text(t.get("tag")), keyword=_text(t.get("keyword")))
        for t in items_of(data, "TicketTagList")
    ]
