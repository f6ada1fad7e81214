"""`ticketbot demo`: a non-interactive tour of the whole bot on this machine.

It starts the four backend sandboxes, a Slack stand-in and the real bot on loopback
(``LocalWorld``), plays a support agent's first minutes through signed Slack requests, and prints
what Slack would show, rendered as `ticketbot console` renders it. Nothing is left on disk.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bot.alerts import DetractorPoller
from bot.console.render import Style, message
from bot.sandbox import epixel, omnidesk, questionpro
from bot.sandbox.driver import TEAM, SlackUser
from bot.sandbox.local import CHANNELS, PEOPLE, LocalWorld
from bot.sandbox.slack import SlackStandIn

_STYLE = Style(color=False)
_NAMES = {p.user_id: p.name for p in PEOPLE} | CHANNELS


def render(blocks: list[dict[str, Any]] | None, text: str = "") -> str:
    """Block Kit (or a message's text) as a person reads it in Slack, buttons in brackets."""
    drawn = message(blocks, text, _STYLE, lambda ident: _NAMES.get(ident, ident))
    return "\n".join(drawn.lines)


def _show(title: str, body: str) -> None:
    print(f"\n── {title} " + "─" * max(0, 70 - len(title)))
    print("\n".join("   " + line for line in body.splitlines()))


async def run_demo() -> None:
    """Play the tour, then stop everything and remove its data directory."""
    async with LocalWorld() as world:
        print(
            "ticketbot demo: the real bot, a Slack stand-in and the four backend sandboxes, all on "
            "this machine. Each step below is a signed Slack request to the bot."
        )
        await _script(world)
    print(
        "\nFor a session of your own, run `ticketbot console`. To run it for your workspace, "
        "see README.md, Slack setup."
    )


async def _after(slack: SlackStandIn, method: str, action: Any) -> dict[str, Any]:
    before = len(slack.calls_to(method))
    await action
    return (await slack.wait_for(method, count=before + 1, within=15))[-1]


async def _subscription(world: LocalWorld, channel: str) -> Any:
    """The channel's subscription, once the bot has saved it (it confirms in the channel first)."""
    for _ in range(500):  # 10 s at most; the store sends no change events to wait on
        if found := await world.services.alerts.for_channel(TEAM, channel):
            return found[0]
        await asyncio.sleep(0.02)
    raise TimeoutError(f"no subscription was saved for {channel}")


async def _script(world: LocalWorld) -> None:
    slack, boxes, agent = world.slack, world.sandboxes, SlackUser(world, PEOPLE[1].user_id)
    agent.channel_id = "C0SUPPORT"
    help_answer = (await agent.command("help")).json()
    _show("/ticket help", render(help_answer["blocks"]))

    for backend, values in (
        ("omnidesk", {"base_url": boxes.omnidesk.base_url, "api_key": omnidesk.FULL_KEY}),
        (
            "epixel",
            {
                "base_url": boxes.epixel.base_url,
                "api_key": epixel.DEMO_API_KEY,
                "username": epixel.DEMO_USER,
                "password": epixel.DEMO_PASSWORD,
            },
        ),
        ("questionpro", {"datacenter": "us", "api_key": questionpro.DEMO_API_KEY}),
    ):
        opened = await _after(slack, "views.open", agent.command(f"connect {backend}"))
        confirmed = await _after(slack, "chat.postEphemeral", agent.submit(opened["view"], values))
        _show(f"/ticket connect {backend}  (form submitted)", render(None, confirmed["text"]))

    listed = await _after(slack, "response_url", agent.command("list"))
    _show("/ticket list  (first five)", "\n".join(render(listed["blocks"]).splitlines()[:11]))

    first = next(iter(boxes.omnidesk.tickets))
    shown = await _after(slack, "response_url", agent.command(f"show omnidesk:{first}"))
    _show(f"/ticket show omnidesk:{first}", render(shown["blocks"]))
    changed = await _after(slack, "response_url", agent.command(f"status omnidesk:{first} pending"))
    _show(f"/ticket status omnidesk:{first} pending", render(None, changed["text"]))

    cx = SlackUser(world, agent.user_id, "C0CX")
    confirm = await _after(
        slack, "chat.postMessage", cx.command("subscribe detractors segment:999")
    )
    poller = DetractorPoller(world.services, world.app.client)
    sub = await _subscription(world, "C0CX")
    summary = await _after(slack, "chat.postMessage", poller.poll(sub.id))
    _show(
        "/ticket subscribe detractors segment:999  (in #cx)",
        render(None, confirm["text"]) + "\n" + render(summary["blocks"]),
    )
    boxes.questionpro.add_detractors(1)
    alert = await _after(slack, "chat.postMessage", poller.poll(sub.id))
    _show("a new detractor arrives; the next poll posts it in #cx", render(alert["blocks"]))
