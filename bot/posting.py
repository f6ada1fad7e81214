"""Posting to a channel: paced per channel, and for alerts exactly once, even across crashes.

An alert is written to the ledger after Slack accepted it. A crash (or a lost answer: a timeout, a
dropped connection) between the two used to leave the post's outcome unknown, and the next poll
posted it again. So before an alert goes out, the subscription records durably that it is
"posting" (its key, the ids it shows, when); every such post carries Slack message metadata naming
the subscription and the key. A post whose outcome is unknown is looked for in the channel's
history (``conversations.history`` with ``include_all_metadata``, only the minutes around the
attempt) and, when found, its ts is recorded instead of posting again. The lookup happens only for
unknown outcomes, so steady polling costs no extra Slack call.

The intent lives on the Subscription record the poller already saves, so this works the same with
any store behind ``AlertStore``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.store.interface import AlertStore
from bot.subscriptions import Subscription

log = logging.getLogger("ticketbot.alerts")

# Slack answers these when a channel cannot take posts any more; retrying will not help.
CHANNEL_GONE = {
    "channel_not_found",
    "is_archived",
    "not_in_channel",
    "channel_is_archived",
    "restricted_action",
    "access_denied",
}
# Slack answers these (documented for chat.postMessage) when the bot token itself no longer
# works: revoked or the app uninstalled, an expired rotating token, a deleted workspace.
TOKEN_GONE = {"token_revoked", "invalid_auth", "account_inactive", "not_authed", "token_expired"}
EVENT_TYPE = "ticketbot_detractor"
SUMMARY = "summary"  # the key of a subscription's first-poll summary
# Where a post attempted at time t can be: Slack stamps it on arrival, so from a little before t
# (clocks differ) to the end of the client's timeout and its 429 waits. Bounding both ends keeps
# the search to a page or two however long the bot was down.
SEARCH_BEFORE, SEARCH_AFTER = 120.0, 600.0
SEARCH_PAGES, SEARCH_PAGE_SIZE = 2, 100


class ChannelGoneError(Exception):
    """Slack refuses posts here for good: the channel is gone (archived, the bot removed), or,
    with ``token``, the bot token itself no longer works. ``error`` is Slack's word for it."""

    def __init__(self, error: str) -> None:
        self.error = error
        self.token = error in TOKEN_GONE
        super().__init__(error)


class OutcomeUnknownError(Exception):
    """A post may or may not have reached Slack, and its channel's history does not show it yet;
    the next poll looks again before posting."""


class SlackPoster:
    """chat.postMessage at about one post per second per channel (Slack's guidance); 429s are
    retried after their Retry-After by the client's retry handler."""

    def __init__(self, client: AsyncWebClient, interval: float) -> None:
        self.client = client
        # Resending after a dropped connection would post twice whenever Slack had taken the first
        # request; keyed posts look in the channel instead.
        self._once = copy.copy(client)
        self._once.retry_handlers = [
            h for h in client.retry_handlers if not isinstance(h, AsyncConnectionErrorRetryHandler)
        ]
        self._interval = interval
        self._last: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def post(self, channel: str, *, once: bool = False, **message: Any) -> str:
        """Post; returns the message ts. Raises ChannelGoneError, or SlackApiError otherwise;
        with ``once``, a lost answer raises the client's error instead of resending."""
        client = self._once if once else self.client
        async with self._locks.setdefault(channel, asyncio.Lock()):
            wait = self._last.get(channel, 0.0) + self._interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                response = await client.chat_postMessage(channel=channel, **message)
            except SlackApiError as exc:
                error = str(exc.response.get("error", ""))
                if error in CHANNEL_GONE or error in TOKEN_GONE:
                    raise ChannelGoneError(error) from None
                raise
            finally:
                self._last[channel] = time.monotonic()
            return str(response["ts"])


