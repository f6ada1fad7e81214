"""Ticket threads: a backend comment posted in a ticket's thread, and the line a replier sees
when their reply did not land (with what they typed, quoted back so they can copy it)."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.blocks.connect import connect_button_blocks
from bot.blocks.limits import FALLBACK_TEXT, MESSAGE_BLOCKS, SECTION_TEXT, clip, escape
from bot.keys import label
from bot.models import Comment

# Plain characters per quoted section: even all "&" (five characters escaped) or all line
# breaks (each gains a quote mark) stays within a section's 3000.
_QUOTE_CHUNK = 500


def _who(ref: str, comment: Comment) -> str:
    backend = label(ref.partition(":")[0])
    return f"{escape(comment.author or 'Someone')} commented in {backend} on `{escape(ref)}`"


def backend_comment_text(ref: str, comment: Comment) -> str:
    """The notification text of a backend comment posted in a ticket's thread."""
    return clip(f"{_who(ref, comment)}: {escape(comment.body)}", FALLBACK_TEXT)


def backend_comment_blocks(ref: str, comment: Comment) -> list[Block]:
    """A backend comment in a ticket's thread: the words, then who wrote it and where."""
    body = escape(comment.body.strip()) or "_(no text)_"
    return [
        SectionBlock(text=MarkdownTextObject(text=clip(body, SECTION_TEXT))),
        ContextBlock(elements=[MarkdownTextObject(text=f":speech_balloon: {_who(ref, comment)}")]),
    ]


def quoted(text: str) -> list[str]:
    """``text`` (plain, as typed) as mrkdwn quote sections, escaped, never cut short: long
    text takes several sections."""
    chunks = [text[i : i + _QUOTE_CHUNK] for i in range(0, len(text), _QUOTE_CHUNK)] or [""]
    return ["\n".join(f">{line}" for line in escape(chunk).split("\n")) for chunk in chunks]


def not_sent_blocks(ref: str, note: str, typed: str, connect: str | None) -> list[Block]:
    """What a replier sees when the reply did not become a comment on ``ref``: ``note``
    (mrkdwn) with a Connect button when ``connect`` names a backend, then the reply quoted
    back."""
    line = not_sent_text(ref, note)
    head: list[Block] = (
        connect_button_blocks(line, connect)
        if connect
        else [SectionBlock(text=MarkdownTextObject(text=line))]
    )
    intro = ContextBlock(elements=[MarkdownTextObject(text="What you wrote, to copy:")])
    room = MESSAGE_BLOCKS - len(head) - 1
    quotes = [SectionBlock(text=MarkdownTextObject(text=q)) for q in quoted(typed)[:room]]
    return [*head, intro, *quotes]


def not_sent_text(ref: str, note: str) -> str:
    """The notification text of that message."""
    return clip(f":warning: Not added to `{escape(ref)}`: {note}", FALLBACK_TEXT)
