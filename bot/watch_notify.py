"""Telling watchers: one DM per watcher per change batch, held during their quiet hours and sent
as one summary after, never a change the watcher made themselves through ticketbot.

DMs go as ``chat.postMessage`` with the person's user id as the channel (Slack opens the DM),
with the bot token of the watch's workspace. Slack's 429s are retried after their Retry-After
by the client's retry handler; a DM still rate limited after that is kept with the held notices
and goes out in the next summary; a DM Slack refuses (the person left, the bot may not DM them)
is logged and dropped, so nothing retries forever.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.backends.base import Capability
from bot.blocks import as_dicts
from bot.blocks.watch import change_message, gone_message, held_notice, summary_message
from bot.models import Ticket
from bot.oauth import Installations, speaking_for
from bot.store.interface import WatchStore
from bot.store.leases import WorkLeases
from bot.watch_diff import Delta, OwnChanges, quiet_now
from bot.watches import Watch

log = logging.getLogger("ticketbot.watcher")

Sent = Literal["sent", "later", "refused"]
Person = tuple[str, str, str]  # team_id, scope, user_id


class Notifier:
    """DMs to watchers. ``sent`` counts the DMs Slack accepted (the benchmark reads it)."""

    def __init__(
        self,
        client: AsyncWebClient,
        watches: WatchStore,
        installations: Installations | None,
        own: OwnChanges,
        leases: WorkLeases | None = None,
        owner: str = "",
    ) -> None:
        self.client = client
        self.watches = watches
        self.installations = installations
        self.own = own
        # Who sends a person's summary when several instances share the store: the holder of
        # the lease "held:<scope>:<user>" (None: this process alone).
        self.leases, self.owner = leases, owner
        self.sent = 0
        self._holding: set[Person] | None = None  # people with held notices; None: not known

    async def tell(
        self,
        watch: Watch,
        ticket: Ticket,
        deltas: Sequence[Delta],
        capabilities: frozenset[Capability],
        now: datetime,
    ) -> None:
        """One DM to ``watch``'s person with the changes they did not make themselves."""
        theirs = self.own.others(watch.ref, (watch.scope, watch.user_id), list(deltas))
        if not theirs:
            return
        prefs = await self.watches.prefs(watch.scope, watch.user_id)
        if not quiet_now(prefs.quiet, prefs.tz, now):
            text, blocks = change_message(ticket, theirs, capabilities)
            if await self._dm(watch, text, blocks) != "later":
                return
        prefs.held.append({**held_notice(ticket, theirs), "at": now.isoformat()})
        await self.watches.save_prefs(watch.scope, watch.user_id, prefs)
        if self._holding is not None:
            self._holding.add((watch.team_id, watch.scope, watch.user_id))

    async def gone(self, watchers: Sequence[Watch], title: str) -> None:
        """Tell each watcher the ticket is gone, and end their watches."""
        for watch in watchers:
            text, blocks = gone_message(watch.ref, title)
            await self._dm(watch, text, blocks)
            await self.watches.remove_watch(watch.scope, watch.user_id, watch.ref)

    async def flush_held(self, now: datetime) -> None:
        """Send one summary to each person whose quiet hours are over and who has held notices."""
        if self._holding is None:
            self._holding = await self._people_holding()
        for team_id, scope, user_id in sorted(self._holding):
            lease = f"held:{scope}:{user_id}"
            if self.leases is not None and not await self.leases.claim(lease, self.owner, 60):
                continue  # another instance is sending this person's summary
            try:
                if await self._flush_one(team_id, scope, user_id, now) == "later":
                    continue
            finally:
                if self.leases is not None:
                    await self.leases.release(lease, self.owner)
            self._holding.discard((team_id, scope, user_id))

    async def _flush_one(self, team_id: str, scope: str, user_id: str, now: datetime) -> Sent:
        # Read under the lease: an instance that sent the summary first has emptied ``held``.
        prefs = await self.watches.prefs(scope, user_id)
        if prefs.held and quiet_now(prefs.quiet, prefs.tz, now):
            return "later"
        if prefs.held:
            text, blocks = summary_message(prefs.held)
            person = Watch(ref="", team_id=team_id, scope=scope, user_id=user_id)
            if await self._dm(person, text, blocks) == "later":
                return "later"
            prefs.held = []
            await self.watches.save_prefs(scope, user_id, prefs)
        return "sent"

    async def _people_holding(self) -> set[Person]:
        """After a start: whoever has notices held from before (one look at every watcher)."""
        people: set[Person] = set()
        for ref in await self.watches.watched_refs():
            for w in await self.watches.watchers(ref):
                people.add((w.team_id, w.scope, w.user_id))
        return {p for p in people if (await self.watches.prefs(p[1], p[2])).held}

    async def _dm(self, watch: Watch, text: str, blocks: list[Block]) -> Sent:
        try:
            async with speaking_for(self.installations, watch.team_id, watch.scope):
                await self.client.chat_postMessage(
                    channel=watch.user_id, text=text, blocks=as_dicts(blocks)
                )
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error == "ratelimited":
                log.info("DM to %s still rate limited; kept for later", watch.user_id)
                return "later"
            log.warning("Slack refused a watch DM to %s: %s", watch.user_id, error)
            return "refused"
        self.sent += 1
        return "sent"
