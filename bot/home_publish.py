"""Publishing a person's App Home: at once from the store, then again with what the backends
answered (``bot.home`` gathers, ``bot.blocks.home`` draws). Called when Home is opened and after
anything done from Home, so it is always true."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.home import home_view
from bot.home import from_store, my_tickets
from bot.services import Services
from bot.tickets import Actor

log = logging.getLogger(__name__)


async def publish_home(client: AsyncWebClient, services: Services, actor: Actor) -> None:
    """Publish ``actor``'s Home from the store at once, then again with their tickets."""
    data = await from_store(services, actor)
    first = await client.views_publish(
        user_id=actor.user_id, view=home_view(data, refreshing=data.asks_backends)
    )
    if not data.asks_backends:
        return
    data.tickets = await my_tickets(services, actor, data)
    try:
        await client.views_publish(
            user_id=actor.user_id,
            view=home_view(data, refreshing=False),
            hash=(first.get("view") or {}).get("hash"),
        )
    except SlackApiError as exc:
        if exc.response.get("error") != "hash_conflict":
            raise
        log.info("a newer Home was published for %s meanwhile; keeping it", actor.user_id)
