"""Changing an alert that is already posted: a click (Claim, Escalate, Resolve) records the new
state, redraws the alert for everyone and says who did what in its thread.

Apart from the poller (bot.alerts), which only posts new alerts: the handlers call this, and so
does the link checker (bot.alert_links) when a linked ticket changes.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.backends.questionpro import ticket_web_url
from bot.blocks import as_dicts
from bot.blocks.alerts import alert_blocks, alert_text
from bot.changes import Change
from bot.credentials import QuestionProCredentials
from bot.services import Services
from bot.subscriptions import Alert, Subscription
from bot.tickets import Actor


async def web_url(services: Services, sub: Subscription | None, ticket_id: int) -> str:
    """The "Open in QuestionPro" link, for the subscriber's datacenter."""
    creds = None
    if sub is not None:
        creds = await services.store.load_credentials(
            sub.owner_scope, sub.subscriber, "questionpro"
        )
    if not isinstance(creds, QuestionProCredentials):
        creds = QuestionProCredentials(api_key="unknown-key")
    return ticket_web_url(creds, ticket_id)


async def change_alert(
    services: Services, client: AsyncWebClient, alert: Alert, thread_line: str | None
) -> None:
    """Redraw ``alert``, as ``AlertStore.update_alert`` just saved it, for everyone, and say who
    did what in its thread (a change that needs no words, such as a linked ticket's new status,
    passes None)."""
    if alert.ts is None:
        return
    sub = await services.alerts.get(alert.subscription_id)
    url = await web_url(services, sub, alert.detractor.ticket_id)
    mask = sub is not None and sub.access.pii_masked
    for channel, ts in alert.messages():  # the alert and its escalation copy, if any
        await client.chat_update(
            channel=channel,
            ts=ts,
            text=f"Detractor: {alert_text(alert.detractor, mask)}",
            blocks=as_dicts(alert_blocks(alert, url, mask)),
        )
    if thread_line is not None:
        await client.chat_postMessage(
            channel=alert.channel_id, thread_ts=alert.ts, text=thread_line
        )


def alert_change(actor: Actor, kind: str, alert: Alert, *refs: str, **new: Any) -> Change:
    """A claim, resolve or escalation of ``alert`` as the audit trail records it."""
    ticket = f"questionpro:{alert.detractor.ticket_id}"
    key = f"{alert.subscription_id}:{alert.detractor.ticket_id}"
    return Change(
        actor,
        kind,
        "questionpro",
        refs=(ticket, *refs),
        new={"alert": key, "channel": alert.channel_id, **new},
    )
