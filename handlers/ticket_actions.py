"""Buttons on ticket and list messages, and the small modals they open.

Every change ends by redrawing the message the button was on (through its response_url), so the
channel shows the ticket as it is now.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.backends.base import BaseBackend, Capability
from bot.backends.epixel import MAX_ATTACHMENT_BYTES
from bot.blocks import as_dicts
from bot.blocks.forms import (
    choice_modal,
    comment_modal,
    done_modal,
    loading_modal,
    metadata,
    tags_modal,
)
from bot.blocks.limits import escape
from bot.blocks.tickets import bulk_result_text, tag_names, ticket_blocks, ticket_text
from bot.errors import BotError
from bot.home_publish import publish_home
from bot.ids import Action, Callback
from bot.models import NeutralStatus, TicketRef
from bot.services import Services
from bot.tickets import Actor, backend_for, one_backend, require
from bot.watching import is_watching, watch_store
from handlers.common import actor_of, on_home, send_file_to_dm, tell_user, view_values
from handlers.common import metadata as read_metadata
from handlers.errors import guarded
from handlers.ticket_commands import fetch_ticket, list_page


def _actor(body: dict[str, Any]) -> Actor:
    return actor_of(body)


def _value(body: dict[str, Any]) -> str:
    return body["actions"][0]["value"]


async def _backend(services: Services, body: dict[str, Any], ref: TicketRef) -> BaseBackend:
    return await backend_for(
        services.store, services.backends, _actor(body), ref.backend, services.changes
    )


async def redrawn(
    meta: dict[str, Any],
    backend: BaseBackend,
    ref: TicketRef,
    body: dict,
    services: Services,
    client: AsyncWebClient,
) -> None:
    """After a change made through a form: the message shows the ticket as it is now, or, when
    the form was opened from App Home, Home is published again."""
    if meta.get("home"):
        await publish_home(client, services, actor_of(body))
        return
    await redraw(meta.get("response_url"), backend, ref)


async def redraw(response_url: str | None, backend: BaseBackend, ref: TicketRef) -> None:
    """Replace the ticket message with the ticket as it is now."""
    if not response_url:
        return
    ticket = await backend.get_ticket(ref.id)
    await AsyncWebhookClient(response_url).send(
        replace_original=True,
        text=ticket_text(ticket),
        blocks=as_dicts(ticket_blocks(ticket, backend.capabilities)),
    )


# Message buttons -------------------------------------------------------------------------------


async def show(
    ack: AsyncAck, body: dict, respond: AsyncRespond, client: AsyncWebClient, services: Services
) -> None:
    await ack()
    actor, ref = _actor(body), TicketRef.parse(_value(body))
    ticket, backend = await fetch_ticket(services, actor, ref)
    # Shown to this one reader (ephemeral or their DM), so the Watch button can say what it
    # does for them.
    watching = await is_watching(watch_store(services), actor, ref)
    blocks = ticket_blocks(ticket, backend.capabilities, watching=watching)
    if on_home(body):  # Home has no thread to answer in: the ticket goes to the DM with the bot
        await tell_user(client, actor.user_id, ticket_text(ticket), blocks=blocks)
        return
    await respond(
        response_type="ephemeral",
        replace_original=False,
        text=ticket_text(ticket),
        blocks=as_dicts(blocks),
    )


async def page(ack: AsyncAck, body: dict, respond: AsyncRespond, services: Services) -> None:
    await ack()
    text, blocks = await list_page(services, _actor(body), json.loads(_value(body)))
    await respond(replace_original=True, text=text, blocks=blocks)


async def close_or_reopen(
    ack: AsyncAck, body: dict, respond: AsyncRespond, client: AsyncWebClient, services: Services
) -> None:
    await ack()
    ref = TicketRef.parse(_value(body))
    backend = await _backend(services, body, ref)
    require(backend, Capability.SET_STATUS, "changing status")
    closing = body["actions"][0]["action_id"] == Action.TICKET_CLOSE
    wanted = NeutralStatus.CLOSED if closing else NeutralStatus.OPEN
    status = next(s for s in backend.statuses if s.neutral is wanted and s.value != "new")
    result = await backend.set_status([ref.id], status)
    if result.failed:
        text = bulk_result_text(f"Status set to {status.label}", result, ref.backend)
        if on_home(body):
            await tell_user(client, _actor(body).user_id, text)
        else:
            await respond(response_type="ephemeral", replace_original=False, text=text)
        return
    meta = {"home": on_home(body), "response_url": body.get("response_url")}
    await redrawn(meta, backend, ref, body, services, client)


async def delete_one(ack: AsyncAck, body: dict, respond: AsyncRespond, services: Services) -> None:
    """The Delete button on a ticket (Slack already asked "Delete this ticket?")."""
    await ack()
    ref = TicketRef.parse(_value(body))
    backend = await _backend(services, body, ref)
    require(backend, Capability.DELETE, "deleting tickets")
    result = await backend.delete_tickets([ref.id])
    await respond(replace_original=True, text=bulk_result_text("Deleted", result, ref.backend))


async def confirm_delete(
    ack: AsyncAck, body: dict, respond: AsyncRespond, services: Services
) -> None:
    await ack()
    refs = TicketRef.parse_many(_value(body))
    key = one_backend(refs)
    backend = await backend_for(
        services.store, services.backends, _actor(body), key, services.changes
    )
    require(backend, Capability.DELETE, "deleting tickets")
    result = await backend.delete_tickets([r.id for r in refs])
    await respond(replace_original=True, text=bulk_result_text("Deleted", result, key))


async def cancel_delete(ack: AsyncAck, respond: AsyncRespond) -> None:
    await ack()
    await respond(replace_original=True, text="Nothing was deleted.")


async def cancel(ack: AsyncAck, respond: AsyncRespond) -> None:
    await ack()
    await respond(replace_original=True, text="Cancelled; nothing was changed.")


async def confirm_solve_unfinished(
    ack: AsyncAck, body: dict, respond: AsyncRespond, services: Services
) -> None:
    await ack()
    key = _value(body)
    backend = await backend_for(
        services.store, services.backends, _actor(body), key, services.changes
    )
    require(backend, Capability.SOLVE_UNFINISHED, "solving all unfinished tickets")
    solved = await backend.solve_unfinished()  # type: ignore[attr-defined]
    count = f"{solved} ticket(s)" if solved is not None else "Every unfinished ticket"
    await respond(
        replace_original=True, text=f":white_check_mark: {count} marked solved in {backend.label}."
    )


async def download(
    ack: AsyncAck, body: dict, respond: AsyncRespond, client: AsyncWebClient, services: Services
) -> None:
    """An attachment button: fetch it from the backend and send it to the user in a DM."""
    await ack()
    ref_text, _, attachment_id = _value(body).partition("|")
    ref = TicketRef.parse(ref_text)
    backend = await _backend(services, body, ref)
    require(backend, Capability.DOWNLOAD_ATTACHMENT, "downloading attachments")
    file = await backend.download_attachment(attachment_id)
    name = escape(file.filename)
    await send_file_to_dm(
        client, actor_of(body).user_id, file.content, file.filename, f"{name} from `{ref}`"
    )
    await respond(
        response_type="ephemeral",
        replace_original=False,
        text=f":paperclip: Sent {name} to you in a direct message.",
    )


# Modals opened from buttons --------------------------------------------------------------------


def _modal_metadata(body: dict[str, Any], ref: str) -> str:
    return metadata(
        ref=ref,
        response_url=body.get("response_url"),
        channel_id=(body.get("channel") or {}).get("id"),
        home=on_home(body) or None,
    )


async def open_comment(
    ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services
) -> None:
    await ack()
    ref = TicketRef.parse(_value(body))
    backend = await _backend(services, body, ref)  # local: reads the store, calls no backend
    require(backend, Capability.COMMENT, "comments")
    await client.views_open(
        trigger_id=body["trigger_id"],
        view=comment_modal(
            str(ref),
            with_file=backend.supports(Capability.ATTACH),
            private_metadata=_modal_metadata(body, str(ref)),
        ),
    )


async def open_choice(
    ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services
) -> None:
    await ack()
    ref = TicketRef.parse(_value(body))
    backend = await _backend(services, body, ref)
    kind = "status" if body["actions"][0]["action_id"] == Action.TICKET_STATUS else "priority"
    require(
        backend,
        Capability.SET_STATUS if kind == "status" else Capability.SET_PRIORITY,
        f"changing {kind}",
    )
    choices = backend.statuses if kind == "status" else backend.priorities
    meta = _modal_metadata(body, str(ref))
    opened = await client.views_open(
        trigger_id=body["trigger_id"], view=choice_modal(kind, str(ref), choices, None, meta)
    )
    # Usable at once; the current value is preselected when the ticket arrives.
    try:
        ticket = await backend.get_ticket(ref.id)
    except BotError:
        return  # the form works without it; saving will report any real problem
    current = ticket.status if kind == "status" else ticket.priority
    if current is not None:
        view = opened["view"]
        with contextlib.suppress(SlackApiError):  # e.g. the form was closed meanwhile
            await client.views_update(
                view_id=view["id"],
                hash=view.get("hash"),
                view=choice_modal(kind, str(ref), choices, current.value, meta),
            )


async def open_tags(ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services) -> None:
    """Opens at once in a loading state; the current tags arrive by views.update."""
    await ack()
    ref = TicketRef.parse(_value(body))
    backend = await _backend(services, body, ref)
    require(backend, Capability.TAG, "tags")
    opened = await client.views_open(
        trigger_id=body["trigger_id"],
        view=loading_modal("Tags", "Loading the tags…", Callback.TAGS),
    )
    actor = actor_of(body)
    key = (actor.scope, actor.user_id, ref.backend, "tags")
    services.options.warm(key, backend.tags)
    ticket = await backend.get_ticket(ref.id)
    known = {t.id: t for t in await services.options.get(key, backend.tags, wait=10)}
    current = [known.get(t.id, t) for t in ticket.tags]
    await client.views_update(
        view_id=opened["view"]["id"],
        view=tags_modal(str(ref), current, _modal_metadata(body, str(ref))),
    )


async def submit_comment(
    ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services
) -> None:
    view = body["view"]
    meta, values = read_metadata(view), view_values(view)
    text = (values.get("comment") or "").strip()
    if not text:
        await ack(response_action="errors", errors={"comment": "Write a comment first."})
        return
    files = values.get("attachment") or []
    try:
        for file in files:
            services.files.check_size(file, MAX_ATTACHMENT_BYTES)
    except BotError as exc:
        await ack(response_action="errors", errors={"attachment": exc.user_message()})
        return
    await ack(
        response_action="update",
        view=loading_modal("Comment", "Adding your comment…", Callback.COMMENT),
    )
    ref = TicketRef.parse(meta["ref"])
    backend = await _backend(services, body, ref)  # a store read; its errors go to the user
    try:
        upload = await services.files.download(files[0], MAX_ATTACHMENT_BYTES) if files else None
        await backend.add_comment(ref.id, text, upload)
    except BotError as exc:
        await client.views_update(
            view_id=view["id"],
            view=comment_modal(
                str(ref),
                with_file=backend.supports(Capability.ATTACH),
                private_metadata=view["private_metadata"],
                notice=f":warning: {exc.user_message()}",
                values={"comment": text},
            ),
        )
        return
    await client.views_update(
        view_id=view["id"], view=done_modal("Comment", f"Comment added to `{ref}`.")
    )
    await redrawn(meta, backend, ref, body, services, client)


async def submit_choice(
    ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services
) -> None:
    view = body["view"]
    kind = "status" if view["callback_id"] == Callback.STATUS else "priority"
    meta, chosen = read_metadata(view), view_values(view).get(kind)
    await ack(
        response_action="update", view=loading_modal(f"Set {kind}", "Saving…", view["callback_id"])
    )
    ref = TicketRef.parse(meta["ref"])
    backend = await _backend(services, body, ref)
    if kind == "status":
        choice = backend.resolve_status(chosen or "")
        result = await backend.set_status([ref.id], choice)
    else:
        choice = backend.resolve_priority(chosen or "")
        result = await backend.set_priority([ref.id], choice)
    text = bulk_result_text(f"{kind.capitalize()} set to {choice.label}", result, ref.backend)
    await client.views_update(view_id=view["id"], view=done_modal(f"Set {kind}", text))
    if not result.failed:
        await redrawn(meta, backend, ref, body, services, client)


async def submit_tags(
    ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services
) -> None:
    view = body["view"]
    meta, chosen = read_metadata(view), view_values(view).get("tags") or []
    if not chosen:
        await ack(response_action="errors", errors={"tags": "Epixel needs at least one tag."})
        return
    await ack(response_action="update", view=loading_modal("Tags", "Saving…", Callback.TAGS))
    ref = TicketRef.parse(meta["ref"])
    backend = await _backend(services, body, ref)
    tags = await backend.set_tags(ref.id, chosen)
    await client.views_update(
        view_id=view["id"],
        view=done_modal("Tags", f"Tags of `{ref}`: {tag_names(tags)}."),
    )
    await redrawn(meta, backend, ref, body, services, client)


def register(app: AsyncApp) -> None:
    """Wire ticket buttons and modals onto ``app``."""
    app.action(Action.TICKET_SHOW)(guarded(show))
    app.action({"action_id": _prefix(Action.TICKET_SHOW + ".attachment.")})(guarded(download))
    app.action({"action_id": _prefix(Action.LIST_PAGE + ".")})(guarded(page))
    app.action(Action.TICKET_CLOSE)(guarded(close_or_reopen))
    app.action(Action.TICKET_REOPEN)(guarded(close_or_reopen))
    app.action(Action.TICKET_DELETE)(guarded(delete_one))
    app.action(Action.DELETE_CONFIRM)(guarded(confirm_delete))
    app.action(Action.DELETE_CANCEL)(guarded(cancel_delete))
    app.action(Action.CANCEL)(guarded(cancel))
    app.action(Action.SOLVE_UNFINISHED_CONFIRM)(guarded(confirm_solve_unfinished))
    app.action(Action.TICKET_COMMENT)(guarded(open_comment))
    app.action(Action.TICKET_STATUS)(guarded(open_choice))
    app.action(Action.TICKET_PRIORITY)(guarded(open_choice))
    app.action(Action.TICKET_TAGS)(guarded(open_tags))
    app.view(Callback.COMMENT)(guarded(submit_comment))
    app.view(Callback.STATUS)(guarded(submit_choice))
    app.view(Callback.PRIORITY)(guarded(submit_choice))
    app.view(Callback.TAGS)(guarded(submit_tags))


def _prefix(text: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(text))