class OncePoster:
    """Keyed posts of a subscription, each shown in its channel once (see the module docstring).

    ``sub.posting`` is ``{"key", "ids", "at", "ts"}``: ``ts`` is None while the outcome is
    unknown and the found message's ts once a lookup found it."""

    def __init__(self, poster: SlackPoster, alerts: AlertStore) -> None:
        self.poster = poster
        self.alerts = alerts

    async def settle(self, sub: Subscription) -> None:
        """Before a poll posts anything: find out where a post left unknown by a crash went."""
        owed = sub.posting
        if owed is None or owed["ts"] is not None:
            return
        if await self._recorded(sub, owed):
            sub.posting = None  # only the clearing was lost
        else:
            owed["ts"] = await self.find(sub, owed)
            if owed["ts"] is None:
                sub.posting = None  # it never reached the channel: post it as usual
        await self.alerts.save(sub)

    def found(self, sub: Subscription, key: str) -> str | None:
        """The ts of the message ``key`` that a lookup found already in the channel, if any."""
        owed = sub.posting
        return owed["ts"] if owed is not None and owed["key"] == key else None

    async def post(self, sub: Subscription, key: str, ids: list[Any], **message: Any) -> str:
        """Record the attempt, post with metadata, and return the ts; the caller records what it
        showed, then calls ``done``. Raises OutcomeUnknownError when the answer was lost and the
        channel does not show the post (yet)."""
        owed = sub.posting = {"key": key, "ids": ids, "at": time.time(), "ts": None}
        await self.alerts.save(sub)
        payload: dict[str, Any] = {"subscription_id": sub.id, "post": key}
        if key.startswith("ticket:"):
            payload["ticket_id"] = ids[0]
        metadata = {"event_type": EVENT_TYPE, "event_payload": payload}
        try:
            return await self.poster.post(sub.channel_id, once=True, metadata=metadata, **message)
        except SlackApiError as exc:
            if exc.response.status_code < 500:
                sub.posting = None  # Slack answered: refused, so nothing was posted
                raise
            lost: Exception = exc
        except ChannelGoneError:
            sub.posting = None
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            lost = exc
        owed["ts"] = await self.find(sub, owed)
        if owed["ts"] is None:
            raise OutcomeUnknownError(f"{key} of {sub.id}: {type(lost).__name__}") from lost
        return str(owed["ts"])

    @staticmethod
    def done(sub: Subscription) -> None:
        """What the post showed is recorded: nothing is unknown any more (saved with ``sub``)."""
        sub.posting = None

    async def _recorded(self, sub: Subscription, owed: dict[str, Any]) -> bool:
        if owed["key"] == SUMMARY:
            return sub.baseline_done
        ids = set(owed["ids"])
        if not ids:
            return False
        if sub.source != "detractors":  # a ticket feed: backend ids, in its own ledger
            return set(await self.alerts.feed_items(sub.id, ids)) == ids
        return await self.alerts.seen(sub.id, ids) == ids

    async def find(self, sub: Subscription, owed: dict[str, Any]) -> str | None:
        """The ts of the message carrying ``owed``'s key in the channel, or None."""
        cursor = None
        for _ in range(SEARCH_PAGES):
            try:
                page = await self.poster.client.conversations_history(
                    channel=sub.channel_id,
                    oldest=f"{owed['at'] - SEARCH_BEFORE:.6f}",
                    latest=f"{owed['at'] + SEARCH_AFTER:.6f}",
                    inclusive=True,
                    include_all_metadata=True,
                    limit=SEARCH_PAGE_SIZE,
                    cursor=cursor,
                )
            except SlackApiError as exc:
                error = exc.response.get("error")
                if error == "missing_scope" or error in CHANNEL_GONE:
                    # An install from before channels:history was asked for, or a channel the post
                    # will report as gone: posting is the only way on.
                    log.warning("cannot read %s's history (%s); posting", sub.channel_id, error)
                    return None
                raise
            for message in page.get("messages", []):
                if _carries(message, sub.id, owed["key"]):
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                return None
        log.warning(
            "%s of %s not in %d pages of history; posting", owed["key"], sub.id, SEARCH_PAGES
        )
        return None


def _carries(message: dict[str, Any], sub_id: str, key: str) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return (
        metadata.get("event_type") == EVENT_TYPE
        and payload.get("subscription_id") == sub_id
        and payload.get("post") == key
    )
