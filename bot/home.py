"""What a person's App Home shows: their accounts, tickets, alert subscriptions and imports.

Gathered in two steps so that the Home tab never waits on a backend: ``from_store`` reads the
store, plus the ticket rows ``HomeCache`` kept from the last visit for a short while; then
``my_tickets`` asks the backends. Nothing here knows about Slack.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.backends.base import BaseBackend, Capability
from bot.credentials import Credentials
from bot.import_jobs import ImportJob
from bot.models import Ticket, TicketQuery
from bot.subscriptions import Subscription
from bot.tickets import Actor, Listing, gather_listing

if TYPE_CHECKING:  # bot.services keeps a HomeCache, so it imports this module
    from bot.backends.registry import Backends
    from bot.services import Services

HOME_TICKETS = 15
HOME_IMPORTS = 5
HOME_SUBSCRIPTIONS = 10


@dataclass
class HomeData:
    """Everything one Home view is drawn from. ``tickets`` is None until a backend answered
    (or the cache had rows); ``capabilities`` holds the backends whose tickets are yours."""

    accounts: dict[str, Credentials]
    subscriptions: list[Subscription]
    imports: list[ImportJob]
    resumable: frozenset[str] = frozenset()
    capabilities: dict[str, frozenset[Capability]] = field(default_factory=dict)
    tickets: Listing | None = None


class HomeCache:
    """The last ticket rows each person's Home showed, for ``ttl_seconds``: a second visit
    shows them at once while the backends are asked again. In memory: losing it costs one
    "refreshing…" view, nothing else."""

    def __init__(self, ttl_seconds: float = 120.0) -> None:
        self._ttl = ttl_seconds
        self._rows: dict[tuple[str, str], tuple[float, Listing]] = {}

    def get(self, actor: Actor) -> Listing | None:
        """The rows kept for ``actor``, if still fresh."""
        entry = self._rows.get((actor.scope, actor.user_id))
        return entry[1] if entry and entry[0] > time.monotonic() else None

    def keep(self, actor: Actor, listing: Listing) -> None:
        """Remember ``listing`` for ``actor`` (and drop anything stale while here)."""
        now = time.monotonic()
        self._rows = {k: v for k, v in self._rows.items() if v[0] > now}
        self._rows[(actor.scope, actor.user_id)] = (now + self._ttl, listing)

    def forget(self, actor: Actor) -> None:
        """Drop ``actor``'s rows (an account was disconnected: they may show its tickets)."""
        self._rows.pop((actor.scope, actor.user_id), None)


def own_ticket_clients(
    backends: Backends, accounts: dict[str, Credentials]
) -> dict[str, BaseBackend]:
    """The person's clients whose ticket list is already their own (Epixel, ISPCRM)."""
    clients = {key: backends.for_credentials(creds) for key, creds in accounts.items()}
    return {
        key: client
        for key, client in clients.items()
        if client.supports(Capability.LIST) and client.supports(Capability.OWN_TICKETS)
    }


async def from_store(services: Services, actor: Actor) -> HomeData:
    """The Home's data without calling any backend: store records and cached ticket rows."""
    accounts = await services.store.list_credentials(actor.scope, actor.user_id)
    subs = [
        s
        for s in await services.alerts.all()
        if s.subscriber == actor.user_id and s.owner_scope == actor.scope
    ]
    jobs = await services.imports.for_user(actor, limit=HOME_IMPORTS)
    clients = own_ticket_clients(services.backends, accounts)
    return HomeData(
        accounts=accounts,
        subscriptions=sorted(subs, key=lambda s: s.created_at),
        imports=jobs,
        resumable=frozenset(j.id for j in jobs if j.resumable(services.running_imports)),
        capabilities={key: client.capabilities for key, client in clients.items()},
        tickets=services.home.get(actor) if clients else None,
    )


async def my_tickets(services: Services, actor: Actor, data: HomeData) -> Listing:
    """The person's own tickets on every backend that can say so, newest change first; a
    backend that fails or is slower than TICKETBOT_LIST_TIMEOUT is one warning line. Kept in
    the cache for the next visit. (Watched tickets join here once there is watching.)"""
    clients = own_ticket_clients(services.backends, data.accounts)
    listing = await gather_listing(
        clients, TicketQuery(limit=HOME_TICKETS), services.settings.list_timeout
    )
    listing.tickets.sort(key=_latest_change, reverse=True)
    services.home.keep(actor, listing)
    return listing


def _latest_change(ticket: Ticket) -> datetime:
    # Backends without dates (Epixel's history) sort after the dated ones.
    return ticket.updated_at or ticket.created_at or datetime.min.replace(tzinfo=UTC)
