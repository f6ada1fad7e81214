"""The closed loop: a detractor alert escalated into a ticket stays linked to that ticket.

Each link (``bot.subscriptions.TicketLink``) keeps who escalated it; the link checker reads the
ticket with that person's credentials, never anyone else's, every
``TICKETBOT_LINK_CHECK_INTERVAL`` seconds, one call at a time, and only for the subscriptions
whose lease this instance holds (the poller's loop runs it, ``bot.alerts``). What it sees:

- a new status: the alert is redrawn with it (no thread line);
- the ticket solved/closed there: the alert is resolved, its thread says so and names who closed
  it when that was done through ticketbot (``services.changes`` tells us: ``record_change``
  keeps the last status change made to a linked ticket on its link); otherwise no name;
- that ticket reopened there after it resolved the alert: the alert is open again (claimed, if it
  had a claimer);
- a backend error: the last status stays, one log line when an outage starts, nothing in the
  thread (a flaky backend would otherwise fill it);
- the escalator's credentials gone or refused: one thread line saying whose account is needed;
  checks resume by themselves once that person connects again.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.alert_changes import alert_change, change_alert
from bot.changes import Change
from bot.errors import BackendAuthError, BackendError, BackendPermissionError
from bot.keys import label
from bot.models import NeutralStatus, Ticket
from bot.oauth import speaking_for
from bot.services import Services
from bot.store.interface import AlertStore
from bot.subscriptions import Alert, TicketLink, now
from bot.threads import remember_thread
from bot.tickets import Actor, backend_for

log = logging.getLogger("ticketbot.alert_links")


def new_link(ticket: Ticket, actor: Actor) -> TicketLink:
    """The link an escalation creates: the new ticket, who escalated it, its first status."""
    status = ticket.status
    return TicketLink(
        ref=str(ticket.ref),
        by_scope=actor.scope,
        by_user=actor.user_id,
        status_label=status.label if status else None,
        status=status.neutral if status else None,
        checked_at=now(),
    )


def claim_note(alert: Alert) -> str:
    """What a claim does to the linked tickets, said plainly. None of the three ticket
    backends has an assignee in its documented API (Omnidesk's ticket takes only an
    ``assignedGroupID``, a group, at creation; Epixel's update takes priority and tags, and its
    tickets belong to whoever opened them; ISPCRM's portal only lists a subscriber's tickets),
    so a claim assigns nobody there."""
    return " ".join(
        f"{label(link.backend)} has no assignee field in its API, so `{link.ref}` stays as it is."
        for link in alert.escalated
    )


async def record_change(alerts: AlertStore, change: Change) -> None:
    """A ``services.changes`` listener: keep who last changed a linked ticket's status through
    ticketbot on its link, so the checker can name them when it sees the ticket closed."""
    if change.outcome != "done" or "status" not in change.new or not change.refs:
        return
    refs = set(change.refs)

    def note(alert: Alert) -> bool:
        touched = [link for link in alert.escalated if link.ref in refs]
        for link in touched:
            link.changed_by, link.changed_at = change.actor.user_id, change.at
            link.changed_to = str(change.new["status"])
        return bool(touched)

    for alert in await alerts.open_alerts():
        if any(link.ref in refs for link in alert.escalated):
            await alerts.update_alert(alert.subscription_id, alert.detractor.ticket_id, note)


def _changed_by(link: TicketLink, ticket: Ticket, last_read: datetime | None) -> str | None:
    """Who set the status the ticket now has through ticketbot since it was last read; None
    when it was changed elsewhere (the backend does not say by whom: never guess)."""
    status = ticket.status
    if link.changed_by is None or link.changed_at is None or status is None:
        return None
    if last_read is not None and link.changed_at < last_read:
        return None
    said = (link.changed_to or "").lower()
    return link.changed_by if said in {status.value.lower(), status.label.lower()} else None


def _who(user: str | None) -> str:
    return f" by <@{user}>" if user else ""


def _transition(alert: Alert, link: TicketLink, ticket: Ticket, user: str | None) -> str | None:
    """Apply what the ticket's status means for the alert; the thread line, if any."""
    where, status = label(link.backend), ticket.status
    assert status is not None
    closed = status.neutral == NeutralStatus.CLOSED
    if closed and alert.state != "resolved":
        alert.state, alert.resolved_by, alert.resolved_via = "resolved", user, link.ref
        alert.note = None
        return (
            f":white_check_mark: Closed in {where}{_who(user)}: `{link.ref}` is "
            f"{status.label}, so this alert is resolved."
        )
    if not closed and alert.state == "resolved" and alert.resolved_via == link.ref:
        alert.state = "claimed" if alert.claimed_by else "open"
        alert.resolved_by = alert.resolved_via = None
        return (
            f":arrows_counterclockwise: Reopened in {where}{_who(user)}: `{link.ref}` is "
            f"{status.label}, so this alert is open again."
        )
    return None


