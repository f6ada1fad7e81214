"""What every subscription poller shares, whatever it polls (QuestionPro detractors in
``bot.alerts``, a ticket backend's new tickets in ``bot.ticket_feeds``): one poll guarded the same
way, the outage and "back" lines with their backoff, the pause with a DM when the subscriber's
credentials are refused or the channel is gone, and the resume when they reconnect.

A subclass implements ``_poll_once``; the runner (``DetractorPoller.run``) calls ``poll``.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import as_dicts
from bot.blocks.alerts import digest_blocks
from bot.blocks.limits import escape
from bot.errors import (
    BackendAuthError,
    BackendError,
    BackendPermissionError,
    BackendRateLimited,
)
from bot.oauth import speaking_for
from bot.posting import ChannelGoneError, OncePoster, OutcomeUnknownError, SlackPoster
from bot.services import Services
from bot.subscriptions import Subscription, now

log = logging.getLogger("ticketbot.alerts")

MAX_BACKOFF = 15 * 60.0


def what(sub: Subscription) -> str:
    """What the subscription posts, as the channel lines name it ("detractor alerts")."""
    return "detractor alerts" if sub.source == "detractors" else f"{sub.vendor} ticket alerts"


_FIX = {
    "credentials": "Run `/ticket connect {backend}` to fix your credentials; the alerts resume "
    "on their own.",
    "channel": "Unarchive the channel or invite me back, then Resume in App Home.",
    "token": "Reinstall ticketbot (or give it a working bot token), then Resume in App Home.",
}


def _failed(sub: Subscription, words: str) -> None:
    """Keep the last error (already mrkdwn-safe) with its time, for the health line."""
    sub.last_error, sub.last_error_at = words, now()


def _first_up(text: str) -> str:
    return text[:1].upper() + text[1:]


class SubscriptionPoller:
    """Polls one subscription at a time (``poll``); subclasses say what one poll does."""

    def __init__(
        self, services: Services, client: AsyncWebClient, poster: SlackPoster | None = None
    ) -> None:
        self.services = services
        self.alerts = services.alerts
        self.poster = poster or SlackPoster(client, services.settings.channel_post_interval)
        self.once = OncePoster(self.poster, services.alerts)
        self.client = client

    def interval(self, sub: Subscription) -> float:
        """The operator's TICKETBOT_POLL_INTERVAL if set, else the subscription's own."""
        return self.services.settings.poll_interval or float(sub.every_seconds)

    async def poll(self, sub_id: str) -> None:
        """Fetch, diff, post and record for one subscription, with its workspace's bot token."""
        sub = await self.alerts.get(sub_id)
        if sub is None:
            return
        async with speaking_for(self.services.installations, sub.team_id, sub.scope):
            await self._poll(sub)

    async def _poll_once(self, sub: Subscription) -> None:
        raise NotImplementedError

    async def _poll(self, sub: Subscription) -> None:
        if not await self._ready(sub):
            return
        try:
            await self._poll_once(sub)
            await self._recovered(sub)
        except (BackendAuthError, BackendPermissionError) as exc:
            await self._pause(sub, "credentials", exc.user_message())
        except BackendRateLimited as exc:
            if exc.quota_exhausted:
                await self._pause(sub, "credentials", exc.user_message())
            else:  # not an outage: wait as long as the backend asks, say nothing in the channel
                wait = exc.retry_after or self.interval(sub)
                sub.next_poll = now() + timedelta(seconds=wait)
                log.info("%s rate limit for %s; next poll in %.0f s", sub.backend, sub.id, wait)
        except BackendError as exc:
            await self._outage(sub, exc)
        except ChannelGoneError as exc:
            where = "for my token" if exc.token else f"for <#{sub.channel_id}>"
            reason = "token" if exc.token else "channel"
            await self._pause(sub, reason, f"Slack says `{exc.error}` {where}")
        except SlackApiError as exc:  # e.g. still rate limited after retries: next poll goes on
            error = str(exc.response.get("error"))
            log.warning("slack refused a post for %s: %s", sub.id, error)
            _failed(sub, f"Slack says `{escape(error)}`")
        except OutcomeUnknownError as exc:  # looked for again before the next poll posts it
            log.warning("no answer from Slack for a post: %s", exc)
        finally:
            sub.last_poll = now()
            if sub.failures == 0 and (sub.next_poll is None or sub.next_poll <= now()):
                sub.next_poll = now() + timedelta(seconds=self.interval(sub))
            await self._save_polled(sub)

    # Digests -----------------------------------------------------------------------------------

    async def _post_digest(self, sub: Subscription, ids: list[Any], what: str) -> str:
        """One message for many new items ("12 new detractors"); returns its ts."""
        return await self.once.post(
            sub,
            f"digest:{secrets.token_hex(6)}",
            ids,
            text=f"{len(ids)} new {what}",
            blocks=as_dicts(digest_blocks(len(ids), what)),
        )

    async def _owe_list(self, sub: Subscription, owed: dict[str, Any]) -> None:
        """A digest's list is owed to its thread (``owed`` has its ``ts``): kept on the
        subscription, saved with the digest's post settled in one write, then posted."""
        sub.pending_threads.append(owed)
        self.once.done(sub)
        await self.alerts.save(sub)
        await self._drain_threads(sub)

    async def _drain_threads(self, sub: Subscription) -> None:
        """Post digest lists still owed to their threads (kept across failures and restarts)."""
        while sub.pending_threads:
            owed = sub.pending_threads[0]
            text, messages = await self._thread_list(sub, owed)
            for blocks in messages[owed.get("done", 0) :]:
                await self.poster.post(
                    sub.channel_id, thread_ts=owed["ts"], text=text, blocks=as_dicts(blocks)
                )
                owed["done"] = owed.get("done", 0) + 1
                await self.alerts.save(sub)
            sub.pending_threads.pop(0)
            await self.alerts.save(sub)
            await self._listed(sub, owed)

    async def _thread_list(
        self, sub: Subscription, owed: dict[str, Any]
    ) -> tuple[str, list[list[Block]]]:
        """The fallback text and the messages of an owed digest list."""
        raise NotImplementedError

    async def _listed(self, sub: Subscription, owed: dict[str, Any]) -> None:
        """After a digest's list was posted (nothing by default)."""

    # State ---------------------------------------------------------------------------------------

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
            sub.owner_scope, sub.subscriber, sub.backend
        )
        if sub.paused == "credentials" and stamp is not None and stamp != sub.credentials_stamp:
            sub.paused = sub.paused_detail = None  # the subscriber reconnected
            await self.alerts.save(sub)
            await self._say(
                sub,
                f":arrow_forward: {_first_up(what(sub))} resumed: <@{sub.subscriber}> "
                f"reconnected {sub.vendor}.",
            )
        if sub.paused:
            return False
        if stamp is None:
            await self._pause(sub, "credentials", f"{sub.vendor} is not connected any more")
            return False
        return True

    async def _outage(self, sub: Subscription, error: BackendError) -> None:
        sub.failures += 1
        backoff = min(MAX_BACKOFF, self.interval(sub) * 2 ** (sub.failures - 1))
        sub.next_poll = now() + timedelta(seconds=backoff)
        log.info(
            "%s failed for %s (%s); next try in %.0f s", sub.backend, sub.id, error.message, backoff
        )
        _failed(sub, error.user_message())
        if sub.outage_since is None:
            sub.outage_since = now()
            stamp = int(sub.outage_since.timestamp())
            await self._say(
                sub,
                f":warning: {sub.vendor} is unreachable since <!date^{stamp}^{{time}}|"
                f"{sub.outage_since:%H:%M} UTC> ({escape(error.message)}). Alerts will "
                "catch up when it is back.",
            )
        if not sub.outage_told and self._stopped(sub):
            sub.outage_told = True  # saved with the poll: once per outage, however long
            await self._dm(
                sub,
                f":warning: {_first_up(what(sub))} for <#{sub.channel_id}> stopped arriving: "
                f"{sub.vendor} has failed {sub.failures} poll(s) in a row since "
                f"{sub.outage_since:%H:%M} UTC ({error.user_message()}). I keep trying and "
                "catch up when it is back.",
            )

    def _stopped(self, sub: Subscription) -> bool:
        """Whether an outage has lasted long enough to count as "stopped delivering"."""
        settings = self.services.settings
        since = sub.outage_since or now()
        long = now() - since >= timedelta(minutes=settings.outage_dm_minutes)
        return sub.failures >= settings.outage_dm_polls or long

    async def _recovered(self, sub: Subscription) -> None:
        sub.last_ok = now()
        if sub.outage_since is not None:
            await self._say(
                sub, f":white_check_mark: {sub.vendor} is back; {what(sub)} are up to date."
            )
        if sub.outage_told:
            await self._dm(
                sub,
                f":white_check_mark: {_first_up(what(sub))} for <#{sub.channel_id}> arrive "
                f"again: {sub.vendor} is back.",
            )
        sub.failures, sub.outage_since, sub.outage_told = 0, None, False

    async def _pause(self, sub: Subscription, reason: str, detail: str) -> None:
        """Stop polling and DM the subscriber once: a paused subscription is not polled, so no
        later poll comes here again until it resumes."""
        sub.paused, sub.paused_detail = reason, detail  # type: ignore[assignment]
        _failed(sub, detail)
        sub.credentials_stamp = await self.services.store.credentials_stamp(
            sub.owner_scope, sub.subscriber, sub.backend
        )
        await self.alerts.save(sub)
        await self._dm(
            sub,
            f":pause_button: {_first_up(what(sub))} for <#{sub.channel_id}> are paused: "
            f"{detail}. {_FIX[reason].format(backend=sub.backend)}",
        )

    async def _dm(self, sub: Subscription, text: str) -> None:
        """Tell the subscriber directly. With a revoked token this cannot reach them either; the
        state stays visible in `/ticket subscriptions` and App Home once the bot is back."""
        try:
            await self.client.chat_postMessage(channel=sub.subscriber, text=text)
        except SlackApiError as exc:
            log.warning(
                "could not DM %s about %s: %s", sub.subscriber, sub.id, exc.response.get("error")
            )

    async def _say(self, sub: Subscription, text: str) -> None:
        try:
            await self.poster.post(sub.channel_id, text=text)
        except (SlackApiError, ChannelGoneError):
            log.warning("could not post a notice for %s", sub.id)
