"""Slack's Socket Mode, as a small client of our own around the Bolt app.

slack_sdk's client retries a failed connection forever with a ~70-line traceback each time, and
cannot be stopped while it is still connecting. This one logs one line per failed attempt with the
reason and when it tries again (exponential backoff, capped), and stops at once when cancelled.

The protocol: ``apps.connections.open`` (app-level token) returns a single-use websocket URL;
Slack sends ``hello``, then envelopes ``{"envelope_id", "type", "payload"}`` which the app acks with
``{"envelope_id", "payload"?}`` within 3 s; ``disconnect`` asks the app to open a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("ticketbot.socket")

# What Slack's errors mean for the person starting the bot.
_API_HINTS = {
    "invalid_auth": "SLACK_APP_TOKEN was refused; create a new app-level token",
    "not_allowed_token_type": "SLACK_APP_TOKEN must be an app-level token (xapp-…)",
    "missing_scope": "the app-level token needs the connections:write scope",
}


class _Reconnect(Exception):
    """The connection ended; open a new one."""


def describe_failure(exc: BaseException) -> str:
    """One line saying why a connection attempt failed, without URLs (they carry a ticket)."""
    if isinstance(exc, SlackApiError):
        error = str(exc.response.get("error", "unknown error"))
        return f"apps.connections.open: {error}" + (
            f" ({_API_HINTS[error]})" if error in _API_HINTS else ""
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        error = exc.os_error
        reason = os.strerror(error.errno) if error.errno else str(error) or type(error).__name__
        return f"cannot reach {exc.host}:{exc.port} ({reason})"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"websocket handshake refused (HTTP {exc.status})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    first_line = (str(exc).splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first_line}".rstrip(": ")


def _parse(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


class SocketModeRunner:
    """Keeps one Socket Mode connection open and hands each envelope to ``app``."""

    def __init__(
        self,
        app: AsyncApp,
        app_token: str,
        *,
        first_delay: float = 1.0,
        max_delay: float = 60.0,
        heartbeat: float = 10.0,
    ) -> None:
        self.app = app
        self._app_token = app_token
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.heartbeat = heartbeat
        self.connected = asyncio.Event()  # set while a connection is open (after hello)
        self._failures = 0  # attempts failed since the last hello, for the backoff
        # apps.connections.open at SLACK_API_URL, like every Web API call, but without the SDK's
        # own retries: each attempt is one request and one log line, paced by the backoff here.
        self._opener = AsyncWebClient(base_url=app.client.base_url, retry_handlers=[])

    async def run(self) -> None:
        """Connect, serve, reconnect; returns only when cancelled."""
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    await self._serve(http, await self._open_url())
                except _Reconnect as reason:
                    self.connected.clear()
                    log.info("Socket Mode: %s; reconnecting", reason)
                except Exception as exc:  # any failure to connect: one line, then retry later
                    self.connected.clear()
                    delay = min(self.max_delay, self.first_delay * 2**self._failures)
                    self._failures += 1
                    at = time.strftime("%H:%M:%S", time.localtime(time.time() + delay))
                    log.warning(
                        "Socket Mode connection failed: %s; retrying in %g s (at %s)",
                        describe_failure(exc),
                        delay,
                        at,
                    )
                    await asyncio.sleep(delay)

    async def _open_url(self) -> str:
        response = await self._opener.apps_connections_open(app_token=self._app_token)
        return str(response["url"])

    async def _serve(self, http: aiohttp.ClientSession, url: str) -> None:
        timeout = aiohttp.ClientWSTimeout(ws_close=5)
        async with http.ws_connect(url, heartbeat=self.heartbeat, timeout=timeout) as ws:
            in_flight: set[asyncio.Task[None]] = set()
            try:
                async for message in ws:
                    if message.type != aiohttp.WSMsgType.TEXT:
                        continue  # pings are answered by aiohttp; close and errors end the loop
                    data = _parse(message.data)
                    kind = data.get("type")
                    if kind == "hello":
                        self._failures = 0
                        self.connected.set()
                        log.info("connected to Slack over Socket Mode")
                    elif kind == "disconnect":
                        raise _Reconnect(f"Slack asked to reconnect ({data.get('reason')})")
                    elif "envelope_id" in data:
                        task = asyncio.create_task(self._handle(ws, data))
                        in_flight.add(task)
                        task.add_done_callback(in_flight.discard)
            except asyncio.CancelledError:
                for task in in_flight:
                    task.cancel()
                raise
            finally:
                # Acks still being made go out on this connection before it closes.
                if in_flight:
                    await asyncio.wait(in_flight, timeout=3)
        if not self.connected.is_set():
            raise ConnectionError(f"closed before hello (code {ws.close_code})")
        raise _Reconnect(f"the connection closed (code {ws.close_code})")

    async def _handle(self, ws: aiohttp.ClientWebSocketResponse, envelope: dict[str, Any]) -> None:
        try:
            await self._dispatch(ws, envelope)
        except Exception:  # a bug in a listener must not end the connection
            log.exception("handling a %s envelope failed", envelope.get("type"))

    async def _dispatch(
        self, ws: aiohttp.ClientWebSocketResponse, envelope: dict[str, Any]
    ) -> None:
        retry = envelope.get("retry_attempt")
        headers = {"x-slack-retry-num": str(retry)} if retry is not None else None
        request = AsyncBoltRequest(mode="socket_mode", body=envelope["payload"], headers=headers)
        response = await self.app.async_dispatch(request)
        ack: dict[str, Any] = {"envelope_id": envelope["envelope_id"]}
        if response.status != 200:
            log.info("no ack for %s: Bolt answered %s", envelope.get("type"), response.status)
            return
        if response.body:
            content_type = (response.headers.get("content-type") or [""])[0]
            is_json = content_type.startswith("application/json")
            ack["payload"] = json.loads(response.body) if is_json else {"text": response.body}
        with contextlib.suppress(ConnectionError):  # the connection went away meanwhile
            await ws.send_str(json.dumps(ack))
