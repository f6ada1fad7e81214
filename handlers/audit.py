"""`/ticket audit`, its Newer/Older buttons, its CSV export, and a ticket's "History in Slack".

Everyone reads their own lines; workspace admins and members of TICKETBOT_AUDIT_GROUP read
everyone's (``handlers/audit_people.py``). Reads never leave the asker's scope (their workspace,
or their Enterprise Grid org).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.audit import AuditLine, AuditQuery, opened
from bot.blocks import as_dicts
from bot.blocks.audit import audit_blocks, audit_csv
from bot.blocks.help import Usage
from bot.blocks.limits import escape
from bot.errors import UserInputError
from bot.ids import Action
from bot.keys import BACKEND_LABELS
from bot.models import TicketRef
from bot.services import Services
from bot.tickets import Actor, read_own
from handlers.audit_people import looks_like_person, reads_everyone, resolve_person
from handlers.common import actor_of, send_file_to_dm
from handlers.errors import guarded
from handlers.invocation import Invocation, Subcommand

PAGE = 50
# An export larger than this is cut (and says so): a year of a big team fits many times over.
EXPORT_MAX = 200_000
_EXPORT_BATCH = 1000
_SINCE = re.compile(r"^since:(\d{1,4})([dhm])$")
_UNIT = {"d": "days", "h": "hours", "m": "minutes"}


@dataclass(frozen=True)
class Selection:
    """What `/ticket audit …` asked for, as the Newer/Older buttons carry it."""

    user_id: str | None  # None: everyone
    backend: str | None = None
    ref: str | None = None
    since: float | None = None  # Unix seconds

    def query(self, actor: Actor, offset: int = 0, limit: int = PAGE) -> AuditQuery:
        """The store query, within the asker's scope."""
        since = datetime.fromtimestamp(self.since, UTC) if self.since is not None else None
        return AuditQuery(
            scope=actor.scope,
            user_id=self.user_id,
            backend=self.backend,
            ref=self.ref,
            since=since,
            limit=limit,
            offset=offset,
        )

    def encoded(self) -> str:
        """Compact JSON for a button's value."""
        return json.dumps([self.user_id, self.backend, self.ref, self.since], separators=(",", ":"))

    @classmethod
    def decoded(cls, value: str) -> Selection:
        """The selection a button carries."""
        user_id, backend, ref, since = json.loads(value)
        return cls(user_id, backend, ref, since)

    def describe(self) -> str:
        """The selection in words, for the list's heading."""
        who = f"<@{self.user_id}>" if self.user_id else "everyone"
        parts = [f"Changes made through ticketbot by {who}"]
        if self.backend:
            parts.append(f"in {BACKEND_LABELS.get(self.backend, self.backend)}")
        if self.ref:
            parts.append(f"on `{escape(self.ref)}`")
        if self.since is not None:
            parts.append(f"since <!date^{int(self.since)}^{{date_short}} {{time}}|then>")
        return " ".join(parts)


async def parse_selection(inv: Invocation, words: list[str]) -> Selection:
    """``[@person|everyone] [backend|ref] [since:7d]``; a person other than the asker (or
    everyone) only for those who read everyone's trail."""
    user_id: str | None = inv.user_id
    backend = ref = None
    since = None
    for word in words:
        lowered = word.lower()
        if match := _SINCE.match(lowered):
            delta = timedelta(**{_UNIT[match.group(2)]: int(match.group(1))})
            since = (datetime.now(UTC) - delta).timestamp()
        elif lowered in {"everyone", "all"}:
            user_id = None
        elif looks_like_person(word):
            user_id = await resolve_person(inv.client, word)
        elif lowered in BACKEND_LABELS:
            backend = lowered
        elif ":" in word:
            ref = str(TicketRef.parse(word))
        else:
            raise UserInputError(
                f"I don't understand `{escape(word)}`. Try `/ticket audit [@person|everyone] "
                "[backend|ticket ref] [since:7d]`, e.g. `/ticket audit @dana omnidesk since:7d`."
            )
    selection = Selection(user_id, backend, ref, since)
    await _check_may_read(inv.client, inv.services, inv.user_id, selection)
    return selection


async def _check_may_read(
    client: AsyncWebClient, services: Services, user_id: str, selection: Selection
) -> None:
    if selection.user_id == user_id:
        return
    if not await reads_everyone(client, user_id, services.settings.audit_group):
        group = services.settings.audit_group
        who = "workspace admins" + (f" and members of @{escape(group)}" if group else "")
        raise UserInputError(
            f"You can read your own audit trail (`/ticket audit`); only {who} can read "
            "other people's."
        )


