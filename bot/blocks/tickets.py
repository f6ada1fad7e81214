"""Ticket lists, a ticket with its conversation and buttons, and bulk results."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    OverflowMenuElement,
    SectionBlock,
)

from bot.backends.base import Capability
from bot.blocks.limits import HEADER_TEXT, MESSAGE_BLOCKS, SECTION_TEXT, clip, escape
from bot.blocks.watching import watch_button
from bot.ids import Action
from bot.keys import label
from bot.models import BulkResult, NeutralStatus, Tag, Ticket

PAGE_SIZE = 15
COMMENTS_SHOWN = 10
_COMMENT_CHARS = 1500  # ten of these stay well inside a message


def _stamp(ticket: Ticket) -> str:
    if ticket.created_at is None:
        return "no date"
    ts = int(ticket.created_at.timestamp())
    # Slack renders {ago} in the reader's own time ("3 days ago"); the fallback is UTC.
    return f"<!date^{ts}^{{ago}}|{ticket.created_at:%Y-%m-%d %H:%M} UTC>"


def summary_line(ticket: Ticket) -> str:
    """Badge · status · priority · age · ref, the second line of every ticket row."""
    parts = [f"`{label(ticket.ref.backend)}`"]
    if ticket.status:
        parts.append(escape(ticket.status.label))
    if ticket.priority:
        parts.append(f"{escape(ticket.priority.label)} priority")
    parts += [_stamp(ticket), f"`{ticket.ref}`"]
    return " · ".join(parts)


def ticket_text(ticket: Ticket) -> str:
    """```omnidesk:12`: Subject``: a ticket in one line, as mrkdwn (fallback ``text``, echoes)."""
    return f"`{ticket.ref}`: {escape(clip(ticket.subject or '(no subject)', 200))}"


def tag_names(tags: Sequence[Tag]) -> str:
    """Tag names, comma-separated, ready for mrkdwn."""
    return ", ".join(escape(t.name or t.id) for t in tags)


def ticket_row(ticket: Ticket) -> SectionBlock:
    """One ticket in a list, with an Open button."""
    subject = escape(clip(ticket.subject or "(no subject)", 200))
    return SectionBlock(
        text=MarkdownTextObject(text=f"*{subject}*\n{summary_line(ticket)}"),
        accessory=ButtonElement(text="Open", action_id=Action.TICKET_SHOW, value=str(ticket.ref)),
    )


def list_state(
    only: str | None, status: str | None, text: str | None, mine: bool, offset: int
) -> str:
    """What the Next/Previous buttons carry to ask for another page (well under 2,000 chars)."""
    return json.dumps({"b": only, "s": status, "q": text, "m": mine, "o": offset})


def list_blocks(
    tickets: Sequence[Ticket],
    warnings: Sequence[str],
    *,
    state: dict[str, Any],
    has_more: bool,
) -> list[Block]:
    """A page of tickets (PAGE_SIZE at most) with warnings and Next/Previous buttons."""
    offset = int(state.get("o") or 0)
    where = label(state["b"]) if state.get("b") else "your connected accounts"
    heading = (
        f"*Tickets {offset + 1}–{offset + len(tickets)}* from {where}"
        if tickets
        else f"No tickets found in {where}."
    )
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=heading))]
    blocks += [_context(f":warning: {clip(w, 2900)}") for w in warnings[:5]]
    blocks += [ticket_row(t) for t in tickets[:PAGE_SIZE]]
    nav = []
    if offset > 0:
        back = {**state, "o": max(0, offset - PAGE_SIZE)}
        nav.append(
            ButtonElement(
                text="Previous", action_id=f"{Action.LIST_PAGE}.prev", value=json.dumps(back)
            )
        )
    if has_more:
        forward = {**state, "o": offset + PAGE_SIZE}
        nav.append(
            ButtonElement(
                text="Next", action_id=f"{Action.LIST_PAGE}.next", value=json.dumps(forward)
            )
        )
    if nav:
        blocks.append(ActionsBlock(elements=nav))
    assert len(blocks) <= MESSAGE_BLOCKS
    return blocks


def ticket_blocks(
    ticket: Ticket, capabilities: frozenset[Capability], *, watching: bool | None = None
) -> list[Block]:
    """A ticket with its details, conversation, attachments, the buttons its backend allows and
    Watch, or Unwatch where the one viewer of the message is known to watch it (``watching``;
    None for a message many see, see ``bot.blocks.watching``)."""
    blocks: list[Block] = [
        HeaderBlock(text=clip(ticket.subject or "(no subject)", HEADER_TEXT)),
        _context(summary_line(ticket)),
    ]
    facts = []
    if ticket.author:
        facts.append(f"*From:* {escape(ticket.author)}")
    if ticket.category:
        facts.append(f"*Category:* {escape(ticket.category.name or ticket.category.id)}")
    if ticket.tags:
        facts.append("*Tags:* " + tag_names(ticket.tags))
    facts += [f"*{escape(k)}:* {escape(v)}" for k, v in ticket.details.items()]
    if facts:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=clip("\n".join(facts), 2900))))
    if ticket.body:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_quoted(ticket.body, 2900))))
    if ticket.comments:
        blocks.append(DividerBlock())
        hidden = len(ticket.comments) - COMMENTS_SHOWN
        if hidden > 0:
            blocks.append(_context(f"{hidden} earlier comment(s) not shown."))
        for comment in ticket.comments[-COMMENTS_SHOWN:]:
            who = escape(comment.author or "someone")
            files = (
                f"\n:paperclip: {len(comment.attachments)} attachment(s)"
                if comment.attachments
                else ""
            )
            text = f"*{who}*\n{_quoted(comment.body, _COMMENT_CHARS)}{files}"
            blocks.append(SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_TEXT))))
    if ticket.attachments:
        blocks.append(_attachment_buttons(ticket, capabilities))
    actions = ticket_buttons(ticket, capabilities, watching=watching)
    if actions is not None:
        blocks.append(actions)
    assert len(blocks) <= MESSAGE_BLOCKS
    return blocks


def _quoted(text: str, limit: int) -> str:
    body = escape(text.strip()) or "_(empty)_"
    extra = len(body) - limit
    if extra > 0:
        body = clip(body, limit - 60) + f"\n_({extra:,} more characters not shown)_"
    return "\n".join(f">{line}" if line else ">" for line in body.splitlines())


def _attachment_buttons(ticket: Ticket, capabilities: frozenset[Capability]) -> Block:
    names = [a.name or f"attachment {a.id}" for a in ticket.attachments]
    if Capability.DOWNLOAD_ATTACHMENT not in capabilities:
        return _context(":paperclip: " + ", ".join(escape(n) for n in names))
    return ActionsBlock(
        elements=[
            ButtonElement(
                text=clip(f":paperclip: {name}", 75),
                action_id=f"{Action.TICKET_SHOW}.attachment.{index}",
                value=f"{ticket.ref}|{attachment.id}",
            )
            for index, (attachment, name) in enumerate(zip(ticket.attachments, names, strict=True))
            if index < 25
        ]
    )


def ticket_buttons(
    ticket: Ticket,
    capabilities: frozenset[Capability],
    *,
    watching: bool | None = None,
) -> ActionsBlock | None:
    """The buttons ``ticket``'s backend allows (Comment, Status, …, Delete) and Watch; None
    when that leaves none."""
    ref = str(ticket.ref)
    buttons: list[ButtonElement] = []
    wanted = (
        (Capability.COMMENT, "Comment", Action.TICKET_COMMENT),
        (Capability.SET_STATUS, "Status", Action.TICKET_STATUS),
        (Capability.SET_PRIORITY, "Priority", Action.TICKET_PRIORITY),
        (Capability.TAG, "Tags", Action.TICKET_TAGS),
    )
    for capability, text, action in wanted:
        if capability in capabilities:
            buttons.append(ButtonElement(text=text, action_id=action, value=ref))
    if Capability.SET_STATUS in capabilities:
        closed = ticket.status is not None and ticket.status.neutral is NeutralStatus.CLOSED
        buttons.append(
            ButtonElement(
                text="Reopen" if closed else "Close",
                action_id=Action.TICKET_REOPEN if closed else Action.TICKET_CLOSE,
                value=ref,
            )
        )
    if Capability.DELETE in capabilities:
        buttons.append(
            ButtonElement(
                text="Delete",
                action_id=Action.TICKET_DELETE,
                value=ref,
                style="danger",
                confirm=ConfirmObject(
                    title="Delete this ticket?",
                    # A confirm dialog's text is mrkdwn: the subject is the backend's words.
                    text=f"{ticket_text(ticket)} will be deleted.",
                    confirm="Delete",
                    deny="Keep",
                ),
            )
        )
    # Watching is reading: every ticket has it, read-only ones (ISPCRM) included. Last, so the
    # everyday buttons keep their places.
    buttons.append(watch_button(ref, watching))
    # Even a read-only ticket has its history in Slack (the overflow menu), so a ticket message
    # always has this block.
    more = OverflowMenuElement(
        action_id=Action.TICKET_MORE,
        options=[Option(text="History in Slack", value=f"history|{ref}")],
    )
    return ActionsBlock(block_id=f"ticket|{ref}", elements=[*buttons, more])


def bulk_result_text(verb: str, result: BulkResult, backend: str) -> str:
    """What a bulk change did, per ticket."""
    lines = []
    if result.succeeded:
        done = ", ".join(f"`{backend}:{i}`" for i in result.succeeded)
        lines.append(f":white_check_mark: {verb}: {done}")
    for ticket_id, reason in result.failed.items():
        lines.append(f":x: `{backend}:{ticket_id}`: {escape(reason)}")
    return clip("\n".join(lines) or "Nothing was changed.", SECTION_TEXT)


def confirm_delete_blocks(
    found: Sequence[Ticket], missing: Sequence[str], refs: str
) -> list[Block]:
    """What will be deleted, with Delete / Cancel."""
    lines = [f"• `{t.ref}` {escape(clip(t.subject, 150))}" for t in found[:40]]
    if len(found) > 40:
        lines.append(f"• …and {len(found) - 40} more")
    lines += [f"• `{m}`: not found, will be skipped" for m in missing[:10]]
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=clip(
                    f"*Delete {len(found)} ticket(s)?* This cannot be undone.\n" + "\n".join(lines),
                    SECTION_TEXT,
                )
            )
        ),
    ]
    if found:
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text="Delete", action_id=Action.DELETE_CONFIRM, value=refs, style="danger"
                    ),
                    ButtonElement(text="Cancel", action_id=Action.DELETE_CANCEL, value=refs),
                ]
            )
        )
    return blocks


def confirm_blocks(question: str, action_id: str, value: str, confirm_text: str) -> list[Block]:
    """A question with a red confirm button and Cancel."""
    return [
        SectionBlock(text=MarkdownTextObject(text=clip(question, SECTION_TEXT))),
        ActionsBlock(
            elements=[
                ButtonElement(text=confirm_text, action_id=action_id, value=value, style="danger"),
                ButtonElement(text="Cancel", action_id=Action.CANCEL, value=value),
            ]
        ),
    ]


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def text_blocks(text: str) -> list[Block]:
    """A plain message as one section."""
    return [SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_TEXT)))]
