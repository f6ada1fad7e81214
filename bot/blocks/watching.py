"""Watching tickets: the Watch/Unwatch button, its answers, `/ticket watching` and quiet hours.

The button on a ticket message says what a click does for whoever clicks: "Unwatch" only where
the message is that viewer's own (an ephemeral `/ticket show`, a DM) and they watch it; a
message in a channel, seen by many, always says "Watch". Either way the click is answered to
the clicker alone, with their new state and the opposite button (``watch_answer_blocks``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    MarkdownTextObject,
    SectionBlock,
)

from bot.blocks.limits import MESSAGE_BLOCKS, SECTION_TEXT, clip, escape
from bot.ids import Action
from bot.keys import label
from bot.models import Ticket
from bot.watches import Watched, WatchPrefs

WATCHING_PAGE = 10  # two blocks a ticket: ten stay well inside a message's 50


def watch_button(ref: str, watching: bool | None) -> ButtonElement:
    """Watch (or Unwatch, when the viewer is known to watch) the ticket ``ref``."""
    if watching:
        return ButtonElement(text="Unwatch", action_id=Action.TICKET_UNWATCH, value=ref)
    return ButtonElement(text="Watch", action_id=Action.TICKET_WATCH, value=ref)


def _when(at: datetime) -> str:
    ts = int(at.timestamp())
    # Slack shows the date in the reader's own time zone; the fallback is UTC.
    return f"<!date^{ts}^{{date_short_pretty}} {{time}}|{at:%Y-%m-%d %H:%M} UTC>"


def _ticket_line(ticket: Ticket) -> str:
    subject = escape(clip(ticket.subject or "(no subject)", 200))
    status = f" ({escape(ticket.status.label)})" if ticket.status else ""
    return f"`{ticket.ref}`: *{subject}*{status}"


def watch_answer_blocks(text: str, ref: str, watching: bool) -> list[Block]:
    """An answer to the clicker or typer: ``text`` (mrkdwn, already escaped) and the button that
    undoes it."""
    return [
        SectionBlock(
            text=MarkdownTextObject(text=clip(text, SECTION_TEXT)),
            accessory=watch_button(ref, watching),
        )
    ]


def watching_text(ticket: Ticket, new: bool) -> str:
    """What `/ticket watch` and the Watch button say once the ticket is watched."""
    if new:
        return f":eyes: You are watching {_ticket_line(ticket)}."
    return f":eyes: You already watch {_ticket_line(ticket)}."


def unwatched_text(ref: str, was: bool) -> str:
    """What `/ticket unwatch` and the Unwatch button say."""
    if was:
        return f"You no longer watch `{ref}`."
    return f"You were not watching `{ref}`; nothing to stop."


def seen_text(item: Watched) -> str:
    """A watched ticket as ticketbot last saw it (title, backend, status, ref, when), mrkdwn."""
    ref = item.watch.ref
    fields = item.seen.fields if item.seen else {}
    title = escape(clip(str(fields.get("title") or "(not checked yet)"), 200))
    facts = [f"`{label(item.watch.backend)}`"]
    if fields.get("status"):
        facts.append(escape(str(fields["status"])))
    facts.append(f"`{ref}`")
    if item.seen is not None and item.seen.checked_at is not None:
        facts.append(f"last seen {_when(item.seen.checked_at)}")
    facts.append(f"watched since {_when(item.watch.since)}")
    if item.watch.source == "created":
        facts.append("you created it")
    return f"*{title}*\n" + " · ".join(facts)


def _row(item: Watched, offset: int) -> list[Block]:
    ref = item.watch.ref
    unwatch = json.dumps({"r": ref, "o": offset})
    return [
        SectionBlock(text=MarkdownTextObject(text=seen_text(item))),
        ActionsBlock(
            block_id=f"watching|{ref}",
            elements=[
                ButtonElement(text="Open", action_id=Action.TICKET_SHOW, value=ref),
                ButtonElement(text="Unwatch", action_id=Action.WATCHING_UNWATCH, value=unwatch),
            ],
        ),
    ]


def watching_blocks(items: Sequence[Watched], offset: int) -> list[Block]:
    """One page of the person's watched tickets, newest first, with Open and Unwatch on each and
    Next/Previous; drawn from what ticketbot last saw, never from a backend."""
    page = items[offset : offset + WATCHING_PAGE]
    if not items:
        text = (
            "You watch no tickets. Start with `/ticket watch omnidesk:123` or a ticket's "
            "Watch button."
        )
        return [SectionBlock(text=MarkdownTextObject(text=text))]
    heading = (
        f"*You watch {len(items)} ticket(s)*, shown {offset + 1}–{offset + len(page)}, "
        "as of what ticketbot last saw of each (not asked of the backends now)."
    )
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=heading))]
    for item in page:
        blocks += _row(item, offset)
    nav = []
    if offset > 0:
        back = str(max(0, offset - WATCHING_PAGE))
        nav.append(
            ButtonElement(text="Previous", action_id=f"{Action.WATCHING_PAGE}.prev", value=back)
        )
    if offset + WATCHING_PAGE < len(items):
        forward = str(offset + WATCHING_PAGE)
        nav.append(
            ButtonElement(text="Next", action_id=f"{Action.WATCHING_PAGE}.next", value=forward)
        )
    if nav:
        blocks.append(ActionsBlock(elements=nav))
    assert len(blocks) <= MESSAGE_BLOCKS
    return blocks


def quiet_text(prefs: WatchPrefs) -> str:
    """The person's quiet hours in their own time zone, as `/ticket quiet` answers."""
    zone = escape(prefs.tz) if prefs.tz else "UTC (Slack did not tell me your time zone)"
    if prefs.quiet is None:
        return f":bell: No quiet hours: watch updates come as they happen. Your time zone: {zone}."
    start, _, end = prefs.quiet.partition("-")
    return (
        f":zzz: Quiet hours: {start}–{end} in your time zone, {zone}. Watch updates that arrive "
        "then are held and sent as one summary after. `/ticket quiet off` ends them."
    )


def watch_created_text(on: bool) -> str:
    """What `/ticket watch created:on|off` answers."""
    if on:
        return ":eyes: Tickets you create through ticketbot will be watched for you."
    return "Tickets you create through ticketbot will no longer be watched for you."
