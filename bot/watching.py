"""Watching tickets, as people ask for it: start and stop watching, list what one watches, quiet
hours, and "watch the tickets I create". Handlers (``/ticket watch…``, the Watch button) and
App Home call these; the watcher that checks watched tickets reads the same store facet.

Watching is reading: a person may watch a ticket they can read with their own credentials, on
any backend that shows single tickets (ISPCRM's read-only tickets too).
"""

from __future__ import annotations

import re

from bot.blocks.limits import escape
from bot.changes import Change, Listener
from bot.credentials import account_key
from bot.errors import UserInputError
from bot.models import Ticket, TicketRef
from bot.services import Services
from bot.store.interface import CredentialStore, WatchStore
from bot.tickets import Actor, read_own
from bot.watches import TicketSeen, Watch, Watched, WatchPrefs

QUIET_FORMAT = "`/ticket quiet 19:00-08:00` (24-hour HH:MM-HH:MM, in your Slack time zone)"
_QUIET = re.compile(r"^(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})$")


def watch_store(services: Services) -> WatchStore:
    """The watch facet; every store ``open_stores`` opens has one."""
    if services.watches is None:
        raise RuntimeError("this store keeps no watches")
    return services.watches


def _team(actor: Actor) -> str:
    # The workspace the request came from; the org's id on an org-wide request without one.
    return actor.teams[0] if actor.teams else actor.scope


async def watch_ticket(services: Services, actor: Actor, ref: TicketRef) -> tuple[Ticket, bool]:
    """Read ``ref`` with the person's own credentials (so a ticket they cannot see is never
    watched), then watch it. Returns the ticket and whether the watch is new.

    Raises NotConnectedError (shown with a Connect button) and a UserInputError for a ticket that
    does not exist or that their account cannot see."""
    ticket = await read_own(
        services.store,
        services.backends,
        actor,
        ref,
        ("watching, a single ticket", "nothing is watched"),
    )
    creds = await services.store.load_credentials(actor.scope, actor.user_id, ref.backend)
    account = account_key(creds) if creds is not None else ""
    watch = Watch(
        ref=str(ref),
        team_id=_team(actor),
        scope=actor.scope,
        user_id=actor.user_id,
        account=account,
    )
    return ticket, await watch_store(services).add_watch(watch)


async def unwatch_ticket(watches: WatchStore, actor: Actor, ref: TicketRef) -> bool:
    """Stop watching ``ref``; False when the person did not watch it."""
    return await watches.remove_watch(actor.scope, actor.user_id, str(ref))


async def is_watching(watches: WatchStore, actor: Actor, ref: TicketRef) -> bool:
    """Whether the person watches ``ref``."""
    return any(
        w.scope == actor.scope and w.user_id == actor.user_id
        for w in await watches.watchers(str(ref))
    )


async def watched(watches: WatchStore, store: CredentialStore, actor: Actor) -> list[Watched]:
    """The person's watches, newest first, each with what was last seen of its ticket in its
    account: from the store alone, no backend call."""
    return [
        Watched(w, await seen_of(watches, store, w))
        for w in await watches.watches_of(actor.scope, actor.user_id)
    ]


async def seen_of(watches: WatchStore, store: CredentialStore, watch: Watch) -> TicketSeen | None:
    """What was last seen of the watched ticket in the watch's account (a watch from before
    accounts were kept: the account of the person's current credentials; none: nothing)."""
    account = watch.account
    if not account:
        creds = await store.load_credentials(watch.scope, watch.user_id, watch.backend)
        account = account_key(creds) if creds is not None else ""
    return await watches.seen(watch.ref, account) if account else None


async def set_watch_created(watches: WatchStore, actor: Actor, on: bool) -> WatchPrefs:
    """Turn "watch the tickets I create through ticketbot" on or off (App Home's toggle and
    `/ticket watch created:on|off`); returns the saved preferences."""
    prefs = await watches.prefs(actor.scope, actor.user_id)
    prefs.watch_created = on
    await watches.save_prefs(actor.scope, actor.user_id, prefs)
    return prefs


def parse_quiet(text: str) -> str:
    """``"19:00-08:00"`` (also ``7:30 - 8:00``, an en dash) as ``"HH:MM-HH:MM"``; a
    UserInputError that shows the format otherwise."""
    match = _QUIET.match(text.strip())
    if match is None:
        raise UserInputError(f"I can't read `{escape(text)}` as quiet hours. Use {QUIET_FORMAT}.")
    start_h, start_m, end_h, end_m = (int(g) for g in match.groups())
    if start_h > 23 or end_h > 23 or start_m > 59 or end_m > 59:
        raise UserInputError(f"`{escape(text)}` is not a time of day. Use {QUIET_FORMAT}.")
    quiet = f"{start_h:02}:{start_m:02}-{end_h:02}:{end_m:02}"
    if quiet[:5] == quiet[6:]:
        raise UserInputError(
            f"Quiet hours must start and end at different times. Use {QUIET_FORMAT}."
        )
    return quiet


async def set_quiet(
    watches: WatchStore, actor: Actor, quiet: str | None, tz: str | None
) -> WatchPrefs:
    """Save the person's quiet hours (None: none) and their Slack time zone (None keeps the
    zone known before); returns the saved preferences."""
    prefs = await watches.prefs(actor.scope, actor.user_id)
    prefs.quiet = quiet
    if tz:
        prefs.tz = tz
    await watches.save_prefs(actor.scope, actor.user_id, prefs)
    return prefs


def watch_created(watches: WatchStore, store: CredentialStore) -> Listener:
    """A change-feed listener (``services.changes``) that makes each person watch the tickets
    they create through ticketbot, from any form, shortcut or escalation, unless they turned
    that off. Subscribed once, at start-up (``bot.runtime.build_services``)."""

    async def on_change(change: Change) -> None:
        if change.kind != "create" or change.outcome != "done":
            return
        refs = [r for r in change.refs if r.partition(":")[2]]  # created without an id: skip
        actor = change.actor
        if not refs or not (await watches.prefs(actor.scope, actor.user_id)).watch_created:
            return
        for ref in refs:
            creds = await store.load_credentials(actor.scope, actor.user_id, ref.partition(":")[0])
            await watches.add_watch(
                Watch(
                    ref=ref,
                    team_id=_team(actor),
                    scope=actor.scope,
                    user_id=actor.user_id,
                    source="created",
                    account=account_key(creds) if creds is not None else "",
                )
            )

    return on_change
