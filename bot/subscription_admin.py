"""Removing a channel subscription, wherever it is asked for (`/ticket unsubscribe`, the
Unsubscribe button, App Home): who may, the audit line, and the word in the channel."""

from __future__ import annotations

import contextlib
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.limits import escape
from bot.changes import Change
from bot.errors import UserInputError
from bot.services import Services
from bot.subscriptions import Subscription
from bot.tickets import Actor


def described(sub: Subscription) -> dict[str, Any]:
    """What an audit line says of a subscription: where, and what it fetches."""
    return {"channel": sub.channel_id, "subscription": sub.describe()}


async def may_remove(client: AsyncWebClient, sub: Subscription, user_id: str) -> None:
    """Raise a UserInputError unless ``user_id`` subscribed ``sub`` or is a workspace admin or
    owner (Slack's ``users.info``)."""
    if user_id == sub.subscriber:
        return
    info = await client.users_info(user=user_id)
    user = info.get("user") or {}
    if not (user.get("is_admin") or user.get("is_owner")):
        raise UserInputError(
            f"Only <@{sub.subscriber}> (who subscribed) or a workspace admin can "
            "remove this subscription."
        )


async def remove_subscription(
    client: AsyncWebClient, services: Services, sub: Subscription, actor: Actor
) -> None:
    """Remove ``sub`` for ``actor`` (its subscriber or an admin), record it in the change feed
    and say so in its channel (when that still exists)."""
    user_id = actor.user_id
    await may_remove(client, sub, user_id)
    await services.alerts.delete(sub)
    await services.changes.publish(Change(actor, "unsubscribe", sub.backend, new=described(sub)))
    # The channel may be gone; the subscription is removed either way.
    with contextlib.suppress(SlackApiError):
        await client.chat_postMessage(
            channel=sub.channel_id,
            text=f"<@{user_id}> unsubscribed this channel from {sub.feed_name} "
            f"({escape(sub.describe())}).",
        )
