"""Creating tickets: `/ticket create`, the create modal, and the "Create ticket from message"
shortcut. The modal opens at once; the category list loads into a cache in the background so
Slack's options request (answered in its ack, by Slack's design) is served without waiting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.alert_links import escalated
from bot.backends.base import Capability
from bot.backends.forms import FormField, check_values, file_field, new_ticket
from bot.blocks import as_dicts
from bot.blocks.forms import create_modal, done_modal, loading_modal, metadata
from bot.blocks.help import Usage
from bot.blocks.limits import clip
from bot.blocks.tickets import ticket_blocks, ticket_text
from bot.credentials import check_backend
from bot.errors import BackendValidationError, BotError, UserInputError
from bot.ids import Action, Callback
from bot.keys import label
from bot.masking import masked_ticket
from bot.models import NewTicket, Ticket, TicketRef
from bot.services import Services
from bot.text import mentioned_users, slack_markup_to_text
from bot.threads import remember_thread
from bot.tickets import Actor, backend_for, require
from handlers.common import (
    actor_of,
    display_names,
    selected_option,
    tell_user,
    view_values,
)
from handlers.common import metadata as read_metadata
from handlers.errors import guarded, guarded_options
from handlers.invocation import Invocation, Subcommand

# The shortcut's trigger_id expires 3 s after Slack sent it, and the form opens only once: the
# prefilled text cannot be corrected by a later views.update without wiping what the person has
# started typing. So names get one short bounded look-up before the form opens; a name that is
# not back in time stays the user id.
NAMES_WITHIN = 1.0


async def creatable(services: Services, actor: Actor) -> list[str]:
    """The user's connected backends that can create tickets (a store read, no backend call)."""
    connected = await services.store.list_credentials(actor.scope, actor.user_id)
    return [
        k
        for k, creds in connected.items()
        if services.backends.for_credentials(creds).supports(Capability.CREATE)
    ]


async def _warm_categories(services: Services, actor: Actor, backend_key: str | None) -> None:
    """Start loading the category list the form's picker will ask for, if the backend has one."""
    if backend_key is None:
        return
    backend = await backend_for(
        services.store, services.backends, actor, backend_key, services.changes
    )
    if backend.supports(Capability.CATEGORIES):
        services.options.warm(
            (actor.scope, actor.user_id, backend_key, "categories"), backend.categories
        )


async def open_create(
    client: AsyncWebClient,
    services: Services,
    actor: Actor,
    trigger_id: str,
    backend: str | None,
    values: dict[str, Any],
    **context: Any,
) -> None:
    choices = await creatable(services, actor)
    if not choices:
        raise UserInputError(
            "Connect Epixel or Omnidesk first (`/ticket connect epixel`): those "
            "are the backends ticketbot can create tickets in."
        )
    if backend is not None and backend not in choices:
        raise UserInputError(
            f"{label(backend)} is not among your connected accounts that can "
            f"create tickets ({', '.join(map(label, choices))})."
        )
    backend = backend or (choices[0] if len(choices) == 1 else None)
    await client.views_open(
        trigger_id=trigger_id,
        view=create_modal(
            choices,
            backend,
            await _fields(services, actor, backend),
            values=values,
            private_metadata=metadata(backend=backend, values=_carry(values), **context),
        ),
    )
    await _warm_categories(services, actor, backend)


def _carry(values: dict[str, Any]) -> dict[str, Any] | None:
    # A message's text and link travel with the modal so switching backend keeps them.
    kept = {
        k: clip(str(v), 1200) for k, v in values.items() if k in {"subject", "body", "source_link"}
    }
    return kept or None


async def _create(inv: Invocation) -> None:
    backend = check_backend(inv.args[0]) if inv.args else None
    await open_create(
        inv.client,
        inv.services,
        inv.actor,
        inv.body["trigger_id"],
        backend,
        {},
        channel_id=inv.body.get("channel_id"),
    )


SUBCOMMANDS: dict[str, Subcommand] = {
    "create": Subcommand(
        Usage(
            "/ticket create [backend]", "Create a ticket (opens a form).", "/ticket create epixel"
        ),
        _create,
    ),
}


