"""Block Kit and mrkdwn as a person reads them in Slack, turned into terminal text.

Pure functions: ``mrkdwn`` handles one text object's markup (bold, italic, strike, code, links,
mentions, dates, emoji shortcodes, Slack's ``&amp; &lt; &gt;`` escaping); ``message`` lays out a
message's blocks and numbers everything that can be pressed, so the console can map a typed
number back to the element and the block it came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The shortcodes ticketbot sends (grep ':[a-z_]*:' bot handlers), plus a few common ones. A code
# missing here is shown as typed, which is what Slack shows for an unknown one too.
EMOJI = {
    "white_check_mark": "✅",
    "warning": "⚠️",
    "x": "❌",
    "paperclip": "📎",
    "rotating_light": "🚨",
    "raising_hand": "🙋",
    "pause_button": "⏸️",
    "hourglass_flowing_sand": "⏳",
    "arrows_counterclockwise": "🔄",
    "arrow_up": "⬆️",
    "speech_balloon": "💬",
    "pencil2": "✏️",
    "page_facing_up": "📄",
    "link": "🔗",
    "label": "🏷️",
    "grey_question": "❔",
    "eyes": "👀",
    "arrow_forward": "▶️",
    "alarm_clock": "⏰",
    "inbox_tray": "📥",
    "outbox_tray": "📤",
    "bell": "🔔",
    "tada": "🎉",
    "wave": "👋",
}

_ANSI = {"bold": "\x1b[1m", "italic": "\x1b[3m", "strike": "\x1b[9m", "code": "\x1b[36m"}
_RESET = "\x1b[0m"
_DIM = "\x1b[2m"

# Escape sequences other than colours (SGR, "ESC [ … m"), and every other control character but
# newline and tab: text from a backend or a user must not retitle, clear or script the terminal.
_UNSAFE = re.compile(r"\x1b(?!\[[0-9;]*m)|[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f]")
_SPECIAL = re.compile(r"<([^<>]+)>")
_EMOJI = re.compile(r":([a-z0-9_+-]+):")
# Slack's markup needs a boundary on both sides: *bold* but not a*b*c.
_STYLES = (
    ("code", re.compile(r"`([^`\n]+)`")),
    ("bold", re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")),
    ("italic", re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])")),
    ("strike", re.compile(r"(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])")),
)


@dataclass(frozen=True)
class Style:
    """How to show emphasis: ANSI escapes on a terminal, nothing when output is piped."""

    color: bool = False

    def wrap(self, kind: str, text: str) -> str:
        """``text`` in ``kind`` (bold, italic, strike, code)."""
        return f"{_ANSI[kind]}{text}{_RESET}" if self.color else text

    def dim(self, text: str) -> str:
        """Secondary text (context lines, notes)."""
        return f"{_DIM}{text}{_RESET}" if self.color else text


Names = Callable[[str], str]


def terminal_safe(line: str) -> str:
    """``line`` without the control characters that would act on the terminal instead of
    showing: everything the console prints passes through here, so nothing the bot or a
    backend sends can move the cursor, clear the screen, set the title or the clipboard."""
    return _UNSAFE.sub("", line)


def _no_names(ident: str) -> str:
    return ident


def mrkdwn(text: str, style: Style, names: Names = _no_names) -> str:
    """One mrkdwn string as Slack would show it; ``names`` maps user/channel ids to names."""
    parts: list[str] = []
    last = 0
    for match in _SPECIAL.finditer(text):
        parts.append(_emphasis(text[last : match.start()], style))
        parts.append(_special(match.group(1), names))
        last = match.end()
    parts.append(_emphasis(text[last:], style))
    lines = _unescape("".join(parts)).split("\n")
    return "\n".join("▍ " + line[1:] if line.startswith(">") else line for line in lines)


def plain(text: str) -> str:
    """A plain_text object's text: only emoji shortcodes are turned into emoji."""
    return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def _emphasis(text: str, style: Style) -> str:
    text = _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    for kind, pattern in _STYLES:
        text = pattern.sub(lambda m, kind=kind: style.wrap(kind, m.group(1)), text)
    return text


