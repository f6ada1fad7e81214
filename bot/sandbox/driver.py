"""Act as Slack toward a running ticketbot: signed slash commands, clicks, modal submissions and
options requests, the way Slack sends them. Used by the tests and by `ticketbot demo`.

The payloads themselves come from ``bot.sandbox.payloads`` (one builder per payload type, written
from Slack's documentation); this module adds the person, the signature and the transport, and
finds what was clicked among the messages and views the Slack stand-in recorded.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.sandbox import payloads
from bot.sandbox.elements import find_element, view_state, with_ids
from bot.sandbox.payloads import Who, form_body
from bot.sandbox.slack import SlackStandIn


class BotEndpoint(Protocol):
    """A bot reachable over HTTP, with the Slack stand-in its Web API calls go to."""

    slack: SlackStandIn

    async def post(self, body: str, headers: dict | None = None) -> httpx.Response: ...


TEAM = "T0SANDBOX"
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
_MESSAGE_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral", "response_url")
_VIEW_METHODS = ("views.open", "views.update", "views.push", "views.publish")


def signed_headers(
    body: str,
    secret: str = SIGNING_SECRET,
    *,
    timestamp: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> dict:
    """The headers Slack adds: a timestamp and an HMAC-SHA256 over ``v0:ts:body``
    (``content_type`` application/json for the Events API)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature or "",
        "Content-Type": content_type,
    }


async def post_event(bot: BotEndpoint, payload: dict[str, Any]) -> httpx.Response:
    """Deliver an Events API payload (``payloads.event_callback``…) as Slack does: signed JSON."""
    body = payloads.json_body(payload)
    return await bot.post(body, signed_headers(body, content_type="application/json"))


