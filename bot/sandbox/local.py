"""The whole bot on this machine: four backend sandboxes, a Slack stand-in and the real bot on
loopback, with a throw-away data directory. Used by `ticketbot console` and `ticketbot demo`.

``async with LocalWorld() as world`` starts everything and, on the way out, stops it and removes
the data directory, so a run leaves no files behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
from cryptography.fernet import Fernet

from bot.alerts import DetractorPoller
from bot.app import build_app
from bot.config import Settings
from bot.credentials import (
    EpixelCredentials,
    IspcrmCredentials,
    OmnideskCredentials,
    QuestionProCredentials,
)
from bot.runtime import build_services
from bot.sandbox import epixel, ispcrm, omnidesk, questionpro
from bot.sandbox.driver import TEAM, signed_headers
from bot.sandbox.run import Sandboxes, start_sandboxes
from bot.sandbox.slack import SlackStandIn
from bot.server import EVENTS_PATH, build_web_app, start_site
from bot.services import Services


@dataclass(frozen=True)
class Person:
    """Someone in the local workspace."""

    user_id: str
    name: str
    admin: bool = False


PEOPLE = (
    Person("U0ADMIN", "alex", admin=True),
    Person("U0AGENT1", "sam"),
    Person("U0AGENT2", "kim"),
)
CHANNELS = {"C0SUPPORT": "support", "C0CX": "cx", "C0GENERAL": "general"}


class LocalWorld:
    """Everything ticketbot talks to, on loopback, plus the bot itself serving signed HTTP."""

    def __init__(self, *, poll_interval: float = 2.0) -> None:
        self.poll_interval = poll_interval
        self._secret = "local-" + secrets.token_hex(16)
        self._data = tempfile.TemporaryDirectory(prefix="ticketbot-local-")
        self._stop_polling = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._runner: Any = None
        self._http: httpx.AsyncClient | None = None
        self.sandboxes: Sandboxes
        self.slack: SlackStandIn
        self.services: Services
        self.app: Any = None

    async def __aenter__(self) -> LocalWorld:
        try:
            await self._start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _start(self) -> None:
        self.sandboxes = await start_sandboxes()
        self.slack = await SlackStandIn().start()
        self.slack.admins.update(p.user_id for p in PEOPLE if p.admin)
        settings = Settings(
            slack_bot_token="xoxb-local-0000-loopbackonly",  # the stand-in's, not Slack's
            slack_signing_secret=self._secret,
            slack_app_token=None,  # the console and demo never use Socket Mode
            backend_allowlist="127.0.0.1",  # the sandboxes are on loopback
            slack_api_url=self.slack.api_url,
            data_dir=self._data.name,
            secret_key=Fernet.generate_key().decode(),
            questionpro_base_url=self.sandboxes.questionpro.base_url,
            poll_interval=self.poll_interval,
            channel_post_interval=0,
            progress_interval=0,
            _env_file=None,
        )
        self.services = build_services(settings)
        self.app = build_app(settings, self.services)
        self._runner, port = await start_site(
            build_web_app(self.app, self.services), "127.0.0.1", 0
        )
        self._http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def start_poller(self) -> None:
        """Poll subscriptions in the background, as `ticketbot serve` does."""
        poller = DetractorPoller(self.services, self.app.client)
        self._poller = asyncio.create_task(poller.run(self._stop_polling, tick=0.2))

    async def connect_everything(self, person: Person) -> None:
        """Give ``person`` an account on each sandbox, as if they had used /ticket connect."""
        store, boxes = self.services.store, self.sandboxes
        for creds in (
            QuestionProCredentials(datacenter="us", api_key=questionpro.DEMO_API_KEY),
            EpixelCredentials(
                base_url=boxes.epixel.base_url,
                api_key=epixel.DEMO_API_KEY,
                access_token=epixel.DEMO_ACCESS_TOKEN,
            ),
            OmnideskCredentials(base_url=boxes.omnidesk.base_url, api_key=omnidesk.FULL_KEY),
            IspcrmCredentials(base_url=boxes.ispcrm.base_url, token=ispcrm.DEMO_TOKEN),
        ):
            await store.save_credentials(TEAM, person.user_id, creds)

    async def post(self, body: str, headers: dict | None = None) -> httpx.Response:
        """Send a request to the bot as Slack would, signed with the bot's signing secret."""
        assert self._http is not None
        return await self._http.post(
            EVENTS_PATH, content=body, headers=headers or signed_headers(body, self._secret)
        )

    async def aclose(self) -> None:
        """Stop everything that was started and remove the data directory."""
        self._stop_polling.set()
        if self._poller is not None:
            with contextlib.suppress(Exception):
                await self._poller
        if self._http is not None:
            await self._http.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
        if getattr(self, "services", None) is not None:
            await self.services.aclose()
        if getattr(self, "slack", None) is not None:
            await self.slack.stop()
        if getattr(self, "sandboxes", None) is not None:
            await self.sandboxes.stop()
        self._data.cleanup()
