"""`/ticket list|show|comment|status|priority|tag|delete`: parse, call bot.tickets, render."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.backends.base import BaseBackend, Capability
from bot.blocks import as_dicts
from bot.blocks.help import Usage
from bot.blocks.limits import escape
from bot.blocks.tickets import (
    PAGE_SIZE,
    bulk_result_text,
    confirm_blocks,
    confirm_delete_blocks,
    list_blocks,
    tag_names,
    ticket_blocks,
    ticket_text,
)
from bot.credentials import check_backend
from bot.errors import BackendNotFound, UserInputError
from bot.ids import Action
from bot.models import Ticket, TicketQuery, TicketRef
from bot.services import Services
from bot.tickets import Actor, backend_for, list_tickets, one_backend, require
from bot.watching import is_watching, watch_store
from handlers.invocation import Invocation, Subcommand


def parse_list_args(args: list[str]) -> dict[str, Any]:
    """``[backend] [status:<s>] [q:<text>] [mine]`` into the state the paging buttons carry."""
    state: dict[str, Any] = {"b": None, "s": None, "q": None, "m": False, "o": 0}
    for word in args:
        key, sep, value = word.partition(":")
        if sep and key.lower() == "status" and value:
            state["s"] = value
        elif sep and key.lower() == "q" and value:
            state["q"] = value
        elif word.lower() == "mine":
            state["m"] = True
        elif not sep and state["b"] is None:
            state["b"] = check_backend(word)
        else:
            raise UserInputError(
                f"I don't understand `{escape(word)}`. Use `/ticket list [backend] [status:<s>] "
                '[q:<text>] [mine]`, e.g. `/ticket list omnidesk status:open q:"late delivery"`.'
            )
    return state


async def list_page(services: Services, actor: Actor, state: dict[str, Any]) -> tuple[str, list]:
    """(fallback text, blocks) of one page of `/ticket list`."""
    query = TicketQuery(
        status=state.get("s"), text=state.get("q"), offset=int(state.get("o") or 0), limit=PAGE_SIZE
    )
    listing = await list_tickets(
        services.store,
        services.backends,
        actor,
        only=state.get("b"),
        query=query,
        mine=bool(state.get("m")),
        per_backend_seconds=services.settings.list_timeout,
    )
    blocks = list_blocks(listing.tickets, listing.warnings, state=state, has_more=listing.has_more)
    return f"{len(listing.tickets)} ticket(s)", as_dicts(blocks)


async def fetch_ticket(
    services: Services, actor: Actor, ref: TicketRef
) -> tuple[Ticket, BaseBackend]:
    """The ticket and the client that fetched it, as the acting user."""
    backend = await backend_for(
        services.store, services.backends, actor, ref.backend, services.changes
    )
    require(backend, Capability.SHOW, "showing a single ticket")
    return await backend.get_ticket(ref.id), backend


def _ref_arg(inv: Invocation, usage: str) -> str:
    if not inv.args:
        raise UserInputError(f"Say which ticket: `{usage}`.")
    return inv.args[0]


async def _list(inv: Invocation) -> None:
    text, blocks = await list_page(inv.services, inv.actor, parse_list_args(inv.args))
    await inv.say(text, blocks)


async def _show(inv: Invocation) -> None:
    ref = TicketRef.parse(_ref_arg(inv, "/ticket show omnidesk:1234"))
    ticket, backend = await fetch_ticket(inv.services, inv.actor, ref)
    # Ephemeral, so the Watch button can say what it does for this one reader.
    watching = await is_watching(watch_store(inv.services), inv.actor, ref)
    blocks = ticket_blocks(ticket, backend.capabilities, watching=watching)
    await inv.say(ticket_text(ticket), as_dicts(blocks))


async def _comment(inv: Invocation) -> None:
    ref = TicketRef.parse(_ref_arg(inv, "/ticket comment epixel:12 Thanks, we are on it"))
    text = " ".join(inv.args[1:]).strip()
    if not text:
        raise UserInputError(f"Add the comment after the ticket: `/ticket comment {ref} <text>`.")
    backend = await backend_for(
        inv.services.store, inv.services.backends, inv.actor, ref.backend, inv.services.changes
    )
    require(backend, Capability.COMMENT, "comments")
    await backend.add_comment(ref.id, text)
    await inv.say(f":speech_balloon: Comment added to `{ref}`.")


async def _set(inv: Invocation, kind: str) -> None:
    usage = f"/ticket {kind} omnidesk:1,2,3 {'solved' if kind == 'status' else 'high'}"
    refs = TicketRef.parse_many(_ref_arg(inv, usage))
    if len(inv.args) < 2:
        raise UserInputError(f"Say the new {kind}: `{usage}`.")
    key = one_backend(refs)
    backend = await backend_for(
        inv.services.store, inv.services.backends, inv.actor, key, inv.services.changes
    )
    ids = [r.id for r in refs]
    if kind == "status":
        require(backend, Capability.SET_STATUS, "changing status")
        status = backend.resolve_status(" ".join(inv.args[1:]))
        result = await backend.set_status(ids, status)
        verb = f"Status set to {status.label}"
    else:
        require(backend, Capability.SET_PRIORITY, "changing priority")
        priority = backend.resolve_priority(" ".join(inv.args[1:]))
        result = await backend.set_priority(ids, priority)
        verb = f"Priority set to {priority.label}"
    await inv.say(bulk_result_text(verb, result, key))


async def _status(inv: Invocation) -> None:
    await _set(inv, "status")


async def _priority(inv: Invocation) -> None:
    await _set(inv, "priority")


async def _tag(inv: Invocation) -> None:
    ref = TicketRef.parse(_ref_arg(inv, "/ticket tag epixel:12 vip refund"))
    if len(inv.args) < 2:
        raise UserInputError(f"Name the tags: `/ticket tag {ref} vip refund`.")
    backend = await backend_for(
        inv.services.store, inv.services.backends, inv.actor, ref.backend, inv.services.changes
    )
    require(backend, Capability.TAG, "tags")
    tags = await backend.set_tags(ref.id, inv.args[1:])
    await inv.say(f":label: Tags of `{ref}` are now: {tag_names(tags)}.")


async def delete_preview(
    backend: BaseBackend, refs: list[TicketRef]
) -> tuple[list[Ticket], list[str]]:
    """The tickets that exist (to show what will be deleted) and the refs that do not."""
    semaphore = asyncio.Semaphore(5)

    async def one(ref: TicketRef) -> Ticket | None:
        async with semaphore:
            try:
                return await backend.get_ticket(ref.id)
            except BackendNotFound:
                return None

    fetched = await asyncio.gather(*(one(ref) for ref in refs))
    found = [t for t in fetched if t is not None]
    missing = [str(ref) for ref, t in zip(refs, fetched, strict=True) if t is None]
    return found, missing


async def _delete(inv: Invocation) -> None:
    refs = TicketRef.parse_many(_ref_arg(inv, "/ticket delete omnidesk:4,5"))
    key = one_backend(refs)
    backend = await backend_for(
        inv.services.store, inv.services.backends, inv.actor, key, inv.services.changes
    )
    require(backend, Capability.DELETE, "deleting tickets")
    if len(refs) > 1:
        require(backend, Capability.DELETE_MANY, "deleting several tickets at once")
    found, missing = await delete_preview(backend, refs)
    value = f"{key}:" + ",".join(t.ref.id for t in found)
    await inv.say(
        f"Delete {len(found)} ticket(s)?", as_dicts(confirm_delete_blocks(found, missing, value))
    )


async def _rename(inv: Invocation) -> None:
    ref = TicketRef.parse(_ref_arg(inv, "/ticket rename omnidesk:1234 New title"))
    title = " ".join(inv.args[1:]).strip()
    if not title:
        raise UserInputError(f"Give the new title: `/ticket rename {ref} New title`.")
    backend = await backend_for(
        inv.services.store, inv.services.backends, inv.actor, ref.backend, inv.services.changes
    )
    require(backend, Capability.UPDATE, "renaming tickets")
    ticket = await backend.update_ticket(ref.id, title=title)  # type: ignore[attr-defined]
    await inv.say(f":pencil2: `{ref}` is now titled “{escape(ticket.subject)}”.")


async def _unlink(inv: Invocation) -> None:
    ref = TicketRef.parse(_ref_arg(inv, "/ticket unlink omnidesk:1234"))
    backend = await backend_for(
        inv.services.store, inv.services.backends, inv.actor, ref.backend, inv.services.changes
    )
    require(backend, Capability.UNLINK_CUSTOMER, "unlinking customers")
    await backend.unlink_customer(ref.id)  # type: ignore[attr-defined]
    await inv.say(f":link: The customer was unlinked from `{ref}`.")


def parse_actions(words: list[str]) -> list[tuple[str, str]]:
    """``status=holding priority=low`` into Omnidesk batch actions."""
    actions = []
    for word in words:
        kind, sep, value = word.partition("=")
        if not sep or not kind or not value:
            raise UserInputError(
                f"`{escape(word)}` is not an action. Write them as `type=value`, e.g. "
                "`/ticket batch omnidesk:1,2 status=holding priority=low`."
            )
        actions.append((kind, value))
    return actions


async def _batch(inv: Invocation) -> None:
    usage = "/ticket batch omnidesk:1,2 status=holding priority=low"
    refs = TicketRef.parse_many(_ref_arg(inv, usage))
    actions = parse_actions(inv.args[1:])
    if not actions:
        raise UserInputError(f"Add at least one action: `{usage}`.")
    key = one_backend(refs)
    backend = await backend_for(
        inv.services.store, inv.services.backends, inv.actor, key, inv.services.changes
    )
    require(backend, Capability.BATCH, "batch actions")
    result = await backend.batch([r.id for r in refs], actions)  # type: ignore[attr-defined]
    done = escape(", ".join(f"{k} → {v}" for k, v in actions))
    await inv.say(bulk_result_text(f"Applied {done}", result, key))


async def _first_able(inv: Invocation, capability: Capability) -> str:
    """The first of the user's connected backends that can do ``capability``."""
    connected = await inv.services.store.list_credentials(inv.actor.scope, inv.user_id)
    for key, creds in connected.items():
        if inv.services.backends.for_credentials(creds).supports(capability):
            return key
    raise UserInputError(
        "None of your connected accounts can do that; `/ticket help` says which can."
    )


