"""The audit trail in Slack (`/ticket audit`, "History in Slack") and as CSV: pure functions."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.audit import AuditLine
from bot.blocks.limits import SECTION_TEXT, clip, escape
from bot.ids import Action

# Lines per section block: 50 lines stay well under a message's 50 blocks and each section's
# 3000 characters (a line is clipped to 280).
_PER_SECTION = 10
_LINE_CHARS = 280

_OUTCOME_MARK = {
    "done": ":white_check_mark:",
    "refused": ":no_entry:",
    "unknown": ":grey_question:",
}

CSV_COLUMNS = (
    "when_utc",
    "workspace",
    "user",
    "origin",
    "kind",
    "backend",
    "tickets",
    "changed",
    "outcome",
    "detail",
)


def changed_text(new: dict[str, Any], old: dict[str, Any]) -> str:
    """What changed, ``field: old → new`` where the old value is known."""
    parts = []
    for key, value in new.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"{key}: {old[key]} → {shown}" if key in old else f"{key}: {shown}")
    return "; ".join(parts)


def line_text(line: AuditLine, values: dict[str, Any]) -> str:
    """One audit line as mrkdwn: when (in the reader's time zone), who, what, how it ended."""
    stamp = int(line.at.timestamp())
    when = f"<!date^{stamp}^{{date_short}} {{time}}|{line.at:%Y-%m-%d %H:%M} UTC>"
    where = " ".join(f"`{escape(ref)}`" for ref in line.refs) or escape(line.backend or "")
    text = f"{when} · <@{line.user_id}> · *{escape(line.kind)}* {where}"
    if changed := changed_text(values, line.old):
        text += f" · {escape(changed)}"
    text += f" · {_OUTCOME_MARK.get(line.outcome, '')} {escape(line.outcome)}"
    if line.detail:
        text += f" ({escape(line.detail)})"
    return clip(text + f" · _{escape(line.origin)}_", _LINE_CHARS)


def audit_blocks(
    title: str,
    lines: Sequence[tuple[AuditLine, dict[str, Any]]],
    *,
    page_value: str | None = None,
    offset: int = 0,
    has_more: bool = False,
    page_size: int = 50,
) -> list[Block]:
    """A page of audit lines (each with its opened values), newest first, with Newer/Older
    buttons whose value is ``page_value`` plus the offset to show (``|<offset>``)."""
    blocks: list[Block] = [ContextBlock(elements=[MarkdownTextObject(text=clip(title, 2900))])]
    if not lines:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="_Nothing recorded._")))
    for start in range(0, len(lines), _PER_SECTION):
        chunk = lines[start : start + _PER_SECTION]
        text = "\n".join(line_text(line, values) for line, values in chunk)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_TEXT))))
    nav = []
    if page_value is not None and offset > 0:
        newer = max(0, offset - page_size)
        nav.append(
            ButtonElement(text="Newer", action_id=Action.AUDIT_NEWER, value=f"{page_value}|{newer}")
        )
    if page_value is not None and has_more:
        older = offset + len(lines)
        nav.append(
            ButtonElement(text="Older", action_id=Action.AUDIT_OLDER, value=f"{page_value}|{older}")
        )
    if nav:
        blocks.append(ActionsBlock(elements=nav))
    return blocks


def _cell(value: str) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet: quote it so it stays text.
    return f"'{value}" if value[:1] in {"=", "+", "-", "@", "\t", "\r"} else value


def audit_csv(lines: Iterable[tuple[AuditLine, dict[str, Any]]]) -> str:
    """The lines as CSV (a header row, then one row per line, times in UTC ISO 8601)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for line, values in lines:
        row = (
            line.at.isoformat(timespec="seconds"),
            line.team_id or line.scope,
            line.user_id,
            line.origin,
            line.kind,
            line.backend or "",
            " ".join(line.refs),
            changed_text(values, line.old),
            line.outcome,
            line.detail,
        )
        writer.writerow([_cell(str(cell)) for cell in row])
    return out.getvalue()
