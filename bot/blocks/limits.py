"""Slack's Block Kit limits, in one place, and the helpers that keep text within them."""

from __future__ import annotations

MESSAGE_BLOCKS = 50
MODAL_BLOCKS = 100
SECTION_TEXT = 3000
HEADER_TEXT = 150
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
OPTION_TEXT = 75
STATIC_OPTIONS = 100
MODAL_TITLE = 24
PRIVATE_METADATA = 3000
CONTEXT_ELEMENTS = 10
FALLBACK_TEXT = 3000  # notification text; Slack truncates long messages, keep it short


def clip(text: str, limit: int, *, more: str = "…") -> str:
    """``text`` cut to at most ``limit`` characters, ending in ``more`` when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(more))].rstrip() + more


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as markup (&, <, >)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
