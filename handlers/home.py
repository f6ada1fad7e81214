"""App Home: ``app_home_opened`` publishes the person's Home tab; its buttons (and the Watch /
Unwatch buttons of its ticket rows, see ``handlers.watch``) change something and publish it again
so that it stays true.

Each publish is two ``views.publish`` calls: the first at once from the store (and the ticket
rows cached from the last visit), the second once the backends answered. The second carries the
first one's hash, so a newer publish (another click meanwhile) is never overwritten by it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.connect import connect_modal
from bot.blocks.limits import escape
from bot.credentials import check_backend
from bot.errors import UserInputError
from bot.home_publish import publish_home
from bot.ids import Action
from bot.services import Services
from bot.subscription_admin import remove_subscription
from bot.subscriptions import Subscription
from bot.tickets import Actor
from bot.watching import set_watch_created, watch_store
from handlers.common import actor_of, event_actor
from handlers.errors import guarded


async def app_home_opened(
    event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, services: Services
) -> None:
    """The Home tab was opened (Bolt acked the event already); the Messages tab needs nothing."""
    if event.get("tab") != "home":
        return
    await publish_home(client, services, event_actor(body, event))


# Buttons on Home -------------------------------------------------------------------------------


def _value(body: dict[str, Any]) -> str:
    return body["actions"][0]["value"]


async def connect(ack: AsyncAck, body: dict, client: AsyncWebClient) -> None:
    """The connect form of ``/ticket connect <backend>``; Home is redrawn once it is saved."""
    await ack()
    backend = check_backend(_value(body))
    await client.views_open(
        trigger_id=body["trigger_id"], view=connect_modal(backend, None, home=True)
    )


async def disconnect(ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services) -> None:
    """Delete the stored credentials, as ``/ticket disconnect`` does, and redraw Home."""
    await ack()
    backend, actor = check_backend(_value(body)), actor_of(body)
    await services.store.delete_credentials(actor.scope, actor.user_id, backend)
    services.home.forget(actor)  # the cached rows may hold that account's tickets
    await publish_home(client, services, actor)


async def _own_subscription(services: Services, body: dict, actor: Actor) -> Subscription:
    sub = await services.alerts.get(_value(body))
    if sub is None:
        raise UserInputError("That subscription was already removed.")
    if sub.subscriber != actor.user_id:
        raise UserInputError(f"Only <@{sub.subscriber}>, who subscribed, can pause or resume it.")
    return sub


async def _tell_channel(client: AsyncWebClient, sub: Subscription, text: str) -> None:
    # The channel may be gone (that is one reason to pause); the change stands either way.
    with contextlib.suppress(SlackApiError):
        await client.chat_postMessage(channel=sub.channel_id, text=text)


async def pause(ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services) -> None:
    """Stop polling a subscription until Resume (a QuestionPro reconnect does not resume it)."""
    await ack()
    actor = actor_of(body)
    sub = await _own_subscription(services, body, actor)
    sub.pause_by(actor.user_id)
    await services.alerts.save(sub)
    await _tell_channel(
        client,
        sub,
        f":pause_button: <@{actor.user_id}> paused the {sub.feed_name} here "
        f"({escape(sub.describe())}).",
    )
    await publish_home(client, services, actor)


async def resume(ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services) -> None:
    """Poll again at once."""
    await ack()
    actor = actor_of(body)
    sub = await _own_subscription(services, body, actor)
    sub.resume()
    await services.alerts.save(sub)
    await _tell_channel(
        client,
        sub,
        f":arrow_forward: <@{actor.user_id}> resumed the {sub.feed_name} here "
        f"({escape(sub.describe())}).",
    )
    await publish_home(client, services, actor)


async def unsubscribe(
    ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services
) -> None:
    """Remove a subscription (its subscriber or a workspace admin, as everywhere)."""
    await ack()
    sub = await services.alerts.get(_value(body))
    actor = actor_of(body)
    if sub is not None:
        await remove_subscription(client, services, sub, actor)
    await publish_home(client, services, actor)


async def watch_created(
    ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services
) -> None:
    """Turn "watch the tickets I create" on or off, as `/ticket watch created:on|off` does."""
    await ack()
    wanted = _value(body)
    if wanted not in {"on", "off"}:
        raise UserInputError("That button is out of date; open the Home tab again.")
    actor = actor_of(body)
    await set_watch_created(watch_store(services), actor, wanted == "on")
    await publish_home(client, services, actor)


def register(app: AsyncApp) -> None:
    """Wire the Home tab's event and buttons onto ``app``."""
    app.event("app_home_opened")(guarded(app_home_opened))
    app.action(Action.HOME_CONNECT)(guarded(connect))
    app.action(Action.HOME_DISCONNECT)(guarded(disconnect))
    app.action(Action.HOME_PAUSE)(guarded(pause))
    app.action(Action.HOME_RESUME)(guarded(resume))
    app.action(Action.HOME_UNSUBSCRIBE)(guarded(unsubscribe))
    app.action(Action.HOME_WATCH_CREATED)(guarded(watch_created))
