"""`ticketbot demo`: the whole bot on this machine, no Slack workspace or vendor account needed.

It starts the four backend sandboxes, a Slack stand-in and the real bot on loopback, then plays a
support agent's first minutes through signed Slack requests, printing what Slack would show.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from typing import Any

import httpx
from cryptography.fernet import Fernet

from bot.alerts import DetractorPoller
from bot.app import build_app
from bot.config import Settings
from bot.runtime import build_services
from bot.sandbox import epixel, omnidesk, questionpro
from bot.sandbox.driver import SlackUser, signed_headers
from bot.sandbox.run import start_sandboxes
from bot.sandbox.slack import SlackStandIn
from bot.server import EVENTS_PATH, build_web_app, start_site

SECRET = "demo-signing-secret-" + Fernet.generate_key().decode()[:16]


class _LocalBot:
    def __init__(self, slack: SlackStandIn, url: str) -> None:
        self.slack, self._http = slack, httpx.AsyncClient(base_url=url, timeout=30)

    async def post(self, body: str, headers: dict | None = None) -> httpx.Response:
        return await self._http.post(
            EVENTS_PATH, content=body, headers=headers or signed_headers(body, SECRET)
        )

    async def aclose(self) -> None:
        await self._http.aclose()


def render(blocks: list[dict[str, Any]] | None, text: str = "") -> str:
    """Block Kit as plain lines, roughly as Slack would show it."""
    lines: list[str] = []
    for block in blocks or []:
        if block.get("text"):
            lines.append(_plain(block["text"]["text"]))
        if block["type"] == "context":
            lines.append("  " + " ".join(_plain(e.get("text", "")) for e in block["elements"]))
        if block.get("accessory", {}).get("type") == "button":
            lines[-1] += f"   [{block['accessory']['text']['text']}]"
        if block["type"] == "actions":
            lines.append(
                "  " + " ".join(f"[{e['text']['text']}]" for e in block["elements"] if "text" in e)
            )
        if block["type"] == "input":
            lines.append(f"  ▢ {block['label']['text']}")
    return "\n".join(lines) if lines else _plain(text)


def _plain(text: str) -> str:
    text = re.sub(r"<!date\^\d+\^[^|]*\|([^>]*)>", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _show(title: str, body: str) -> None:
    print(f"\n── {title} " + "─" * max(0, 70 - len(title)))
    print("\n".join("   " + line for line in body.splitlines()))


async def run_demo() -> None:
    sandboxes = await start_sandboxes()
    slack = await SlackStandIn().start()
    settings = Settings(
        slack_bot_token="xoxb-demo-0000-localonly",  # noqa: S106 (the stand-in's, not Slack's)
        slack_signing_secret=SECRET,
        slack_api_url=slack.api_url,
        data_dir=tempfile.mkdtemp(prefix="ticketbot-demo-"),
        secret_key=Fernet.generate_key().decode(),
        questionpro_base_url=sandboxes.questionpro.base_url,
        channel_post_interval=0,
        progress_interval=0,
        _env_file=None,
    )
    services = build_services(settings)
    app = build_app(settings, services)
    runner, port = await start_site(build_web_app(app), "127.0.0.1", 0)
    bot = _LocalBot(slack, f"http://127.0.0.1:{port}")
    agent = SlackUser(bot, "U0DEMO", "C0SUPPORT")  # type: ignore[arg-type]
    print(
        f"ticketbot is serving on http://127.0.0.1:{port}{EVENTS_PATH}, talking to a Slack "
        "stand-in and the four backend sandboxes, all on loopback."
    )
    try:
        await _script(bot, agent, sandboxes, services, app)
    finally:
        await bot.aclose()
        await runner.cleanup()
        await services.aclose()
        await slack.stop()
        await sandboxes.stop()
    print(
        "\nEverything above went through the real bot over HTTP, as signed Slack requests. "
        "To run it for your workspace, see README.md, Slack setup."
    )


async def _said(slack: SlackStandIn, method: str) -> dict[str, Any]:
    count = len(slack.calls_to(method))
    return (await slack.wait_for(method, count=max(count, 1), within=10))[-1]


async def _after(slack: SlackStandIn, method: str, action: Any) -> dict[str, Any]:
    before = len(slack.calls_to(method))
    await action
    return (await slack.wait_for(method, count=before + 1, within=15))[-1]


async def _subscription(services: Any, team_id: str, channel_id: str) -> Any:
    # The command saves the subscription just after its confirmation reaches the channel.
    for _ in range(750):
        if subs := await services.alerts.for_channel(team_id, channel_id):
            return subs[0]
        await asyncio.sleep(0.02)
    raise RuntimeError(f"the subscription in {channel_id} was never saved")


async def _script(
    bot: _LocalBot, agent: SlackUser, sandboxes: Any, services: Any, app: Any
) -> None:
    slack = bot.slack
    help_answer = (await agent.command("help")).json()
    _show("/ticket help", "\n".join(render(help_answer["blocks"]).splitlines()[:8]) + "\n   …")

    for backend, values in (
        ("omnidesk", {"base_url": sandboxes.omnidesk.base_url, "api_key": omnidesk.FULL_KEY}),
        (
            "epixel",
            {
                "base_url": sandboxes.epixel.base_url,
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
    _show("/ticket list", "\n".join(render(listed["blocks"]).splitlines()[:13]) + "\n   …")

    first = next(iter(sandboxes.omnidesk.tickets))
    shown = await _after(slack, "response_url", agent.command(f"show omnidesk:{first}"))
    _show(f"/ticket show omnidesk:{first}", render(shown["blocks"]))
    changed = await _after(slack, "response_url", agent.command(f"status omnidesk:{first} pending"))
    _show(f"/ticket status omnidesk:{first} pending", render(None, changed["text"]))

    cx = SlackUser(bot, "U0DEMO", "C0CX")  # type: ignore[arg-type]
    confirm = await _after(
        slack, "chat.postMessage", cx.command("subscribe detractors segment:999")
    )
    poller = DetractorPoller(services, app.client)
    sub = await _subscription(services, "T0SANDBOX", "C0CX")
    await poller.poll(sub.id)
    summary = await _said(slack, "chat.postMessage")
    _show(
        "/ticket subscribe detractors segment:999  (in #cx)",
        render(None, confirm["text"]) + "\n" + render(summary["blocks"]),
    )
    sandboxes.questionpro.add_detractors(1)
    alert = await _after(slack, "chat.postMessage", poller.poll(sub.id))
    _show("a new detractor arrives; the next poll posts", render(alert["blocks"]))
