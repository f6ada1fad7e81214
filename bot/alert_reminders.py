"""Deadline reminders: once per alert, when 75% of its response time has passed unresolved.

An unclaimed alert gets a line in its thread asking someone to take it. A claimed one gets a line
in its thread and a direct message to its claimer, who may not be watching the channel. Either
way once: the alert is marked reminded, and a claim after the reminder does not remind again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.alerts import slack_date
from bot.oauth import speaking_for
from bot.posting import SlackPoster
from bot.services import Services
from bot.subscriptions import Alert, now

log = logging.getLogger("ticketbot.alerts")

REMIND_AT = 0.75  # of the response time limit


def reminder_due(alert: Alert) -> bool:
    """Whether ``alert`` is unresolved, posted, not yet reminded and past 75% of its time."""
    d = alert.detractor
    due_at = d.created_at + timedelta(hours=d.timelimit_hours * REMIND_AT)
    waiting = alert.state in {"open", "claimed"} and not alert.reminded
    return waiting and alert.ts is not None and now() >= due_at


async def remind_due(
    services: Services,
    poster: SlackPoster,
    client: AsyncWebClient,
    held: set[str] | None = None,
) -> None:
    """Remind every alert that is due (only those of the subscriptions in ``held``, the leased
    ones, when given)."""
    for alert in await services.alerts.open_alerts():
        if held is not None and alert.subscription_id not in held:
            continue
        if not reminder_due(alert):
            continue
        sub = await services.alerts.get(alert.subscription_id)
        async with speaking_for(
            services.installations, sub.team_id if sub else "", sub and sub.scope
        ):
            await _remind(poster, client, alert)
        # Only this flag, on the alert as stored now: a claim made while posting must stay.
        await services.alerts.update_alert(
            alert.subscription_id, alert.detractor.ticket_id, _mark_reminded
        )


def _mark_reminded(alert: Alert) -> bool:
    alert.reminded = True
    return True


async def _remind(poster: SlackPoster, client: AsyncWebClient, alert: Alert) -> None:
    passed = ":alarm_clock: 75% of the response time has passed"
    by = f"Respond by {slack_date(alert.detractor.deadline)}."
    if alert.claimed_by is None:
        text = f"{passed} and nobody has claimed this. {by}"
        await poster.post(alert.channel_id, thread_ts=alert.ts, text=text)
        return
    claimer = alert.claimed_by
    text = f"{passed} and this is still unresolved. <@{claimer}>: {by}"
    await poster.post(alert.channel_id, thread_ts=alert.ts, text=text)
    d = alert.detractor
    dm = (
        f":alarm_clock: The detractor alert you claimed in <#{alert.channel_id}> (QuestionPro "
        f"ticket {d.ticket_id}) is at 75% of its response time and still unresolved. {by}"
    )
    try:
        await client.chat_postMessage(channel=claimer, text=dm)
    except SlackApiError as exc:  # the thread line stands; a DM refused is not worth a retry
        log.warning("could not remind %s by DM: %s", claimer, exc.response.get("error"))
