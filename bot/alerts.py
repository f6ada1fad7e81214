"""The detractor poller: fetch -> diff with the ledger -> post -> record.

QuestionPro has no "since" filter and allows 300 calls a minute per key, so a steady poll pages
from the newest detractor and stops at the first page holding nothing new; a full sweep (daily by
default) catches anything that arrived out of order. An id is recorded only after Slack accepted
the message showing it, and each alert is posted with metadata once the subscription records that
it is being posted: a crash between post and record finds the post in its channel instead of
repeating it (bot.posting). Nothing is skipped or replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.alert_links import LinkChecker
from bot.alert_reminders import remind_due
from bot.backends.questionpro import QuestionProBackend, ticket_web_url
from bot.blocks import as_dicts
from bot.blocks.alerts import (
    alert_blocks,
    alert_text,
    digest_messages,
    summary_blocks,
)
from bot.credentials import QuestionProCredentials
from bot.escalation import Escalations
from bot.feed_filters import detractor_matches
from bot.models import Detractor
from bot.poll_base import SubscriptionPoller
from bot.posting import SUMMARY
from bot.services import Services
from bot.subscriptions import Alert, Subscription, now
from bot.ticket_feeds import TicketFeedPoller
from bot.weekly import WeeklyInsights

log = logging.getLogger("ticketbot.alerts")


class DetractorPoller(SubscriptionPoller):
    """Polls every subscription when due; ``poll`` runs one detractor subscription once (tests
    call it). The runner polls ticket-feed subscriptions too, through ``feeds``."""

    def __init__(self, services: Services, client: AsyncWebClient) -> None:
        super().__init__(services, client)
        # One poster for both: posts to a channel are paced together, whatever their source.
        self.feeds = TicketFeedPoller(services, client, self.poster)
        self.weekly = WeeklyInsights(services, client)
        self.links = LinkChecker(services, client)
        self.escalations = Escalations(services, self.poster)

    def lease_seconds(self, tick: float) -> float:
        """How long a subscription lease lasts unless renewed (it is renewed every tick): short
        enough that a dead instance's subscriptions are polled again within two poll intervals,
        long enough to outlast a few slow ticks."""
        interval = min(self.services.settings.poll_interval or 30.0, 30.0)
        return max(3 * tick, 2 * interval - tick)

    async def run(self, stop: asyncio.Event, tick: float = 1.0) -> None:
        """Poll what is due until ``stop`` is set. Each subscription polls in its own task, so a
        long baseline (or a slow account) never delays the others; one never runs twice at once.
        Only subscriptions whose lease this instance holds are polled: with several instances on
        one database each subscription is polled by one of them."""
        running: dict[str, asyncio.Task[None]] = {}
        links: asyncio.Task[None] | None = None
        work, me = self.services.work, self.services.instance_id
        tick = min(tick, self.services.settings.poll_interval or tick)
        while not stop.is_set():
            busy = {sub_id for sub_id, task in running.items() if not task.done()}
            try:
                held = await work.claim_subscriptions(me, self.lease_seconds(tick), busy)
            except Exception:  # the database away for a moment: the leases outlast a tick
                log.exception("could not renew subscription leases")
                held = set()
            for sub in await self._held(held):
                if sub.id in busy:
                    continue
                poll = sub.next_poll is None or sub.next_poll <= now()
                if poll or self.weekly.may_be_due(sub):
                    running[sub.id] = asyncio.create_task(self._poll_logged(sub, poll))
            try:
                await self.remind_due(held)
            except Exception:
                log.exception("deadline reminders failed")
            if (links is None or links.done()) and self.links.pass_due():
                links = asyncio.create_task(self._check_links(held))  # one pass at a time
            try:
                await self.escalations.run_due(held)
            except Exception:
                log.exception("escalation reminders failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)
        # Stopping mid-poll is safe: a post cut short is looked for in its channel before the
        # next poll posts it (here or, after the lease passes on, in another instance).
        tasks = [*running.values(), *([links] if links else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):  # unreleased, they lapse within a lease anyway
            await work.release_subscriptions(me)

    async def _held(self, held: set[str]) -> list[Subscription]:
        if not held:
            return []
        return [sub for sub in await self.alerts.all() if sub.id in held]

    async def _check_links(self, held: set[str]) -> None:
        try:
            await self.links.check_due(held)
        except Exception:  # the next pass tries again; the loop goes on
            log.exception("checking linked tickets failed")

    async def _poll_logged(self, sub: Subscription, poll: bool = True) -> None:
        # The weekly post runs in the poll's task: the two never write the subscription at once.
        poller = self if sub.source == "detractors" else self.feeds
        try:
            if poll:
                await poller.poll(sub.id)
        except Exception:  # one failing subscription never stops the rest
            log.exception("poll of subscription %s failed", sub.id)
        try:
            await self.weekly.post_if_due(sub.id)
        except Exception:
            log.exception("weekly insights of subscription %s failed", sub.id)

    # One poll ----------------------------------------------------------------------------------

    async def _poll_once(self, sub: Subscription) -> None:
        creds = await self.services.store.load_credentials(
            sub.owner_scope, sub.subscriber, "questionpro"
        )
        assert isinstance(creds, QuestionProCredentials)
        client = self.services.backends.for_credentials(creds)
        assert isinstance(client, QuestionProBackend)
        await self.once.settle(sub)
        await self._drain_threads(sub)
        if not sub.baseline_done:
            await self._baseline(sub, client)
            return
        sweep = (
            sub.last_sweep is None
            or (now() - sub.last_sweep).total_seconds() >= self.services.settings.sweep_interval
        )
        await self._new_ones(sub, client, creds, full=sweep)
        if sweep:
            sub.last_sweep = now()

    async def _baseline(self, sub: Subscription, client: QuestionProBackend) -> None:
        """First poll: everything that exists goes into the ledger unposted; one summary says how
        many there are."""
        page = sub.baseline_page + 1
        while True:
            batch = await client.detractors_page(
                segment_id=sub.segment_id, status=sub.status, page=page
            )
            await self.alerts.mark_seen(sub.id, (d.ticket_id for d in batch.items))
            sub.baseline_page = page  # after a failure, the baseline resumes past this page
            await self.alerts.save(sub)
            if not batch.has_more:
                break
            page += 1
        total = batch.total if batch.total is not None else page * len(batch.items)
        if self.once.found(sub, SUMMARY) is None:
            await self.once.post(
                sub,
                SUMMARY,
                [],
                text=f"Watching QuestionPro detractors: {total} exist",
                blocks=as_dicts(summary_blocks(sub, total)),
            )
        sub.baseline_done, sub.last_sweep = True, now()
        self.once.done(sub)  # saved with baseline_done, in one write

    async def _new_ones(
        self,
        sub: Subscription,
        client: QuestionProBackend,
        creds: QuestionProCredentials,
        *,
        full: bool,
    ) -> None:
        new: list[Detractor] = []
        page = 1
        while True:
            batch = await client.detractors_page(
                segment_id=sub.segment_id, status=sub.status, page=page
            )
            seen = await self.alerts.seen(sub.id, (d.ticket_id for d in batch.items))
            unseen = [d for d in batch.items if d.ticket_id not in seen]
            new += unseen
            if not batch.has_more or (not unseen and not full):
                break
            page += 1
        if not new:
            await self._quiet(sub, client)
            return
        sub.last_detractor_at, sub.quiet_noticed = now(), False
        new.sort(
            key=lambda d: (d.created_at, d.ticket_id)
        )  # oldest first: the channel reads in order
        new = await self._found_after_crash(sub, new)
        # Filtered out: known from now on, never posted (not even if the filter changes).
        await self.alerts.mark_seen(
            sub.id, (d.ticket_id for d in new if not detractor_matches(sub.filters, d))
        )
        new = [d for d in new if detractor_matches(sub.filters, d)]
        if not new:
            return
        if sub.mode == "digest" or len(new) > self.services.settings.digest_threshold:
            await self._digest(sub, new)
            return
        mask = sub.access.pii_masked
        for detractor in new:
            alert = Alert(
                subscription_id=sub.id, detractor=detractor, channel_id=sub.channel_id, state="open"
            )
            alert.ts = await self.once.post(
                sub,
                f"ticket:{detractor.ticket_id}",
                [detractor.ticket_id],
                text=f"Detractor: {alert_text(detractor, mask)}",
                blocks=as_dicts(
                    alert_blocks(alert, ticket_web_url(creds, detractor.ticket_id), mask)
                ),
            )
            await self.alerts.record([alert])
            self.once.done(sub)

    async def _found_after_crash(self, sub: Subscription, new: list[Detractor]) -> list[Detractor]:
        """Record as posted what a crash cut short and ``once.settle`` found in the channel;
        returns the detractors still to post."""
        owed = sub.posting
        if owed is None or owed["ts"] is None or owed["key"] == SUMMARY:
            return new
        ids = set(owed["ids"])
        shown = [d for d in new if d.ticket_id in ids]
        if owed["key"].startswith("digest:"):
            await self._record_digest(sub, shown, owed["ts"])
        else:
            await self.alerts.record(
                Alert(
                    subscription_id=sub.id,
                    detractor=d,
                    channel_id=sub.channel_id,
                    state="open",
                    ts=owed["ts"],
                )
                for d in shown
            )
            self.once.done(sub)
        return [d for d in new if d.ticket_id not in ids]

    async def _quiet(self, sub: Subscription, client: QuestionProBackend) -> None:
        """Once per quiet spell: a subscription that has seen nothing for a long time says so when
        the other QuestionPro source (Closed Loop or detractors, issue 15) may be where tickets
        now arrive."""
        days = self.services.settings.questionpro_quiet_days
        since = sub.last_detractor_at or sub.created_at
        if sub.quiet_noticed or now() - since < timedelta(days=days):
            return
        other = await client.other_source_has_some()
        if other is False:
            return  # both quiet: nothing to point at; asked again on the next poll
        if other:
            text = (
                f":zzz: No new Closed Loop tickets here for {days:g} days, but QuestionPro's "
                "detractor list has some. To alert on those, reconnect QuestionPro without a "
                "workspace id (`/ticket connect questionpro`)."
            )
        else:
            text = (
                f":zzz: No new detractors here for {days:g} days. If your QuestionPro account "
                "uses Closed Loop, its tickets are elsewhere: reconnect QuestionPro with the "
                "Closed Loop workspace id (`/ticket connect questionpro`)."
            )
        await self._say(sub, text)
        sub.quiet_noticed = True

    async def _digest(self, sub: Subscription, new: Sequence[Detractor]) -> None:
        parent = await self._post_digest(sub, [d.ticket_id for d in new], "detractors")
        await self._record_digest(sub, new, parent)

    async def _record_digest(self, sub: Subscription, new: Sequence[Detractor], ts: str) -> None:
        await self.alerts.record(
            Alert(subscription_id=sub.id, detractor=d, channel_id=sub.channel_id) for d in new
        )
        await self._owe_list(sub, {"ts": ts, "ids": [d.ticket_id for d in new]})

    async def _thread_list(
        self, sub: Subscription, owed: dict[str, Any]
    ) -> tuple[str, list[list[Block]]]:
        found = [await self.alerts.alert(sub.id, i) for i in owed["ids"]]
        detractors = [a.detractor for a in found if a is not None]
        return "Detractors", digest_messages(detractors, sub.access.pii_masked)

    async def _listed(self, sub: Subscription, owed: dict[str, Any]) -> None:
        # Listed: nothing redraws these any more, so only their ids stay.
        await self.alerts.mark_seen(sub.id, owed["ids"])

    # Reminders ---------------------------------------------------------------------------------

    async def remind_due(self, held: set[str] | None = None) -> None:
        """Deadline reminders that are due (bot.alert_reminders), for ``held`` subscriptions."""
        await remind_due(self.services, self.poster, self.client, held)
