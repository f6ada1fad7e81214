"""The ticket watcher: check watched tickets when due, tell each watcher what changed.

One schedule per ticket (``TicketSeen.next_check``, every ``TICKETBOT_WATCH_INTERVAL``) however
many people watch it. Each due ticket is read with a watcher's own credentials: the watcher
whose credentials read it last, else the one who watches the most due tickets of that backend
(so a team's tickets gather on their credential owners and one listing call serves many, see
``bot.watch_read``). Credentials refused for a ticket pass it to its next watcher; when none can
read it, it waits for its next check. Removed credentials are never used: they are looked up
each round.

What is compared (``bot.watch_diff``), per backend:

- Omnidesk: title, status, priority and assigned group, all from the ticket list (the seed has
  no comments endpoint and no person assignee).
- Epixel: title, status and priority from the history listing; tags and comments (a new
  comment: the newest conversation id) from the detailed view, read on every
  ``TICKETBOT_WATCH_FULL_EVERY``-th check of the ticket (spread over rounds) and on the first.
- ISPCRM: title, status and priority from the subscriber's ticket list (all it offers).

The first check records a baseline and tells no one. A change batch (what one check found) is
one DM per watcher (``bot.watch_notify``), without the changes that watcher made through
ticketbot (heard on ``services.changes``). A backend error backs the ticket off (doubling up to
an hour) with one log line; a ticket its backend says is gone is one DM to each watcher, and the
watches end. With several instances on one store, a lease per (backend, reader) lets one
instance check a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from slack_sdk.web.async_client import AsyncWebClient

from bot.backends.base import BaseBackend, Capability
from bot.changes import Change
from bot.credentials import Credentials
from bot.errors import BackendAuthError, BackendError, BackendPermissionError
from bot.models import Comment, Ticket
from bot.oauth import speaking_for
from bot.services import Services
from bot.store.interface import WatchStore
from bot.threads import post_backend_comment
from bot.watch_diff import OwnChanges, diff, new_comments, reading
from bot.watch_notify import Notifier
from bot.watch_read import Reading, read_batch
from bot.watches import TicketSeen, Watch

log = logging.getLogger("ticketbot.watcher")

MAX_BACKOFF = 3600.0
CONCURRENT_BATCHES = 4
Person = tuple[str, str]  # scope, user_id
Batch = tuple[str, Person]  # backend, reader


@dataclass
class _Round:
    """One round's bookkeeping: who tried which ticket, and what they were told."""

    now: datetime
    seen: dict[str, TicketSeen | None]
    watchers: dict[str, list[Watch]]
    tried: dict[str, set[Person]] = field(default_factory=dict)
    missing: Counter[str] = field(default_factory=Counter)
    creds: dict[tuple[str, str, str], Credentials | None] = field(default_factory=dict)


