"""What a person's App Home shows: their accounts, their tickets (their own and the ones they
watch), alert subscriptions, imports and watch settings.

Gathered in two steps so that the Home tab never waits on a backend: ``from_store`` reads the
store (watched tickets as the watcher last saw them), plus the ticket rows ``HomeCache`` kept
from the last visit for a short while; then ``my_tickets`` asks the backends. Nothing here knows
about Slack.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.backends.base import BaseBackend, Capability
from bot.backends.registry import Backends
from bot.credentials import Credentials
from bot.errors import BackendNotFound
from bot.import_jobs import ImportJob
from bot.keys import label
from bot.models import Ticket, TicketQuery, TicketRef
from bot.services import Services
from bot.subscriptions import Subscription
from bot.tickets import Actor, Listing, bounded, gather_listing
from bot.watches import Watched, WatchPrefs
from bot.watching import seen_of, watch_store

HOME_TICKETS = 15
HOME_IMPORTS = 5
HOME_SUBSCRIPTIONS = 10


@dataclass(frozen=True)
class TicketRows:
    """The "My tickets" rows of one view: ``live`` as a backend answered (now or, cached, on the
    last visit), ``stale`` watched tickets as the watcher last saw them, and how many watched
    tickets did not fit (``hidden``)."""

    live: list[Ticket]
    stale: list[Watched]
    hidden: int


@dataclass
class HomeData:
    """Everything one Home view is drawn from. ``capabilities`` holds every connected backend's,
    ``own`` the backends whose ticket list is the person's own; ``watched`` the first
    HOME_TICKETS of the person's watches (newest first) and ``watching`` all their refs;
    ``tickets`` is None until a backend answered (or the cache had rows)."""

    accounts: dict[str, Credentials]
    subscriptions: list[Subscription]
    imports: list[ImportJob]
    resumable: frozenset[str] = frozenset()
    capabilities: dict[str, frozenset[Capability]] = field(default_factory=dict)
    own: frozenset[str] = frozenset()
    watched: list[Watched] = field(default_factory=list)
    watching: frozenset[str] = frozenset()
    prefs: WatchPrefs = field(default_factory=WatchPrefs)
    tickets: Listing | None = None

    @property
    def asks_backends(self) -> bool:
        """Whether a second publish can bring anything: a connected backend lists the person's
        own tickets, or one of their watched tickets is on a connected backend."""
        return bool(self.own) or any(w.watch.backend in self.accounts for w in self.watched)

    def rows(self) -> TicketRows:
        """The rows to draw, HOME_TICKETS at most, each ticket once: the answered ones, newest
        change first, then watched tickets no backend answered for, as last seen."""
        answered = self.tickets.tickets if self.tickets else []
        # A cached row may be a ticket unwatched since: only own and watched tickets stay.
        live = [t for t in answered if t.ref.backend in self.own or str(t.ref) in self.watching][
            :HOME_TICKETS
        ]
        shown = {str(t.ref) for t in live}
        stale = [w for w in self.watched if w.watch.ref not in shown][: HOME_TICKETS - len(live)]
        shown |= {w.watch.ref for w in stale}
        return TicketRows(live, stale, len(self.watching - shown))


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
    """The Home's data without calling any backend: store records, the watched tickets as the
    watcher last saw them, and cached ticket rows."""
    accounts = await services.store.list_credentials(actor.scope, actor.user_id)
    subs = [
        s
        for s in await services.alerts.all()
        if s.subscriber == actor.user_id and s.owner_scope == actor.scope
    ]
    jobs = await services.imports.for_user(actor, limit=HOME_IMPORTS)
    clients = {key: services.backends.for_credentials(creds) for key, creds in accounts.items()}
    watches = watch_store(services)
    mine = await watches.watches_of(actor.scope, actor.user_id)
    data = HomeData(
        accounts=accounts,
        subscriptions=sorted(subs, key=lambda s: s.created_at),
        imports=jobs,
        resumable=frozenset(j.id for j in jobs if j.resumable(services.running_imports)),
        capabilities={key: client.capabilities for key, client in clients.items()},
        own=frozenset(own_ticket_clients(services.backends, accounts)),
        # Only the rows Home can show are looked up: someone may watch hundreds.
        watched=[
            Watched(w, await seen_of(watches, services.store, w)) for w in mine[:HOME_TICKETS]
        ],
        watching=frozenset(w.ref for w in mine),
        prefs=await watches.prefs(actor.scope, actor.user_id),
    )
    data.tickets = services.home.get(actor) if data.asks_backends else None
    return data


async def my_tickets(services: Services, actor: Actor, data: HomeData) -> Listing:
    """The person's own tickets on every backend that can say so and the watched tickets of
    ``data`` read live with their credentials, all at once, each ticket once, newest change
    first. A backend that fails or is slower than TICKETBOT_LIST_TIMEOUT is one warning line
    (its watched tickets then show as last seen). Kept in the cache for the next visit."""
    seconds = services.settings.list_timeout
    clients = own_ticket_clients(services.backends, data.accounts)
    refs = [w.watch.ref for w in data.watched]  # HOME_TICKETS at most: bounded reads
    own, watched = await asyncio.gather(
        gather_listing(clients, TicketQuery(limit=HOME_TICKETS), seconds),
        read_watched(services.backends, data.accounts, refs, seconds),
    )
    merged = {str(t.ref): t for t in [*watched.tickets, *own.tickets]}
    # One line per backend, even when its list and its watched tickets both failed.
    warnings = {w.partition(":")[0]: w for w in [*watched.warnings, *own.warnings]}
    listing = Listing(
        tickets=sorted(merged.values(), key=_latest_change, reverse=True),
        warnings=list(warnings.values()),
    )
    services.home.keep(actor, listing)
    return listing


async def read_watched(
    backends: Backends, accounts: dict[str, Credentials], refs: Sequence[str], seconds: float
) -> Listing:
    """``refs`` read with the person's own credentials (on the backends they connected), all at
    once, each within ``seconds``. A ticket that is gone is left out (the watcher tells its
    watchers); a backend that fails is one warning line."""
    clients = {key: backends.for_credentials(creds) for key, creds in accounts.items()}
    wanted = [ref for ref in map(TicketRef.parse, refs) if ref.backend in clients]
    results = await asyncio.gather(
        *(bounded(_read(clients[ref.backend], ref.id), seconds) for ref in wanted)
    )
    listing = Listing(tickets=[])
    failed: dict[str, str] = {}
    for ref, result in zip(wanted, results, strict=True):
        if isinstance(result, str):
            failed.setdefault(ref.backend, result)
        elif result is not None:
            listing.tickets.append(result)
    listing.warnings = [f"{label(key)}: {reason}" for key, reason in failed.items()]
    return listing


async def _read(client: BaseBackend, ticket_id: str) -> Ticket | None:
    if not client.supports(Capability.SHOW):
        return None
    try:
        return await client.get_ticket(ticket_id)
    except BackendNotFound:
        return None


def _latest_change(ticket: Ticket) -> datetime:
    # Backends without dates (Epixel's history) sort after the dated ones.
    return ticket.updated_at or ticket.created_at or datetime.min.replace(tzinfo=UTC)
