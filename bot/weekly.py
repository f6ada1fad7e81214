"""The weekly insights post: each subscription's last seven days, Monday 09:00 in its
subscriber's time zone (Slack's ``users.info`` ``tz``), once per ISO week.

Run by the poller (bot.alerts) in the same task as the subscription's poll, so only the instance
holding the subscription's lease posts and the two never write the subscription at once. A named
lease ``weekly:<subscription>`` covers the moment a lease passes between instances, and the week
posted is recorded on the subscription right after the message is accepted, so a restart does
not post it again. (A crash between Slack accepting the message and that record would repeat it
once; the chart follows in the thread after the record.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.insights import period
from bot.insights_post import post_insights
from bot.oauth import speaking_for
from bot.services import Services
from bot.subscriptions import Subscription, now

log = logging.getLogger("ticketbot.weekly")

WEEKLY_DAYS = 7
POST_HOUR = 9
TZ_SECONDS = 24 * 3600.0  # how long a subscriber's time zone is trusted before asking again
RETRY_SECONDS = 600.0  # after a failed weekly post, before trying again


def week_key(local: datetime) -> str:
    """The ISO week of ``local``: "2026-W11"."""
    year, week, _ = local.isocalendar()
    return f"{year}-W{week:02d}"


def due_week(sub: Subscription, zone: tzinfo, at: datetime) -> str | None:
    """The ISO week whose post is due for ``sub`` at ``at``, or None: from Monday 09:00 in
    ``zone`` on, unless posted already, turned off, paused, or subscribed after that moment."""
    if not sub.weekly or sub.paused:
        return None
    local = at.astimezone(zone)
    # Wall-clock arithmetic in the zone: 09:00 local also on a daylight-saving Monday.
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=POST_HOUR, minute=0, second=0, microsecond=0
    )
    key = week_key(local)
    if local < monday or sub.weekly_posted == key or sub.created_at > monday:
        return None
    return key


class WeeklyInsights:
    """Posts each subscription's weekly insights when due; ``clock`` is injectable for tests."""

    def __init__(
        self, services: Services, client: AsyncWebClient, clock: Callable[[], datetime] = now
    ) -> None:
        self.services = services
        self.client = client
        self.clock = clock
        self._zones: dict[tuple[str, str], tuple[tzinfo, float]] = {}
        self._retry_at: dict[str, float] = {}

    def may_be_due(self, sub: Subscription) -> bool:
        """A cheap check without I/O: True when a post may be due (or the zone is not known)."""
        if not _wants_weekly(sub) or time.monotonic() < self._retry_at.get(sub.id, 0.0):
            return False
        zone = self._cached_zone(sub)
        return zone is None or due_week(sub, zone, self.clock()) is not None

    def _cached_zone(self, sub: Subscription) -> tzinfo | None:
        found = self._zones.get((sub.team_id, sub.subscriber))
        return found[0] if found and found[1] > time.monotonic() else None

    async def zone(self, sub: Subscription) -> tzinfo:
        """The subscriber's time zone from Slack, cached; UTC when Slack does not say."""
        if (zone := self._cached_zone(sub)) is not None:
            return zone
        try:
            info = await self.client.users_info(user=sub.subscriber)
            zone = ZoneInfo(str((info.get("user") or {}).get("tz") or "UTC"))
        except (SlackApiError, ZoneInfoNotFoundError, ValueError) as exc:
            log.warning("no time zone for %s (%s); using UTC", sub.subscriber, exc)
            zone = ZoneInfo("UTC")
        self._zones[(sub.team_id, sub.subscriber)] = (zone, time.monotonic() + TZ_SECONDS)
        return zone

    async def post_if_due(self, sub_id: str) -> bool:
        """Post the subscription's weekly insights if due; True if this call posted them."""
        sub = await self.services.alerts.get(sub_id)
        if sub is None or not _wants_weekly(sub):
            return False
        async with speaking_for(self.services.installations, sub.team_id, sub.scope):
            if due_week(sub, await self.zone(sub), self.clock()) is None:
                return False
            try:
                return await self._post_leased(sub_id)
            except Exception:
                self._retry_at[sub_id] = time.monotonic() + RETRY_SECONDS
                raise

    async def _post_leased(self, sub_id: str) -> bool:
        work, me, lease = self.services.work, self.services.instance_id, f"weekly:{sub_id}"
        if not await work.claim(lease, me, 300.0):
            return False  # another instance is posting it right now
        try:
            sub = await self.services.alerts.get(sub_id)  # as recorded now, after the lease
            week = sub and due_week(sub, await self.zone(sub), self.clock())
            if sub is None or week is None:
                return False
            await post_insights(
                self.client,
                self.services.alerts,
                sub,
                period(self.clock(), WEEKLY_DAYS, include_today=False),
                lead=f"Weekly detractor insights ({week}).",
                posted=lambda: self._record(sub_id, week),
            )
            return True
        finally:
            await work.release(lease, me)

    async def _record(self, sub_id: str, week: str) -> None:
        sub = await self.services.alerts.get(sub_id)
        if sub is not None:
            sub.weekly_posted = week
            await self.services.alerts.save(sub)


def _wants_weekly(sub: Subscription) -> bool:
    # Insights are about detractors: a ticket-feed subscription has none to report.
    return sub.weekly and sub.source == "detractors"
