"""The ticket watcher: check watched tickets when due, tell each watcher what changed.

One schedule per ticket (``TicketSeen.next_check``, every ``TICKETBOT_WATCH_INTERVAL``) however
many people watch it. A ticket is a ``backend:id`` within one backend account
(``bot.credentials.account_key``): watchers whose credentials reach different accounts watch
different tickets, each read only with, and told only to, people on its account. A watcher with
no credentials for the backend any more, or whose credentials now reach another account, is
neither a reader nor told; nor is one whose credentials (unchanged since) were refused the ticket.
Each due ticket is read with a watcher's own credentials: the watcher whose credentials read it
last, else the one who watches the most due tickets of that backend (so a team's tickets gather
on their credential owners and one listing call serves many, see
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
from bot.credentials import Credentials, account_key
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
Unit = tuple[str, str]  # account, ref: one ticket (the same ref in another account is another)


@dataclass
class _Round:
    """One round's bookkeeping: who tried which ticket, and what they were told."""

    now: datetime
    seen: dict[Unit, TicketSeen | None] = field(default_factory=dict)
    watchers: dict[Unit, list[Watch]] = field(default_factory=dict)
    tried: dict[Unit, set[Person]] = field(default_factory=dict)
    missing: Counter[Unit] = field(default_factory=Counter)
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
        self._readers: dict[Unit, Person] = {}  # whose credentials last read each ticket
        # Whose credentials (as they were) were refused each ticket: not told until they change.
        self._refused: dict[Unit, dict[Person, Credentials]] = {}
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
        rnd = _Round(now)
        await self._due(rnd)
        if rnd.seen:
            await self._check(rnd)
        await self.notifier.flush_held(now)
        return len(rnd.seen)

    async def _due(self, rnd: _Round) -> None:
        """Fill ``rnd`` with the due tickets and their watchers, grouped by account: each
        watcher's is the one their current credentials reach (and their watch was made on)."""
        for ref in await self.watches.watched_refs():
            units: dict[Unit, list[Watch]] = {}
            for watch in await self.watches.watchers(ref):
                creds = await self._creds(rnd, (watch.scope, watch.user_id), watch.backend)
                account = account_key(creds) if creds is not None else None
                if account is not None and watch.account in ("", account):
                    units.setdefault((account, ref), []).append(watch)
            for unit, watchers in units.items():
                seen = await self.watches.seen(ref, unit[0])
                if seen is None or seen.next_check is None or seen.next_check <= rnd.now:
                    rnd.seen[unit], rnd.watchers[unit] = seen, watchers

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

            async def one(batch: Batch, refs: list[Unit]) -> set[Unit]:
                async with limit:
                    return await self._batch(batch, refs, rnd)

            retry = await asyncio.gather(*(one(b, refs) for b, refs in batches.items()))
            pending = set().union(*retry)

    async def _batches(
        self, pending: set[Unit], rnd: _Round
    ) -> tuple[dict[Batch, list[Unit]], list[Unit]]:
        """Each pending ticket to a reader: the last one if still able, else the candidate who
        watches the most pending tickets of that backend."""
        candidates: dict[Unit, list[Person]] = {}
        for unit in sorted(pending):
            tried = rnd.tried.get(unit, set())
            people = [(w.scope, w.user_id) for w in rnd.watchers[unit]]
            candidates[unit] = [p for p in people if p not in tried]
        weight = Counter((_backend(u), p) for u, ps in candidates.items() for p in ps)
        batches: dict[Batch, list[Unit]] = {}
        unreadable: list[Unit] = []
        for unit, people in candidates.items():
            if not people:
                unreadable.append(unit)
                continue
            backend = _backend(unit)
            last = self._readers.get(unit)
            reader = last if last in people else max(people, key=lambda p: (weight[backend, p], p))
            # A reader's credentials reach one account: a batch holds each ref at most once.
            batches.setdefault((backend, reader), []).append(unit)
        return batches, unreadable

    async def _creds(self, rnd: _Round, person: Person, backend: str) -> Credentials | None:
        key = (*person, backend)
        if key not in rnd.creds:
            rnd.creds[key] = await self.services.store.load_credentials(*person, backend)
        return rnd.creds[key]

    async def _batch(self, batch: Batch, refs: list[Unit], rnd: _Round) -> set[Unit]:
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

    async def _still_due(self, unit: Unit, now: datetime) -> bool:
        seen = await self.watches.seen(unit[1], unit[0])
        return seen is None or seen.next_check is None or seen.next_check <= now

    async def _read(
        self, client: BaseBackend, reader: Person, refs: list[Unit], rnd: _Round
    ) -> set[Unit]:
        ids = {ref.partition(":")[2]: (account, ref) for account, ref in refs}
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
        retry: set[Unit] = set()
        for ticket_id, (ticket, carried) in result.found.items():
            self._readers[ids[ticket_id]] = reader
            self._refused.get(ids[ticket_id], {}).pop(reader, None)
            await self._settle(ids[ticket_id], ticket, carried, client, rnd)
        for ticket_id in result.missing | result.refused:
            ref = ids[ticket_id]
            rnd.tried.setdefault(ref, set()).add(reader)
            if ticket_id in result.refused:
                creds = rnd.creds[(*reader, client.key)]
                assert creds is not None
                self._refused.setdefault(ref, {})[reader] = creds
            rnd.missing[ref] += ticket_id in result.missing
            retry.add(ref)
        return retry

    def _full_check(self, client: BaseBackend, unit: Unit, rnd: _Round) -> bool:
        """Whether this check reads the whole ticket: where a get carries more than the listing
        (comments, tags), the first check and then every Nth round (spread over tickets by a
        hash of the ref, so rounds cost about the same)."""
        if not client.listed_fields or not {"comments", "tags"} - client.listed_fields:
            return not client.listed_fields
        if not client.capabilities & {Capability.COMMENT, Capability.TAG}:
            return False  # its get carries no comments or tags either
        seen = rnd.seen[unit]
        if seen is None or not seen.fields:
            return True
        every = self.services.settings.watch_full_every
        round_no = int(rnd.now.timestamp() // self.interval)
        return (round_no + zlib.crc32(unit[1].encode())) % every == 0

    # Outcomes ----------------------------------------------------------------------------------

    async def _settle(
        self, unit: Unit, ticket: Ticket, carried: frozenset[str], client: BaseBackend, rnd: _Round
    ) -> None:
        """Record what was read (saved before any DM: a crash never tells twice) and tell the
        watchers on that account what changed since the last check, but not those whose
        credentials were refused the ticket this round."""
        seen = rnd.seen[unit]
        old = dict(seen.fields) if seen is not None else {}
        new = reading(ticket, carried)
        await self.watches.save_seen(
            TicketSeen(
                ref=unit[1],
                account=unit[0],
                fields={**old, **new},
                checked_at=rnd.now,
                next_check=rnd.now + timedelta(seconds=self.interval),
            )
        )
        if not old:
            return  # the baseline: nothing to tell
        deltas = diff(old, new, ticket)
        for watch in rnd.watchers[unit] if deltas else []:
            if not self._was_refused(unit, (watch.scope, watch.user_id), rnd):
                await self.notifier.tell(watch, ticket, deltas, client.capabilities, rnd.now)
        await self._to_threads(unit, new_comments(old, new, ticket), rnd)

    def _was_refused(self, unit: Unit, person: Person, rnd: _Round) -> bool:
        """Whether ``person``'s credentials, unchanged since, were refused the ticket."""
        refused = self._refused.get(unit, {})
        creds = rnd.creds.get((*person, _backend(unit)))
        return person in refused and refused[person] == creds

    async def _to_threads(self, unit: Unit, comments: list[Comment], rnd: _Round) -> None:
        """New backend comments go to the ticket's Slack threads too (``bot.threads`` skips the
        ones ticketbot wrote and any already posted), with the bot token of a watcher's
        workspace: the threads are where that watcher's team works. Only threads of the
        ticket in this account get them."""
        if not comments or not rnd.watchers[unit]:
            return
        account, ref = unit
        first = rnd.watchers[unit][0]
        client = self.notifier.client
        async with speaking_for(self.services.installations, first.team_id, first.scope):
            for comment in comments:
                await post_backend_comment(self.services, client, ref, comment, account)

    async def _unreadable(self, unit: Unit, rnd: _Round) -> None:
        """No watcher's credentials could read the ticket: gone if every reader was told it
        does not exist, else it waits for its next check."""
        tried = rnd.tried.get(unit, set())
        if tried and rnd.missing[unit] == len(tried):
            seen = rnd.seen[unit]
            title = str(seen.fields.get("title", "")) if seen is not None else ""
            self._readers.pop(unit, None)
            await self.notifier.gone(rnd.watchers[unit], title)
            return
        seen = rnd.seen[unit] or TicketSeen(ref=unit[1], account=unit[0])
        seen.next_check = rnd.now + timedelta(seconds=self.interval)
        await self.watches.save_seen(seen)

    async def _back_off(self, unit: Unit, rnd: _Round) -> None:
        seen = rnd.seen[unit] or TicketSeen(ref=unit[1], account=unit[0])
        seen.failures += 1
        wait = min(self.interval * 2 ** min(seen.failures, 16), max(self.interval, MAX_BACKOFF))
        seen.next_check = rnd.now + timedelta(seconds=wait)
        await self.watches.save_seen(seen)


def _backend(unit: Unit) -> str:
    return unit[1].partition(":")[0]
