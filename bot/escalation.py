"""A subscription's escalation policy, applied to its unclaimed alerts (``/ticket subscribe …
remind:30m notify:@leads escalate:2h #cx-leads hours:09-18 Europe/Amsterdam``).

While an alert is open (nobody claimed or resolved it), a reminder goes into its thread every
``remind`` interval, mentioning the ``notify`` group; once it has been open for ``escalate``, a
copy with the same buttons is posted in the other channel, once (``change_alert`` redraws both).
Outside the working ``hours`` nothing goes out; what fell due meanwhile goes out at the next
opening, once per alert (a reminder is due again only a full interval after the last one). Times
count from the alert's post (its Slack ``ts``). The 75% deadline reminder (``DetractorPoller.
remind_due``) is separate and unchanged.

Run by the poller every tick for the subscriptions this instance holds; ``clock`` is injectable so
tests move time instead of waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk.errors import SlackApiError

from bot.alert_changes import web_url
from bot.blocks import as_dicts
from bot.blocks.alerts import alert_blocks, alert_text
from bot.oauth import speaking_for
from bot.posting import ChannelGoneError, SlackPoster
from bot.services import Services
from bot.subscription_rules import Policy, WorkingHours
from bot.subscriptions import Alert, Subscription, now

log = logging.getLogger("ticketbot.escalation")


def within_hours(hours: WorkingHours | None, at: datetime) -> bool:
    """Whether ``at`` falls in the working hours (always, without any); they may wrap midnight."""
    if hours is None:
        return True
    local = at.astimezone(ZoneInfo(hours.tz)).time()
    if hours.start < hours.end:
        return hours.start <= local < hours.end
    return local >= hours.start or local < hours.end


def posted_at(alert: Alert) -> datetime | None:
    """When the alert's message was posted: Slack's ``ts`` is seconds since the epoch."""
    return datetime.fromtimestamp(float(alert.ts), UTC) if alert.ts else None


def _active(policy: Policy) -> bool:
    return bool(policy.remind_seconds or (policy.escalate_seconds and policy.escalate_to))


class Escalations:
    """Reminders and escalation copies for open alerts whose subscription asks for them."""

    def __init__(
        self, services: Services, poster: SlackPoster, clock: Callable[[], datetime] = now
    ) -> None:
        self.services = services
        self.poster = poster
        self.clock = clock

    async def run_due(self, held: set[str] | None = None) -> None:
        """Send what is due now, for the subscriptions in ``held`` (all when None)."""
        subs = {
            s.id: s
            for s in await self.services.alerts.all()
            if (held is None or s.id in held) and not s.paused and _active(s.policy)
        }
        if not subs:
            return  # the common case costs no ledger read
        at = self.clock()
        for alert in await self.services.alerts.open_alerts():
            sub = subs.get(alert.subscription_id)
            if sub is None or alert.state != "open" or alert.ts is None:
                continue
            if not within_hours(sub.policy.hours, at):
                continue
            async with speaking_for(self.services.installations, sub.team_id, sub.scope):
                try:
                    await self._nudge(sub, alert, at)
                except (SlackApiError, ChannelGoneError) as exc:  # tried again next tick
                    log.warning("escalation for %s failed: %s", sub.id, exc)

    async def _nudge(self, sub: Subscription, alert: Alert, at: datetime) -> None:
        policy, since = sub.policy, posted_at(alert)
        assert since is not None
        if policy.remind_seconds:
            last = alert.nudged_at or since
            if at - last >= timedelta(seconds=policy.remind_seconds):
                await self._remind(sub, alert, at - since)

                def nudged(fresh: Alert) -> bool:
                    fresh.nudged_at = at
                    return True

                fresh = await self._mark(alert, nudged)
                if fresh is None or fresh.state != "open":
                    return  # claimed or resolved while the reminder was posted: no copy
                alert = fresh
        due = policy.escalate_seconds and at - since >= timedelta(seconds=policy.escalate_seconds)
        target = policy.escalate_to
        if due and target is not None and target.id and alert.copy_ts is None:
            await self._copy(sub, alert, target.id)

    async def _mark(self, alert: Alert, change: Callable[[Alert], bool]) -> Alert | None:
        """Set this runner's own fields on the alert as stored now, not on the copy read at the
        start of the tick: a claim made while Slack was posting must stay."""
        return await self.services.alerts.update_alert(
            alert.subscription_id, alert.detractor.ticket_id, change
        )

    async def _remind(self, sub: Subscription, alert: Alert, waited: timedelta) -> None:
        group = sub.policy.notify
        who = f"{group.mention('group')} " if group is not None and group.id else ""
        assert alert.ts is not None
        await self.poster.post(
            alert.channel_id,
            thread_ts=alert.ts,
            text=f":bell: {who}Still unclaimed after {_spell(waited)}: can someone take it? "
            "Press Claim on the alert.",
        )

    async def _copy(self, sub: Subscription, alert: Alert, channel: str) -> None:
        """Post the copy and record it at once (a copy is made once), then say so in the thread."""
        mask = sub.access.pii_masked
        url = await web_url(self.services, sub, alert.detractor.ticket_id)
        waited = _spell(timedelta(seconds=sub.policy.escalate_seconds or 0))
        copy_ts = await self.poster.post(
            channel,
            text=f"Escalated, unclaimed for {waited} in <#{sub.channel_id}>. Detractor: "
            f"{alert_text(alert.detractor, mask)}",
            blocks=as_dicts(alert_blocks(alert, url, mask)),
        )

        def copied(fresh: Alert) -> bool:
            fresh.copy_ts, fresh.copy_channel_id = copy_ts, channel
            return True

        await self._mark(alert, copied)
        assert alert.ts is not None
        await self.poster.post(
            alert.channel_id,
            thread_ts=alert.ts,
            text=f":arrow_double_up: Unclaimed for {waited}: copied to <#{channel}>.",
        )


def _spell(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"