async def _page(services: Services, query: AuditQuery) -> list[tuple[AuditLine, dict[str, Any]]]:
    assert services.audit is not None
    lines = await services.audit.query(query)
    return [(line, opened(line, services.store)) for line in lines]


async def _listing(services: Services, actor: Actor, selection: Selection, offset: int) -> dict:
    found = await _page(services, selection.query(actor, offset, PAGE + 1))
    blocks = audit_blocks(
        selection.describe(),
        found[:PAGE],
        page_value=selection.encoded(),
        offset=offset,
        has_more=len(found) > PAGE,
        page_size=PAGE,
    )
    return {"text": f"{min(len(found), PAGE)} audit line(s)", "blocks": as_dicts(blocks)}


def _require_trail(services: Services) -> None:
    if services.audit is None:
        raise UserInputError("This ticketbot keeps no audit trail.")


async def _audit(inv: Invocation) -> None:
    _require_trail(inv.services)
    words = inv.args
    if words and words[0].lower() == "export":
        await _export(inv, await parse_selection(inv, words[1:]))
        return
    selection = await parse_selection(inv, words)
    await inv.respond(
        response_type="ephemeral", **await _listing(inv.services, inv.actor, selection, 0)
    )


async def _export(inv: Invocation, selection: Selection) -> None:
    rows: list[tuple[AuditLine, dict[str, Any]]] = []
    while len(rows) < EXPORT_MAX:
        batch = await _page(inv.services, selection.query(inv.actor, len(rows), _EXPORT_BATCH))
        rows += batch
        if len(batch) < _EXPORT_BATCH:
            break
    cut = f" (the newest {EXPORT_MAX:,}; narrow it with since:)" if len(rows) >= EXPORT_MAX else ""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    await send_file_to_dm(
        inv.client,
        inv.user_id,
        audit_csv(rows[:EXPORT_MAX]),
        f"ticketbot-audit-{stamp}.csv",
        f"{selection.describe()}: {len(rows[:EXPORT_MAX])} line(s){cut}.",
    )
    await inv.say(f"Sent {len(rows[:EXPORT_MAX])} audit line(s) as CSV to our direct messages.")


async def page(
    ack: AsyncAck, body: dict, respond: AsyncRespond, client: AsyncWebClient, services: Services
) -> None:
    """Newer/Older under a listing: the same selection, rechecked, at another offset."""
    await ack()
    _require_trail(services)
    value, _, offset = body["actions"][0]["value"].rpartition("|")
    try:
        selection, start = Selection.decoded(value), max(0, int(offset))
    except (ValueError, TypeError):
        raise UserInputError("That page is out of date: run `/ticket audit` again.") from None
    actor = actor_of(body)
    await _check_may_read(client, services, actor.user_id, selection)
    listing = await _listing(services, actor, selection, start)
    await respond(replace_original=True, **listing)


async def ticket_more(ack: AsyncAck, body: dict, respond: AsyncRespond, services: Services) -> None:
    """The ticket message's overflow menu; "History in Slack" is that ticket's audit lines,
    for anyone who can read the ticket itself with their own account."""
    await ack()
    _require_trail(services)
    what, _, ref_text = body["actions"][0]["selected_option"]["value"].partition("|")
    if what != "history":
        raise UserInputError("That menu is out of date: open the ticket again.")
    ref, actor = TicketRef.parse(ref_text), actor_of(body)
    # Read with the clicker's own credentials first: a forged menu value must not reveal what
    # others did to a ticket the clicker cannot see.
    await read_own(
        services.store,
        services.backends,
        actor,
        ref,
        ("its history in Slack", "its history is not shown"),
    )
    lines = await _page(services, AuditQuery(scope=actor.scope, ref=str(ref), limit=PAGE))
    title = f"History in Slack of `{escape(str(ref))}`: the newest {PAGE} changes at most"
    await respond(
        response_type="ephemeral",
        replace_original=False,
        text=f"History of {ref}",
        blocks=as_dicts(audit_blocks(title, lines)),
    )


SUBCOMMANDS: dict[str, Subcommand] = {
    "audit": Subcommand(
        Usage(
            "/ticket audit [export] [@person|everyone] [backend|ref] [since:7d]",
            "What was changed through ticketbot: your own, or (admins) anyone's; export sends CSV.",
            "/ticket audit omnidesk since:7d",
        ),
        _audit,
    ),
}


def register(app: AsyncApp) -> None:
    """Wire the audit listing's buttons and the ticket overflow menu onto ``app``."""
    app.action(Action.AUDIT_NEWER)(guarded(page))
    app.action(Action.AUDIT_OLDER)(guarded(page))
    app.action(Action.TICKET_MORE)(guarded(ticket_more))
