"""A Socket Mode stand-in on loopback, beside the Web API stand-in in ``bot.sandbox.slack``.

It speaks Slack's side of the protocol: ``apps.connections.open`` (on the Web API stand-in, with an
``xapp-`` token) hands out a single-use ``ws://127.0.0.1:<port>/link/?ticket=…`` URL; on connect
the server sends ``{"type": "hello", …}``; it delivers envelopes ``{"envelope_id", "type",
"payload", "accepts_response_payload"}`` on the newest connection and records the app's acks
``{"envelope_id", "payload"?}``; ``disconnect()`` sends ``{"type": "disconnect", "reason": …}``,
after which the app is expected to open a new connection.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from bot.sandbox.slack import SlackStandIn

APP_ID = "A0TICKETBOT"


class SocketModeStandIn:
    """``await SocketModeStandIn(slack).start()``; then ``request()`` envelopes and read acks."""

    def __init__(self, slack: SlackStandIn, host: str = "127.0.0.1") -> None:
        self.slack = slack
        self.host = host
        self.port = 0
        self.connections: list[web.WebSocketResponse] = []
        self.acks: dict[str, dict[str, Any]] = {}
        self.unparsable: list[str] = []  # frames from the app that were not JSON objects
        self._tickets: set[str] = set()
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    async def start(self) -> SocketModeStandIn:
        app = web.Application()
        app.add_routes([web.get("/link/", self._link)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.slack.socket_mode_url = self.new_url
        return self

    async def stop(self) -> None:
        self.slack.socket_mode_url = None
        for ws in self.connections:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def new_url(self) -> str:
        """A fresh single-use URL, as apps.connections.open returns."""
        ticket = secrets.token_hex(8)
        self._tickets.add(ticket)
        return f"ws://{self.host}:{self.port}/link/?ticket={ticket}&app_id={APP_ID}"

    @property
    def open_connections(self) -> list[web.WebSocketResponse]:
        return [ws for ws in self.connections if not ws.closed]

    async def wait_connections(self, count: int = 1, within: float = 5.0) -> None:
        """Wait until the app has connected ``count`` times in all (hello sent each time)."""
        await self.wait_until(lambda: len(self.connections) >= count, within)

    async def wait_until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until ``predicate()`` holds; checked whenever a connection opens, acks or closes."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(predicate)

    async def send(
        self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = True
    ) -> str:
        """Deliver one envelope on the newest open connection; returns its envelope_id."""
        async with asyncio.timeout(5), self._changed:
            await self._changed.wait_for(lambda: bool(self.open_connections))
        envelope_id = f"env-{next(self._ids):04d}-{secrets.token_hex(4)}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        await self.open_connections[-1].send_json(envelope)
        return envelope_id

    async def wait_ack(self, envelope_id: str, within: float = 5.0) -> dict[str, Any]:
        """The app's ack of ``envelope_id`` (Slack wants it within 3 s)."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: envelope_id in self.acks)
        return self.acks[envelope_id]

    async def request(
        self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = True
    ) -> dict[str, Any]:
        """Deliver an envelope and wait for its ack."""
        envelope_id = await self.send(
            kind, payload, accepts_response_payload=accepts_response_payload
        )
        return await self.wait_ack(envelope_id)

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the app to reconnect, as Slack does before it closes a connection."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-sbx"}}
        await self.open_connections[-1].send_json(message)

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            raise web.HTTPUnauthorized(text="unknown or used ticket")
        self._tickets.discard(ticket)  # Slack's URLs are single use
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self.open_connections) + 1,
                "debug_info": {"host": "applink-sbx", "approximate_connection_time": 18060},
                "connection_info": {"app_id": APP_ID},
            }
        )
        async with self._changed:
            self.connections.append(ws)
            self._changed.notify_all()
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await self._record(message.data)
        async with self._changed:
            self._changed.notify_all()
        return ws

    async def _record(self, raw: str) -> None:
        try:
            ack = json.loads(raw)
        except json.JSONDecodeError:
            ack = None
        async with self._changed:
            if isinstance(ack, dict) and "envelope_id" in ack:
                self.acks[str(ack["envelope_id"])] = ack
            else:
                self.unparsable.append(raw)
            self._changed.notify_all()
