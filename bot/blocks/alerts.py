"""Detractor alerts: one alert, a first-poll summary, a digest and its list, notices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.blocks.limits import MESSAGE_BLOCKS, SECTION_TEXT, clip, escape
from bot.ids import FIELD_ACTION, Action, Callback
from bot.keys import label
from bot.masking import shown
from bot.models import Detractor
from bot.subscriptions import Alert, Subscription, TicketLink


def slack_date(when: datetime) -> str:
    """A date Slack shows in the reader's time zone (the fallback is UTC)."""
    return (
        f"<!date^{int(when.timestamp())}^{{date_short_pretty}} {{time}}|{when:%Y-%m-%d %H:%M} UTC>"
    )


def _stars(rating: str) -> str:
    return f"*{escape(rating)}*/10" if rating else "no rating"


def alert_text(d: Detractor, mask: bool = False) -> str:
    """The one-line summary used in notifications and digests (contacts masked with ``mask``)."""
    d = shown(d, mask)
    comment = escape(clip(d.comment or "(no comment)", 140))
    return f"{_stars(d.rating)} · {comment} · {escape(d.email)}"


def alert_blocks(alert: Alert, web_url: str, mask: bool = False) -> list[Block]:
    """An alert with its state and the buttons that still make sense; with ``mask`` (a
    `pii:masked` subscription) the contact is masked and Show contact gives it to one person."""
    d = shown(alert.detractor, mask)
    contact = escape(d.email) + (f" · {escape(d.phone)}" if d.phone else "")
    lines = [
        f":rotating_light: *Detractor* · rating {_stars(d.rating)}",
        f">{escape(clip(d.comment or '(no comment)', 2000))}",
        f"*Contact:* {contact}",
        f"*QuestionPro:* ticket {d.ticket_id} · response {d.response_id}",
        f"*Came in:* {slack_date(d.created_at)} · *respond by:* {slack_date(d.deadline)}",
    ]
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=clip("\n".join(lines), SECTION_TEXT)))
    ]
    state = _state_line(alert)
    if state:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=state)]))
    value = f"{alert.subscription_id}:{d.ticket_id}"
    buttons = []
    if alert.state == "open":
        buttons.append(
            ButtonElement(text="Claim", action_id=Action.ALERT_CLAIM, value=value, style="primary")
        )
    buttons.append(ButtonElement(text="Escalate", action_id=Action.ALERT_ESCALATE, value=value))
    if alert.state != "resolved":
        buttons.append(ButtonElement(text="Resolve", action_id=Action.ALERT_RESOLVE, value=value))
    if mask:
        buttons.append(
            ButtonElement(text="Show contact", action_id=Action.ALERT_CONTACT, value=value)
        )
    buttons.append(
        ButtonElement(
            text="Open in QuestionPro", action_id=Action.ALERT_OPEN, url=web_url, value=value
        )
    )
    blocks.append(ActionsBlock(block_id=f"alert|{value}", elements=buttons))
    return blocks


def _state_line(alert: Alert) -> str:
    parts = []
    if alert.claimed_by:
        parts.append(f":raising_hand: claimed by <@{alert.claimed_by}>")
    if alert.state == "resolved":
        parts.append(_resolved_part(alert))
    if alert.escalated:
        parts.append(":arrow_up: escalated to " + ", ".join(map(_link_part, alert.escalated)))
    return " · ".join(parts)


def _resolved_part(alert: Alert) -> str:
    if alert.resolved_via is not None:
        where = label(alert.resolved_via.partition(":")[0])
        who = f" by <@{alert.resolved_by}>" if alert.resolved_by else ""
        return f":white_check_mark: closed in {where}{who}"
    note = f": “{escape(clip(alert.note, 300))}”" if alert.note else ""
    return f":white_check_mark: resolved by <@{alert.resolved_by}>{note}"


def _link_part(link: TicketLink) -> str:
    """`omnidesk:1234` · Open: the linked ticket with its last known status."""
    if link.status_label is None:
        return f"`{link.ref}`"
    return f"`{link.ref}` · {escape(link.status_label)}"


def resolve_modal(alert: Alert, private_metadata: str, mask: bool) -> View:
    """The Resolve form: who and what (the contact masked when the subscription masks: anyone
    who may act can open it), and an optional note."""
    d = shown(alert.detractor, mask)
    about = f"*{escape(d.email)}*: “{escape(clip(d.comment or '(no comment)', 2800))}”"
    return View(
        type="modal",
        callback_id=Callback.RESOLVE,
        title="Resolve detractor",
        submit="Resolve",
        close="Cancel",
        private_metadata=private_metadata,
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=clip(about, SECTION_TEXT))),
            InputBlock(
                block_id="note",
                label="Note (optional)",
                optional=True,
                element=PlainTextInputElement(
                    action_id=FIELD_ACTION, multiline=True, max_length=1000
                ),
            ),
        ],
    )


def contact_text(d: Detractor) -> str:
    """The full contact, for the one person who asked (an ephemeral message)."""
    phone = f" · {escape(d.phone)}" if d.phone else ""
    return f":bust_in_silhouette: QuestionPro ticket {d.ticket_id}: {escape(d.email)}{phone}"


def resolved_line(user_id: str, note: str | None) -> str:
    """What the alert's thread says when someone resolves it."""
    said = f": “{escape(clip(note, 500))}”" if note else "."
    return f":white_check_mark: <@{user_id}> resolved this{said}"


def summary_blocks(sub: Subscription, existing: int) -> list[Block]:
    """The first poll: how many detractors already exist, and a button to list them."""
    text = (
        f":eyes: Watching QuestionPro detractors here ({escape(sub.describe())}). {existing:,} "
        "already exist; new ones will show up as they arrive."
    )
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=text))]
    if existing:
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text="Show them", action_id=Action.ALERTS_SHOW_EXISTING, value=sub.id
                    )
                ]
            )
        )
    return blocks


def digest_blocks(count: int, what: str = "detractors") -> list[Block]:
    """One message for many new items; the list follows in its thread."""
    return [
        SectionBlock(
            text=MarkdownTextObject(
                text=f":rotating_light: *{count} new {what}* arrived at once. "
                "The list is in this thread."
            )
        )
    ]


def digest_messages(detractors: Sequence[Detractor], mask: bool = False) -> list[list[Block]]:
    """The digest's list of detractors, contacts masked with ``mask`` (see :func:`pack_lines`)."""
    return pack_lines([f"• `{d.ticket_id}` {alert_text(d, mask)}" for d in detractors])


def pack_lines(lines: Sequence[str]) -> list[list[Block]]:
    """Lines of mrkdwn packed into as few messages as Block Kit allows (sections of up to
    3,000 characters, 50 sections a message)."""
    messages: list[list[Block]] = []
    blocks: list[Block] = []
    section: list[str] = []
    size = 0

    def flush_section() -> None:
        nonlocal section, size, blocks
        if section:
            blocks.append(SectionBlock(text=MarkdownTextObject(text="\n".join(section))))
            section, size = [], 0
        if len(blocks) == MESSAGE_BLOCKS:
            messages.append(blocks)
            blocks = []

    for line in lines:
        if size + len(line) + 1 > SECTION_TEXT:
            flush_section()
        section.append(line)
        size += len(line) + 1
    flush_section()
    if blocks:
        messages.append(blocks)
    return messages
