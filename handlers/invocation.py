"""One `/ticket <sub> args…` after the ack, as subcommands receive it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.help import Usage
from bot.services import Services
from bot.tickets import Actor
from handlers.common import actor_of


@dataclass(frozen=True)
class Invocation:
    body: dict[str, Any]
    args: list[str]
    respond: AsyncRespond
    client: AsyncWebClient
    services: Services

    @property
    def team_id(self) -> str:
        return self.body["team_id"]

    @property
    def user_id(self) -> str:
        return self.body["user_id"]

    @property
    def actor(self) -> Actor:
        """The person, keyed as everywhere (the org on Enterprise Grid); ``team_id`` stays the
        workspace, which is what channels belong to."""
        return actor_of(self.body)

    async def say(self, text: str, blocks: list | None = None) -> None:
        """Answer the person who typed the command, only them."""
        await self.respond(response_type="ephemeral", text=text, blocks=blocks)


@dataclass(frozen=True)
class Subcommand:
    usage: Usage
    run: Callable[[Invocation], Awaitable[None]]
