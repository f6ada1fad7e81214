"""Drive the real bot over loopback HTTP the way Slack does: signed requests in, and the Slack
stand-in recording what the bot sends back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from aiohttp import web

from bot.app import build_app
from bot.config import Settings
from bot.sandbox.driver import SIGNING_SECRET, TEAM, SlackUser, fill_view, signed_headers
from bot.sandbox.slack import SlackStandIn
from bot.server import EVENTS_PATH, build_web_app, start_site
from bot.services import Services

__all__ = ["SIGNING_SECRET", "TEAM", "BotUnderTest", "SlackUser", "fill_view", "signed_headers"]


@dataclass
class BotUnderTest:
    """ticketbot's real app behind its real aiohttp server on a loopback port."""

    slack: SlackStandIn
    settings: Settings
    services: Services
    runner: web.AppRunner | None = None
    app: Any = None
    url: str = ""
    http: httpx.AsyncClient | None = None

    async def start(self) -> BotUnderTest:
        app = self.app = build_app(self.settings, self.services)
        self.runner, port = await start_site(build_web_app(app, self.services), "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.AsyncClient(base_url=self.url, timeout=10)
        return self

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.aclose()
        if self.runner is not None:
            await self.runner.cleanup()
        await self.services.aclose()

    async def post(self, body: str, headers: dict | None = None) -> httpx.Response:
        assert self.http is not None
        return await self.http.post(
            EVENTS_PATH,
            content=body,
            headers=headers if headers is not None else signed_headers(body),
        )

    def user(self, user_id: str, channel_id: str = "C0GENERAL") -> SlackUser:
        return SlackUser(self, user_id, channel_id)
