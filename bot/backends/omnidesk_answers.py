"""Reading Omnidesk's answers: items in the vendor's snake_case (``from_name``, ``brand_id``,
``last_update``, as on https://docs.omnidesk.io/app/ticket) or the seed's camelCase, lists with
``itemTotal`` or ``total``, result-type answers (https://www.omnidesk.nl/api/docs), and zone-less
timestamps read in one configured zone."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.errors import BackendUnexpectedResponse
from bot.models import (
    BulkResult,
    NeutralPriority,
    NeutralStatus,
    Priority,
    Status,
    Ticket,
    TicketRef,
    parse_timestamp,
)

KEY = "omnidesk"

STATUSES = (
    Status(value="new", label="New", neutral=NeutralStatus.OPEN),
    Status(value="open", label="Open", neutral=NeutralStatus.OPEN),
    Status(value="pending", label="Pending", neutral=NeutralStatus.PENDING),
    Status(value="holding", label="Holding", neutral=NeutralStatus.PENDING),
    Status(value="solved", label="Solved", neutral=NeutralStatus.CLOSED),
    Status(value="closed", label="Closed", neutral=NeutralStatus.CLOSED),
)

PRIORITIES = (
    Priority(value="low", label="Low", neutral=NeutralPriority.LOW),
    Priority(value="medium", label="Medium", neutral=NeutralPriority.MEDIUM),
    Priority(value="high", label="High", neutral=NeutralPriority.HIGH),
    Priority(value="urgent", label="Urgent", neutral=NeutralPriority.URGENT),
)
# Fields of an item shown as details, in this order, when present: label, then the vendor's
# snake_case name (https://docs.omnidesk.io/app/ticket) and the seed's camelCase fallback.

_DETAILS = (
    ("To", "to", "to"),
    ("Direction", "direction", "direction"),
    ("Brand", "brand_id", "brandID"),
    ("Channel", "channel_id", "channelID"),
    ("Group", "assigned_group_id", "assignedGroupID"),
    ("Form", "form_id", "formID"),
    ("External id", "external_primary_id", "externalPrimaryID"),
)
# omnidesk.ru (docs also on omnidesk.pro) is another company's helpdesk: /api/cases.json with
# Basic auth (https://omnidesk.ru/api/cases). Its accounts live on <name>.omnidesk.ru.


def _lookup(choices: Sequence[Any], value: Any) -> Any:
    text = str(value or "").lower()
    return next((c for c in choices if c.value == text), None)


def first_field(item: dict[str, Any], *names: str) -> Any:
    """The first of ``names`` the item has a value for (vendor's name first, seed's after)."""
    return next((item[n] for n in names if item.get(n) is not None), None)


def omnidesk_time(value: Any, zone: ZoneInfo) -> datetime | None:
    """An Omnidesk timestamp as aware UTC; one without a zone is read in ``zone``."""
    parsed = parse_timestamp(value)
    if parsed is None or _has_zone(str(value)):
        return parsed
    return parsed.replace(tzinfo=zone).astimezone(UTC)


def _has_zone(text: str) -> bool:
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def to_ticket(item: dict[str, Any], zone: ZoneInfo | None = None) -> Ticket:
    """An Omnidesk item (vendor's snake_case or the seed's camelCase) as a neutral Ticket."""
    zone = zone or ZoneInfo("UTC")
    ticket_id = first_field(item, "id", "ticketID")
    if ticket_id is None:
        raise BackendUnexpectedResponse(KEY, "a ticket without an id")
    details = {}
    for label, vendor, seed in _DETAILS:
        value = first_field(item, vendor, seed)
        if value not in (None, "", 0, "0"):
            details[label] = str(value)
    return Ticket(
        ref=TicketRef(backend=KEY, id=str(ticket_id)),
        subject=str(item.get("title") or ""),
        status=_lookup(STATUSES, item.get("status")),
        priority=_lookup(PRIORITIES, item.get("priority")),
        created_at=omnidesk_time(item.get("created_at"), zone),
        updated_at=omnidesk_time(first_field(item, "last_update", "updated_at"), zone),
        author=_author(item),
        body=str(item.get("body") or "") or None,
        details=details,
    )


def _author(item: dict[str, Any]) -> str | None:
    name = str(first_field(item, "from_name", "fromName") or "").strip()
    address = str(item.get("from") or "").strip()
    if name and address:
        return f"{name} <{address}>"
    return name or address or None


def items_of(body: Any) -> list[dict[str, Any]]:
    """Tickets from a list answer, whatever wrapper it came in."""
    if isinstance(body, list):
        raw = body
    elif isinstance(body, dict):
        raw = next(
            (
                body[k]
                for k in ("items", "tickets", "list", "data")
                if isinstance(body.get(k), list)
            ),
            None,
        )
        if raw is None:
            raise BackendUnexpectedResponse(KEY, "the ticket list answer had no list of tickets")
    else:
        raise BackendUnexpectedResponse(KEY, "the ticket list answer was not a list or an object")
    return [r.get("item", r) if isinstance(r, dict) else {} for r in raw]


def bulk_result(body: Any, ticket_ids: Sequence[str]) -> BulkResult:
    """A bulk answer as per-ticket results; an answer without detail means all succeeded."""
    if isinstance(body, dict) and ("succeeded" in body or "failed" in body):
        failed = {str(k): str(v) for k, v in (body.get("failed") or {}).items()}
        return BulkResult(
            succeeded=[str(i) for i in body.get("succeeded") or [] if str(i) not in failed],
            failed=failed,
        )
    return BulkResult(succeeded=list(ticket_ids))


NOT_RETURNED = "created; Omnidesk did not return it"


def is_result(body: Any) -> bool:
    """Whether an answer is ``{"type": "result", ...}`` rather than an item."""
    return isinstance(body, dict) and body.get("type") == "result" and "item" not in body


def id_in_message(message: Any) -> str | None:
    """A ticket id in a result message such as "Ticket 1234 created", if there is one."""
    numbers = re.findall(r"\b\d+\b", str(message or ""))
    return numbers[0] if len(numbers) == 1 else None


def item_of(body: Any) -> dict[str, Any]:
    """The item of ``{"type": "item", "item": {...}}``; anything else is unexpected."""
    if isinstance(body, dict) and isinstance(body.get("item"), dict):
        return body["item"]
    raise BackendUnexpectedResponse(KEY, 'expected {"type": "item", "item": {...}}')
