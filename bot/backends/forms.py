"""The create-ticket form as data: each backend declares its fields, and the modal builder,
the local checks and the mapping to NewTicket are written once for all of them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.models import NewTicket, Upload
from bot.text import is_number

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Where a field's value goes in NewTicket; "extra:<name>" puts it in NewTicket.extra.
Target = str


@dataclass(frozen=True)
class FormField:
    """One input of a backend's create form; ``name`` is the block_id and the vendor's word."""

    name: str
    label: str
    target: Target
    kind: Literal["text", "multiline", "email", "number", "select", "categories", "file"] = "text"
    required: bool = False
    max_length: int = 3000
    options: tuple[tuple[str, str], ...] = ()
    default: str | None = None
    hint: str | None = None
    placeholder: str | None = None
    max_bytes: int = 0  # files only


def check_values(fields: Sequence[FormField], values: Mapping[str, Any]) -> dict[str, str]:
    """Per-field messages for what can be checked before anything is sent (files by size)."""
    errors: dict[str, str] = {}
    for spec in fields:
        value = values.get(spec.name)
        text = value.strip() if isinstance(value, str) else value
        if spec.required and text in (None, "", "-", []):
            errors[spec.name] = f"{spec.label} is required."
        elif spec.kind == "email" and text and not EMAIL.match(text):
            errors[spec.name] = "Enter an email address like customer@example.com."
        elif spec.kind == "number" and text and not is_number(text):
            errors[spec.name] = "Enter a number, or leave it empty."
        elif spec.kind == "file":
            for file in value or []:
                size = int(file.get("size") or 0)
                if size > spec.max_bytes:
                    errors[spec.name] = (
                        f"{file.get('name', 'The file')} is {size / 1024 / 1024:.1f} MiB; the "
                        f"limit is {spec.max_bytes / 1024 / 1024:g} MiB. Attach a smaller file."
                    )
    return errors


def new_ticket(
    fields: Sequence[FormField], values: Mapping[str, Any], upload: Upload | None
) -> NewTicket:
    """The NewTicket the form's values describe (``upload``: the file field's file, fetched)."""
    data: dict[str, Any] = {"extra": {}}
    for spec in fields:
        value = upload if spec.kind == "file" else values.get(spec.name) or spec.default
        if isinstance(value, str):
            value = value.strip()
        if value in (None, ""):
            continue
        if spec.target.startswith("extra:"):
            data["extra"][spec.target.removeprefix("extra:")] = value
        else:
            data[spec.target] = value
    return NewTicket(**data)


def file_field(fields: Sequence[FormField]) -> FormField | None:
    """The form's file field, if it has one."""
    return next((f for f in fields if f.kind == "file"), None)