class LinkChecker:
    """Reads linked tickets when due and carries what they say onto their alerts."""

    def __init__(self, services: Services, client: AsyncWebClient) -> None:
        self.services = services
        self.client = client
        self._last_pass = -math.inf

    def pass_due(self) -> bool:
        """Whether the poller's loop should run a pass now: every half interval, so each link
        is read between one and one and a half intervals apart, and the ledger is not scanned
        every tick for links that cannot be due yet."""
        if time.monotonic() - self._last_pass < self.services.settings.link_check_interval / 2:
            return False
        self._last_pass = time.monotonic()
        return True

    def due(self, link: TicketLink) -> bool:
        """Whether ``link`` was last read at least one check interval ago."""
        interval = timedelta(seconds=self.services.settings.link_check_interval)
        return link.checked_at is None or now() - link.checked_at >= interval

    async def check_due(self, held: set[str] | None = None) -> None:
        """Check every due link of the alerts of ``held`` subscriptions (all, when None)."""
        for alert in await self.services.alerts.open_alerts():
            if held is not None and alert.subscription_id not in held:
                continue
            for link in alert.watched_links:
                if self.due(link):
                    await self.check(alert.subscription_id, alert.detractor.ticket_id, link.ref)

    async def check(self, sub_id: str, ticket_id: int, ref: str) -> None:
        """Read one linked ticket now and update its alert (tests call this directly)."""
        sub = await self.services.alerts.get(sub_id)
        async with speaking_for(
            self.services.installations, sub.team_id if sub else "", sub and sub.scope
        ):
            await self._check(sub_id, ticket_id, ref)

    async def _check(self, sub_id: str, ticket_id: int, ref: str) -> None:
        alert = await self.services.alerts.alert(sub_id, ticket_id)
        link = alert.link(ref) if alert else None
        if alert is None or link is None or not link.checkable:
            return
        assert link.by_scope is not None and link.by_user is not None
        stamp = await self.services.store.credentials_stamp(
            link.by_scope, link.by_user, link.backend
        )
        if link.stopped and stamp == link.stopped_stamp:
            return  # still the credentials that were gone or refused: nothing to try
        try:
            ticket = await self._read(link) if stamp is not None else None
        except (BackendAuthError, BackendPermissionError):
            await self._stop(alert, link, stamp, f"which {label(link.backend)} now refuses")
            return
        except BackendError as exc:
            await self._failed(alert, link, exc)
            return
        if ticket is None:
            await self._stop(alert, link, None, "which is no longer connected")
            return
        await self._seen(sub_id, ticket_id, ref, ticket)

    async def _read(self, link: TicketLink) -> Ticket:
        assert link.by_scope is not None and link.by_user is not None
        actor = Actor(link.by_scope, link.by_user)
        backend = await backend_for(
            self.services.store, self.services.backends, actor, link.backend
        )
        return await backend.get_ticket(link.ref.partition(":")[2])

    async def _seen(self, sub_id: str, ticket_id: int, ref: str, ticket: Ticket) -> None:
        # Applied to the alert as stored after the backend call: a click may have changed it.
        line, redraw = None, False

        def seen(alert: Alert) -> bool:
            nonlocal line, redraw
            link = alert.link(ref)
            if link is None:
                return False
            last_read, shown = link.checked_at, link.status_label
            link.checked_at, link.failing_since, link.stopped = now(), None, False
            if ticket.status is not None:
                link.status, link.status_label = ticket.status.neutral, ticket.status.label
                line = _transition(alert, link, ticket, _changed_by(link, ticket, last_read))
                redraw = line is not None or shown != link.status_label
            return True

        alert = await self.services.alerts.update_alert(sub_id, ticket_id, seen)
        if alert is not None and redraw:
            await change_alert(self.services, self.client, alert, line)

    async def _failed(self, alert: Alert, link: TicketLink, error: BackendError) -> None:
        def failed(fresh: Alert) -> bool:
            mine = fresh.link(link.ref)
            if mine is None:
                return False
            if mine.failing_since is None:
                mine.failing_since = now()
                log.warning(
                    "could not check %s for alert %s:%s (%s); keeping its last status %s",
                    mine.ref,
                    fresh.subscription_id,
                    fresh.detractor.ticket_id,
                    error.message,
                    mine.status_label,
                )
            mine.checked_at = now()
            return True

        await self._update(alert, failed)

    async def _stop(self, alert: Alert, link: TicketLink, stamp: str | None, how: str) -> None:
        was_stopped = True

        def stop(fresh: Alert) -> bool:
            nonlocal was_stopped
            mine = fresh.link(link.ref)
            if mine is None:
                return False
            was_stopped = mine.stopped
            mine.stopped, mine.stopped_stamp, mine.checked_at = True, stamp, now()
            return True

        await self._update(alert, stop)
        if was_stopped or alert.ts is None:
            return
        where = label(link.backend)
        text = (
            f":warning: I can no longer check `{link.ref}`: it is read with <@{link.by_user}>'s "
            f"{where} account, {how}. <@{link.by_user}>, run "
            f"`/ticket connect {link.backend}` and I will pick it up again."
        )
        try:
            await self.client.chat_postMessage(
                channel=alert.channel_id, thread_ts=alert.ts, text=text
            )
        except SlackApiError as exc:
            log.warning("could not say that %s is unchecked: %s", link.ref, exc.response["error"])

    async def _update(self, alert: Alert, change: Callable[[Alert], bool]) -> None:
        """Only the link's own fields, on the alert as stored now (a click may have landed
        while the backend was read)."""
        await self.services.alerts.update_alert(
            alert.subscription_id, alert.detractor.ticket_id, change
        )


async def escalated(
    services: Services, client: AsyncWebClient, alert_key: str, ticket: Ticket, actor: Actor
) -> None:
    """After an escalation created a ticket: link it to the alert (bot.alert_links) and show its
    ref and status on the alert and in its thread."""
    sub_id, _, ticket_id = alert_key.partition(":")

    def link(alert: Alert) -> bool:
        alert.escalated.append(new_link(ticket, actor))
        return True

    alert = await services.alerts.update_alert(sub_id, int(ticket_id), link)
    if alert is None:
        return
    ref = str(ticket.ref)
    line = f":arrow_up: <@{actor.user_id}> escalated this to `{ref}`."
    await change_alert(services, client, alert, line)
    # The link made: the detractor's ticket and the new one, as one line.
    await services.changes.publish(alert_change(actor, "escalate", alert, ref, ticket=ref))
    sub = await services.alerts.get(sub_id)
    if sub is not None and alert.ts:
        # Replies under the alert now go to the ticket it was escalated into.
        reader = (actor.scope, actor.user_id)  # the ticket was created with their credentials
        await remember_thread(services, sub.team_id, alert.channel_id, alert.ts, ticket.ref, reader)
