"""`ticketbot console`: talk to the real bot in a terminal, as one person at a Slack client.

The four sandboxes, the Slack stand-in and the bot run on loopback (``LocalWorld``); the
console sends signed Slack requests like Slack does and shows what the bot sends back
(``Screen``), with numbered buttons and modals asked as forms (``Console``, ``FormFiller``).
Works at a terminal (ANSI styles) and with piped input (one line per input; plain text).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from typing import TextIO

from bot.console.render import Style, terminal_safe
from bot.console.screen import Screen
from bot.console.session import Console
from bot.sandbox.local import CHANNELS, PEOPLE, LocalWorld

WELCOME = (
    "ticketbot console: the real bot, a Slack stand-in and four backend sandboxes on this "
    "machine. You are {name}, in #{channel}, with the sandbox accounts connected; #{channel} "
    "gets QuestionPro detractor alerts. Type /help for what you can do, /quit to leave."
)


def _names() -> Callable[[str], str]:
    known = {p.user_id: p.name for p in PEOPLE} | {"U0BOT": "ticketbot"} | CHANNELS
    return lambda ident: known.get(ident, ident)


async def run_console(
    stdin: TextIO | None = None, stdout: TextIO | None = None, *, color: bool | None = None
) -> int:
    """Run a console session on ``stdin``/``stdout`` until ``/quit`` or end of input."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    interactive = stdin.isatty()
    style = Style(color=stdout.isatty() if color is None else color)

    def write(line: str) -> None:
        stdout.write(terminal_safe(line) + "\n")
        stdout.flush()

    async def read(prompt: str) -> str | None:
        if interactive:
            stdout.write(terminal_safe(prompt))
            stdout.flush()
        line = await asyncio.get_running_loop().run_in_executor(None, stdin.readline)
        if not line:
            return None
        if not interactive:
            write(prompt + line.rstrip("\n"))  # a transcript that reads like the session
        return line.rstrip("\n")

    async with LocalWorld(poll_interval=1.0) as world:
        for person in PEOPLE:
            await world.connect_everything(person)
        screen = Screen(world.slack, style, _names(), write)
        console = Console(world, screen, read)
        write(WELCOME.format(name=console.person.name, channel=CHANNELS[console.channel]))
        screen.user_id, screen.channel = console.person.user_id, console.channel
        await console.user.command("subscribe detractors segment:999")
        world.start_poller()
        live = asyncio.create_task(_show_live(console)) if interactive else None
        try:
            await console.run()
        finally:
            if live is not None:
                live.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await live
    return 0


async def _show_live(console: Console) -> None:
    """At a terminal, alerts and other messages appear while the person is typing."""
    while True:
        await asyncio.sleep(0.5)
        if console.screen.pending() and console.screen.modal is None:
            console.screen.take()
