"""The import form, the preview of a checked file, progress and the final report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import date
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.blocks.block_elements import FileInputElement
from slack_sdk.models.views import View

from bot.blocks.limits import SECTION_TEXT, clip, escape
from bot.ids import FIELD_ACTION, Action, Callback
from bot.ids import Block as BlockId
from bot.import_jobs import ImportJob
from bot.importer import Checked

COLUMNS_HINT = (
    "Columns by header (any case): email (required), firstName, lastName, mobile (+15551234567), "
    "segmentCode and transactionDate (dd/mm/yyyy; override the fields above per row), custom1…, "
    "and products as product1Name, product1Group, product1PCustom1…3, product2Name… or one row "
    "per product (productName, productGroup, pCustom1…3) with that contact's rows together."
)


def import_modal(
    private_metadata: str,
    *,
    values: Mapping[str, Any] | None = None,
    notice: str | None = None,
    max_mib: float = 20,
) -> View:
    """Segment code, transaction date, and the contacts as a CSV file or pasted text."""
    values = values or {}
    blocks: list[Block] = []
    if notice:
        blocks.append(SectionBlock(block_id=BlockId.NOTICE, text=MarkdownTextObject(text=notice)))
    blocks += [
        InputBlock(
            block_id="segment_code",
            label="Segment code",
            element=PlainTextInputElement(
                action_id=FIELD_ACTION,
                initial_value=values.get("segment_code") or None,
                max_length=100,
            ),
        ),
        InputBlock(
            block_id="transaction_date",
            label="Transaction date",
            element=DatePickerElement(
                action_id=FIELD_ACTION,
                initial_date=values.get("transaction_date") or date.today().isoformat(),
            ),
        ),
        InputBlock(
            block_id="file",
            label="CSV file",
            optional=True,
            hint=f"A .csv export of your sheet, at most {max_mib:g} MiB. Or paste below.",
            element=FileInputElement(action_id=FIELD_ACTION, max_files=1, filetypes=["csv", "txt"]),
        ),
        InputBlock(
            block_id="text",
            label="…or paste CSV",
            optional=True,
            hint=COLUMNS_HINT,
            element=PlainTextInputElement(
                action_id=FIELD_ACTION,
                multiline=True,
                initial_value=values.get("text") or None,
                placeholder="email,firstName,lastName\n…",
            ),
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="An example file: `/ticket import template`. Nothing is sent to "
                    "QuestionPro until you have seen the check and pressed Import."
                )
            ]
        ),
    ]
    return View(
        type="modal",
        callback_id=Callback.IMPORT,
        title="Import transactions",
        submit="Check",
        close="Cancel",
        private_metadata=private_metadata,
        blocks=blocks,
    )


def preview_blocks(
    job: ImportJob, checked: Checked, sent_date: tuple[date, str] | None = None
) -> list[Block]:
    """How many rows are valid, the first invalid ones with their reasons, Import / Cancel.

    ``sent_date`` is the transaction date and the text sent for it: QuestionPro's pages disagree
    on day- or month-first, so a person sees both before anything is sent.
    """
    head = (
        f"*{escape(job.file_name)}*: {checked.rows:,} row(s), *{checked.valid:,} contact(s) "
        f"ready to import*, {checked.invalid:,} row(s) with problems. Read as {checked.encoding}, "
        f"separated by {_separator(checked.delimiter)}."
    )
    if sent_date:
        when, text = sent_date
        head += f"\nTransaction date: *{when.day} {when:%B %Y}*, sent as `{escape(text)}`."
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=head))]
    if checked.problems:
        lines = [f"• line {p.line}: {escape('; '.join(p.reasons))}" for p in checked.problems]
        more = checked.invalid - len(checked.problems)
        if more > 0:
            lines.append(f"…and {more:,} more: the full list is in your DM as a CSV.")
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=clip("\n".join(lines), SECTION_TEXT)))
        )
    buttons = [ButtonElement(text="Cancel", action_id=Action.IMPORT_CANCEL, value=job.id)]
    if checked.valid:
        buttons.insert(
            0,
            ButtonElement(
                text=f"Import {checked.valid:,} valid",
                style="primary",
                action_id=Action.IMPORT_CONFIRM,
                value=job.id,
            ),
        )
    blocks.append(ActionsBlock(elements=buttons))
    return blocks


def _separator(delimiter: str) -> str:
    return {",": "commas", ";": "semicolons", "\t": "tabs"}.get(delimiter, repr(delimiter))


def progress_text(job: ImportJob) -> str:
    sent = sum(c.rows for c in job.chunks if c.status != "pending")
    name = escape(job.file_name)
    return f":arrows_counterclockwise: Importing *{name}*: {sent:,} of {job.valid:,} contacts sent…"


def report_blocks(job: ImportJob) -> list[Block]:
    """The totals, the chunks that failed (with a Retry) or whose outcome is unknown."""
    statuses = sorted({c.email_status for c in job.chunks if c.email_status})
    lines = [
        f"*{escape(job.file_name)}*: imported {job.imported:,} of {job.valid:,} contacts "
        f"into segment {escape(job.segment_code)}."
    ]
    if statuses:
        lines.append("Email: " + "; ".join(escape(s) for s in statuses))
    failed = [c for c in job.chunks if c.status == "failed"]
    unknown = [c for c in job.chunks if c.status == "unknown"]
    for chunk in failed[:10]:
        lines.append(
            f":x: lines {chunk.first_line}–{chunk.last_line} ({chunk.rows:,}) rejected by "
            f"QuestionPro: {escape(chunk.message)}"
        )
    for chunk in unknown[:10]:
        lines.append(
            f":grey_question: lines {chunk.first_line}–{chunk.last_line} ({chunk.rows:,}): "
            f"no answer after sending ({escape(chunk.message.split(';')[0])}); they may "
            "have been imported. Check QuestionPro before sending them again."
        )
    icon = ":white_check_mark:" if not failed and not unknown else ":warning:"
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(text=clip(f"{icon} " + "\n".join(lines), SECTION_TEXT))
        )
    ]
    if failed:
        rows = sum(c.rows for c in failed)
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text=f"Retry the {rows:,} rejected",
                        action_id=Action.IMPORT_RETRY,
                        value=job.id,
                    )
                ]
            )
        )
    return blocks


def history_blocks(
    jobs: Sequence[ImportJob], resumable: AbstractSet[str] = frozenset()
) -> list[Block]:
    """The user's imports, newest first; one with something left to send gets a button."""
    if not jobs:
        return [SectionBlock(text=MarkdownTextObject(text="You have not imported anything yet."))]
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text="*Your imports*"))]
    blocks += [import_row(job, job.id in resumable) for job in jobs[:40]]
    return blocks


def import_row(job: ImportJob, resumable: bool) -> SectionBlock:
    """One import: when, which file, how many rows, its outcome; **Send the rest** if it can."""
    when = job.created_at
    stamp = f"<!date^{int(when.timestamp())}^{{date_short}} {{time}}|{when:%Y-%m-%d %H:%M}>"
    text = (
        f"{stamp} *{escape(job.file_name)}*: {job.rows:,} rows, {job.valid:,} valid, "
        f"{job.imported:,} imported ({job.outcome})"
    )
    button = None
    if resumable:
        button = ButtonElement(text="Send the rest", action_id=Action.IMPORT_RETRY, value=job.id)
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_TEXT)), accessory=button)
