"""`/ticket watch|unwatch|watching|quiet` and the Watch/Unwatch buttons: ack, parse, call
``bot.watching``, render with ``bot.blocks.watching``. Every answer goes to the one person who
typed or clicked."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import as_dicts
from bot.blocks.help import Usage
from bot.blocks.limits import escape
from bot.blocks.watching import (
    quiet_text,
    unwatched_text,
    watch_answer_blocks,
    watch_created_text,
    watching_blocks,
    watching_text,
)
from bot.errors import UserInputError
from bot.home_publish import publish_home
from bot.ids import Action
from bot.models import TicketRef
from bot.services import Services
from bot.tickets import Actor
from bot.watching import (
    parse_quiet,
    set_quiet,
    set_watch_created,
    unwatch_ticket,
    watch_store,
    watch_ticket,
    watched,
)
from handlers.common import actor_of, on_home
from handlers.errors import guarded
from handlers.invocation import Invocation, Subcommand

log = logging.getLogger(__name__)

_CREATED = re.compile(r"^created:(on|off)$", re.IGNORECASE)


# Commands ------------------------------------------------------------------------------------


async def _watch(inv: Invocation) -> None:
    if not inv.args:
        raise UserInputError(
            "Say which ticket: `/ticket watch omnidesk:123`, or `/ticket watch created:off` to "
            "stop watching the tickets you create."
        )
    created = _CREATED.match(inv.args[0])
    if created:
        on = created.group(1).lower() == "on"
        await set_watch_created(watch_store(inv.services), inv.actor, on)
        await inv.say(watch_created_text(on))
        return
    ref = TicketRef.parse(inv.args[0])
    ticket, new = await watch_ticket(inv.services, inv.actor, ref)
    text = watching_text(ticket, new)
    await inv.say(text, as_dicts(watch_answer_blocks(text, str(ref), watching=True)))


async def _unwatch(inv: Invocation) -> None:
    if not inv.args:
        raise UserInputError("Say which ticket: `/ticket unwatch omnidesk:123`.")
    ref = TicketRef.parse(inv.args[0])
    was = await unwatch_ticket(watch_store(inv.services), inv.actor, ref)
    text = unwatched_text(str(ref), was)
    await inv.say(
        text, as_dicts(watch_answer_blocks(text, str(ref), watching=False)) if was else None
    )


async def _watching_page(services: Services, actor: Actor, offset: int) -> tuple[str, list]:
    items = await watched(watch_store(services), services.store, actor)
    offset = min(max(0, offset), max(0, len(items) - 1))
    return f"You watch {len(items)} ticket(s)", as_dicts(watching_blocks(items, offset))


async def _watching(inv: Invocation) -> None:
    text, blocks = await _watching_page(inv.services, inv.actor, 0)
    await inv.say(text, blocks)


async def _slack_tz(client: AsyncWebClient, user_id: str) -> str | None:
    """The person's time zone as Slack knows it (users.info ``tz``), or None if Slack won't say."""
    try:
        answer = await client.users_info(user=user_id)
    except SlackApiError as exc:
        log.info("users.info for quiet hours failed: %s", exc.response.get("error"))
        return None
    tz = (answer.get("user") or {}).get("tz")
    return tz if isinstance(tz, str) and tz else None


async def _quiet(inv: Invocation) -> None:
    watches = watch_store(inv.services)
    words = " ".join(inv.args).strip()
    if not words:
        await inv.say(quiet_text(await watches.prefs(inv.actor.scope, inv.user_id)))
        return
    quiet = None if words.lower() in {"off", "none"} else parse_quiet(words)  # checked first
    tz = await _slack_tz(inv.client, inv.user_id)
    await inv.say(quiet_text(await set_quiet(watches, inv.actor, quiet, tz)))


SUBCOMMANDS: dict[str, Subcommand] = {
    "watch": Subcommand(
        Usage(
            "/ticket watch <ref> | created:on|off",
            "Watch a ticket you can read (any backend); created:off stops watching the tickets "
            "you create through ticketbot.",
            "/ticket watch omnidesk:123",
        ),
        _watch,
    ),
    "unwatch": Subcommand(
        Usage("/ticket unwatch <ref>", "Stop watching a ticket.", "/ticket unwatch omnidesk:123"),
        _unwatch,
    ),
    "watching": Subcommand(
        Usage(
            "/ticket watching",
            "The tickets you watch, as ticketbot last saw them, with Open and Unwatch.",
            "/ticket watching",
        ),
        _watching,
    ),
    "quiet": Subcommand(
        Usage(
            "/ticket quiet <HH:MM-HH:MM> | off",
            "Quiet hours for watch updates, in your Slack time zone.",
            "/ticket quiet 19:00-08:00",
        ),
        _quiet,
    ),
}


# Buttons -------------------------------------------------------------------------------------


def _clicked(body: dict[str, Any]) -> str:
    return body["actions"][0]["value"]


async def _answer(respond: AsyncRespond, text: str, ref: str, watching: bool) -> None:
    # A new ephemeral message: the ticket message may be in a channel, seen by everyone.
    await respond(
        response_type="ephemeral",
        replace_original=False,
        text=text,
        blocks=as_dicts(watch_answer_blocks(text, ref, watching)),
    )


async def watch_clicked(
    ack: AsyncAck, body: dict, respond: AsyncRespond, client: AsyncWebClient, services: Services
) -> None:
    """Watch: read the ticket as the clicker, watch it, tell them alone (on App Home, which is
    theirs alone: publish it again, its button now Unwatch)."""
    await ack()
    ref, actor = TicketRef.parse(_clicked(body)), actor_of(body)
    ticket, new = await watch_ticket(services, actor, ref)
    if on_home(body):
        await publish_home(client, services, actor)
        return
    await _answer(respond, watching_text(ticket, new), str(ref), watching=True)


async def unwatch_clicked(
    ack: AsyncAck, body: dict, respond: AsyncRespond, client: AsyncWebClient, services: Services
) -> None:
    """Unwatch: stop (no backend call), tell the clicker alone, or publish their Home again."""
    await ack()
    ref, actor = TicketRef.parse(_clicked(body)), actor_of(body)
    was = await unwatch_ticket(watch_store(services), actor, ref)
    if on_home(body):
        await publish_home(client, services, actor)
        return
    await _answer(respond, unwatched_text(str(ref), was), str(ref), watching=False)


async def unwatch_listed(
    ack: AsyncAck, body: dict, respond: AsyncRespond, services: Services
) -> None:
    """Unwatch on a `/ticket watching` row: stop, then redraw that page of the list."""
    await ack()
    try:
        value = json.loads(_clicked(body))
        ref, offset = TicketRef.parse(str(value["r"])), int(value["o"])
    except (ValueError, KeyError, TypeError):
        raise UserInputError("That button is out of date; run `/ticket watching` again.") from None
    actor = actor_of(body)
    await unwatch_ticket(watch_store(services), actor, ref)
    text, blocks = await _watching_page(services, actor, offset)
    await respond(
        replace_original=True,
        text=f"No longer watching `{escape(str(ref))}`. {text}",
        blocks=blocks,
    )


async def page(ack: AsyncAck, body: dict, respond: AsyncRespond, services: Services) -> None:
    """Next/Previous on `/ticket watching`."""
    await ack()
    try:
        offset = int(_clicked(body))
    except ValueError:
        raise UserInputError("That button is out of date; run `/ticket watching` again.") from None
    text, blocks = await _watching_page(services, actor_of(body), offset)
    await respond(replace_original=True, text=text, blocks=blocks)


def register(app: AsyncApp) -> None:
    """Wire the Watch/Unwatch buttons and the `/ticket watching` buttons onto ``app``."""
    app.action(Action.TICKET_WATCH)(guarded(watch_clicked))
    app.action(Action.TICKET_UNWATCH)(guarded(unwatch_clicked))
    app.action(Action.WATCHING_UNWATCH)(guarded(unwatch_listed))
    app.action({"action_id": re.compile("^" + re.escape(Action.WATCHING_PAGE + "."))})(
        guarded(page)
    )