class TicketWatcher:
    """Checks watched tickets when due; ``check_due`` runs one round (tests call it)."""

    def __init__(
        self,
        services: Services,
        client: AsyncWebClient,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        assert services.watches is not None, "the store has no watch facet"
        self.services = services
        self.watches: WatchStore = services.watches
        self.clock = clock
        keep = timedelta(seconds=max(3 * self.interval, 3600.0))
        self.own = OwnChanges(keep)
        self.notifier = Notifier(
            client,
            self.watches,
            services.installations,
            self.own,
            services.work,
            services.instance_id,
        )
        self._readers: dict[str, Person] = {}  # whose credentials last read each ticket
        services.changes.subscribe(self._heard)

    @property
    def interval(self) -> float:
        """Seconds between two checks of one ticket."""
        return self.services.settings.watch_interval

    async def _heard(self, change: Change) -> None:
        self.own.remember(change)

    async def run(self, stop: asyncio.Event, tick: float | None = None) -> None:
        """Check what is due until ``stop`` is set; a failing round is logged and the next one
        comes a tick later."""
        tick = tick or max(1.0, min(30.0, self.interval / 10))
        while not stop.is_set():
            try:
                await self.check_due()
            except Exception:
                log.exception("a watch round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)

    async def check_due(self, now: datetime | None = None) -> int:
        """Check every watched ticket that is due at ``now``, send the DMs and any summaries
        whose quiet hours are over; returns how many tickets were due."""
        now = now or self.clock()
        self.own.forget_old(now)
        due = await self._due(now)
        if due:
            watchers = {ref: await self.watches.watchers(ref) for ref in due}
            await self._check(_Round(now, due, watchers))
        await self.notifier.flush_held(now)
        return len(due)

    async def _due(self, now: datetime) -> dict[str, TicketSeen | None]:
        due: dict[str, TicketSeen | None] = {}
        for ref in await self.watches.watched_refs():
            seen = await self.watches.seen(ref)
            if seen is None or seen.next_check is None or seen.next_check <= now:
                due[ref] = seen
        return due

    # A round -----------------------------------------------------------------------------------

    async def _check(self, rnd: _Round) -> None:
        pending = set(rnd.seen)
        limit = asyncio.Semaphore(CONCURRENT_BATCHES)
        while pending:
            batches, unreadable = await self._batches(pending, rnd)
            for ref in unreadable:
                await self._unreadable(ref, rnd)
            if not batches:
                return

            async def one(batch: Batch, refs: list[str]) -> set[str]:
                async with limit:
                    return await self._batch(batch, refs, rnd)

            retry = await asyncio.gather(*(one(b, refs) for b, refs in batches.items()))
            pending = set().union(*retry)

    async def _batches(
        self, pending: set[str], rnd: _Round
    ) -> tuple[dict[Batch, list[str]], list[str]]:
        """Each pending ticket to a reader: the last one if still able, else the candidate who
        watches the most pending tickets of that backend."""
        candidates: dict[str, list[Person]] = {}
        for ref in sorted(pending):
            backend = ref.partition(":")[0]
            tried = rnd.tried.get(ref, set())
            people = []
            for w in rnd.watchers[ref]:
                person = (w.scope, w.user_id)
                if person not in tried and await self._creds(rnd, person, backend) is not None:
                    people.append(person)
            candidates[ref] = people
        weight = Counter((ref.partition(":")[0], p) for ref, ps in candidates.items() for p in ps)
        batches: dict[Batch, list[str]] = {}
        unreadable: list[str] = []
        for ref, people in candidates.items():
            if not people:
                unreadable.append(ref)
                continue
            backend = ref.partition(":")[0]
            last = self._readers.get(ref)
            reader = last if last in people else max(people, key=lambda p: (weight[backend, p], p))
            batches.setdefault((backend, reader), []).append(ref)
        return batches, unreadable

    async def _creds(self, rnd: _Round, person: Person, backend: str) -> Credentials | None:
        key = (*person, backend)
        if key not in rnd.creds:
            rnd.creds[key] = await self.services.store.load_credentials(*person, backend)
        return rnd.creds[key]

    async def _batch(self, batch: Batch, refs: list[str], rnd: _Round) -> set[str]:
        """Read one reader's batch under its lease; returns the refs to try with someone else."""
        backend, reader = batch
        work, me = self.services.work, self.services.instance_id
        lease = f"watch:{backend}:{reader[0]}:{reader[1]}"
        if not await work.claim(lease, me, max(60.0, self.interval)):
            return set()  # another instance checks this batch
        try:
            if work.shared:  # another instance may have checked some since this round began
                refs = [ref for ref in refs if await self._still_due(ref, rnd.now)]
            creds = rnd.creds[(*reader, backend)]
            assert creds is not None
            client = self.services.backends.for_credentials(creds)
            return await self._read(client, reader, refs, rnd)
        finally:
            with contextlib.suppress(Exception):  # unreleased, it lapses within its ttl
                await work.release(lease, me)

    async def _still_due(self, ref: str, now: datetime) -> bool:
        seen = await self.watches.seen(ref)
        return seen is None or seen.next_check is None or seen.next_check <= now

    async def _read(
        self, client: BaseBackend, reader: Person, refs: list[str], rnd: _Round
    ) -> set[str]:
        ids = {ref.partition(":")[2]: ref for ref in refs}
        full = {i for i, ref in ids.items() if self._full_check(client, ref, rnd)}
        try:
            result = await read_batch(client, set(ids) - full, full)
        except (BackendAuthError, BackendPermissionError):
            result = Reading(refused=set(ids))  # these credentials read none of them
        except BackendError as exc:
            log.warning(
                "watch check of %d %s ticket(s) failed: %s (HTTP %s); backing off",
                len(refs),
                client.key,
                type(exc).__name__,
                exc.status,
            )
            for ref in refs:
                await self._back_off(ref, rnd)
            return set()
        retry: set[str] = set()
        for ticket_id, (ticket, carried) in result.found.items():
            self._readers[ids[ticket_id]] = reader
            await self._settle(ids[ticket_id], ticket, carried, client, rnd)
        for ticket_id in result.missing | result.refused:
            ref = ids[ticket_id]
            rnd.tried.setdefault(ref, set()).add(reader)
            rnd.missing[ref] += ticket_id in result.missing
            retry.add(ref)
        return retry

    def _full_check(self, client: BaseBackend, ref: str, rnd: _Round) -> bool:
        """Whether this check reads the whole ticket: where a get carries more than the listing
        (comments, tags), the first check and then every Nth round (spread over tickets by a
        hash of the ref, so rounds cost about the same)."""
        if not client.listed_fields or not {"comments", "tags"} - client.listed_fields:
            return not client.listed_fields
        if not client.capabilities & {Capability.COMMENT, Capability.TAG}:
            return False  # its get carries no comments or tags either
        seen = rnd.seen[ref]
        if seen is None or not seen.fields:
            return True
        every = self.services.settings.watch_full_every
        round_no = int(rnd.now.timestamp() // self.interval)
        return (round_no + zlib.crc32(ref.encode())) % every == 0

    # Outcomes ----------------------------------------------------------------------------------

    async def _settle(
        self, ref: str, ticket: Ticket, carried: frozenset[str], client: BaseBackend, rnd: _Round
    ) -> None:
        """Record what was read (saved before any DM: a crash never tells twice) and tell the
        watchers what changed since the last check."""
        seen = rnd.seen[ref]
        old = dict(seen.fields) if seen is not None else {}
        new = reading(ticket, carried)
        await self.watches.save_seen(
            TicketSeen(
                ref=ref,
                fields={**old, **new},
                checked_at=rnd.now,
                next_check=rnd.now + timedelta(seconds=self.interval),
            )
        )
        if not old:
            return  # the baseline: nothing to tell
        deltas = diff(old, new, ticket)
        if deltas:
            for watch in rnd.watchers[ref]:
                await self.notifier.tell(watch, ticket, deltas, client.capabilities, rnd.now)
        await self._to_threads(ref, new_comments(old, new, ticket), rnd)

    async def _to_threads(self, ref: str, comments: list[Comment], rnd: _Round) -> None:
        """New backend comments go to the ticket's Slack threads too (``bot.threads`` skips the
        ones ticketbot wrote and any already posted), with the bot token of a watcher's
        workspace: the threads are where that watcher's team works."""
        if not comments or not rnd.watchers[ref]:
            return
        first = rnd.watchers[ref][0]
        async with speaking_for(self.services.installations, first.team_id, first.scope):
            for comment in comments:
                await post_backend_comment(self.services, self.notifier.client, ref, comment)

    async def _unreadable(self, ref: str, rnd: _Round) -> None:
        """No watcher's credentials could read ``ref``: gone if every reader was told it does
        not exist, else it waits for its next check."""
        tried = rnd.tried.get(ref, set())
        if tried and rnd.missing[ref] == len(tried):
            seen = rnd.seen[ref]
            title = str(seen.fields.get("title", "")) if seen is not None else ""
            self._readers.pop(ref, None)
            await self.notifier.gone(rnd.watchers[ref], title)
            return
        seen = rnd.seen[ref] or TicketSeen(ref=ref)
        seen.next_check = rnd.now + timedelta(seconds=self.interval)
        await self.watches.save_seen(seen)

    async def _back_off(self, ref: str, rnd: _Round) -> None:
        seen = rnd.seen[ref] or TicketSeen(ref=ref)
        seen.failures += 1
        wait = min(self.interval * 2 ** min(seen.failures, 16), max(self.interval, MAX_BACKOFF))
        seen.next_check = rnd.now + timedelta(seconds=wait)
        await self.watches.save_seen(seen)
