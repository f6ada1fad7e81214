"""Slack's Block Kit limits, in one place, and the helpers that keep text within them."""

from __future__ import annotations

MESSAGE_BLOCKS = 50
MODAL_BLOCKS = 100
HOME_BLOCKS = 100  # a Home tab view, like a modal
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
    """``text`` from a user or a backend made safe for mrkdwn or a message's top-level ``text``.

    The one escaping function: Slack parses ``&``, ``<`` and ``>`` as control characters there,
    so unescaped ``<!channel>`` pings a channel and ``<https://x|label>`` hides a link behind any
    label. Not for plain_text objects (headers, buttons, options, modal titles, input values):
    Slack does not parse those, and an entity would show literally. Every builder calls this on
    outside text; nothing else escapes by hand. ``*``, ``_``, ``~`` and backticks are left as
    they are: they can only restyle text, never ping or link, and Slack has no escape for them
    (neutralising them would mean inserting invisible characters into people's words).
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
