"""Ticket feeds in a channel: a new ticket with its buttons, the first poll's summary, a digest
line and a status change (the digest itself is ``bot.blocks.alerts``')."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.backends.base import CHANGE_CAPABILITIES, Capability
from bot.blocks.limits import SECTION_TEXT, clip, escape
from bot.blocks.tickets import summary_line, ticket_buttons, ticket_text
from bot.models import Ticket
from bot.subscriptions import Subscription

BODY_SHOWN = 600  # a feed post is a notice; the whole ticket is one Open away


def feed_ticket_text(ticket: Ticket) -> str:
    """The notification text of a new ticket (its fallback ``text``)."""
    return f"New ticket {ticket_text(ticket)}"


def feed_ticket_blocks(ticket: Ticket, capabilities: frozenset[Capability]) -> list[Block]:
    """A new ticket: subject, status line, the start of its body and the buttons its backend
    allows (none for a read-only backend, which says so)."""
    subject = escape(clip(ticket.subject or "(no subject)", 300))
    lines = [f":incoming_envelope: *{subject}*", summary_line(ticket)]
    if ticket.author:
        lines.append(f"*From:* {escape(clip(ticket.author, 200))}")
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=clip("\n".join(lines), SECTION_TEXT)))
    ]
    if ticket.body and ticket.body.strip():
        quoted = "\n".join(
            f">{line}" for line in escape(clip(ticket.body.strip(), BODY_SHOWN)).splitlines()
        )
        blocks.append(SectionBlock(text=MarkdownTextObject(text=clip(quoted, SECTION_TEXT))))
    if not capabilities & CHANGE_CAPABILITIES:
        note = "Read-only here: this backend's API offers no changes."
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=note)]))
    actions = ticket_buttons(ticket, capabilities)  # Watch and History, even when read-only
    if actions is not None:
        blocks.append(actions)
    return blocks


def feed_summary_text(sub: Subscription, existing: int) -> str:
    """The first poll's one line: what is watched and how many tickets already exist."""
    return (
        f":eyes: Watching new {escape(sub.title)} here ({escape(sub.describe())}). "
        f"{existing:,} already exist and are not posted; new ones will show up as they arrive."
    )


def feed_digest_line(ticket: Ticket) -> str:
    """One ticket in a digest's list."""
    status = f" · {escape(ticket.status.label)}" if ticket.status else ""
    return f"• {ticket_text(ticket)}{status}"


def status_change_text(ticket: Ticket, before: str | None) -> str:
    """What a ticket's thread says when its status changed in the backend."""
    now = escape(ticket.status.label) if ticket.status else "no status"
    was = f" (was {escape(before)})" if before else ""
    return f":arrows_counterclockwise: Status is now *{now}*{was}."
