"""What one person's Slack client would show, rebuilt from what the bot sent to the stand-in.

``Screen.take`` reads the Slack stand-in's new calls (messages posted, updated, deleted, sent
through a response_url, ephemeral; modals opened and updated) and turns each into printed lines,
numbering buttons so the input loop can press them. It never looks inside the bot.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.console import render
from bot.sandbox.slack import SlackStandIn


@dataclass
class Shown:
    """A message as the person sees it."""

    key: str
    channel: str
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    ts: str | None = None
    thread_ts: str | None = None
    only_for: str | None = None  # the one person who sees an ephemeral message


@dataclass
class Modal:
    """The modal open on the person's screen, as the bot last drew it."""

    view: dict[str, Any]


@dataclass
class Target:
    """What a number on the screen presses: an element, in a message or in a modal."""

    pressable: render.Pressable
    message: Shown | None


class Screen:
    """The console's view of Slack for the person acting now."""

    def __init__(
        self,
        slack: SlackStandIn,
        style: render.Style,
        names: Callable[[str], str],
        write: Callable[[str], None],
    ) -> None:
        self.slack, self.style, self.names, self.write = slack, style, names, write
        self.user_id = ""
        self.channel = ""
        self.messages: dict[str, Shown] = {}
        self.modal: Modal | None = None
        self.targets: dict[int, Target] = {}
        self._seen = 0
        self._keys = itertools.count(1)
        # response_url name -> the message whose button (or the command) it answers
        self.origins: dict[str, Shown | None] = {}

    # Reading what the bot sent ---------------------------------------------------------------

    def pending(self) -> int:
        """How many calls the bot made that the screen has not shown yet."""
        return len(self.slack.calls) - self._seen

    def take(self) -> None:
        """Show every call the bot made since the last look, numbering their buttons afresh."""
        calls = self.slack.calls[self._seen :]
        self._seen += len(calls)
        numbered: dict[int, Target] = {}
        for call in calls:
            if call.method == "response_url":
                self._responded(call.target, call.args, numbered)
            else:
                self._apply(call.method, call.args, call.answer, numbered)
        if numbered:
            self.targets = numbered

    def show_answer(self, body: dict[str, Any], origin: str) -> None:
        """A command's immediate answer (the ack body), shown as Slack shows it: to you only."""
        if not (body.get("text") or body.get("blocks")):
            return
        shown = self._new(self.channel, body, only_for=self.user_id)
        numbered: dict[int, Target] = {}
        self._print(shown, "", numbered)
        self.origins.setdefault(origin, shown)
        if numbered:
            self.targets = numbered

    def _apply(
        self, method: str, args: dict[str, Any], answer: dict[str, Any], numbered: dict[int, Target]
    ) -> None:
        if method == "chat.postMessage":
            self._posted(args, answer.get("ts"), numbered)
        elif method == "chat.update":
            found = self.messages.get(f"{args.get('channel')}:{args.get('ts')}")
            if found is not None:
                found.text, found.blocks = args.get("text") or "", _blocks(args)
                self._print(found, "updated", numbered)
        elif method == "chat.postEphemeral" and args.get("user") == self.user_id:
            shown = self._new(str(args.get("channel")), args, only_for=self.user_id)
            shown.thread_ts = args.get("thread_ts")
            self._print(shown, "", numbered)
        elif method in {"views.open", "views.push", "views.update"}:
            self._modal(args, (answer.get("view") or {}).get("id"))
        elif method == "files.completeUploadExternal":
            title = ", ".join(str(f.get("title") or f.get("id")) for f in _files(args))
            self.write(f"📎 ticketbot sent you a file: {title}")

    def _posted(self, args: dict[str, Any], ts: str | None, numbered: dict[int, Target]) -> None:
        channel = str(args.get("channel"))
        shown = self._new(channel, args, ts=ts)
        shown.thread_ts = args.get("thread_ts")
        if channel.startswith("D") and channel != "D" + self.user_id[1:]:
            self.write(self.style.dim("(ticketbot sent a direct message to someone else)"))
            return
        self._print(shown, "", numbered)

    def _responded(self, origin: str, args: dict[str, Any], numbered: dict[int, Target]) -> None:
        source = self.origins.get(origin)
        if args.get("delete_original") and source is not None:
            self.messages.pop(source.key, None)
            self.write(self.style.dim("(the message was deleted)"))
            return
        if args.get("replace_original") and source is not None:
            source.text, source.blocks = args.get("text") or "", _blocks(args)
            self._print(source, "updated", numbered)
            return
        in_channel = args.get("response_type") == "in_channel"
        channel = source.channel if source is not None else self.channel
        shown = self._new(channel, args, only_for=None if in_channel else self.user_id)
        self._print(shown, "", numbered)

    def _modal(self, args: dict[str, Any], view_id: str | None) -> None:
        view = args.get("view") or {}
        if self.modal is not None and args.get("view_id") not in {None, self.modal.view.get("id")}:
            return  # an update of a modal that is no longer on screen
        self.modal = Modal({**view, "id": view_id})

    # Printing --------------------------------------------------------------------------------

    def _new(
        self,
        channel: str,
        args: dict[str, Any],
        *,
        ts: str | None = None,
        only_for: str | None = None,
    ) -> Shown:
        key = f"{channel}:{ts}" if ts else f"local:{next(self._keys)}"
        shown = Shown(key, channel, args.get("text") or "", _blocks(args), ts, None, only_for)
        self.messages[key] = shown
        return shown

    def _print(self, shown: Shown, note: str, numbered: dict[int, Target]) -> None:
        drawn = render.message(
            shown.blocks, shown.text, self.style, self.names, first_number=len(numbered) + 1
        )
        for pressable in drawn.pressables:
            numbered[len(numbered) + 1] = Target(pressable, shown)
        self.write(self._heading(shown, note))
        indent = "  │ " if shown.thread_ts else "  "
        for line in drawn.lines:
            self.write(indent + line)

    def _heading(self, shown: Shown, note: str) -> str:
        where = self._where(shown.channel)
        bits = [self.style.wrap("bold", "ticketbot"), self.style.dim(where)]
        if shown.thread_ts:
            parent = self.messages.get(f"{shown.channel}:{shown.thread_ts}")
            first = (render.mrkdwn(parent.text, self.style, self.names) if parent else "")[:50]
            bits.append(self.style.dim(f"↳ reply in thread: {first}"))
        if shown.only_for:
            bits.append(self.style.dim("(only visible to you)"))
        if note:
            bits.append(self.style.dim(f"({note})"))
        return " ".join(bits)

    def _where(self, channel: str) -> str:
        if channel.startswith("D"):
            return "in your DM"
        return f"in #{self.names(channel)}"

    def history(self) -> None:
        """Every message of the current channel again, with its latest content, renumbered."""
        numbered: dict[int, Target] = {}
        for shown in self.messages.values():
            visible = shown.only_for in {None, self.user_id}
            if shown.channel == self.channel and visible:
                self._print(shown, "", numbered)
        self.targets = numbered


def _blocks(args: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = args.get("blocks")
    return blocks if isinstance(blocks, list) else []


def _files(args: dict[str, Any]) -> list[dict[str, Any]]:
    files = args.get("files")
    return files if isinstance(files, list) else []
