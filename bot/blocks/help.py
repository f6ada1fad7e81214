"""The `/ticket help` message."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.blocks.limits import escape


@dataclass(frozen=True)
class Usage:
    """One subcommand as help shows it."""

    usage: str
    summary: str
    example: str


def help_blocks(usages: Iterable[Usage]) -> list[Block]:
    """Every subcommand with one example; Slack caps a section's text at 3,000 characters,
    so each subcommand gets its own section."""
    blocks: list[Block] = [HeaderBlock(text="ticketbot: tickets from Slack")]
    for item in usages:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    # Usages hold placeholders like <ref>: Slack would parse them as links.
                    text=escape(f"*`{item.usage}`*\n{item.summary}\nExample: `{item.example}`")
                )
            )
        )
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="A ticket is written `&lt;backend&gt;:&lt;id&gt;`, e.g. `omnidesk:1234`. "
                    "Every action runs with the accounts *you* connected."
                )
            ]
        )
    )
    return blocks


def help_text(usages: Iterable[Usage]) -> str:
    """Plain-text fallback for notifications and screen readers."""
    return escape("ticketbot commands: " + ", ".join(u.usage for u in usages))
