"""The connect modal (pick backend, submit, live check) and the Disconnect button."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import as_dicts
from bot.blocks.connect import (
    accounts_blocks,
    connect_modal,
    connect_progress_modal,
    connected_text,
    refused_connect_modal,
)
from bot.blocks.limits import escape
from bot.changes import Change, outcome_of
from bot.credentials import CONNECT_FIELDS, CredentialInputError, check_backend, parse_credentials
from bot.errors import BackendAuthError, BotError
from bot.home_publish import publish_home
from bot.ids import Action, Callback
from bot.keys import BACKEND_LABELS
from bot.services import Services
from handlers.common import actor_of, metadata, tell_user, view_values
from handlers.errors import guarded

log = logging.getLogger(__name__)


async def pick_backend(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    """Swap the modal's fields for the chosen backend, keeping anything already typed."""
    await ack()
    view = body["view"]
    backend = check_backend(body["actions"][0]["selected_option"]["value"])
    await client.views_update(
        view_id=view["id"],
        hash=view.get("hash"),
        view=connect_modal(
            backend,
            metadata(view).get("channel_id"),
            values=view_values(view),
            home=bool(metadata(view).get("home")),
        ),
    )


async def open_connect(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    """The Connect button on a "not connected" message."""
    await ack()
    backend = check_backend(body["actions"][0]["value"])
    channel_id = (body.get("channel") or {}).get("id")
    await client.views_open(trigger_id=body["trigger_id"], view=connect_modal(backend, channel_id))


async def submit_connect(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, services: Services
) -> None:
    """Validate locally (inline errors in the ack), then check with the backend after the ack."""
    view = body["view"]
    meta = metadata(view)
    backend, channel_id = check_backend(meta.get("backend") or ""), meta.get("channel_id")
    # Only this backend's fields: the state also holds the backend picker (an actions block).
    values = view_values(view, [spec.name for spec in CONNECT_FIELDS[backend]])
    try:
        creds = parse_credentials(backend, values, policy=services.backends.guard.policy)
    except CredentialInputError as exc:
        await ack(response_action="errors", errors=exc.fields)
        return
    label = BACKEND_LABELS[backend]
    await ack(
        response_action="update",
        view=connect_progress_modal(
            backend, f":hourglass_flowing_sand: Checking your {label} credentials…"
        ),
    )
    actor = actor_of(body)
    try:
        await services.verifier.verify(creds)
        await services.store.save_credentials(actor.scope, actor.user_id, creds)
    except BotError as exc:
        # Back to the form with the backend's own words; secrets cleared (see the README).
        log.info("connect %s refused: %s", backend, type(exc).__name__)
        outcome, detail = outcome_of(exc)
        await services.changes.publish(
            Change(actor, "connect", backend, outcome=outcome, detail=detail)
        )
        field = getattr(exc, "field", None)  # a refusal about one field is shown on that field
        await client.views_update(
            view_id=view["id"],
            view=refused_connect_modal(
                backend,
                channel_id,
                values,
                None if field else f":warning: {connect_failure_text(exc)}",
                {field: str(exc)} if field else None,
                home=bool(meta.get("home")),
            ),
        )
        return
    await services.changes.publish(Change(actor, "connect", backend))
    text = connected_text(creds)
    await client.views_update(view_id=view["id"], view=connect_progress_modal(backend, text))
    if meta.get("home"):  # opened from App Home: show it connected there, no extra message
        await publish_home(client, services, actor)
        return
    await tell_user(client, actor.user_id, text, channel_id=channel_id)


def connect_failure_text(error: BotError) -> str:
    """Why the live check failed, worded for the form the user is looking at."""
    if isinstance(error, BackendAuthError):
        return (
            f"{error.label} refused these credentials ({escape(error.message)}). "
            "Check them and submit again."
        )
    return error.user_message()


async def disconnect(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, services: Services
) -> None:
    """Disconnect button on the accounts list: delete, then redraw the list in place."""
    await ack()
    backend = check_backend(body["actions"][0]["value"])
    actor = actor_of(body)
    if await services.store.delete_credentials(actor.scope, actor.user_id, backend):
        await services.changes.publish(Change(actor, "disconnect", backend))
    remaining = await services.store.list_credentials(actor.scope, actor.user_id)
    await respond(
        replace_original=True,
        text=f"Disconnected {BACKEND_LABELS[backend]}.",
        blocks=as_dicts(accounts_blocks(remaining)),
    )


def register(app: AsyncApp) -> None:
    """Wire the connect modal's listeners onto ``app``."""
    app.action(Action.CONNECT_PICK_BACKEND)(guarded(pick_backend))
    app.action(Action.CONNECT_OPEN)(guarded(open_connect))
    app.action(Action.DISCONNECT)(guarded(disconnect))
    app.view(Callback.CONNECT)(guarded(submit_connect))
