"""`/ticket` and its subcommands: ack at once, parse, call a service, render."""

from __future__ import annotations

import difflib
import functools
import shlex
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import as_dicts
from bot.blocks.connect import accounts_blocks, connect_modal
from bot.blocks.help import Usage, help_blocks, help_text
from bot.blocks.limits import escape
from bot.changes import Change
from bot.credentials import check_backend
from bot.errors import UserInputError
from bot.keys import BACKEND_LABELS
from bot.services import Services
from bot.text import normalise_typed
from handlers import (
    audit,
    create,
    imports,
    insights,
    subscriptions,
    threads,
    ticket_commands,
    watch,
)
from handlers.errors import guarded
from handlers.invocation import Invocation, Subcommand


async def _connect(inv: Invocation) -> None:
    backend = check_backend(inv.args[0]) if inv.args else None
    await inv.client.views_open(
        trigger_id=inv.body["trigger_id"],
        view=connect_modal(backend, inv.body.get("channel_id")),
    )


async def _accounts(inv: Invocation) -> None:
    accounts = await inv.services.store.list_credentials(inv.actor.scope, inv.user_id)
    await inv.respond(
        response_type="ephemeral",
        text=f"{len(accounts)} connected account(s)",
        blocks=as_dicts(accounts_blocks(accounts)),
    )


async def _disconnect(inv: Invocation) -> None:
    if not inv.args:
        raise UserInputError("Say which backend to disconnect, e.g. `/ticket disconnect omnidesk`.")
    backend = check_backend(inv.args[0])
    removed = await inv.services.store.delete_credentials(inv.actor.scope, inv.user_id, backend)
    if removed:
        await inv.services.changes.publish(Change(inv.actor, "disconnect", backend))
    label = BACKEND_LABELS[backend]
    text = (
        f"Disconnected {label}: your stored credentials were deleted."
        if removed
        else f"You had no {label} account connected; nothing to remove."
    )
    await inv.respond(response_type="ephemeral", text=text)


_ACCOUNTS: dict[str, Subcommand] = {
    "connect": Subcommand(
        Usage(
            "/ticket connect [backend]",
            "Connect your account on a backend (opens a form).",
            "/ticket connect omnidesk",
        ),
        _connect,
    ),
    "accounts": Subcommand(
        Usage(
            "/ticket accounts",
            "List the accounts you connected, with Disconnect buttons.",
            "/ticket accounts",
        ),
        _accounts,
    ),
    "disconnect": Subcommand(
        Usage(
            "/ticket disconnect <backend>",
            "Delete your stored credentials for a backend.",
            "/ticket disconnect epixel",
        ),
        _disconnect,
    ),
}
_EVERY = {
    **_ACCOUNTS,
    **ticket_commands.SUBCOMMANDS,
    **create.SUBCOMMANDS,
    **subscriptions.SUBCOMMANDS,
    **insights.SUBCOMMANDS,
    **imports.SUBCOMMANDS,
    **watch.SUBCOMMANDS,
    **audit.SUBCOMMANDS,
    **threads.SUBCOMMANDS,
}
# Help lists them in this order: the everyday ones first.
_ORDER = (
    *("list", "show", "create", "comment", "status", "priority", "tag", "rename", "batch"),
    *("unlink", "delete", "solve-unfinished", "watch", "unwatch", "watching", "quiet"),
    *("subscribe", "subscriptions", "unsubscribe", "threads", "insights"),
    *("import", "audit", "connect", "accounts", "disconnect"),
)
SUBCOMMANDS: dict[str, Subcommand] = {name: _EVERY[name] for name in _ORDER}

HELP = Usage("/ticket help", "Show this list.", "/ticket help")


def usages() -> list[Usage]:
    """Every subcommand as help lists it."""
    return [HELP, *(sub.usage for sub in SUBCOMMANDS.values())]


@functools.cache
def _help_response() -> tuple[str, list[dict]]:
    # Help is static and answered inside the ack, so build (and validate) its blocks only once.
    return help_text(usages()), as_dicts(help_blocks(usages()))


def split_command(text: str) -> tuple[str, list[str]]:
    """``"Connect  omnidesk"`` -> ``("connect", ["omnidesk"])``; quotes group words, also the
    typographic quotes a phone types, and a no-break space separates words like a space."""
    text = normalise_typed(text)
    try:
        words = shlex.split(text)
    except ValueError:  # an unbalanced quote: fall back to plain words rather than fail
        words = text.split()
    if not words:
        return "", []
    return words[0].lower(), words[1:]


def unknown_subcommand(name: str) -> str:
    """One line: what was not understood, the closest match, and where help is."""
    match = difflib.get_close_matches(name, [*SUBCOMMANDS, "help"], n=1, cutoff=0.5)
    hint = f" Did you mean `/ticket {match[0]}`?" if match else ""
    return f"I don't know `/ticket {escape(name)}`.{hint} Try `/ticket help` for the list."


async def handle_ticket(
    ack: AsyncAck,
    body: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    services: Services,
) -> None:
    """The one slash command. Help and typos are answered in the ack itself (no I/O)."""
    name, args = split_command(body.get("text") or "")
    if name in {"", "help"}:
        text, blocks = _help_response()
        await ack(response_type="ephemeral", text=text, blocks=blocks)
        return
    subcommand = SUBCOMMANDS.get(name)
    if subcommand is None:
        await ack(response_type="ephemeral", text=unknown_subcommand(name))
        return
    await ack()
    await subcommand.run(Invocation(body, args, respond, client, services))


def register(app: AsyncApp) -> None:
    """Wire `/ticket` onto ``app``."""
    app.command("/ticket")(guarded(handle_ticket))
