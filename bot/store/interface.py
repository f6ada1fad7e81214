"""The store interface the rest of ticketbot calls, whichever store answers.

Facets, each one Protocol: credentials with sealing and the request memory
(``CredentialStore``, ``services.store``), subscriptions with the alert ledger (``AlertStore``,
``services.alerts``), import jobs with their spooled contacts (``ImportStore``,
``services.imports``), watched tickets (``WatchStore``, ``services.watches``), the audit trail
(``AuditLog``, ``services.audit``) and ticket threads (``ThreadStore``, ``services.threads``);
leases on shared work are ``bot/store/leases.py``.
``bot/store/embedded*.py`` implements them on one sqlite file (one instance),
``bot/store/pg*.py`` on PostgreSQL. ``open_stores`` picks one at start-up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from datetime import datetime

    from bot.audit import AuditLine, AuditQuery
    from bot.credentials import Credentials
    from bot.import_jobs import ImportJob
    from bot.store.leases import WorkLeases
    from bot.subscriptions import Alert, FeedItem, Subscription
    from bot.threads import ThreadSpot
    from bot.tickets import Actor
    from bot.watches import TicketSeen, Watch, WatchPrefs


class RequestMemory(Protocol):
    """Which Slack requests were processed. Part of the store (not of the process) so that it
    survives a restart, and so that a store shared by several instances answers for all."""

    async def remember_request(self, key: str, ttl_seconds: float) -> bool:
        """Record ``key`` for ``ttl_seconds``; True the first time, False while it is remembered.

        Check and record are one atomic step: of two concurrent calls, exactly one gets True.
        """
        ...


class CredentialStore(RequestMemory, Protocol):
    """Credentials keyed by (scope, user_id, backend), encrypted at rest; sealing for other
    personal data; the request memory. ``scope`` is the Grid org id, else the workspace id."""

    async def start(self) -> None:
        """Connect, migrate and (embedded) take the instance lock (idempotent; the other calls start
        lazily too, but ``serve`` starts first so that a refusal comes before serving)."""
        ...

    async def save_credentials(self, scope: str, user_id: str, creds: Credentials) -> None: ...
    async def load_credentials(
        self, scope: str, user_id: str, backend: str
    ) -> Credentials | None: ...
    async def list_credentials(self, scope: str, user_id: str) -> dict[str, Credentials]: ...
    async def credentials_stamp(self, scope: str, user_id: str, backend: str) -> str | None: ...
    async def delete_credentials(self, scope: str, user_id: str, backend: str) -> bool: ...
    async def adopt_credentials(self, scope: str, user_id: str, teams: tuple[str, ...]) -> int: ...
    async def delete_scope(self, scope: str) -> int:
        """Remove every credential kept under ``scope`` (a workspace or org that uninstalled)."""
        ...

    def seal(self, value: Any) -> str: ...
    def open_sealed(self, token: str) -> Any: ...
    def reseal(self, token: str) -> str: ...

    async def rotate_keys(self) -> int:
        """Re-encrypt credentials and the canary under the newest key; how many credentials."""
        ...

    async def aclose(self) -> None: ...


class AlertStore(Protocol):
    """Channel subscriptions, the detractor ledger (sealed personal data) and the ticket-feed
    ledger (ids, message ts and last status of backend tickets)."""

    async def save(self, sub: Subscription) -> None: ...
    async def get(self, sub_id: str) -> Subscription | None: ...
    async def all(self) -> list[Subscription]: ...
    async def for_channel(self, team_id: str, channel_id: str) -> list[Subscription]: ...
    async def adopt(self, scope: str, user_id: str, teams: tuple[str, ...]) -> int: ...
    async def delete(self, sub: Subscription) -> None: ...
    async def delete_owned(self, owned: Callable[[str, str], bool]) -> int:
        """Remove the subscriptions for which ``owned(team_id, owner scope)`` holds, with their
        ledger rows (personal data); returns how many subscriptions went."""
        ...

    async def seen(self, sub_id: str, ticket_ids: Iterable[int]) -> set[int]: ...
    async def record(self, alerts: Iterable[Alert]) -> None: ...
    async def mark_seen(self, sub_id: str, ticket_ids: Iterable[int]) -> None: ...
    async def alert(self, sub_id: str, ticket_id: int) -> Alert | None: ...
    async def update_alert(
        self, sub_id: str, ticket_id: int, change: Callable[[Alert], bool]
    ) -> Alert | None:
        """Read the alert afresh, apply ``change`` to it and write it back only if ``change``
        returned True, as one step no other update interleaves with; the alert as it now stands
        (None when unknown). Whoever changes a posted alert uses this, never ``record``, so a
        write from a stale copy cannot undo a claim or resolve made meanwhile."""
        ...

    async def open_alerts(self) -> list[Alert]:
        """Alerts the poller still has work on (``bot.subscriptions.is_open``)."""
        ...

    async def alerts_between(self, sub_id: str, start: datetime, end: datetime) -> list[Alert]:
        """The subscription's alerts (bare ids excluded) whose detractor arrived in
        [start, end); for insights."""
        ...

    async def feed_items(self, sub_id: str, ticket_ids: Iterable[str]) -> dict[str, FeedItem]:
        """The ticket-feed ledger's rows for those of ``ticket_ids`` it knows, by id."""
        ...

    async def record_feed(self, items: Iterable[FeedItem]) -> None:
        """Write ticket-feed rows (new or changed), in one commit."""
        ...

    async def feed_posted(self, sub_id: str) -> list[FeedItem]:
        """The subscription's tickets that have a message of their own (``ts``), for threading
        status changes."""
        ...

    async def rotate_keys(self) -> int:
        """Re-encrypt the ledger's personal data under the newest key; how many rows."""
        ...

    async def aclose(self) -> None: ...


