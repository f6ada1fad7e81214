"""Show contact on a `pii:masked` alert: the full email and phone, to the clicker alone."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.alert_access import require_contact_viewer
from bot.blocks.alerts import contact_text
from bot.ids import Action
from bot.services import Services
from handlers.alerts import alert_of
from handlers.common import actor_of
from handlers.errors import guarded


async def show_contact(
    ack: AsyncAck, body: dict, respond: AsyncRespond, client: AsyncWebClient, services: Services
) -> None:
    """An ephemeral message with the contact, when the subscription lets the clicker act."""
    await ack()
    alert = await alert_of(services, body)
    sub = await services.alerts.get(alert.subscription_id)
    await require_contact_viewer(services, client, sub, actor_of(body).user_id)
    await respond(
        response_type="ephemeral", replace_original=False, text=contact_text(alert.detractor)
    )


def register(app: AsyncApp) -> None:
    """Wire the Show contact button onto ``app``."""
    app.action(Action.ALERT_CONTACT)(guarded(show_contact))
