"""The ticket-feed poller: new tickets of Omnidesk, Epixel or ISPCRM posted into a channel.

Like the detractor poller (``bot.alerts``), whose runner polls these subscriptions too: the first
poll records what exists and says how many in one line; later polls list tickets newest first and
stop at the first page with nothing new, post the new ones oldest first (each with its ticket
buttons, or one digest with the list in its thread), and record each only after Slack accepted
the post (``bot.posting.OncePoster``), so a restart never posts twice. Filters
(``bot.feed_filters``) decide what is posted; a ticket they keep out is recorded, never posted.
With ``changes:on``, a poll also looks for the tickets it posted and, when one's status changed,
redraws its message and says so in its thread.

Fetched with the subscriber's own credentials; their refusal pauses the subscription and DMs the
subscriber, an outage posts one line and backs off (``bot.poll_base``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import Block

from bot.backends.base import BaseBackend, Capability
from bot.blocks import as_dicts
from bot.blocks.alerts import pack_lines
from bot.blocks.feeds import (
    feed_digest_line,
    feed_summary_text,
    feed_ticket_blocks,
    feed_ticket_text,
    status_change_text,
)
from bot.errors import BackendAuthError
from bot.feed_filters import ticket_matches
from bot.models import NeutralStatus, Ticket, TicketQuery
from bot.poll_base import SubscriptionPoller
from bot.posting import SUMMARY
from bot.subscriptions import FeedItem, Subscription
from bot.threads import remember_thread

log = logging.getLogger("ticketbot.feeds")

PAGE = 50
# With changes:on, how many pages a poll reads at most to find the open tickets it posted.
CHANGE_PAGES = 10
_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass
class Scan:
    """What one poll's listing found: tickets new to the ledger, and (changes:on) the posted
    tickets it came across, with their ledger rows."""

    new: list[Ticket] = field(default_factory=list)
    posted: dict[str, tuple[Ticket, FeedItem]] = field(default_factory=dict)


def _oldest_first(ticket: Ticket) -> tuple[datetime, int, str]:
    ref = ticket.ref.id
    return (ticket.created_at or _EARLIEST, int(ref) if ref.isdigit() else 0, ref)


def _row(sub: Subscription, ticket: Ticket, ts: str | None = None) -> FeedItem:
    status = ticket.status
    return FeedItem(
        subscription_id=sub.id,
        ticket_id=ticket.ref.id,
        ts=ts,
        status=status.value if status else None,
        closed=bool(status and status.neutral is NeutralStatus.CLOSED),
    )


class TicketFeedPoller(SubscriptionPoller):
    """Polls one ticket-feed subscription (``poll``); the detractor poller's runner calls it."""

    async def _poll_once(self, sub: Subscription) -> None:
        backend = await self._backend(sub)
        await self.once.settle(sub)
        await self._drain_threads(sub)
        if not sub.baseline_done:
            await self._baseline(sub, backend)
            return
        scan = await self._scan(sub, backend)
        await self._post_new(sub, backend, scan.new)
        await self._status_changes(sub, backend, scan.posted)

    async def _backend(self, sub: Subscription) -> BaseBackend:
        creds = await self.services.store.load_credentials(
            sub.owner_scope, sub.subscriber, sub.backend
        )
        if creds is None:  # removed since ``_ready`` looked
            raise BackendAuthError(sub.backend, "not connected any more")
        return self.services.backends.for_credentials(creds)

    async def _baseline(self, sub: Subscription, backend: BaseBackend) -> None:
        """First poll: every existing ticket goes into the ledger unposted; one line says how
        many there are. Resumes past the pages already recorded after a failure."""
        total = sub.baseline_page * PAGE
        while True:
            page = await backend.list_tickets(
                TicketQuery(offset=sub.baseline_page * PAGE, limit=PAGE)
            )
            await self.alerts.record_feed(_row(sub, t) for t in page.items)
            total += len(page.items)
            sub.baseline_page += 1
            await self.alerts.save(sub)
            if not page.has_more or not page.items:
                break
        if self.once.found(sub, SUMMARY) is None:
            await self.once.post(sub, SUMMARY, [], text=feed_summary_text(sub, total))
        sub.baseline_done = True
        self.once.done(sub)  # saved with baseline_done, in one write

    async def _scan(self, sub: Subscription, backend: BaseBackend) -> Scan:
        """Newest first, page by page, until a page holds nothing new, and with changes:on
        until every open posted ticket was seen (at most CHANGE_PAGES pages)."""
        scan = Scan()
        wanted: set[str] = set()
        if sub.changes:
            wanted = {i.ticket_id for i in await self.alerts.feed_posted(sub.id) if not i.closed}
        offset = pages = 0
        while True:
            page = await backend.list_tickets(TicketQuery(offset=offset, limit=PAGE))
            pages += 1
            known = await self.alerts.feed_items(sub.id, (t.ref.id for t in page.items))
            unseen = [t for t in page.items if t.ref.id not in known]
            scan.new += unseen
            for ticket in page.items:
                item = known.get(ticket.ref.id)
                if sub.changes and item is not None and item.ts is not None:
                    scan.posted[ticket.ref.id] = (ticket, item)
                    wanted.discard(ticket.ref.id)
            if not page.has_more or not page.items:
                break
            if not unseen and not (wanted and pages < CHANGE_PAGES):
                break
            offset += len(page.items)
        return scan

    async def _post_new(self, sub: Subscription, backend: BaseBackend, new: list[Ticket]) -> None:
        new = await self._found_after_crash(sub, sorted(new, key=_oldest_first))
        await self._with_tags(sub, backend, new)
        shown = [t for t in new if ticket_matches(sub.filters, t)]
        kept_out = [_row(sub, t) for t in new if not ticket_matches(sub.filters, t)]
        await self.alerts.record_feed(kept_out)  # known from now on, never posted
        if not shown:
            return
        if sub.mode == "digest" or len(shown) > self.services.settings.digest_threshold:
            await self._digest(sub, shown)
            return
        for ticket in shown:
            ts = await self.once.post(
                sub,
                f"ticket:{ticket.ref.id}",
                [ticket.ref.id],
                text=feed_ticket_text(ticket),
                blocks=as_dicts(feed_ticket_blocks(ticket, backend.capabilities)),
            )
            await self.alerts.record_feed([_row(sub, ticket, ts)])
            self.once.done(sub)
            # Replies under the post become comments on the ticket (bot.threads), where the
            # backend takes comments; elsewhere every reply would only earn a "Not added".
            if backend.supports(Capability.COMMENT):
                reader = (sub.owner_scope, sub.subscriber)
                await remember_thread(
                    self.services, sub.team_id, sub.channel_id, ts, ticket.ref, reader
                )

    async def _with_tags(self, sub: Subscription, backend: BaseBackend, new: list[Ticket]) -> None:
        """A tag filter on a backend whose list carries no tags (Epixel's history): the tags of
        each new ticket come from its detailed view. Only new tickets, so rarely a call."""
        if sub.filters.tag is None or not backend.supports(Capability.TAG) or not new:
            return
        named = {t.id: t for t in await backend.tags()}  # the detailed view gives tag ids only
        for index, ticket in enumerate(new):
            if not ticket.tags:
                detailed = await backend.get_ticket(ticket.ref.id)
                tags = [named.get(t.id, t) for t in detailed.tags]
                new[index] = ticket.model_copy(update={"tags": tags})

    async def _found_after_crash(self, sub: Subscription, new: list[Ticket]) -> list[Ticket]:
        """Record as posted what a crash cut short and ``once.settle`` found in the channel;
        returns the tickets still to post."""
        owed = sub.posting
        if owed is None or owed["ts"] is None or owed["key"] == SUMMARY:
            return new
        ids = set(owed["ids"])
        shown = [t for t in new if t.ref.id in ids]
        if owed["key"].startswith("digest:"):
            await self._record_digest(sub, shown, owed["ts"])
        else:
            await self.alerts.record_feed(_row(sub, t, owed["ts"]) for t in shown)
            self.once.done(sub)
        return [t for t in new if t.ref.id not in ids]

    async def _digest(self, sub: Subscription, tickets: Sequence[Ticket]) -> None:
        parent = await self._post_digest(sub, [t.ref.id for t in tickets], f"{sub.vendor} tickets")
        await self._record_digest(sub, tickets, parent)

    async def _record_digest(self, sub: Subscription, tickets: Sequence[Ticket], ts: str) -> None:
        await self.alerts.record_feed(_row(sub, t) for t in tickets)
        # The list is owed to the thread until posted; sealed, as subjects name customers.
        lines = [feed_digest_line(t) for t in tickets]
        await self._owe_list(sub, {"ts": ts, "sealed": self.services.store.seal(lines)})

    async def _thread_list(
        self, sub: Subscription, owed: dict[str, Any]
    ) -> tuple[str, list[list[Block]]]:
        return "Tickets", pack_lines(self.services.store.open_sealed(owed["sealed"]))

    async def _status_changes(
        self,
        sub: Subscription,
        backend: BaseBackend,
        posted: dict[str, tuple[Ticket, FeedItem]],
    ) -> None:
        """changes:on: each posted ticket whose status moved is redrawn and gets a thread line."""
        labels = {s.value: s.label for s in backend.statuses}
        for ticket, item in posted.values():
            now = _row(sub, ticket, item.ts)
            if now.status == item.status or item.ts is None:
                continue
            await self.client.chat_update(
                channel=sub.channel_id,
                ts=item.ts,
                text=feed_ticket_text(ticket),
                blocks=as_dicts(feed_ticket_blocks(ticket, backend.capabilities)),
            )
            before = labels.get(item.status or "", item.status)
            await self.poster.post(
                sub.channel_id, thread_ts=item.ts, text=status_change_text(ticket, before)
            )
            await self.alerts.record_feed([now])
