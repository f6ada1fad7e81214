"""Drive the real bot over loopback the way Slack does: signed HTTP requests in (or envelopes over
Socket Mode), and the Slack stand-in recording what the bot sends back."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx
from aiohttp import web

from bot.app import build_app
from bot.config import Settings
from bot.sandbox.driver import SIGNING_SECRET, TEAM, SlackUser, fill_view, signed_headers
from bot.sandbox.slack import SlackStandIn
from bot.sandbox.socket_mode import SocketModeStandIn
from bot.server import EVENTS_PATH, build_web_app, start_site
from bot.services import Services
from bot.socket_mode import SocketModeRunner

__all__ = [
    "APP_TOKEN",
    "SIGNING_SECRET",
    "TEAM",
    "BotUnderTest",
    "SlackUser",
    "SocketBotUnderTest",
    "fill_view",
    "signed_headers",
]

APP_TOKEN = "xapp-1-A0TICKETBOT-1111-testapptoken"


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

    def user(self, user_id: str, channel_id: str = "C0GENERAL", **where: Any) -> SlackUser:
        """A person; ``where`` takes SlackUser's team_id, enterprise_id, org_install…"""
        return SlackUser(self, user_id, channel_id, **where)


# Slack lets the ack carry a payload only where one means something (docs: Socket Mode).
_ACCEPTS_PAYLOAD = {"view_submission", "block_suggestion"}


def envelope_for(body: str) -> tuple[str, dict[str, Any], bool]:
    """The Socket Mode envelope (type, payload, accepts_response_payload) for an HTTP body."""
    if body.lstrip().startswith("{"):
        return "events_api", json.loads(body), False
    form = {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}
    if "payload" in form:
        payload = json.loads(form["payload"])
        return "interactive", payload, payload.get("type") in _ACCEPTS_PAYLOAD
    return "slash_commands", form, True


@dataclass
class SocketBotUnderTest(BotUnderTest):
    """The same app over Socket Mode: ``post`` becomes an envelope and its ack the response."""

    socket: SocketModeStandIn | None = None
    _task: asyncio.Task[None] | None = None

    async def start(self) -> SocketBotUnderTest:
        self.socket = await SocketModeStandIn(self.slack).start()
        self.app = build_app(self.settings, self.services, socket_mode=True)
        connection = SocketModeRunner(self.app, APP_TOKEN, first_delay=0.05)
        self._task = asyncio.create_task(connection.run())
        await asyncio.wait_for(connection.connected.wait(), 5)
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.socket is not None:
            await self.socket.stop()
        await self.services.aclose()

    async def post(self, body: str, headers: dict | None = None) -> httpx.Response:
        assert self.socket is not None
        kind, payload, accepts = envelope_for(body)
        ack = await self.socket.request(kind, payload, accepts_response_payload=accepts)
        if "payload" not in ack:
            return httpx.Response(200)
        return httpx.Response(200, json=ack["payload"])
