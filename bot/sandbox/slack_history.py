"""The Slack stand-in's channels: what each one shows, and ``conversations.history`` over it.

Posted messages are kept per channel, oldest first (top-level messages and thread replies alike),
with their metadata; ``chat.update`` changes one in place; ``conversations.history`` reads them
back the way Slack documents it (newest first, ``oldest``/``latest``, ``limit``, ``cursor``,
metadata only with ``include_all_metadata``). Kept apart from ``slack.py``, which answers and
records the calls, because this is the stand-in's one piece of state that reads like Slack's.
"""

from __future__ import annotations

import base64
import time
from typing import Any


class ChannelHistory:
    """The messages of every channel, keyed by channel id."""

    def __init__(self) -> None:
        # What each channel shows, oldest first: top-level messages and thread replies alike.
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self._last_ts = 0.0

    def next_ts(self) -> str:
        """A new message's ts."""
        # Like Slack's: the time of arrival in seconds, unique (and increasing) to the microsecond.
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

    def keep(self, args: dict[str, Any]) -> dict[str, Any]:
        """Keep what chat.postMessage (or chat.update, given ``ts``) sent; returns the message."""
        channel = self.messages.setdefault(str(args.get("channel")), [])
        if args.get("ts"):  # chat.update: the message changes in place
            found = next((m for m in channel if m["ts"] == args["ts"]), None)
            if found is None:
                return {"ts": args["ts"]}
            found.update({k: args[k] for k in ("text", "blocks", "metadata") if k in args})
            return found
        message: dict[str, Any] = {
            "type": "message",
            "user": "U0BOT",
            "bot_id": "B0BOT",
            "text": args.get("text", ""),
            "ts": self.next_ts(),
        }
        for key in ("blocks", "thread_ts", "metadata"):
            if args.get(key):
                message[key] = args[key]
        channel.append(message)
        return message

    def history(self, args: dict[str, Any]) -> dict[str, Any]:
        """conversations.history: top-level messages newest first, within ``oldest``/``latest``
        (exclusive unless ``inclusive``), ``limit`` a page, ``cursor`` for the next; metadata
        only with ``include_all_metadata``."""
        inclusive = _truthy(args.get("inclusive"))
        oldest, latest = float(args.get("oldest") or 0), float(args.get("latest") or time.time())
        limit = min(int(args.get("limit") or 100), 999)

        def within(ts: float) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        shown = [
            m
            for m in reversed(self.messages.get(str(args.get("channel")), []))
            if m.get("thread_ts", m["ts"]) == m["ts"] and within(float(m["ts"]))
        ]
        start = int(base64.b64decode(args["cursor"]).decode()) if args.get("cursor") else 0
        page = shown[start : start + limit]
        more = start + limit < len(shown)
        with_metadata = _truthy(args.get("include_all_metadata"))
        return {
            "ok": True,
            "messages": [
                {k: v for k, v in m.items() if with_metadata or k != "metadata"} for m in page
            ],
            "has_more": more,
            "pin_count": 0,
            "response_metadata": {
                "next_cursor": base64.b64encode(str(start + limit).encode()).decode()
                if more
                else ""
            },
        }


def _truthy(value: Any) -> bool:
    return str(value).lower() in {"1", "true"}