async def from_message(
    ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services
) -> None:
    """Message shortcut: the create form prefilled with the message and a link to it."""
    await ack()
    message, channel = body["message"], body["channel"]["id"]
    raw = message.get("text") or ""
    names = await display_names(client, mentioned_users(raw), within=NAMES_WITHIN)
    text = slack_markup_to_text(raw, names)
    domain = (body.get("team") or {}).get("domain", "app")
    link = f"https://{domain}.slack.com/archives/{channel}/p{message['ts'].replace('.', '')}"
    first_line = next((line for line in text.splitlines() if line.strip()), "Ticket from Slack")
    values = {
        "subject": clip(first_line, 150),
        "body": f"{text}\n\nFrom Slack: {link}",
        "source_link": link,
    }
    await open_create(
        client,
        services,
        actor_of(body),
        body["trigger_id"],
        None,
        values,
        channel_id=channel,
        thread_ts=message.get("thread_ts") or message["ts"],
    )


async def pick_backend(
    ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services
) -> None:
    await ack()
    view, actor = body["view"], actor_of(body)
    meta = read_metadata(view)
    backend = check_backend(body["actions"][0]["selected_option"]["value"])
    meta["backend"] = backend
    values = {**(meta.get("values") or {}), **{k: v for k, v in view_values(view).items() if v}}
    await client.views_update(
        view_id=view["id"],
        hash=view.get("hash"),
        view=create_modal(
            await creatable(services, actor),
            backend,
            await _fields(services, actor, backend),
            values=values,
            private_metadata=metadata(**meta),
        ),
    )
    await _warm_categories(services, actor, backend)


async def _answer_options(
    ack: AsyncAck, body: dict, services: Services, backend_key: str, kind: str
) -> None:
    """Answer Slack's options request from the list loaded when the form opened."""
    actor = actor_of(body)

    async def fetch() -> list[Any]:
        backend = await backend_for(
            services.store, services.backends, actor, backend_key, services.changes
        )
        require(backend, Capability.CATEGORIES if kind == "categories" else Capability.TAG, kind)
        return await (backend.categories() if kind == "categories" else backend.tags())

    try:
        items = await services.options.get(
            (actor.scope, actor.user_id, backend_key, kind), fetch, wait=2.0
        )
    except (BotError, TimeoutError):
        text = f"{label(backend_key)} is not answering; close and try again"
        await ack(options=[{"text": {"type": "plain_text", "text": clip(text, 75)}, "value": "-"}])
        return
    typed = (body.get("value") or "").lower()
    await ack(
        options=[
            {"text": {"type": "plain_text", "text": clip(item.name, 75)}, "value": item.id}
            for item in items
            if typed in item.name.lower()
        ][:100]
    )


async def category_options(ack: AsyncAck, body: dict, services: Services) -> None:
    """The create form's category picker; the backend is the one the form was opened for."""
    backend_key = read_metadata(body.get("view") or {}).get("backend") or ""
    await _answer_options(ack, body, services, backend_key, "categories")


async def tag_options(ack: AsyncAck, body: dict, services: Services) -> None:
    """The tags form's picker; the backend is the ticket's."""
    ref = TicketRef.parse(read_metadata(body.get("view") or {}).get("ref") or "")
    await _answer_options(ack, body, services, ref.backend, "tags")


async def _fields(services: Services, actor: Actor, backend_key: str | None) -> Sequence[FormField]:
    """The create form the backend declares (a store read to find the client, no backend call)."""
    if backend_key is None:
        return ()
    return (
        await backend_for(services.store, services.backends, actor, backend_key, services.changes)
    ).create_form


async def _new_ticket(
    fields: Sequence[FormField], values: dict[str, Any], services: Services
) -> NewTicket:
    spec, files = file_field(fields), []
    if spec is not None:
        files = values.get(spec.name) or []
    upload = await services.files.download(files[0], spec.max_bytes) if spec and files else None
    return new_ticket(fields, values, upload)


