"""Ticket operations as the Slack handlers need them: always as the acting user, across backends.

A handler parses, calls one function here, and renders; nothing here knows about Slack.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from bot.backends.base import CHANGE_CAPABILITIES, BaseBackend, Capability
from bot.backends.registry import Backends
from bot.changes import ChangeFeed, RecordedBackend
from bot.errors import (
    BackendError,
    BackendNotFound,
    NotConnectedError,
    UnsupportedOperationError,
    UserInputError,
)
from bot.keys import label
from bot.models import Ticket, TicketQuery, TicketRef
from bot.store import CredentialStore
from bot.text import is_number

log = logging.getLogger(__name__)

T = TypeVar("T")

# Page size used when gathering tickets from several backends for a merged list.
_MERGE_PAGE = 50


@dataclass(frozen=True)
class Actor:
    """Who is acting: every backend call runs with this person's credentials.

    ``scope`` is the Enterprise Grid org when the request came from one (a person has one user id
    across the org's workspaces), else the workspace; ``teams`` are the workspaces of the request
    (where records written before Grid support are keyed)."""

    scope: str
    user_id: str
    teams: tuple[str, ...] = field(default=(), compare=False)


@dataclass
class Listing:
    """A merged page of tickets from several backends, with a line per backend that failed."""

    tickets: list[Ticket]
    warnings: list[str] = field(default_factory=list)
    has_more: bool = False


async def backend_for(
    store: CredentialStore,
    backends: Backends,
    actor: Actor,
    key: str,
    changes: ChangeFeed | None = None,
) -> BaseBackend:
    """The acting user's client for ``key``, or NotConnectedError (with a Connect button).
    With ``changes``, every change made through it is published there (``bot.changes``)."""
    creds = await store.load_credentials(actor.scope, actor.user_id, key)
    if creds is None:
        raise NotConnectedError(key)
    backend = backends.for_credentials(creds)
    if changes is None:
        return backend
    return RecordedBackend(backend, actor, changes)  # type: ignore[return-value]


def require(backend: BaseBackend, capability: Capability, what: str) -> None:
    """Raise a clear UnsupportedOperationError when ``backend`` cannot do ``what``."""
    if not backend.supports(capability):
        read_only = not backend.capabilities & CHANGE_CAPABILITIES
        extra = " Its tickets are read-only here." if read_only else ""
        raise UnsupportedOperationError(f"{backend.label} does not support {what}.{extra}")


async def read_own(
    store: CredentialStore,
    backends: Backends,
    actor: Actor,
    ref: TicketRef,
    purpose: tuple[str, str],
) -> Ticket:
    """``ref`` read with the person's own credentials: the proof they may see it. ``purpose``
    is what needs it (e.g. "watching, a single ticket", for a backend that cannot show single
    tickets) and what a refusal means (e.g. "nothing is watched").

    Raises NotConnectedError (shown with a Connect button) and a UserInputError for a ticket that
    does not exist or that their account cannot see."""
    backend = await backend_for(store, backends, actor, ref.backend)
    needs, refused = purpose
    require(backend, Capability.SHOW, f"showing, so {needs}")
    try:
        return await backend.get_ticket(ref.id)
    except BackendNotFound:
        raise UserInputError(
            f"`{ref}` was not found in {label(ref.backend)}, or your account cannot see it; "
            f"{refused}. Check the number with `/ticket list`."
        ) from None


async def list_tickets(
    store: CredentialStore,
    backends: Backends,
    actor: Actor,
    *,
    only: str | None,
    query: TicketQuery,
    mine: bool,
    per_backend_seconds: float,
) -> Listing:
    """Ask every connected backend that can list (or just ``only``) at the same time and merge,
    newest first. A backend that fails or is slower than ``per_backend_seconds`` becomes one
    warning line; it never holds up or hides the others."""
    connected = await store.list_credentials(actor.scope, actor.user_id)
    if only is not None and only not in connected:
        raise NotConnectedError(only)
    keys = [only] if only else [k for k in connected]
    clients = {k: backends.for_credentials(connected[k]) for k in keys}
    clients = {k: c for k, c in clients.items() if c.supports(Capability.LIST)}
    if not clients:
        raise UserInputError(
            "None of your connected accounts has tickets to list. Connect Epixel, Omnidesk or "
            "ISPCRM with `/ticket connect`."
        )
    warnings: list[str] = []
    if query.text:
        for key in [k for k, c in clients.items() if not c.supports(Capability.SEARCH)]:
            warnings.append(f"{label(key)} cannot search, so it is left out.")
            del clients[key]
    if mine:
        for key in [k for k, c in clients.items() if not c.supports(Capability.OWN_TICKETS)]:
            warnings.append(
                f"{label(key)}: `mine` is not available (its API has no per-agent "
                "filter), so it is left out."
            )
            del clients[key]
    listing = await gather_listing(clients, query, per_backend_seconds)
    listing.warnings[:0] = warnings
    return listing


async def gather_listing(
    clients: Mapping[str, BaseBackend], query: TicketQuery, per_backend_seconds: float
) -> Listing:
    """One page of ``query`` from every client at once, merged newest first; a backend that
    fails or is slower than ``per_backend_seconds`` becomes one warning line."""
    warnings: list[str] = []
    if len(clients) == 1:
        # One backend: its own paging is exact, ask for just this page.
        key, client = next(iter(clients.items()))
        result = await _bounded(client, query, query.limit, per_backend_seconds)
        if isinstance(result, str):
            return Listing(tickets=[], warnings=[f"{label(key)}: {result}"])
        return Listing(tickets=result[0], warnings=warnings, has_more=result[1])
    # Several: each gives its newest (offset + limit), so the merge is exact for this page.
    wanted = query.offset + query.limit
    first = query.model_copy(update={"offset": 0, "limit": min(wanted, _MERGE_PAGE)})
    results = await asyncio.gather(
        *(_bounded(client, first, wanted, per_backend_seconds) for client in clients.values())
    )
    merged: list[Ticket] = []
    has_more = False
    for key, result in zip(clients, results, strict=True):
        if isinstance(result, str):
            warnings.append(f"{label(key)}: {result}")
            continue
        merged.extend(result[0])
        has_more = has_more or result[1]
    merged.sort(key=_newest_first)
    page = merged[query.offset : query.offset + query.limit]
    has_more = has_more or len(merged) > query.offset + query.limit
    return Listing(tickets=page, warnings=warnings, has_more=has_more)


async def _collect(
    client: BaseBackend, query: TicketQuery, wanted: int
) -> tuple[list[Ticket], bool]:
    """Up to ``wanted`` tickets from ``query.offset`` on, and whether more exist."""
    items: list[Ticket] = []
    offset = query.offset
    while len(items) < wanted:
        page = await client.list_tickets(query.model_copy(update={"offset": offset}))
        items += page.items
        if not page.has_more or not page.items:
            return items[:wanted], len(items) > wanted
        offset += len(page.items)
    return items[:wanted], True


async def _bounded(
    client: BaseBackend, query: TicketQuery, wanted: int, seconds: float
) -> tuple[list[Ticket], bool] | str:
    """The tickets, or the one-line reason this backend is left out."""
    return await bounded(_collect(client, query, wanted), seconds)


async def bounded(work: Awaitable[T], seconds: float) -> T | str:
    """What ``work`` returns, or the one-line reason it is left out of a list: no answer within
    ``seconds``, or the backend's (or the input's) error as the user reads it."""
    try:
        return await asyncio.wait_for(work, seconds)
    except TimeoutError:
        return f"no answer within {seconds:g} s, left out of this list."
    except (BackendError, UserInputError) as exc:
        return exc.user_message()


def _newest_first(ticket: Ticket) -> tuple[float, int]:
    stamp = ticket.created_at or datetime.min.replace(tzinfo=UTC)
    numeric = int(ticket.ref.id) if is_number(ticket.ref.id) else 0
    # Backends without dates (Epixel's history) sort by id among themselves.
    return (-stamp.timestamp() if ticket.created_at else float("inf"), -numeric)


def one_backend(refs: Sequence[TicketRef]) -> str:
    """The single backend of several refs (bulk calls go to one backend)."""
    keys = {ref.backend for ref in refs}
    if len(keys) != 1:
        raise UserInputError("Give tickets of one backend at a time, e.g. `omnidesk:1,2,3`.")
    return next(iter(keys))


class OptionCache:
    """Short-lived per-user lists (categories, tags) for Slack's external selects.

    Slack wants an options request answered in its ack, so the list is fetched ahead of time,
    when the modal opens, and the options request is served from here.
    """

    def __init__(self, ttl_seconds: float = 300.0) -> None:
        self._ttl = ttl_seconds
        self._entries: dict[tuple[str, ...], tuple[float, list[Any]]] = {}
        self._pending: dict[tuple[str, ...], asyncio.Task[list[Any]]] = {}

    def _fresh(self, key: tuple[str, ...]) -> list[Any] | None:
        entry = self._entries.get(key)
        return entry[1] if entry and entry[0] > time.monotonic() else None

    async def get(
        self, key: tuple[str, ...], fetch: Callable[[], Awaitable[list[Any]]], *, wait: float
    ) -> list[Any]:
        """The cached list, else fetch it (sharing one fetch per key), waiting at most ``wait``."""
        cached = self._fresh(key)
        if cached is not None:
            return cached
        task = self._pending.get(key)
        if task is None or task.done():
            task = self._pending[key] = asyncio.create_task(self._load(key, fetch))
        return await asyncio.wait_for(asyncio.shield(task), wait)

    def warm(self, key: tuple[str, ...], fetch: Callable[[], Awaitable[list[Any]]]) -> None:
        """Start fetching in the background if nothing fresh is cached."""
        if self._fresh(key) is None and (key not in self._pending or self._pending[key].done()):
            self._pending[key] = asyncio.create_task(self._load(key, fetch))

    async def _load(
        self, key: tuple[str, ...], fetch: Callable[[], Awaitable[list[Any]]]
    ) -> list[Any]:
        try:
            items = await fetch()
        except Exception:
            log.info("could not load %s options", key[-1], exc_info=True)
            raise
        self._entries[key] = (time.monotonic() + self._ttl, items)
        return items
