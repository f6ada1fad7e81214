"""Modals for tickets: create (per backend), comment, status, priority, tags, and a loading state.

Every modal carries its context in private_metadata as JSON (the ticket ref, where to update the
message it came from), well inside Slack's 3,000 characters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ContextBlock,
    ExternalDataMultiSelectElement,
    ExternalDataSelectElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.blocks.block_elements import FileInputElement
from slack_sdk.models.views import View

from bot.backends.forms import FormField
from bot.blocks.limits import MODAL_BLOCKS, PRIVATE_METADATA, clip, escape
from bot.ids import FIELD_ACTION, Action, Callback
from bot.ids import Block as BlockId
from bot.keys import label
from bot.models import Priority, Status, Tag


def metadata(**values: Any) -> str:
    """private_metadata as JSON; refuses to exceed Slack's limit rather than be cut by it."""
    text = json.dumps({k: v for k, v in values.items() if v is not None})
    if len(text) > PRIVATE_METADATA:
        raise ValueError("private_metadata over Slack's 3,000 characters")
    return text


def loading_modal(title: str, text: str, callback_id: str) -> View:
    """Opened at once (trigger_id lives 3 s); replaced by views.update when data arrives."""
    return View(
        type="modal",
        callback_id=callback_id,
        title=clip(title, 24),
        close="Cancel",
        blocks=[SectionBlock(text=MarkdownTextObject(text=f":hourglass_flowing_sand: {text}"))],
    )


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def _text_input(
    name: str,
    title: str,
    value: Any,
    *,
    optional: bool = False,
    multiline: bool = False,
    max_length: int = 3000,
    hint: str | None = None,
    placeholder: str | None = None,
) -> InputBlock:
    return InputBlock(
        block_id=name,
        label=title,
        optional=optional,
        hint=hint,
        element=PlainTextInputElement(
            action_id=FIELD_ACTION,
            multiline=multiline,
            initial_value=clip(str(value), max_length) if value else None,
            max_length=max_length,
            placeholder=placeholder,
        ),
    )


def _select(
    name: str, title: str, choices: Sequence[tuple[str, str]], value: Any, *, optional: bool = False
) -> InputBlock:
    options = [Option(value=v, text=clip(t, 75)) for v, t in choices][:100]
    initial = next((o for o in options if o.value == value), None)
    return InputBlock(
        block_id=name,
        label=title,
        optional=optional,
        element=StaticSelectElement(
            action_id=FIELD_ACTION, options=options, initial_option=initial
        ),
    )


def _with_errors(blocks: list[Block], errors: Mapping[str, str]) -> list[Block]:
    """Each field's error right under it (after an ack Slack's inline errors are not available)."""
    out: list[Block] = []
    for block in blocks:
        out.append(block)
        name = getattr(block, "block_id", None)
        if name in errors:
            out.append(_context(f":warning: {escape(errors[name])}"))
    return out


def create_modal(
    choices: Sequence[str],
    backend: str | None,
    fields: Sequence[FormField] = (),
    *,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    notice: str | None = None,
    private_metadata: str = "{}",
) -> View:
    """Create a ticket: the backend first (those the user connected that can create), then the
    fields that backend declares. ``values`` and ``errors`` re-render a failed attempt intact;
    values may also be keyed by NewTicket field (``subject``, ``body``) to prefill any backend."""
    values = values or {}
    options = [Option(value=k, text=label(k)) for k in choices]
    picker = ActionsBlock(
        block_id=BlockId.CREATE_BACKEND,
        elements=[
            StaticSelectElement(
                action_id=Action.CREATE_PICK_BACKEND,
                placeholder="Choose where to create it",
                options=options,
                initial_option=next((o for o in options if o.value == backend), None),
            )
        ],
    )
    blocks: list[Block] = [picker]
    if notice:
        blocks.append(SectionBlock(block_id=BlockId.NOTICE, text=MarkdownTextObject(text=notice)))
    if backend is None:
        blocks.append(_context("Pick where the ticket should go."))
    blocks += [_field(spec, values.get(spec.name) or values.get(spec.target)) for spec in fields]
    if "source_link" in values:
        blocks.append(_context(f"From this message: {values['source_link']}"))
    blocks = _with_errors(blocks, errors or {})
    assert len(blocks) <= MODAL_BLOCKS
    return View(
        type="modal",
        callback_id=Callback.CREATE,
        title="Create a ticket",
        submit="Create" if backend else None,
        close="Cancel",
        private_metadata=private_metadata,
        blocks=blocks,
    )