async def _solve_unfinished(inv: Invocation) -> None:
    key = (
        check_backend(inv.args[0])
        if inv.args
        else await _first_able(inv, Capability.SOLVE_UNFINISHED)
    )
    backend = await backend_for(
        inv.services.store, inv.services.backends, inv.actor, key, inv.services.changes
    )
    require(backend, Capability.SOLVE_UNFINISHED, "solving all unfinished tickets")
    await inv.say(
        f"Solve every unfinished {backend.label} ticket?",
        as_dicts(
            confirm_blocks(
                f"*Mark every unfinished {backend.label} ticket solved?* This changes all "
                "new, open, pending and holding tickets your key can see.",
                Action.SOLVE_UNFINISHED_CONFIRM,
                key,
                "Solve all",
            )
        ),
    )


SUBCOMMANDS: dict[str, Subcommand] = {
    "list": Subcommand(
        Usage(
            "/ticket list [backend] [status:<s>] [q:<text>] [mine]",
            "Tickets from all your accounts (or one), newest first.",
            '/ticket list omnidesk status:open q:"late delivery"',
        ),
        _list,
    ),
    "show": Subcommand(
        Usage(
            "/ticket show <ref>",
            "A ticket with its conversation and buttons.",
            "/ticket show omnidesk:1234",
        ),
        _show,
    ),
    "comment": Subcommand(
        Usage(
            "/ticket comment <ref> <text>",
            "Add a comment to a ticket.",
            "/ticket comment epixel:105 We have refunded you.",
        ),
        _comment,
    ),
    "status": Subcommand(
        Usage(
            "/ticket status <ref>[,<id>…] <status>",
            "Change status (neutral open/pending/closed or the backend's own).",
            "/ticket status omnidesk:1,2,3 solved",
        ),
        _status,
    ),
    "priority": Subcommand(
        Usage(
            "/ticket priority <ref>[,<id>…] <priority>",
            "Change priority (low/medium/high/urgent or the backend's own).",
            "/ticket priority epixel:105 high",
        ),
        _priority,
    ),
    "tag": Subcommand(
        Usage(
            "/ticket tag <ref> <tag>…",
            "Set a ticket's tags (Epixel).",
            "/ticket tag epixel:105 vip refund",
        ),
        _tag,
    ),
    "rename": Subcommand(
        Usage(
            "/ticket rename <ref> <title>",
            "Change a ticket's title (Omnidesk).",
            "/ticket rename omnidesk:1234 Refund for order 5521",
        ),
        _rename,
    ),
    "unlink": Subcommand(
        Usage(
            "/ticket unlink <ref>",
            "Unlink the customer from a ticket (Omnidesk).",
            "/ticket unlink omnidesk:1234",
        ),
        _unlink,
    ),
    "batch": Subcommand(
        Usage(
            "/ticket batch <ref>[,<id>…] <type=value>…",
            "Several changes to several tickets in one call (Omnidesk).",
            "/ticket batch omnidesk:1,2 status=holding priority=low",
        ),
        _batch,
    ),
    "solve-unfinished": Subcommand(
        Usage(
            "/ticket solve-unfinished [backend]",
            "Mark every unfinished ticket solved, after asking (Omnidesk).",
            "/ticket solve-unfinished omnidesk",
        ),
        _solve_unfinished,
    ),
    "delete": Subcommand(
        Usage(
            "/ticket delete <ref>[,<id>…]",
            "Delete tickets, after showing what will go.",
            "/ticket delete omnidesk:4,5",
        ),
        _delete,
    ),
}