class ImportStore(Protocol):
    """Import job records and their spooled contacts ("<line>\\t<encoded contact>" lines)."""

    def open_spool(self, job_id: str) -> IO[str]:
        """A new file (0600) that a check writes the valid contacts into, off the event loop."""
        ...

    async def keep_spool(self, job_id: str) -> None:
        """Make the written spool readable by whichever instance sends it (a no-op where the
        file is already where it is read from)."""
        ...

    def spool_chunks(self, job_id: str, size: int) -> AsyncIterator[list[tuple[int, str]]]:
        """The spooled contacts as (source line, encoded contact), ``size`` at a time."""
        ...

    async def has_spool(self, job_id: str) -> bool: ...
    async def discard_spool(self, job_id: str) -> None: ...
    async def save(self, job: ImportJob) -> None: ...
    async def get(self, job_id: str) -> ImportJob | None: ...
    async def for_user(self, actor: Actor, limit: int = 20) -> list[ImportJob]: ...
    async def adopt(self, scope: str, user_id: str, teams: tuple[str, ...]) -> int: ...
    async def delete_owned(self, owned: Callable[[str, str], bool]) -> int:
        """Remove the imports (records and contacts) for which ``owned(team_id, owner scope)``
        holds; returns how many went."""
        ...

    async def expire(self, max_age: timedelta, running: set[str]) -> int: ...
    async def aclose(self) -> None: ...


class WatchStore(Protocol):
    """Watched tickets: the watches (per person and ticket), what was last seen of each ticket
    (one record per ticket, sealed) and each person's watch preferences (``bot.watches``)."""

    async def add_watch(self, watch: Watch) -> bool:
        """Start ``watch``; False when the person already watched that ticket."""
        ...

    async def remove_watch(self, scope: str, user_id: str, ref: str) -> bool:
        """Stop one watch; False when there was none. The ticket's record goes with its last
        watcher."""
        ...

    async def watches_of(self, scope: str, user_id: str) -> list[Watch]:
        """The person's watches, newest first."""
        ...

    async def watchers(self, ref: str) -> list[Watch]: ...

    async def watched_refs(self) -> list[str]:
        """Every ticket someone watches."""
        ...

    async def seen(self, ref: str, account: str) -> TicketSeen | None:
        """What was last seen of ``ref`` in ``account`` (``TicketSeen.account``), or None."""
        ...

    async def save_seen(self, seen: TicketSeen) -> None:
        """Write ``seen``, keyed by its account and ref."""
        ...

    async def prefs(self, scope: str, user_id: str) -> WatchPrefs:
        """The person's preferences (the defaults when they never changed any)."""
        ...

    async def save_prefs(self, scope: str, user_id: str, prefs: WatchPrefs) -> None: ...
    async def delete_owned(self, owned: Callable[[str, str], bool]) -> int:
        """Remove watches (and preferences) for which ``owned(team_id, scope)`` holds."""
        ...

    async def rotate_keys(self) -> int:
        """Re-encrypt what was seen and what is held under the newest key; how many records."""
        ...


