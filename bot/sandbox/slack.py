"""A Slack Web API stand-in on loopback: answers the methods ticketbot calls and records each call.

Point SLACK_API_URL at ``api_url`` and give commands a ``response_url`` from ``response_url()``;
everything the bot sends to Slack then lands in ``calls``. Faults can be switched on per method.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web


@dataclass
class Call:
    """One request the bot made: the API method (or ``response_url``) and its decoded arguments."""

    method: str
    args: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Fault:
    status: int
    body: dict[str, Any]
    remaining: int
    headers: dict[str, str]


def _decode_form(raw: str) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for key, values in parse_qs(raw, keep_blank_values=True).items():
        value: Any = values[0]
        if key in {"blocks", "view", "attachments", "metadata"}:
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        args[key] = value
    return args


class SlackStandIn:
    """The stand-in server. ``await start()``, then read ``calls`` or ``await wait_for(...)``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.calls: list[Call] = []
        self._faults: dict[str, _Fault] = {}
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        self._changed = asyncio.Condition()
        self.files: dict[str, tuple[str, bytes]] = {}
        self.admins: set[str] = set()
        self.delay: dict[str, float] = {}  # seconds to wait before answering, per method
        self.pending: dict[str, int] = {}  # requests held by that delay right now, per method
        self.uploads: dict[str, bytes] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The value for SLACK_API_URL."""
        return f"{self.base_url}/api/"

    def response_url(self, name: str = "cmd") -> str:
        """A response_url that records what the bot sends to it."""
        return f"{self.base_url}/response/{name}"

    async def start(self) -> SlackStandIn:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.add_routes(
            [
                web.post("/api/{method}", self._api),
                web.get("/api/{method}", self._api),  # users.info and a few others are GETs
                web.post("/response/{name}", self._response),
                web.get("/files/{file_id}/{name}", self._download),
                web.post("/upload/{file_id}", self._upload),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def add_file(
        self, name: str, content: bytes, mimetype: str = "application/octet-stream"
    ) -> dict:
        """A file as a modal's file_input reports it, downloadable with the bot token."""
        file_id = f"F{len(self.files) + 1:05d}"
        self.files[file_id] = (name, content)
        return {
            "id": file_id,
            "name": name,
            "mimetype": mimetype,
            "size": len(content),
            "url_private": f"{self.base_url}/files/{file_id}/{name}",
            "url_private_download": f"{self.base_url}/files/{file_id}/{name}",
        }

    # Faults ------------------------------------------------------------------------------------

    def fail(self, method: str, error: str, *, times: int = 1_000_000) -> None:
        """Answer ``method`` with ``{"ok": false, "error": error}`` ``times`` times."""
        self._faults[method] = _Fault(200, {"ok": False, "error": error}, times, {})

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """Answer ``method`` with HTTP 429 and Retry-After ``times`` times."""
        self._faults[method] = _Fault(
            429, {"ok": False, "error": "ratelimited"}, times, {"Retry-After": str(retry_after)}
        )

    # Reading what was recorded -----------------------------------------------------------------

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """Arguments of every call to ``method`` so far, oldest first."""
        return [call.args for call in self.calls if call.method == method]

    async def wait_for(self, method: str, count: int = 1, within: float = 5.0) -> list[dict]:
        """Wait until ``method`` has been called ``count`` times; returns all its calls."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self.calls_to(method)) >= count)
        return self.calls_to(method)

    async def _record(self, method: str, args: dict[str, Any]) -> None:
        async with self._changed:
            self.calls.append(Call(method, args))
            self._changed.notify_all()

    # Handlers ----------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            args = await request.json()
        else:
            args = _decode_form(await request.text())
        # Some SDK calls send their arguments in the query string instead of the body.
        args = {**_decode_form(request.query_string), **args}
        if self.delay.get(method):
            self.pending[method] = self.pending.get(method, 0) + 1
            try:
                await asyncio.sleep(self.delay[method])
            finally:
                self.pending[method] -= 1
        fault = self._faults.get(method)
        if fault is not None and fault.remaining > 0:
            fault.remaining -= 1
            await self._record(f"{method}!fault", args)
            return web.json_response(fault.body, status=fault.status, headers=fault.headers)
        if request.headers.get("Authorization", "") != "" and not request.headers[
            "Authorization"
        ].startswith("Bearer xox"):
            return web.json_response({"ok": False, "error": "invalid_auth"})
        answer = self._answer(method, args)
        if "ts" in answer:
            args["_ts"] = answer["ts"]  # so tests can match thread replies to their parent
        await self._record(method, args)
        return web.json_response(answer)

    async def _download(self, request: web.Request) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("Bearer xoxb-"):
            return web.Response(status=403, text="no token")
        name, content = self.files[request.match_info["file_id"]]
        return web.Response(
            body=content, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        return web.Response(text="OK")

    async def _response(self, request: web.Request) -> web.Response:
        await self._record("response_url", await request.json())
        return web.Response(text="ok")

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://sandbox.slack.test/",
                "team": "Sandbox",
                "user": "ticketbot",
                "team_id": "T0SANDBOX",
                "user_id": "U0BOT",
                "bot_id": "B0BOT",
            }
        if method in {"views.open", "views.update", "views.push"}:
            view = args.get("view") or {}
            if isinstance(view, str):
                view = json.loads(view)
            view_id = args.get("view_id") or f"V{next(self._views):05d}"
            return {"ok": True, "view": {**view, "id": view_id, "hash": f"h{time.time_ns()}"}}
        if method in {"chat.postMessage", "chat.update"}:
            ts = args.get("ts") or f"{1_700_000_000 + next(self._ts)}.000100"
            return {
                "ok": True,
                "channel": args.get("channel"),
                "ts": ts,
                "message": {"text": args.get("text"), "ts": ts},
            }
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{1_700_000_000 + next(self._ts)}.000200"}
        if method == "files.getUploadURLExternal":
            file_id = f"FU{len(self.uploads) + len(self.calls):05d}"
            return {
                "ok": True,
                "upload_url": f"{self.base_url}/upload/{file_id}",
                "file_id": file_id,
            }
        if method == "files.completeUploadExternal":
            files = args.get("files")
            files = json.loads(files) if isinstance(files, str) else files or []
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users", "U"))[1:]}}
        if method == "users.info":
            user = str(args.get("user"))
            return {
                "ok": True,
                "user": {"id": user, "is_admin": user in self.admins, "is_owner": False},
            }
        if method == "chat.getPermalink":
            ts = str(args.get("message_ts", "")).replace(".", "")
            return {
                "ok": True,
                "permalink": f"https://sandbox.slack.com/archives/{args.get('channel')}/p{ts}",
            }
        return {"ok": True}
