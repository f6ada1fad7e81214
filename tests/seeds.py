"""The vendor documents the tests check against (tests/reference/vendor), read as data: their
example bodies and JSON schemas."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

# Verbatim copies, so a clone needs nothing beside it (provenance: reference/README.md).
SEEDS = Path(__file__).resolve().parent / "reference" / "vendor"
QUESTIONPRO_DETRACTORS = "questionpro_detractor_tickets.txt"
QUESTIONPRO_IMPORT = "questionpro_transactions_import.txt"

# The seeds print the docs link unquoted and without its comma; repair just that.
_UNQUOTED_DOCS = re.compile(r'"docs":\s*(www\.[^\s,]+)\s*\n')


def _blocks(text: str) -> list[str]:
    """Top-level {...} blocks of a document, in order."""
    blocks, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                blocks.append(text[start : index + 1])
    return blocks


@cache
def json_blocks(seed: str) -> tuple[Any, ...]:
    """Every JSON object in a seed document (examples and schemas alike), repaired and parsed."""
    # "{{env}}" in the URLs is a template, not JSON: fill it before looking for objects.
    text = (SEEDS / seed).read_text(encoding="utf-8").replace("{{env}}", "com")
    parsed = []
    for block in _blocks(text):
        fixed = _UNQUOTED_DOCS.sub(r'"docs": "\1",\n', block)
        fixed = re.sub(r",\s*([}\]])", r"\1", fixed)  # seed 001 has a trailing comma
        parsed.append(json.loads(fixed))
    return tuple(parsed)


def examples_and_schemas(seed: str) -> tuple[list[Any], list[dict[str, Any]]]:
    """(example bodies, JSON schemas) of a seed."""
    blocks = json_blocks(seed)
    schemas = [b for b in blocks if isinstance(b, dict) and "$schema" in b]
    return [b for b in blocks if not (isinstance(b, dict) and "$schema" in b)], schemas