async def submit(ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services) -> None:
    """Check locally (inline errors in the ack), then create after the ack."""
    view, actor = body["view"], actor_of(body)
    meta, values = read_metadata(view), view_values(view)
    backend_key = meta.get("backend")
    if backend_key is None:  # the submit button only shows once a backend is picked
        await ack(response_action="errors", errors={})
        return
    fields = await _fields(services, actor, backend_key)
    errors = check_values(fields, values)
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    await ack(
        response_action="update",
        view=loading_modal("Create a ticket", "Creating it…", Callback.CREATE),
    )
    try:
        backend = await backend_for(
            services.store, services.backends, actor, backend_key, services.changes
        )
        ticket = await backend.create_ticket(await _new_ticket(fields, values, services))
    except BotError as exc:
        # A picked option is shown again as it was (value and text), everything else as typed.
        shown = {
            **values,
            **{f.name: selected_option(view, f.name) for f in fields if f.kind == "categories"},
        }
        refused = exc.fields if isinstance(exc, BackendValidationError) else {}
        await client.views_update(
            view_id=view["id"],
            view=create_modal(
                await creatable(services, actor),
                backend_key,
                fields,
                values=shown,
                errors={k: " ".join(v) for k, v in refused.items()},
                notice=f":warning: {exc.user_message()}",
                private_metadata=view["private_metadata"],
            ),
        )
        return
    if not ticket.ref.id:
        # Created, but the backend gave no id and it is not listed yet: success all the same,
        # or a retry makes a duplicate.
        await client.views_update(
            view_id=view["id"],
            view=done_modal(
                "Ticket created",
                f":white_check_mark: Created: {clip(ticket.subject, 200)} "
                f"({ticket.details.get('Note', 'no id returned')}). It will show in "
                f"`/ticket list {backend_key}` shortly; do not create it again.",
            ),
        )
        return
    await client.views_update(
        view_id=view["id"],
        view=done_modal(
            "Ticket created",
            f":white_check_mark: Created {ticket_text(ticket)}",
        ),
    )
    await _announce(services, client, ticket, backend.capabilities, actor, meta)
    if meta.get("alert"):
        await escalated(services, client, meta["alert"], ticket, actor)


async def _announce(
    services: Services,
    client: AsyncWebClient,
    ticket: Ticket,
    capabilities: frozenset[Capability],
    actor: Actor,
    meta: dict[str, Any],
) -> None:
    """The new ticket where the command was typed (or in the message's thread), with buttons;
    replies in its thread (or that thread) then go to the ticket (bot.threads). Masked when it
    escalates an alert of a `pii:masked` subscription (``masked`` in the form's metadata)."""
    channel, thread = meta.get("channel_id"), meta.get("thread_ts")
    if meta.get("masked"):
        ticket = masked_ticket(ticket)
    text = f"<@{actor.user_id}> created {ticket_text(ticket)}"
    blocks = as_dicts(ticket_blocks(ticket, capabilities))
    if channel:
        try:
            posted = await client.chat_postMessage(
                channel=channel, thread_ts=thread, text=text, blocks=blocks
            )
            team = actor.teams[0] if actor.teams else actor.scope
            reader = (actor.scope, actor.user_id)
            root = thread or posted["ts"]
            await remember_thread(services, team, channel, root, ticket.ref, reader)
            return
        except SlackApiError:
            pass  # the bot is not in that channel: tell the creator instead
    await tell_user(client, actor.user_id, text, channel_id=channel, blocks=None)


def register(app: AsyncApp) -> None:
    """Wire the create modal, its options and the message shortcut onto ``app``."""
    app.action(Action.CREATE_PICK_BACKEND)(guarded(pick_backend))
    app.options(Action.CATEGORY_OPTIONS)(guarded_options(category_options))
    app.options(Action.TAG_OPTIONS)(guarded_options(tag_options))
    app.view(Callback.CREATE)(guarded(submit))
    app.shortcut(Callback.CREATE_FROM_MESSAGE)(guarded(from_message))