def _special(inner: str, names: Names) -> str:
    target, _, label = inner.partition("|")
    if target.startswith(("@U", "@W")):
        return "@" + (label or names(target[1:]))
    if target.startswith("#C") or target.startswith("#G"):
        return "#" + (label or names(target[1:]))
    if target.startswith("!date^"):
        return label or target
    if target.startswith("!subteam^"):
        return label or "@group"
    if target.startswith("!"):
        return "@" + target[1:]
    if target.startswith("mailto:"):
        return label or target.removeprefix("mailto:")
    return f"{label} ({target})" if label and label != target else target


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def text_object(obj: dict[str, Any] | None, style: Style, names: Names = _no_names) -> str:
    """A Block Kit text object (plain_text or mrkdwn) as terminal text."""
    if not obj:
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn(obj.get("text", ""), style, names)
    return plain(obj.get("text", ""))


@dataclass
class Pressable:
    """Something a person can press or pick: a button, or one option of a menu."""

    label: str
    element: dict[str, Any]
    block_id: str
    option: dict[str, Any] | None = None


@dataclass
class Rendered:
    """Lines to print, and what each number on them presses."""

    lines: list[str] = field(default_factory=list)
    pressables: list[Pressable] = field(default_factory=list)


def message(
    blocks: list[dict[str, Any]] | None,
    text: str,
    style: Style,
    names: Names = _no_names,
    *,
    first_number: int = 1,
) -> Rendered:
    """A message's blocks (or its ``text`` when it has none), numbering its controls."""
    out = Rendered()
    if not blocks:
        out.lines.extend(mrkdwn(text or "", style, names).splitlines() or [""])
        return out
    for block in blocks:
        _block(block, style, names, out, first_number)
    return out


def _block(block: dict[str, Any], style: Style, names: Names, out: Rendered, first: int) -> None:
    kind = block.get("type")
    block_id = block.get("block_id", "")
    if kind == "header":
        out.lines.append(style.wrap("bold", text_object(block.get("text"), style, names)))
    elif kind == "divider":
        out.lines.append(style.dim("─" * 40))
    elif kind == "context":
        bits = [text_object(e, style, names) for e in block.get("elements", []) if "text" in e]
        out.lines.append(style.dim("  " + " · ".join(bits)))
    elif kind == "section":
        lines = text_object(block.get("text"), style, names).splitlines() or [""]
        for field_obj in block.get("fields") or []:
            lines.append(text_object(field_obj, style, names))
        accessory = block.get("accessory")
        if accessory:
            lines[-1] += "   " + _controls([accessory], block_id, out, first)
        out.lines.extend(lines)
    elif kind == "actions":
        out.lines.append("  " + _controls(block.get("elements", []), block_id, out, first))
    elif kind == "image":
        out.lines.append(f"[image: {block.get('alt_text', '')}]")
    elif kind == "rich_text":
        out.lines.append(_rich_text(block))


def _controls(elements: list[dict[str, Any]], block_id: str, out: Rendered, first: int) -> str:
    shown: list[str] = []
    for element in elements:
        options = element.get("options")
        if element.get("type") == "button":
            label = plain(element.get("text", {}).get("text", ""))
            shown.append(_number(out, first, Pressable(label, element, block_id)))
        elif element.get("type") == "overflow" and options:
            for option in options:
                label = plain(option.get("text", {}).get("text", ""))
                shown.append(_number(out, first, Pressable(label, element, block_id, option)))
        elif "select" in str(element.get("type")):
            label = plain((element.get("placeholder") or {}).get("text", "Choose…"))
            shown.append(_number(out, first, Pressable(label + " ▾", element, block_id)))
    return " ".join(shown)


def _number(out: Rendered, first: int, pressable: Pressable) -> str:
    out.pressables.append(pressable)
    return f"[{first + len(out.pressables) - 1}] {pressable.label}"


def _rich_text(block: dict[str, Any]) -> str:
    texts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "text" in node and isinstance(node["text"], str):
                texts.append(node["text"])
            for child in node.get("elements", []):
                walk(child)

    walk(block)
    return "".join(texts)
