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
import secrets
from collections.abc import Sequence
from datetime import timedelta

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.alert_links import LinkChecker
from bot.alert_reminders import remind_due
from bot.backends.questionpro import QuestionProBackend, ticket_web_url
from bot.blocks import as_dicts
from bot.blocks.alerts import (
    alert_blocks,
    alert_text,
    digest_blocks,
    digest_messages,
    summary_blocks,
)
from bot.blocks.limits import escape
from bot.credentials import QuestionProCredentials
from bot.errors import (
    BackendAuthError,
    BackendError,
    BackendPermissionError,
    BackendRateLimited,
)
from bot.escalation import Escalations
from bot.models import Detractor
from bot.oauth import speaking_for
from bot.posting import (
    SUMMARY,
    ChannelGoneError,
    OncePoster,
    OutcomeUnknownError,
    SlackPoster,
)
from bot.services import Services
from bot.subscriptions import Alert, Subscription, now
from bot.weekly import WeeklyInsights

log = logging.getLogger("ticketbot.alerts")

MAX_BACKOFF = 15 * 60.0


class DetractorPoller:
    """Polls every subscription when due; ``poll`` runs one subscription once (tests call it)."""

    def __init__(self, services: Services, client: AsyncWebClient) -> None:
        self.services = services
        self.alerts = services.alerts
        self.poster = SlackPoster(client, services.settings.channel_post_interval)
        self.once = OncePoster(self.poster, services.alerts)
        self.client = client
        self.weekly = WeeklyInsights(services, client)
        self.links = LinkChecker(services, client)
        self.escalations = Escalations(services, self.poster)

    def interval(self, sub: Subscription) -> float:
        """The operator's TICKETBOT_POLL_INTERVAL if set, else the subscription's own."""
        return self.services.settings.poll_interval or float(sub.every_seconds)

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
                    running[sub.id] = asyncio.create_task(self._poll_logged(sub.id, poll))
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

    async def _poll_logged(self, sub_id: str, poll: bool = True) -> None:
        # The weekly post runs in the poll's task: the two never write the subscription at once.
        try:
            if poll:
                await self.poll(sub_id)
        except Exception:  # one failing subscription never stops the rest
            log.exception("poll of subscription %s failed", sub_id)
        try:
            await self.weekly.post_if_due(sub_id)
        except Exception:
            log.exception("weekly insights of subscription %s failed", sub_id)

    # One poll ----------------------------------------------------------------------------------

    async def poll(self, sub_id: str) -> None:
        """Fetch, diff, post and record for one subscription, with its workspace's bot token."""
        sub = await self.alerts.get(sub_id)
        if sub is None:
            return
        async with speaking_for(self.services.installations, sub.team_id, sub.scope):
            await self._poll(sub)

    async def _poll(self, sub: Subscription) -> None:
        if not await self._ready(sub):
            return
        creds = await self.services.store.load_credentials(
            sub.owner_scope, sub.subscriber, "questionpro"
        )
        assert isinstance(creds, QuestionProCredentials)
        client = self.services.backends.for_credentials(creds)
        assert isinstance(client, QuestionProBackend)
        try:
            await self.once.settle(sub)
            await self._drain_threads(sub)
            if not sub.baseline_done:
                await self._baseline(sub, client)
            else:
                sweep = (
                    sub.last_sweep is None
                    or (now() - sub.last_sweep).total_seconds()
                    >= self.services.settings.sweep_interval
                )
                await self._new_ones(sub, client, creds, full=sweep)
                if sweep:
                    sub.last_sweep = now()
            await self._recovered(sub)
        except (BackendAuthError, BackendPermissionError) as exc:
            await self._pause(sub, "credentials", exc.user_message())
        except BackendRateLimited as exc:
            if exc.quota_exhausted:
                await self._pause(sub, "credentials", exc.user_message())
            else:  # not an outage: wait as long as QuestionPro asks, say nothing in the channel
                wait = exc.retry_after or self.interval(sub)
                sub.next_poll = now() + timedelta(seconds=wait)
                log.info("QuestionPro rate limit for %s; next poll in %.0f s", sub.id, wait)
        except BackendError as exc:
            await self._outage(sub, exc)
        except ChannelGoneError as exc:
            await self._pause(sub, "channel", f"Slack says `{exc.error}` for <#{sub.channel_id}>")
        except SlackApiError as exc:  # e.g. still rate limited after retries: next poll goes on
            log.warning("slack refused a post for %s: %s", sub.id, exc.response.get("error"))
        except OutcomeUnknownError as exc:  # looked for again before the next poll posts it
            log.warning("no answer from Slack for a post: %s", exc)
        finally:
            sub.last_poll = now()
            if sub.failures == 0 and (sub.next_poll is None or sub.next_poll <= now()):
                sub.next_poll = now() + timedelta(seconds=self.interval(sub))
            await self._save_polled(sub)

    async def _save_polled(self, sub: Subscription) -> None:
        """Save what the poll learnt, without undoing what a person did meanwhile: a
        subscription removed during the poll stays removed, and a pause from App Home stays."""
        fresh = await self.alerts.get(sub.id)
        if fresh is None:
            return
        if fresh.paused == "user":
            sub.paused, sub.paused_detail = fresh.paused, fresh.paused_detail
        await self.alerts.save(sub)

    async def _ready(self, sub: Subscription) -> bool:
        stamp = await self.services.store.credentials_stamp(
            sub.owner_scope, sub.subscriber, "questionpro"
        )
        if sub.paused == "credentials" and stamp is not None and stamp != sub.credentials_stamp:
            sub.paused = sub.paused_detail = None  # the subscriber reconnected
            await self.alerts.save(sub)
            await self._say(
                sub,
                f":arrow_forward: Detractor alerts resumed: <@{sub.subscriber}> "
                "reconnected QuestionPro.",
            )
        if sub.paused:
            return False
        if stamp is None:
            await self._pause(sub, "credentials", "QuestionPro is not connected any more")
            return False
        return True

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
        parent = await self.once.post(
            sub,
            f"digest:{secrets.token_hex(6)}",
            [d.ticket_id for d in new],
            text=f"{len(new)} new detractors",
            blocks=as_dicts(digest_blocks(len(new))),
        )
        await self._record_digest(sub, new, parent)

    async def _record_digest(self, sub: Subscription, new: Sequence[Detractor], ts: str) -> None:
        await self.alerts.record(
            Alert(subscription_id=sub.id, detractor=d, channel_id=sub.channel_id) for d in new
        )
        sub.pending_threads.append({"ts": ts, "ids": [d.ticket_id for d in new]})
        self.once.done(sub)  # saved with the owed thread, in one write
        await self.alerts.save(sub)
        await self._drain_threads(sub)

    async def _drain_threads(self, sub: Subscription) -> None:
        """Post digest lists still owed to their threads (kept across failures and restarts)."""
        while sub.pending_threads:
            owed = sub.pending_threads[0]
            found = [await self.alerts.alert(sub.id, i) for i in owed["ids"]]
            detractors = [a.detractor for a in found if a is not None]
            listed = digest_messages(detractors, sub.access.pii_masked)
            for blocks in listed[owed.get("done", 0) :]:
                await self.poster.post(
                    sub.channel_id, thread_ts=owed["ts"], text="Detractors", blocks=as_dicts(blocks)
                )
                owed["done"] = owed.get("done", 0) + 1
                await self.alerts.save(sub)
            sub.pending_threads.pop(0)
            await self.alerts.save(sub)
            # Listed: nothing redraws these any more, so only their ids stay.
            await self.alerts.mark_seen(sub.id, owed["ids"])

    # Outages, pauses, reminders ----------------------------------------------------------------

    async def _outage(self, sub: Subscription, error: BackendError) -> None:
        sub.failures += 1
        backoff = min(MAX_BACKOFF, self.interval(sub) * 2 ** (sub.failures - 1))
        sub.next_poll = now() + timedelta(seconds=backoff)
        log.info(
            "QuestionPro failed for %s (%s); next try in %.0f s", sub.id, error.message, backoff
        )
        if sub.outage_since is None:
            sub.outage_since = now()
            stamp = int(sub.outage_since.timestamp())
            await self._say(
                sub,
                f":warning: QuestionPro is unreachable since <!date^{stamp}^{{time}}|"
                f"{sub.outage_since:%H:%M} UTC> ({escape(error.message)}). Alerts will "
                "catch up when it is back.",
            )

    async def _recovered(self, sub: Subscription) -> None:
        if sub.outage_since is not None:
            await self._say(
                sub, ":white_check_mark: QuestionPro is back; detractor alerts are up to date."
            )
        sub.failures, sub.outage_since = 0, None

    async def _pause(self, sub: Subscription, reason: str, detail: str) -> None:
        sub.paused, sub.paused_detail = reason, detail  # type: ignore[assignment]
        sub.credentials_stamp = await self.services.store.credentials_stamp(
            sub.owner_scope, sub.subscriber, "questionpro"
        )
        await self.alerts.save(sub)
        fix = (
            "Run `/ticket connect questionpro` to fix your credentials; the alerts resume on "
            "their own."
            if reason == "credentials"
            else "Unarchive the channel or invite me back, then subscribe again."
        )
        try:
            await self.client.chat_postMessage(
                channel=sub.subscriber,
                text=f":pause_button: Detractor alerts for <#{sub.channel_id}> are paused: "
                f"{detail}. {fix}",
            )
        except SlackApiError:
            log.warning("could not tell %s that %s is paused", sub.subscriber, sub.id)

    async def _say(self, sub: Subscription, text: str) -> None:
        try:
            await self.poster.post(sub.channel_id, text=text)
        except (SlackApiError, ChannelGoneError):
            log.warning("could not post a notice for %s", sub.id)

    async def remind_due(self, held: set[str] | None = None) -> None:
        """Deadline reminders that are due (bot.alert_reminders), for ``held`` subscriptions."""
        await remind_due(self.services, self.poster, self.client, held)
