"""The App Home tab: connected accounts, my tickets (own and watched), watch settings, my alert
subscriptions, my imports."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.backends.base import Capability
from bot.blocks.connect import account_row
from bot.blocks.health import subscription_state
from bot.blocks.imports import import_row
from bot.blocks.limits import HOME_BLOCKS, SECTION_TEXT, clip, escape
from bot.blocks.tickets import ticket_buttons, ticket_row
from bot.blocks.watching import quiet_text, seen_text, watch_button
from bot.home import HOME_SUBSCRIPTIONS, HomeData
from bot.ids import Action
from bot.keys import BACKEND_LABELS
from bot.subscriptions import Subscription
from bot.watches import Watched, WatchPrefs

REFRESHING = ":hourglass_flowing_sand: Refreshing from your accounts…"


def home_view(data: HomeData, *, refreshing: bool) -> View:
    """The whole Home tab. ``refreshing``: the ticket rows are the cached ones (or none yet)
    and the backends are being asked; the view says so."""
    blocks = [
        *_accounts(data),
        DividerBlock(),
        *_tickets(data, refreshing),
        DividerBlock(),
        *_watching(data.prefs),
        DividerBlock(),
        *_subscriptions(data.subscriptions),
        DividerBlock(),
        *_imports(data),
    ]
    assert len(blocks) <= HOME_BLOCKS, len(blocks)
    return View(type="home", blocks=blocks)


def _accounts(data: HomeData) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text="Connected accounts")]
    for backend, name in BACKEND_LABELS.items():
        creds = data.accounts.get(backend)
        if creds is not None:
            blocks.append(account_row(backend, creds, Action.HOME_DISCONNECT))
            continue
        blocks.append(
            SectionBlock(
                block_id=f"account_{backend}",
                text=MarkdownTextObject(text=f"*{name}* · not connected"),
                accessory=ButtonElement(
                    text="Connect", action_id=Action.HOME_CONNECT, value=backend, style="primary"
                ),
            )
        )
    return blocks


def _tickets(data: HomeData, refreshing: bool) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text="My tickets")]
    if not data.own and not data.watching:
        return [
            *blocks,
            _context(
                "Your own tickets show here from Epixel and ISPCRM (Omnidesk's API cannot say "
                "whose a ticket is), and the tickets you watch from every backend (a ticket's "
                "Watch button, `/ticket watch <ref>`). Connect an account above."
            ),
        ]
    if refreshing:
        blocks.append(_context(REFRESHING))
    warnings = data.tickets.warnings if data.tickets else []
    blocks += [_context(f":warning: {escape(clip(w, 2900))}") for w in warnings[:4]]
    rows = data.rows()
    if not rows.live and not rows.stale and not refreshing:
        blocks.append(_context("No open tickets of yours right now."))
    for ticket in rows.live:
        blocks.append(ticket_row(ticket))
        # No Delete on Home: it is answered in the message it was on, and Home has none.
        allowed = data.capabilities.get(ticket.ref.backend, frozenset()) - {Capability.DELETE}
        # Home is the viewer's own, so Watch/Unwatch can say what a click does for them.
        watching = str(ticket.ref) in data.watching
        buttons = ticket_buttons(ticket, allowed, watching=watching)
        if buttons is not None:
            blocks.append(buttons)
    for item in rows.stale:
        blocks += _watched_row(item)
    if rows.hidden:
        blocks.append(
            _context(f"…and {rows.hidden} more you watch: `/ticket watching` lists them all.")
        )
    return blocks


def _watched_row(item: Watched) -> list[Block]:
    """A watched ticket no backend answered for (yet): as the watcher last saw it."""
    ref = item.watch.ref
    return [
        SectionBlock(
            text=MarkdownTextObject(text=clip(seen_text(item), SECTION_TEXT)),
            accessory=ButtonElement(text="Open", action_id=Action.TICKET_SHOW, value=ref),
        ),
        ActionsBlock(block_id=f"ticket|{ref}", elements=[watch_button(ref, watching=True)]),
    ]


def _watching(prefs: WatchPrefs) -> list[Block]:
    if prefs.watch_created:
        text = (
            ":eyes: *Tickets you create* through ticketbot are watched for you: their changes "
            "come to you by DM."
        )
        toggle = ButtonElement(
            text="Stop watching them", action_id=Action.HOME_WATCH_CREATED, value="off"
        )
    else:
        text = (
            "*Tickets you create* through ticketbot are not watched for you; a ticket's Watch "
            "button still watches it."
        )
        toggle = ButtonElement(
            text="Watch them", action_id=Action.HOME_WATCH_CREATED, value="on", style="primary"
        )
    quiet = quiet_text(prefs)
    if prefs.quiet is None:
        quiet += " Set some with `/ticket quiet 19:00-08:00`."
    return [
        HeaderBlock(text="Watching"),
        SectionBlock(
            block_id="watch_created", text=MarkdownTextObject(text=text), accessory=toggle
        ),
        _context(quiet),
    ]


def _subscriptions(subs: list[Subscription]) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text="My alert subscriptions")]
    if not subs:
        return [
            *blocks,
            _context(
                "None yet. `/ticket subscribe detractors` (or `omnidesk`, `epixel`, `ispcrm`) "
                "in a channel posts QuestionPro detractors (or new tickets) there as they "
                "arrive."
            ),
        ]
    for sub in subs[:HOME_SUBSCRIPTIONS]:
        text = (
            f"*<#{sub.channel_id}>* · {escape(sub.title)} · {escape(sub.describe())}\n"
            f"{subscription_state(sub)}"
        )
        blocks.append(SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_TEXT))))
        blocks.append(_subscription_buttons(sub))
    if len(subs) > HOME_SUBSCRIPTIONS:
        more = len(subs) - HOME_SUBSCRIPTIONS
        blocks.append(_context(f"…and {more} more: `/ticket subscriptions` in each channel."))
    return blocks


def _subscription_buttons(sub: Subscription) -> ActionsBlock:
    if sub.paused and sub.paused != "credentials":
        toggle = ButtonElement(text="Resume", action_id=Action.HOME_RESUME, value=sub.id)
    else:
        toggle = ButtonElement(text="Pause", action_id=Action.HOME_PAUSE, value=sub.id)
    remove = ButtonElement(
        text="Unsubscribe",
        action_id=Action.HOME_UNSUBSCRIBE,
        value=sub.id,
        style="danger",
        confirm=ConfirmObject(
            title="Unsubscribe?",
            text=f"No more {sub.feed_name} in <#{sub.channel_id}> for this subscription.",
            confirm="Unsubscribe",
            deny="Keep",
        ),
    )
    if sub.paused == "credentials":  # Pause means nothing while it is already stopped
        return ActionsBlock(block_id=f"sub|{sub.id}", elements=[remove])
    return ActionsBlock(block_id=f"sub|{sub.id}", elements=[toggle, remove])


def _imports(data: HomeData) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text="My imports")]
    if not data.imports:
        return [*blocks, _context("None yet. `/ticket import` imports contacts from a CSV.")]
    return blocks + [import_row(job, job.id in data.resumable) for job in data.imports]


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])
