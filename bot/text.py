"""Text people type or post, made plain before anything parses or stores it.

Three things Slack clients do to text that our parsers must not trip over:
- phones and Macs turn ``"`` into ``“ ”`` and ``'`` into ``’``, and text pasted from a web page
  brings no-break spaces, so a command that looks right is split wrongly;
- ``str.isdigit()`` is true for ``²`` and ``١٢٣``, which ``int()`` then refuses or reads as a
  different number than the backend would;
- message text arrives in Slack's markup (``&lt;``, ``<url|label>``, ``<@U…>``), which means
  nothing to a ticket backend.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

_QUOTES = str.maketrans(
    {
        "\u201c": '"',  # “
        "\u201d": '"',  # ”
        "\u201e": '"',  # „
        "\u201f": '"',  # ‟
        "\u2033": '"',  # ″
        "\u2018": "'",  # ‘
        "\u2019": "'",  # ’
    }
)


def normalise_typed(text: str) -> str:
    """A command as the person meant it: typographic quotes as ASCII quotes, every Unicode space
    separator (no-break, thin, ideographic, …) as a plain space."""
    text = text.translate(_QUOTES)
    return "".join(" " if unicodedata.category(c) == "Zs" else c for c in text)


def is_number(text: str) -> bool:
    """True for ASCII digits only: ``"123"`` yes; ``""``, ``"²"``, ``"١٢٣"``, ``"-1"`` no."""
    return text.isascii() and text.isdigit()


# <…> sequences in message text; the part before "|" says what it is, the part after is a label.
_SEQUENCE = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_SPECIAL = {"here", "channel", "everyone"}


def mentioned_users(text: str) -> list[str]:
    """The user ids of ``<@U…>`` / ``<@W…>`` mentions in ``text``, each once, in order."""
    found = [m.group(1)[1:] for m in _SEQUENCE.finditer(text) if m.group(1).startswith("@")]
    return list(dict.fromkeys(found))


def slack_markup_to_text(text: str, names: Mapping[str, str] | None = None) -> str:
    """Message text in Slack's markup as a person reads it: ``&lt;`` as ``<``,
    ``<https://x|label>`` as ``label (https://x)``, ``<mailto:a@b.c|a@b.c>`` as ``a@b.c``,
    ``<@U1>`` as ``@name`` (from ``names``, else the id), ``<#C1|general>`` as ``#general``,
    ``<!here>`` as ``@here``, ``<!subteam^S1|@team>`` as ``@team``."""
    names = names or {}

    def plain(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("@"):
            user = target[1:]
            return "@" + (names.get(user) or label or user)
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return _special(target[1:], label)
        if target.startswith("mailto:"):
            return label or target.removeprefix("mailto:")
        if label and label != target:
            return f"{label} ({target})"
        return target

    # Sequences first, entities after: an escaped "&lt;b&gt;" must not become a sequence.
    # Slack escapes only these three, "&" first, so "&amp;" is undone last.
    converted = _SEQUENCE.sub(plain, text)
    return converted.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _special(command: str, label: str | None) -> str:
    # <!here>, <!channel>, <!everyone>, <!subteam^S…|@group>, <!date^…|fallback>
    name = command.split("^", 1)[0]
    if name in _SPECIAL:
        return "@" + name
    if label:
        return label if name != "subteam" or label.startswith("@") else "@" + label
    return "@" + name