class AuditLog(Protocol):
    """The audit trail (``bot/audit.py``): append-only from the app's side, read newest first.

    A query by person over a period, by ticket ref, by backend or by kinds over a period is an
    index lookup (the trail holds a year of every change: a scan would not do)."""

    async def append(self, line: AuditLine) -> None:
        """Append ``line``; committed when this returns."""
        ...

    async def append_many(self, lines: Iterable[AuditLine]) -> int:
        """Append lines in one transaction (copies, the benchmark); how many."""
        ...

    async def query(self, query: AuditQuery) -> list[AuditLine]:
        """The lines ``query`` selects, newest first (``at``, then append order), paged by its
        ``limit`` and ``offset``; each with its ``id``."""
        ...

    async def prune(self, before: datetime) -> int:
        """Remove the lines from before ``before`` (retention, the only removal); how many."""
        ...

    async def rotate_keys(self, reseal: Callable[[str], str]) -> int:
        """Re-encrypt the lines' sealed values with ``reseal``; how many lines."""
        ...

    async def aclose(self) -> None: ...


class ThreadStore(Protocol):
    """Ticket threads (``bot.threads``): which channel message stands for which ticket (its
    thread is where replies become comments), each channel's default for replies, and the
    comments of a ticket ticketbot already knows (written through it, or already posted)."""

    async def link_thread(self, spot: ThreadSpot, ref: str, account: str) -> None:
        """Record that the message at ``spot`` stands for ticket ``ref`` (``backend:id``) in the
        backend account ``account`` (``bot.credentials.account_key``)."""
        ...

    async def thread_ref(self, spot: ThreadSpot) -> str | None:
        """The ticket whose message is at ``spot``, or None."""
        ...

    async def thread_account(self, spot: ThreadSpot) -> str | None:
        """The account of the ticket whose message is at ``spot`` ("" for a link from before
        accounts were kept), or None."""
        ...

    async def threads_of(self, ref: str, account: str) -> list[ThreadSpot]:
        """Every message that stands for ``ref`` in ``account`` (or in no known account),
        oldest first."""
        ...

    async def set_slack_only(self, team_id: str, channel_id: str, on: bool) -> None: ...
    async def slack_only(self, team_id: str, channel_id: str) -> bool:
        """Whether replies in the channel's ticket threads stay in Slack by default."""
        ...

    async def note_comment(self, ref: str, key: str) -> bool:
        """Record comment ``key`` of ``ref``; True the first time, False when already known.
        Check and record are one atomic step."""
        ...

    async def knows_comment(self, ref: str, key: str) -> bool: ...
    async def forget_comment(self, ref: str, key: str) -> None:
        """Undo ``note_comment`` (its post failed, so the next attempt may post it)."""
        ...

    async def delete_owned(self, owned: Callable[[str, str], bool]) -> int:
        """Forget the threads and channel settings of the workspaces for which
        ``owned(team_id, team_id)`` holds; returns how many threads went."""
        ...

    async def aclose(self) -> None: ...


@dataclass
class Stores:
    """The facets of one store, opened together and closed together. ``leases`` is None only
    for a bare set of facets; ``open_stores`` always gives one."""

    store: CredentialStore
    alerts: AlertStore
    imports: ImportStore
    leases: WorkLeases | None = field(default=None)
    watches: WatchStore | None = field(default=None)
    audit: AuditLog | None = field(default=None)
    threads: ThreadStore | None = field(default=None)

    async def start(self) -> None:
        """Connect (and refuse early) before serving."""
        await self.store.start()

    async def rotate_keys(self) -> tuple[int, int]:
        """Everything re-encrypted under the newest key: (credentials, other sealed records:
        the ledger's rows, what watched tickets were seen as, held notices, audit lines). The
        credentials and canary go last: a failure before leaves the old key still valid."""
        await self.store.start()
        rows = await self.alerts.rotate_keys()
        if self.watches is not None:
            rows += await self.watches.rotate_keys()
        if self.audit is not None:
            rows += await self.audit.rotate_keys(self.store.reseal)
        return await self.store.rotate_keys(), rows

    async def aclose(self) -> None:
        """Close the facets, the credential store (which holds the connection) last."""
        await self.alerts.aclose()
        await self.imports.aclose()
        if self.watches is not None:
            await self.watches.aclose()
        if self.audit is not None:
            await self.audit.aclose()
        if self.threads is not None:
            await self.threads.aclose()
        await self.store.aclose()
