"""Pure Block Kit builders over slack_sdk.models: data in, blocks or views out, no I/O."""

from __future__ import annotations

from slack_sdk.models.blocks import Block


def as_dicts(blocks: list[Block]) -> list[dict]:
    """Serialise (and so validate) blocks for the Web API."""
    return [block.to_dict() for block in blocks]