def fill_view(view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The ``state`` Slack would send for ``view`` after a user entered ``values``."""
    return view_state(view, values)


@dataclass(frozen=True)
class _Found:
    """Where a clicked element was shown: its block, the message and whether it was ephemeral."""

    block_id: str
    element: dict[str, Any]
    channel_id: str | None = None
    ts: str | None = None
    blocks: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""
    ephemeral: bool = False


@dataclass
class SlackUser:
    """A person in the sandbox workspace who types commands and clicks.

    ``enterprise_id`` puts the workspace in an Enterprise Grid org, ``org_install`` makes the app
    installed org-wide there, ``home_team_id`` is the person's own workspace when it differs.
    """

    bot: BotEndpoint
    user_id: str
    channel_id: str = "C0GENERAL"
    _triggers: itertools.count = field(default_factory=lambda: itertools.count(1))
    team_id: str = field(default=TEAM, kw_only=True)
    enterprise_id: str | None = field(default=None, kw_only=True)
    org_install: bool = field(default=False, kw_only=True)
    home_team_id: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        # Whoever types or clicks is a member of the workspace, so users.info knows them.
        self.bot.slack.add_user(self.user_id)

    @property
    def who(self) -> Who:
        return Who(
            self.user_id,
            team_id=self.team_id,
            enterprise_id=self.enterprise_id,
            org_install=self.org_install,
            home_team_id=self.home_team_id,
        )

    def _trigger(self) -> str:
        return f"trigger.{self.user_id}.{next(self._triggers)}"

    @property
    def _response_url(self) -> str:
        return self.bot.slack.response_url(self.user_id)

    async def command(
        self,
        text: str,
        *,
        command: str = "/ticket",
        channel_name: str | None = None,
        response_url: str | None = None,
    ) -> httpx.Response:
        """Type ``/ticket <text>`` in ``channel_id``; returns the HTTP response (the ack).
        ``channel_name`` is ``directmessage`` in a one-to-one DM (the default follows the id)."""
        body = payloads.slash_command(
            self.who,
            text,
            command=command,
            channel_id=self.channel_id,
            channel_name=channel_name,
            response_url=response_url or self._response_url,
            trigger_id=self._trigger(),
        )
        return await self.bot.post(body)

    async def ssl_check(self) -> httpx.Response:
        """Slack's certificate probe against the command URL."""
        return await self.bot.post(payloads.ssl_check())

    async def event(self, event: dict[str, Any]) -> httpx.Response:
        """Deliver ``event`` (a ``payloads`` event builder's) in this person's workspace."""
        payload = payloads.event_callback(
            event,
            team_id=self.team_id,
            enterprise_id=self.enterprise_id,
            org_install=self.org_install,
        )
        return await post_event(self.bot, payload)

    async def open_home(self, tab: str = "home") -> httpx.Response:
        """Open the app's Home tab (or its ``messages`` tab): Slack sends ``app_home_opened``,
        with the Home view last published for this person, if any."""
        event = payloads.app_home_opened(
            self.user_id, tab=tab, view=self.bot.slack.homes.get(self.user_id)
        )
        return await self.event(event)

    async def reply(
        self,
        thread_ts: str,
        text: str,
        *,
        ts: str | None = None,
        files: list[dict[str, Any]] | None = None,
        edited_from: str | None = None,
    ) -> httpx.Response:
        """Reply ``text`` (as typed) in the thread under ``thread_ts`` in ``channel_id``, with
        ``files`` (from the stand-in's ``add_file``), or edit a reply that said ``edited_from``:
        Slack sends a ``message`` event. ``ts`` is the reply's own (a fresh one by default)."""
        event = payloads.message_event(
            text,
            user=self.user_id,
            channel=self.channel_id,
            ts=ts or self.bot.slack.channels.next_ts(),
            thread_ts=thread_ts,
            team_id=self.team_id,
            files=files or (),
            edited_from=edited_from,
        )
        return await self.event(event)

    async def interact(self, payload: dict[str, Any]) -> httpx.Response:
        """Send an interaction payload; the identity fields are filled in where it has none."""
        return await self.bot.post(form_body({**self.who.envelope(self._trigger()), **payload}))

    async def shortcut(self, message: dict[str, Any] | str, callback_id: str) -> httpx.Response:
        """Use a message shortcut on ``message`` (a message object, or the text as typed, which
        is then escaped as Slack escapes it) in ``channel_id``."""
        msg = payloads.message(message) if isinstance(message, str) else message
        payload = payloads.message_action(
            self.who,
            callback_id,
            msg,
            channel_id=self.channel_id,
            trigger_id=self._trigger(),
            response_url=self._response_url,
        )
        return await self.bot.post(form_body(payload))

    async def options(
        self, action_id: str, view: dict[str, Any], typed: str = ""
    ) -> httpx.Response:
        """Open an external select in ``view``: Slack asks the bot for its options."""
        found = find_element(view.get("blocks") or [], action_id)
        block_id = found[0] if found else "b"
        payload = payloads.block_suggestion(
            self.who, block_id, action_id, typed, self._full_view(view)
        )
        return await self.bot.post(form_body(payload))

    async def submit(self, view: dict[str, Any], values: dict[str, Any]) -> httpx.Response:
        """Submit the modal ``view`` (as the bot sent it) with ``values`` typed in, keyed by
        block_id; every other stateful element keeps its initial or empty value."""
        payload = payloads.view_submission(
            self.who, self._full_view(view, values), trigger_id=self._trigger()
        )
        return await self.bot.post(form_body(payload))

    async def click(
        self,
        action_id: str,
        value: Any = None,
        *,
        view: dict | None = None,
        message: bool = True,
        message_ts: str | None = None,
        ephemeral: bool | None = None,
        element: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        response_url: str | None = None,
    ) -> httpx.Response:
        """Use the element ``action_id`` in a modal (``view``) or a message: press a button with
        ``value``, or pick ``value`` in a select, overflow, datepicker….

        The element is looked up in ``view``, ``blocks`` or the messages the stand-in recorded
        (newest first), so the payload carries its real type, block and message; ``element``
        names a type for an element shown nowhere (a stale button). ``ephemeral`` overrides
        whether the message was ephemeral (then the payload has no ``message``).
        """
        found = self._locate(action_id, value, view, blocks)
        shown = found.element if found else {"action_id": action_id, "type": "button"}
        if element is not None:
            shown = {**shown, "type": element}
        act = payloads.action(found.block_id if found else "b", shown, value)
        if view is not None:
            full = self._full_view(view)
            payload = payloads.block_actions(self.who, act, trigger_id=self._trigger(), view=full)
            return await self.bot.post(form_body(payload))
        if not message:
            return await self.interact({"type": "block_actions", "actions": [act]})
        payload = payloads.block_actions(
            self.who,
            act,
            trigger_id=self._trigger(),
            channel_id=(found and found.channel_id) or self.channel_id,
            message={"text": found.text, "blocks": found.blocks} if found else None,
            message_ts=message_ts or (found and found.ts) or "1700000000.000100",
            ephemeral=ephemeral if ephemeral is not None else bool(found and found.ephemeral),
            response_url=response_url or self._response_url,
        )
        return await self.bot.post(form_body(payload))

    # Finding what the bot showed -------------------------------------------------------------

    def _full_view(self, view: dict[str, Any], values: dict[str, Any] | None = None) -> dict:
        view_id, view_hash = view.get("id"), view.get("hash")
        if view_id is None:
            for call in reversed(self.bot.slack.calls):
                if call.method in _VIEW_METHODS and call.args.get("view") == view:
                    view_id, view_hash = call.args.get("_view_id"), call.args.get("_view_hash")
                    break
        return payloads.full_view(
            view,
            self.who,
            view_id=view_id or "V00001",
            view_hash=view_hash or "h.1",
            values=values,
        )

    def _locate(
        self, action_id: str, value: Any, view: dict | None, blocks: list | None
    ) -> _Found | None:
        if view is not None or blocks is not None:
            hit = find_element((view or {}).get("blocks") or blocks or [], action_id, value)
            return _Found(*hit) if hit else None
        messages = [
            call for call in reversed(self.bot.slack.calls) if call.method in _MESSAGE_METHODS
        ]
        for exact in (True, False):  # a button with this very value first, then any
            for call in messages:
                shown = _blocks(call.args.get("blocks"))
                hit = find_element(shown, action_id, value)
                if hit and (not exact or hit[1].get("value") == value):
                    return _found_in(call.method, call.args, hit, shown)
        return None


def _blocks(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return []
    return raw if isinstance(raw, list) else []


def _found_in(method: str, args: dict, hit: tuple[str, dict], shown: list) -> _Found:
    """The message a recorded call showed: ephemeral when posted so, or sent to a response_url
    without ``in_channel`` (Slack's default there is ephemeral)."""
    if method == "response_url":
        ephemeral = args.get("response_type") != "in_channel"
    else:
        ephemeral = method == "chat.postEphemeral"
    channel = args.get("channel")
    return _Found(
        hit[0],
        hit[1],
        channel_id=channel if isinstance(channel, str) and channel[:1] in "CGD" else None,
        ts=args.get("ts") or args.get("_ts"),
        blocks=with_ids(shown),
        text=str(args.get("text") or ""),
        ephemeral=ephemeral,
    )
