"""The ticket watcher's DMs: what changed on a watched ticket (with its buttons), a ticket that is
gone, and the summary of what was held during quiet hours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.backends.base import Capability
from bot.blocks.limits import FALLBACK_TEXT, MESSAGE_BLOCKS, SECTION_TEXT, clip, escape
from bot.blocks.tickets import summary_line, ticket_buttons
from bot.models import Ticket
from bot.watch_diff import LABELS, Delta

COMMENT_LINES = 3
COMMENT_CHARS = 300
SUMMARY_TICKETS = 40  # a section each, inside Slack's 50 blocks


def delta_line(delta: Delta | Mapping[str, Any]) -> str:
    """One change as mrkdwn: ``*Status:* Open → Solved`` or a new comment's first lines."""
    d = delta if isinstance(delta, Delta) else Delta(**delta)
    if d.field == "comment":
        who = escape(d.author or "someone")
        return f"*New comment* by {who}:\n{_first_lines(str(d.new or ''))}"
    name = LABELS.get(d.field, d.field.title())
    return f"*{name}:* {_value(d.old)} → {_value(d.new)}"


def _value(value: Any) -> str:
    if value is None or value == [] or value == "":
        return "_none_"
    if isinstance(value, list):
        return ", ".join(escape(str(v)) for v in value)
    return escape(clip(str(value), 200))


def _first_lines(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()][:COMMENT_LINES]
    body = escape(clip("\n".join(lines), COMMENT_CHARS)) or "_(empty)_"
    return "\n".join(f">{line}" for line in body.splitlines())


def _title(ref: str, title: str) -> str:
    return f"`{escape(ref)}` *{escape(clip(title or '(no subject)', 150))}*"


def change_message(
    ticket: Ticket, deltas: Sequence[Delta], capabilities: frozenset[Capability]
) -> tuple[str, list[Block]]:
    """A DM telling one watcher what changed on one ticket: fallback text and blocks."""
    head = f":eyes: {_title(str(ticket.ref), ticket.subject)} changed"
    lines = "\n".join(delta_line(d) for d in deltas)
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=clip(f"{head}\n{lines}", SECTION_TEXT))),
        ContextBlock(elements=[MarkdownTextObject(text=summary_line(ticket))]),
    ]
    # The DM goes to a watcher: its button says Unwatch.
    actions = ticket_buttons(ticket, capabilities, watching=True)
    if actions is not None:
        blocks.append(actions)
    text = f"{ticket.ref} changed: " + ", ".join(_plain(d) for d in deltas)
    return clip(text, FALLBACK_TEXT), blocks


def _plain(delta: Delta) -> str:
    if delta.field == "comment":
        return f"new comment by {escape(delta.author or 'someone')}"
    return f"{LABELS.get(delta.field, delta.field)} {_value(delta.old)} → {_value(delta.new)}"


def gone_message(ref: str, title: str) -> tuple[str, list[Block]]:
    """A DM saying a watched ticket no longer exists and is no longer watched."""
    text = (
        f":wastebasket: {_title(ref, title)} is gone from its backend (deleted or no longer "
        "readable), so you no longer watch it."
    )
    return clip(f"{ref} is gone; you no longer watch it", FALLBACK_TEXT), [
        SectionBlock(text=MarkdownTextObject(text=text))
    ]


def held_notice(ticket: Ticket, deltas: Sequence[Delta]) -> dict[str, Any]:
    """What is kept of a change held during quiet hours (JSON, sealed by the store)."""
    return {
        "ref": str(ticket.ref),
        "title": ticket.subject,
        "changes": [
            {"field": d.field, "old": d.old, "new": d.new, "author": d.author} for d in deltas
        ],
    }


def summary_message(held: Sequence[Mapping[str, Any]]) -> tuple[str, list[Block]]:
    """One DM after quiet hours: the held changes grouped per ticket, oldest first."""
    per_ticket: dict[str, tuple[str, list[Mapping[str, Any]]]] = {}
    for notice in held:
        ref = str(notice.get("ref", ""))
        title, changes = per_ticket.setdefault(ref, (str(notice.get("title", "")), []))
        changes.extend(notice.get("changes") or [])
        per_ticket[ref] = (str(notice.get("title") or title), changes)
    head = f":sunrise: While you were away, {len(per_ticket)} watched ticket(s) changed:"
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=head))]
    for ref, (title, changes) in list(per_ticket.items())[:SUMMARY_TICKETS]:
        lines = "\n".join(delta_line(c) for c in changes)
        text = clip(f"{_title(ref, title)}\n{lines}", SECTION_TEXT)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=text)))
    hidden = len(per_ticket) - SUMMARY_TICKETS
    if hidden > 0:
        more = f"{hidden} more ticket(s) changed; `/ticket watching` lists them."
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=more)]))
    assert len(blocks) <= MESSAGE_BLOCKS
    text = f"{len(per_ticket)} watched ticket(s) changed while you were away"
    return text, blocks
