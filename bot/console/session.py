"""The console's input loop: one person at a Slack client, typing into a terminal.

Lines starting with ``/ticket`` go to the bot as signed slash commands; a number presses the
button with that number; a modal is asked as a form, one input at a time; console commands
(``/as``, ``/channel``, ``/history``, ``/detractor``, ``/help``, ``/quit``) act on the console
itself. Everything the bot answers is read back from the Slack stand-in by ``Screen``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bot.console import render
from bot.console.forms import FormFiller
from bot.console.screen import Screen, Target
from bot.sandbox.driver import SlackUser
from bot.sandbox.local import CHANNELS, PEOPLE, LocalWorld

HELP = """\
Type what you would type in Slack, for example `/ticket list` or `/ticket help`.
  <number>          press the button with that number (the numbers on the latest messages)
  /as <name>        act as someone else: {people}
  /channel <name>   move to another channel: {channels}
  /history          show this channel's messages again
  /detractor        make QuestionPro receive a new detractor (its alert follows in #support)
  /help             this list
  /quit             leave (end of input does the same)
In a form: press Enter to keep the value shown, type a number to pick an option, a path for a
file input, `/cancel` to close the form."""

ReadLine = Callable[[str], Awaitable[str | None]]


class Console:
    """One console session over a running ``LocalWorld``."""

    def __init__(
        self, world: LocalWorld, screen: Screen, read: ReadLine, *, quiet: float = 0.4
    ) -> None:
        self.world, self.screen, self.read, self.quiet = world, screen, read, quiet
        self._origins = itertools.count(1)
        self.person = PEOPLE[0]
        self.channel = "C0SUPPORT"
        self._users: dict[str, SlackUser] = {}

    @property
    def user(self) -> SlackUser:
        """The driver acting as the current person in the current channel."""
        key = f"{self.person.user_id}:{self.channel}"
        if key not in self._users:
            self._users[key] = SlackUser(self.world, self.person.user_id, self.channel)
        return self._users[key]

    def _write(self, line: str) -> None:
        self.screen.write(line)

    async def run(self) -> None:
        """Read and act on lines until ``/quit`` or the end of input."""
        self._enter()
        await self.settle(first_within=3.0)
        while True:
            line = await self.read(f"{self.person.name} in #{CHANNELS[self.channel]}> ")
            if line is None or line.strip() == "/quit":
                break
            await self.handle(line.strip())
        await self.settle(first_within=0)

    def _enter(self) -> None:
        self.screen.user_id, self.screen.channel = self.person.user_id, self.channel

    async def handle(self, line: str) -> None:
        """Act on one typed line."""
        if not line:
            return
        word, _, rest = line.partition(" ")
        if line.isascii() and line.isdigit():
            await self._press(int(line))
        elif word == "/ticket":
            await self._command(rest)
        elif word in CONSOLE_COMMANDS:
            await CONSOLE_COMMANDS[word](self, rest.strip())
        else:
            self._write("Type /ticket … to talk to the bot, a number to press a button, or /help.")

    # Talking to the bot ------------------------------------------------------------------------

    async def _command(self, text: str) -> None:
        origin = self._origin()
        answer = await self.user.command(text, response_url=self.world.slack.response_url(origin))
        await self._after(answer, origin)

    async def _press(self, number: int) -> None:
        target = self.screen.targets.get(number)
        if target is None:
            self._write(f"There is no button [{number}] on the latest messages; try /history.")
            return
        value = await self._choose(target)
        if value is None:
            return
        element = target.pressable.element
        origin = self._origin()
        message = target.message
        self.screen.origins[origin] = message
        answer = await self.user.click(
            element.get("action_id", ""),
            value,
            message_ts=(message.ts if message and message.ts else "1700000000.000100"),
            response_url=self.world.slack.response_url(origin),
        )
        await self._after(answer, origin)

    async def _choose(self, target: Target) -> str | None:
        """The value a press sends: a button's value, or the option picked from a menu."""
        pressable = target.pressable
        if pressable.option is not None:
            return str(pressable.option.get("value", ""))
        options = pressable.element.get("options")
        if not options:
            return str(pressable.element.get("value", ""))
        for index, option in enumerate(options, 1):
            self._write(f"  {index}. {render.plain(option['text']['text'])}")
        picked = await self.read("  pick a number: ")
        if picked and picked.strip().isdigit() and 0 < int(picked) <= len(options):
            return str(options[int(picked) - 1]["value"])
        self._write("Nothing picked.")
        return None

    async def _after(self, answer: httpx.Response, origin: str) -> None:
        if answer.status_code != 200:
            self._write(f"(Slack would show: the app did not answer, HTTP {answer.status_code})")
        elif answer.content:
            body = answer.json() if "json" in answer.headers.get("content-type", "") else {}
            self.screen.show_answer(body, origin)
        await self.settle()
        await self._forms()

    def _origin(self) -> str:
        return f"console.{self.person.user_id}.{next(self._origins)}"

    async def settle(self, first_within: float = 2.0, limit: float = 30.0) -> None:
        """Show what the bot sends: wait for a first call, then until it has been quiet a while."""
        slack, deadline = self.world.slack, time.monotonic() + limit
        if not self.screen.pending():
            await slack.wait_for_calls(len(slack.calls) + 1, first_within)
        while self.screen.pending() and time.monotonic() < deadline:
            self.screen.take()
            await slack.wait_for_calls(len(slack.calls) + 1, self.quiet)

    # Modals ------------------------------------------------------------------------------------

    async def _forms(self) -> None:
        """While a modal with inputs is open, ask for its fields and submit it."""
        while self.screen.modal is not None:
            modal = self.screen.modal
            outcome = await FormFiller(self, modal.view).run()
            if outcome != "submitted" or self.screen.modal is modal:
                # Cancelled, only something to read, or the bot never redrew it: it is closed.
                self.screen.modal = None

    async def submit(self, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        """Submit ``view`` with ``values``; returns the ack body (errors, update) if any."""
        answer = await self.user.submit(view, values)
        body: dict[str, Any] = {}
        if answer.content and "json" in answer.headers.get("content-type", ""):
            body = answer.json()
        return body

    async def pick_in_view(self, view: dict[str, Any], action_id: str, value: str) -> None:
        """A select in a modal's actions block was changed: Slack tells the bot at once."""
        await self.user.click(action_id, value, view=view)
        await self.settle()

    async def options(self, view: dict[str, Any], action_id: str, typed: str) -> list[dict]:
        """An external select's options for what was typed, as the bot answers Slack."""
        answer = await self.user.options(action_id, view, typed)
        try:
            return list(answer.json().get("options") or [])
        except (json.JSONDecodeError, ValueError):
            return []

    def attach(self, path: str) -> list[dict[str, Any]]:
        """A local file as Slack reports a file input's upload."""
        file = Path(path).expanduser()
        return [self.world.slack.add_file(file.name, file.read_bytes())]


async def _as(console: Console, name: str) -> None:
    person = next((p for p in PEOPLE if p.name == name.lower()), None)
    if person is None:
        console._write(f"Nobody called {name!r}; try one of: {_people()}.")
        return
    console.person = person
    console._enter()
    console._write(f"You are now {person.name}{' (a workspace admin)' if person.admin else ''}.")


async def _channel(console: Console, name: str) -> None:
    found = next((c for c, n in CHANNELS.items() if n == name.lstrip("#").lower()), None)
    if found is None:
        console._write(f"No channel #{name.lstrip('#')}; try one of: {_channels()}.")
        return
    console.channel = found
    console._enter()
    console._write(f"You are in #{CHANNELS[found]}.")


async def _history(console: Console, _rest: str) -> None:
    console.screen.history()


async def _detractor(console: Console, _rest: str) -> None:
    console.world.sandboxes.questionpro.add_detractors(1)
    console._write("A customer just gave a low score in QuestionPro; its alert comes to #support.")
    await console.settle(first_within=console.world.poll_interval * 3 + 2)


async def _help(console: Console, _rest: str) -> None:
    console._write(HELP.format(people=_people(), channels=_channels()))


def _people() -> str:
    return ", ".join(p.name + (" (admin)" if p.admin else "") for p in PEOPLE)


def _channels() -> str:
    return ", ".join("#" + n for n in CHANNELS.values())


CONSOLE_COMMANDS: dict[str, Callable[[Console, str], Awaitable[None]]] = {
    "/as": _as,
    "/channel": _channel,
    "/history": _history,
    "/detractor": _detractor,
    "/help": _help,
}
