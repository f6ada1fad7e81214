"""The one place exceptions become user messages.

BotError subclasses carry their own sentence; anything else gets a short correlation id in the
message and the full trace in the log, so the user has something to quote and never sees a trace.

Every listener is registered through ``guarded``, which reports its errors itself. Bolt's global
error handler is only the backstop (middleware errors): when a listener fails within Bolt's 10 ms
ack-polling window after acking, Bolt resets the ack and Slack sees a 3 s timeout instead.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncRespond
from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import as_dicts
from bot.blocks.connect import connect_button_blocks
from bot.blocks.forms import done_modal
from bot.changes import current_origin, origin_of
from bot.errors import BotError, NotConnectedError
from handlers.common import actor_of, metadata, tell_user

log = logging.getLogger("ticketbot.errors")


def message_for(error: Exception) -> tuple[str, str | None]:
    """(text for the user, correlation id or None) for any exception."""
    if isinstance(error, BotError):
        return error.user_message(), None
    correlation_id = secrets.token_hex(4)
    return (
        f":x: Something went wrong on our side (error id `{correlation_id}`). Try again; if it "
        "keeps happening, give that id to whoever runs ticketbot.",
        correlation_id,
    )


async def on_error(
    error: Exception, body: dict[str, Any], respond: AsyncRespond | None, client: AsyncWebClient
) -> None:
    """Bolt's global error handler: tell the acting user, ephemerally, in words they can act on."""
    text, correlation_id = message_for(error)
    if correlation_id:
        log.error("unhandled error [%s]", correlation_id, exc_info=error)
    else:
        log.info("user-facing error %s: %s", type(error).__name__, text)
    try:
        view = body.get("view") or {}
        if body.get("type") == "view_submission" and view.get("id"):
            # The modal was acked into a "working…" state: don't leave it spinning. (If it was
            # closed instead, this fails and the message below still reaches the user.)
            with contextlib.suppress(SlackApiError):
                await client.views_update(view_id=view["id"], view=done_modal("Not done", text))
        if respond is not None and _has_response_url(body):
            blocks = (
                connect_button_blocks(text, error.backend)
                if isinstance(error, NotConnectedError)
                else None
            )
            await respond(
                response_type="ephemeral",
                replace_original=False,
                text=text,
                blocks=as_dicts(blocks) if blocks else None,
            )
            return
        user_id = actor_of(body).user_id
        channel_id = metadata(body.get("view") or {}).get("channel_id") or (
            body.get("channel") or {}
        ).get("id")
        blocks = (
            connect_button_blocks(text, error.backend)
            if isinstance(error, NotConnectedError)
            else None
        )
        await tell_user(client, user_id, text, channel_id=channel_id, blocks=blocks)
    except Exception:  # reporting must never raise into Bolt; the log has the original
        log.exception("could not report an error to the user")


def guarded(func: Callable[..., Awaitable[None]]) -> Callable[[AsyncArgs], Awaitable[None]]:
    """Wrap a listener so that any exception it raises is reported to the acting user."""
    names = inspect.getfullargspec(func).args

    async def listener(args: AsyncArgs) -> None:
        kwargs = {name: _injected(args, name) for name in names}
        # Changes made while this listener runs say where they came from (bot.changes).
        current_origin.set(origin_of(args.body))
        try:
            await func(**kwargs)
        except Exception as error:
            if args.ack.response is None:  # failed before acking: ack so Slack shows no timeout
                await args.ack()
            await on_error(error, args.body, args.respond, args.client)

    listener.__name__ = func.__name__
    listener.__qualname__ = func.__qualname__
    return listener


def guarded_options(
    func: Callable[..., Awaitable[None]],
) -> Callable[[AsyncArgs], Awaitable[None]]:
    """Wrap an options listener: on any failure Slack gets an empty list instead of a 500.

    Nobody is told in a message: an options request is a select being opened, and the select
    itself says "no options"; the log keeps the reason.
    """
    names = inspect.getfullargspec(func).args

    async def listener(args: AsyncArgs) -> None:
        try:
            await func(**{name: _injected(args, name) for name in names})
        except Exception as error:
            log.info("options request failed: %s", type(error).__name__)
            if args.ack.response is None:
                await args.ack(options=[])

    listener.__name__ = func.__name__
    listener.__qualname__ = func.__qualname__
    return listener


def _injected(args: AsyncArgs, name: str) -> Any:
    return getattr(args, name) if hasattr(args, name) else args.context.get(name)


def _has_response_url(body: dict[str, Any]) -> bool:
    return bool(body.get("response_url") or body.get("response_urls"))


def register(app: AsyncApp) -> None:
    """Install the global error handler."""
    app.error(on_error)
