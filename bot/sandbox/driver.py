"""Act as Slack toward a running ticketbot: signed slash commands, clicks, modal submissions and
options requests, the way Slack sends them. Used by the tests and by `ticketbot demo`."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.ids import FIELD_ACTION
from bot.sandbox.slack import SlackStandIn


class BotEndpoint(Protocol):
    """A bot reachable over HTTP, with the Slack stand-in its Web API calls go to."""

    slack: SlackStandIn

    async def post(self, body: str, headers: dict | None = None) -> httpx.Response: ...


TEAM = "T0SANDBOX"
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"


def signed_headers(
    body: str, secret: str = SIGNING_SECRET, *, timestamp: int | None = None
) -> dict:
    """The headers Slack adds: a timestamp and an HMAC-SHA256 over ``v0:ts:body``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature or "",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def fill_view(view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The ``state.values`` Slack would send for ``view`` after a user entered ``values``."""
    state: dict[str, dict] = {}
    for block in view["blocks"]:
        if block["type"] != "input" or block["block_id"] not in values:
            continue
        value, element = values[block["block_id"]], block["element"]
        kind = element["type"]
        if kind in {"static_select", "external_select"}:
            option = None if value is None else {"value": value, "text": _plain(value)}
            entry: dict[str, Any] = {"type": kind, "selected_option": option}
        elif kind.startswith("multi_"):
            entry = {
                "type": kind,
                "selected_options": [{"value": v, "text": _plain(v)} for v in value or []],
            }
        elif kind == "file_input":
            entry = {"type": kind, "files": value or []}
        else:
            entry = {"type": kind, "value": value}
        state[block["block_id"]] = {element.get("action_id", FIELD_ACTION): entry}
    return {"values": state}


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


@dataclass
class SlackUser:
    """A person in the sandbox workspace who types commands and clicks."""

    bot: BotEndpoint
    user_id: str
    channel_id: str = "C0GENERAL"
    # Enterprise Grid: the workspace the request comes from, the org, and whether the app is
    # installed org-wide (then interactive payloads carry ``team: null``).
    team_id: str = TEAM
    enterprise_id: str | None = None
    org_install: bool = False
    _triggers: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        # Whoever types or clicks is a member of the workspace, so users.info knows them.
        self.bot.slack.add_user(self.user_id)

    async def command(
        self,
        text: str,
        *,
        command: str = "/ticket",
        channel_name: str = "general",
        response_url: str | None = None,
    ) -> httpx.Response:
        """Type ``/ticket <text>`` in ``channel_id``; returns the HTTP response (the ack).
        ``channel_name`` is ``directmessage`` in a DM."""
        form = {
            "token": "legacy",
            "team_id": self.team_id,
            "team_domain": "sandbox",
            **self._enterprise_fields(),
            "channel_id": self.channel_id,
            "channel_name": channel_name,
            "user_id": self.user_id,
            "user_name": self.user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0TICKETBOT",
            "response_url": response_url or self.bot.slack.response_url(self.user_id),
            "trigger_id": f"trigger.{self.user_id}.{next(self._triggers)}",
        }
        return await self.bot.post(urlencode(form))

    def _enterprise_fields(self) -> dict[str, str]:
        if self.enterprise_id is None:
            return {}
        return {
            "enterprise_id": self.enterprise_id,
            "enterprise_name": "Sandbox Org",
            "is_enterprise_install": "true" if self.org_install else "false",
        }

    async def interact(self, payload: dict[str, Any]) -> httpx.Response:
        """Send an interactivity payload (block_actions, view_submission, …) as this user."""
        team: dict[str, Any] | None = {"id": self.team_id, "domain": "sandbox"}
        enterprise = None
        if self.enterprise_id is not None:
            enterprise = {"id": self.enterprise_id, "name": "Sandbox Org"}
            team = None if self.org_install else {**team, "enterprise_id": self.enterprise_id}
        base = {
            "team": team,
            "enterprise": enterprise,
            "is_enterprise_install": self.org_install,
            "user": {"id": self.user_id, "team_id": self.team_id, "username": self.user_id.lower()},
            "api_app_id": "A0TICKETBOT",
            "token": "legacy",
            "trigger_id": f"trigger.{self.user_id}.{next(self._triggers)}",
        }
        return await self.bot.post(urlencode({"payload": json.dumps({**base, **payload})}))

    async def shortcut(self, message: dict[str, Any], callback_id: str) -> httpx.Response:
        """Use a message shortcut on ``message`` in ``channel_id``."""
        return await self.interact(
            {
                "type": "message_action",
                "callback_id": callback_id,
                "message": message,
                "channel": {"id": self.channel_id, "name": "general"},
                "message_ts": message["ts"],
                "response_url": self.bot.slack.response_url(self.user_id),
            }
        )

    async def options(
        self, action_id: str, view: dict[str, Any], typed: str = ""
    ) -> httpx.Response:
        """Open an external select in ``view``: Slack asks the bot for its options."""
        return await self.interact(
            {
                "type": "block_suggestion",
                "action_id": action_id,
                "block_id": "b",
                "value": typed,
                "view": view,
            }
        )

    async def submit(self, view: dict[str, Any], values: dict[str, Any]) -> httpx.Response:
        """Submit the modal ``view`` (as the bot sent it) with ``values`` typed in."""
        submitted = {**view, "id": view.get("id", "V00001"), "state": fill_view(view, values)}
        return await self.interact({"type": "view_submission", "view": submitted})

    async def click(
        self,
        action_id: str,
        value: str,
        *,
        view: dict | None = None,
        message: bool = True,
        message_ts: str = "1700000000.000100",
        response_url: str | None = None,
    ) -> httpx.Response:
        """Click a button (or pick an option) with ``action_id`` in a message or a modal."""
        action = {
            "action_id": action_id,
            "block_id": "b",
            "value": value,
            "type": "button",
            "selected_option": {"value": value},
            "action_ts": str(time.time()),
        }
        payload: dict[str, Any] = {"type": "block_actions", "actions": [action]}
        if view is not None:
            payload["view"] = view
            payload["container"] = {"type": "view", "view_id": view.get("id")}
        elif message:
            payload["channel"] = {"id": self.channel_id}
            payload["container"] = {
                "type": "message",
                "channel_id": self.channel_id,
                "message_ts": message_ts,
            }
            payload["message"] = {"ts": message_ts, "type": "message"}
            payload["response_url"] = response_url or self.bot.slack.response_url(self.user_id)
        return await self.interact(payload)