def _field(spec: FormField, value: Any) -> Block:
    optional = not spec.required
    if spec.kind == "select":
        return _select(
            spec.name, spec.label, spec.options, value or spec.default, optional=optional
        )
    if spec.kind == "categories":
        initial = (
            Option(value=value["value"], text=value["text"]) if isinstance(value, dict) else None
        )
        return InputBlock(
            block_id=spec.name,
            label=spec.label,
            optional=optional,
            element=ExternalDataSelectElement(
                action_id=Action.CATEGORY_OPTIONS,
                min_query_length=0,
                initial_option=initial,
                placeholder="Type to search",
            ),
        )
    if spec.kind == "file":
        return InputBlock(
            block_id=spec.name,
            label=spec.label,
            optional=True,
            hint=spec.hint,
            element=FileInputElement(action_id=FIELD_ACTION, max_files=1),
        )
    return _text_input(
        spec.name,
        spec.label,
        value if isinstance(value, str) else None,
        optional=optional,
        multiline=spec.kind == "multiline",
        max_length=spec.max_length,
        hint=spec.hint,
        placeholder=spec.placeholder,
    )


def comment_modal(
    ref: str,
    *,
    with_file: bool,
    private_metadata: str,
    notice: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> View:
    """Add a comment (and a file where the backend takes one)."""
    values = values or {}
    blocks: list[Block] = [_context(f"Commenting on `{ref}`")]
    if notice:
        blocks.append(SectionBlock(block_id=BlockId.NOTICE, text=MarkdownTextObject(text=notice)))
    blocks.append(_text_input("comment", "Comment", values.get("comment"), multiline=True))
    if with_file:
        blocks.append(
            InputBlock(
                block_id="attachment",
                label="Attachment",
                optional=True,
                hint="One file, at most 2 MiB.",
                element=FileInputElement(action_id=FIELD_ACTION, max_files=1),
            )
        )
    return View(
        type="modal",
        callback_id=Callback.COMMENT,
        title="Comment",
        submit="Add comment",
        close="Cancel",
        private_metadata=private_metadata,
        blocks=blocks,
    )


def choice_modal(
    kind: str,
    refs: str,
    choices: Sequence[Status] | Sequence[Priority],
    current: str | None,
    private_metadata: str,
) -> View:
    """Pick a new status or priority from the backend's own values."""
    callback = Callback.STATUS if kind == "status" else Callback.PRIORITY
    return View(
        type="modal",
        callback_id=callback,
        title=f"Set {kind}",
        submit="Save",
        close="Cancel",
        private_metadata=private_metadata,
        blocks=[
            _context(f"`{refs}`"),
            _select(kind, kind.capitalize(), [(c.value, c.label) for c in choices], current),
        ],
    )


def tags_modal(ref: str, current: Sequence[Tag], private_metadata: str) -> View:
    """Choose the ticket's tags; the options come from the backend's tag list."""
    initial = [Option(value=t.id, text=clip(t.name or t.id, 75)) for t in current] or None
    return View(
        type="modal",
        callback_id=Callback.TAGS,
        title="Tags",
        submit="Save",
        close="Cancel",
        private_metadata=private_metadata,
        blocks=[
            _context(f"Tags of `{ref}` (Epixel replaces the whole set)"),
            InputBlock(
                block_id="tags",
                label="Tags",
                element=ExternalDataMultiSelectElement(
                    action_id=Action.TAG_OPTIONS,
                    min_query_length=0,
                    initial_options=initial,
                    placeholder="Type to search tags",
                ),
            ),
        ],
    )


def done_modal(title: str, text: str) -> View:
    """The last state of a modal after its work is done."""
    return View(
        type="modal",
        title=clip(title, 24),
        close="Close",
        blocks=[SectionBlock(text=MarkdownTextObject(text=clip(text, 2900)))],
    )
