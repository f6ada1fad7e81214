"""Reading a batch of watched tickets with one person's credentials, as cheaply as the backend
allows.

A listing call (``BaseBackend.list_limit`` tickets a page, carrying ``listed_fields``) serves a
batch when it covers several tickets of one credential owner: Omnidesk's ticket list (the whole
account, newest first, 100 a page), Epixel's history (the owner's tickets), ISPCRM's customer
tickets (all of them in one call). Paging stops once every wanted ticket was seen, or when the
pages left would cost more than reading the rest one by one; whatever the listing did not show
(an archived or older ticket, another owner's) is read with ``get_ticket``. A ticket that needs
fields a listing lacks (Epixel's comments and tags on a full check) is read with ``get_ticket``.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field

from bot.backends.base import BaseBackend
from bot.errors import (
    BackendAuthError,
    BackendNotFound,
    BackendPermissionError,
    BackendValidationError,
)
from bot.models import Ticket, TicketQuery
from bot.watch_diff import FIELDS


@dataclass
class Reading:
    """What one reader's batch came to: tickets read (with the fields their read carried),
    ids this reader was told do not exist, and ids this reader may not read."""

    found: dict[str, tuple[Ticket, frozenset[str]]] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)


# Per ticket, a refusal means "not with these credentials" (Epixel answers another owner's
# ticket with a validation error): another watcher's may do.
_NOT_YOURS = (BackendAuthError, BackendPermissionError, BackendValidationError)


async def read_batch(
    client: BaseBackend, listed: Collection[str], full: Collection[str]
) -> Reading:
    """Read ``listed`` (ids whose listed fields suffice) and ``full`` (ids to read whole).

    An auth or permission error of the listing itself propagates (these credentials read
    nothing); other backend errors propagate too, for the caller to back the batch off."""
    reading = Reading()
    rest = set(listed)
    if client.listed_fields and len(rest) > 1:
        rest = await _from_listing(client, rest, reading)
    for ticket_id in sorted(rest | set(full)):
        await _get_one(client, ticket_id, reading)
    return reading


async def _from_listing(client: BaseBackend, wanted: set[str], reading: Reading) -> set[str]:
    carried = frozenset(client.listed_fields)
    offset, limit = 0, client.list_limit
    while wanted:
        page = await client.list_tickets(TicketQuery(offset=offset, limit=limit))
        for ticket in page.items:
            if ticket.ref.id in wanted:
                wanted.discard(ticket.ref.id)
                reading.found[ticket.ref.id] = (ticket, carried)
        offset += len(page.items)
        if not page.has_more or not page.items:
            break
        pages_left = math.ceil((page.total - offset) / limit) if page.total else 1
        if pages_left >= len(wanted):  # one get each is no dearer than paging on
            break
    return wanted


async def _get_one(client: BaseBackend, ticket_id: str, reading: Reading) -> None:
    try:
        ticket = await client.get_ticket(ticket_id)
    except BackendNotFound:
        reading.missing.add(ticket_id)
    except _NOT_YOURS:
        reading.refused.add(ticket_id)
    else:
        reading.found[ticket_id] = (ticket, frozenset(FIELDS))
