"""Replies in ticket threads (``bot.threads``): the ``message`` event listener that turns a
reply into a comment and marks it, and `/ticket threads` for a channel's default.

Bolt acks an event before its listener runs, so the backend call here never delays the ack.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import as_dicts
from bot.blocks.help import Usage
from bot.blocks.threads import not_sent_blocks, not_sent_text
from bot.services import Services
from bot.text import mentioned_users, slack_markup_to_text
from bot.threads import (
    Outcome,
    ThreadSpot,
    channel_default_text,
    comment_from_reply,
    reply_route,
    set_channel_default,
)
from handlers.common import display_names, event_actor, tell_user
from handlers.errors import guarded, message_for
from handlers.invocation import Invocation, Subcommand

log = logging.getLogger(__name__)

LANDED_REACTION = "white_check_mark"
# A person's message: plain, with files, or also sent to the channel. Every other subtype
# (edits, deletions, bot messages, joins…) is not a reply someone just typed.
_REPLY_SUBTYPES = {None, "file_share", "thread_broadcast"}


def thread_root(body: dict[str, Any], event: dict[str, Any]) -> ThreadSpot | None:
    """The thread a person's reply is in, or None for anything else (a top-level message, a
    bot's message, an edit or deletion)."""
    if event.get("bot_id") or event.get("subtype") not in _REPLY_SUBTYPES:
        return None
    thread_ts, ts = event.get("thread_ts"), event.get("ts")
    if not thread_ts or thread_ts == ts or not event.get("user") or not event.get("channel"):
        return None
    return ThreadSpot(str(body.get("team_id") or ""), event["channel"], thread_ts)


async def thread_reply(
    body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient, services: Services
) -> None:
    """A reply in a ticket's thread becomes a comment, written with the replier's account."""
    root = thread_root(body, event)
    if root is None:
        return
    raw = str(event.get("text") or "")
    names = await display_names(client, mentioned_users(raw), within=1.0)
    route = await reply_route(services, root, slack_markup_to_text(raw, names))
    if route is None:
        return
    try:
        outcome = await comment_from_reply(
            services, event_actor(body, event), route, list(event.get("files") or [])
        )
    except Exception as error:  # the reply must still be handed back, whatever happened
        note, correlation_id = message_for(error)
        log.error("a thread reply failed [%s]", correlation_id, exc_info=error)
        outcome = Outcome(route.ref, False, note)
    await _mark(client, root, event, outcome, route.text)


async def _mark(
    client: AsyncWebClient, root: ThreadSpot, event: dict[str, Any], outcome: Outcome, typed: str
) -> None:
    """A reaction on a reply that landed; else an ephemeral line in the thread that says why,
    with the reply quoted back."""
    user = event["user"]
    if outcome.landed:
        try:
            await client.reactions_add(
                channel=root.channel_id, timestamp=event["ts"], name=LANDED_REACTION
            )
        except SlackApiError as error:
            log.info("could not mark a reply: %s", error.response.get("error"))
        if outcome.note:
            await _tell(client, root, user, f":paperclip: {outcome.note}", None)
        return
    ref = str(outcome.ref)
    blocks = not_sent_blocks(ref, outcome.note, typed, outcome.connect)
    await _tell(client, root, user, not_sent_text(ref, outcome.note), blocks)


async def _tell(
    client: AsyncWebClient, root: ThreadSpot, user: str, text: str, blocks: list | None
) -> None:
    # Ephemeral in the thread; where that fails (the bot left the channel), a DM.
    try:
        await client.chat_postEphemeral(
            channel=root.channel_id,
            user=user,
            thread_ts=root.ts,
            text=text,
            blocks=as_dicts(blocks) if blocks else None,
        )
    except SlackApiError:
        await tell_user(client, user, text, blocks=blocks)


async def _threads(inv: Invocation) -> None:
    channel = inv.body.get("channel_id") or ""
    if inv.args:
        text = await set_channel_default(inv.services, inv.team_id, channel, inv.args[0].lower())
    else:
        threads = inv.services.threads
        slack_only = threads is not None and await threads.slack_only(inv.team_id, channel)
        text = channel_default_text(slack_only)
    await inv.say(text)


SUBCOMMANDS: dict[str, Subcommand] = {
    "threads": Subcommand(
        Usage(
            "/ticket threads [slack-only|comments]",
            "Whether replies in this channel's ticket threads become comments (the default).",
            "/ticket threads slack-only",
        ),
        _threads,
    ),
}


def register(app: AsyncApp) -> None:
    """Wire the thread-reply listener onto ``app``."""
    app.event("message")(guarded(thread_reply))
