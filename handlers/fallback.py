"""What a click, submission or options request that no listener knows gets: a 200 and a hint.

A button from an older version of the bot, or a message left over from before a restart, still
reaches us. Bolt answers such a request with HTTP 404, which Slack shows the user as a failure;
these catch-all listeners are registered after every other one, so they only see what nothing
else matched.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.common import actor_of, tell_user
from handlers.errors import guarded

log = logging.getLogger(__name__)

STALE = "This button is from an older message; run the command again."
_ANY = re.compile(".*")


async def stale_interaction(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
) -> None:
    """An action, view submission or shortcut nothing handles: ack, then say so in one line."""
    await ack()
    log.info("no listener for %s; told the user it is stale", body.get("type"))
    if body.get("response_url"):
        await respond(response_type="ephemeral", replace_original=False, text=STALE)
        return
    user_id = actor_of(body).user_id
    channel_id = (body.get("container") or {}).get("channel_id")
    await tell_user(client, user_id, STALE, channel_id=channel_id)


async def stale_options(ack: AsyncAck) -> None:
    """An options request for a select nothing serves: no options, rather than an error."""
    await ack(options=[])


async def closed_view(ack: AsyncAck) -> None:
    """A modal closed with notify_on_close: nothing to do but ack."""
    await ack()


def register(app: AsyncApp) -> None:
    """Register the catch-alls; call this after every other ``register``."""
    app.action(_ANY)(guarded(stale_interaction))
    app.view({"type": "view_closed", "callback_id": _ANY})(guarded(closed_view))
    app.view(_ANY)(guarded(stale_interaction))
    app.shortcut(_ANY)(guarded(stale_interaction))
    app.options(_ANY)(stale_options)
