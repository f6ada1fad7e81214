"""A Slack Web API stand-in on loopback: answers the methods ticketbot calls and records each call.

Point SLACK_API_URL at ``api_url`` and give commands a ``response_url`` from ``response_url()``;
everything the bot sends to Slack then lands in ``calls``. Faults can be switched on per method.
Posted messages are kept per channel, with their metadata, and ``conversations.history`` reads
them back the way Slack documents it: that store is ``ChannelHistory`` in ``slack_history.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.sandbox.slack_directory import SlackDirectory
from bot.sandbox.slack_history import ChannelHistory
from bot.sandbox.slack_oauth import SlackInstalls


@dataclass
class Call:
    """One request the bot made: the API method (or ``response_url``) and its decoded arguments."""

    method: str
    args: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    answer: dict[str, Any] = field(default_factory=dict)  # what the stand-in answered
    target: str = ""  # for ``response_url``: the name the URL was made with
    authorization: str = ""  # the Authorization header the call came with (which token)


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
        self._drops: dict[str, int] = {}
        self._views = itertools.count(1)
        self._changed = asyncio.Condition()
        self.files: dict[str, tuple[str, bytes]] = {}
        self.admins: set[str] = set()
        self.users: dict[str, dict[str, Any]] = {}  # the workspace's members, for users.info
        self.delay: dict[str, float] = {}  # seconds to wait before answering, per method
        self.pending: dict[str, int] = {}  # requests held by that delay right now, per method
        self.uploads: dict[str, bytes] = {}
        self.homes: dict[str, dict[str, Any]] = {}  # each person's published Home view
        self.reactions: set[tuple[str, str, str]] = set()  # (channel, message ts, emoji name)
        self._upload_urls: dict[str, dict[str, Any]] = {}  # file id -> filename, length
        # Files completeUploadExternal shared: id, channel_id, thread_ts, title, content.
        self.shared_files: list[dict[str, Any]] = []
        self.channels = ChannelHistory()
        # User groups and channels by name (usergroups.*, conversations.list).
        self.directory = SlackDirectory()
        # What each channel shows, oldest first (the same dict as ``channels.messages``).
        self.messages = self.channels.messages
        # Set by a Socket Mode stand-in: what apps.connections.open hands out.
        self.socket_mode_url: Callable[[], str] | None = None
        # OAuth installs: codes for oauth.v2.access, and the workspace of each token it handed out.
        self.installs = SlackInstalls()
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

    def add_user(
        self,
        user_id: str,
        name: str | None = None,
        *,
        real_name: str = "",
        display_name: str = "",
        team_id: str = "T0SANDBOX",
        tz: str = "Europe/Berlin",
    ) -> dict[str, Any]:
        """Make ``user_id`` a member of the workspace (once; later calls change nothing), in the
        IANA time zone ``tz`` (users.info's ``tz``, with its ``tz_offset`` now)."""
        name = name or user_id.lower()
        real_name = real_name or name.title()
        return self.users.setdefault(
            user_id,
            {
                "id": user_id,
                "team_id": team_id,
                "name": name,
                "deleted": False,
                "real_name": real_name,
                "tz": tz,
                "tz_label": "Central European Time" if tz == "Europe/Berlin" else tz,
                "tz_offset": _offset_now(tz),
                "profile": {
                    "real_name": real_name,
                    "real_name_normalized": real_name,
                    "display_name": display_name,
                    "display_name_normalized": display_name,
                    "team": team_id,
                },
                "is_owner": False,
                "is_primary_owner": False,
                "is_restricted": False,
                "is_ultra_restricted": False,
                "is_bot": False,
                "is_app_user": False,
            },
        )

    def add_usergroup(self, handle: str, users: list[str], *, deleted: bool = False) -> str:
        """A user group with the handle ``handle`` (as people @mention it) and these members;
        ``deleted`` makes it a disabled group. Returns its id."""
        group_id = f"S{len(self.directory.groups) + 1:08d}"
        self.directory.add_group(group_id, handle, users).disabled = deleted
        return group_id

    def fail(self, method: str, error: str, *, times: int = 1_000_000) -> None:
        """Answer ``method`` with ``{"ok": false, "error": error}`` ``times`` times."""
        self._faults[method] = _Fault(200, {"ok": False, "error": error}, times, {})

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """Answer ``method`` with HTTP 429 and Retry-After ``times`` times."""
        self._faults[method] = _Fault(
            429, {"ok": False, "error": "ratelimited"}, times, {"Retry-After": str(retry_after)}
        )

    def drop_connection(self, method: str, *, times: int = 1) -> None:
        """Carry out ``method`` (a post lands in its channel) but close the connection instead of
        answering, ``times`` times: the bot cannot tell whether Slack took the call."""
        self._drops[method] = times

    # Reading what was recorded -----------------------------------------------------------------

    def tokens_of(self, method: str) -> list[str]:
        """The bearer token of every call to ``method`` so far, oldest first."""
        return [
            call.authorization.removeprefix("Bearer ")
            for call in self.calls
            if call.method == method
        ]

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """Arguments of every call to ``method`` so far, oldest first."""
        return [call.args for call in self.calls if call.method == method]

    async def wait_for(self, method: str, count: int = 1, within: float = 5.0) -> list[dict]:
        """Wait until ``method`` has been called ``count`` times; returns all its calls."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self.calls_to(method)) >= count)
        return self.calls_to(method)

    async def wait_for_calls(self, count: int, within: float) -> bool:
        """Wait until ``count`` calls (of any method) were recorded; False if ``within`` ran out."""
        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: len(self.calls) >= count)
        except TimeoutError:
            return False
        return True

    async def _record(
        self,
        method: str,
        args: dict[str, Any],
        answer: dict | None = None,
        target: str = "",
        authorization: str = "",
    ) -> None:
        async with self._changed:
            self.calls.append(
                Call(method, args, answer=answer or {}, target=target, authorization=authorization)
            )
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
        authorization = request.headers.get("Authorization", "")
        if refused := self._auth_error(method, authorization):
            return web.json_response({"ok": False, "error": refused})
        if method == "oauth.v2.access":
            answer = self.installs.exchange(args, authorization)
        elif method == "auth.test":
            answer = self.installs.auth_test(authorization.removeprefix("Bearer "))
        else:
            answer = self._answer(method, args)
        if "ts" in answer:
            args["_ts"] = answer["ts"]  # so tests can match thread replies to their parent
        if "view" in answer:  # so the driver can submit a recorded view under its real id
            args["_view_id"], args["_view_hash"] = answer["view"]["id"], answer["view"]["hash"]
        await self._record(method, args, answer, authorization=authorization)
        if self._drops.get(method, 0) > 0:
            self._drops[method] -= 1
            assert request.transport is not None
            request.transport.close()  # the client sees the server disconnect, no answer
        return web.json_response(answer)

    def _auth_error(self, method: str, authorization: str) -> str | None:
        # Like Slack: apps.connections.open takes only an app-level token, every other method
        # only a bot token.
        app_level = method == "apps.connections.open"
        if app_level and not authorization:
            return "not_authed"
        if not authorization or method == "oauth.v2.access":  # that one takes the client's
            return None
        if refused := self.installs.refused(authorization.removeprefix("Bearer ")):
            return refused
        if not authorization.startswith(("Bearer xapp-", "Bearer xox")):
            return "invalid_auth"
        if authorization.startswith("Bearer xapp-") != app_level:
            return "not_allowed_token_type"
        return None

    async def _download(self, request: web.Request) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("Bearer xoxb-"):
            return web.Response(status=403, text="no token")
        name, content = self.files[request.match_info["file_id"]]
        return web.Response(
            body=content, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    async def _upload(self, request: web.Request) -> web.Response:
        # Only to a URL files.getUploadURLExternal handed out.
        file_id = request.match_info["file_id"]
        if file_id not in self._upload_urls:
            return web.Response(status=404, text="unknown upload")
        self.uploads[file_id] = await request.read()
        return web.Response(text="OK")

    async def _response(self, request: web.Request) -> web.Response:
        await self._record("response_url", await request.json(), target=request.match_info["name"])
        return web.Response(text="ok")

    def _publish(self, args: dict[str, Any]) -> dict[str, Any]:
        """views.publish as Slack documents it: one Home view per person, kept under the same id;
        a ``hash`` that is not the current one is a ``hash_conflict``; more than 100 blocks is
        ``invalid_arguments`` (Slack's block limit for views)."""
        view = args.get("view") or {}
        if isinstance(view, str):
            view = json.loads(view)
        user = str(args.get("user_id") or "")
        if not user or len(view.get("blocks") or []) > 100:
            return {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": ["[ERROR] no more than 100 items allowed"]},
            }
        current = self.homes.get(user)
        if args.get("hash") and current is not None and args["hash"] != current["hash"]:
            return {"ok": False, "error": "hash_conflict"}
        view_id = current["id"] if current else f"V{next(self._views):05d}"
        self.homes[user] = {**view, "id": view_id, "hash": f"h{time.time_ns()}"}
        return {"ok": True, "view": self.homes[user]}

    def _react(self, args: dict[str, Any]) -> dict[str, Any]:
        """reactions.add as Slack documents it: ``channel`` and ``timestamp`` name the message
        (else ``no_item_specified``), ``name`` the emoji (else ``invalid_name``); the same
        reaction twice is ``already_reacted``."""
        if not args.get("channel") or not args.get("timestamp"):
            return {"ok": False, "error": "no_item_specified"}
        if not args.get("name"):
            return {"ok": False, "error": "invalid_name"}
        key = (str(args["channel"]), str(args["timestamp"]), str(args["name"]))
        if key in self.reactions:
            return {"ok": False, "error": "already_reacted"}
        self.reactions.add(key)
        return {"ok": True}

    def _upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        # files.getUploadURLExternal: filename and length (bytes) are required; Slack documents
        # missing_argument for a length of 0.
        length = str(args.get("length", ""))
        if not args.get("filename") or not length.isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        if int(length) == 0:
            return {"ok": False, "error": "missing_argument"}
        file_id = f"FU{len(self._upload_urls) + 1:05d}"
        self._upload_urls[file_id] = {"filename": args["filename"], "length": int(length)}
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        # files.completeUploadExternal: each file must have been uploaded, with the length
        # announced; thread_ts shares into one channel's thread (channel_id).
        files = args.get("files")
        files = json.loads(files) if isinstance(files, str) else files or []
        channels = str(args.get("channels") or "")
        if not files or (args.get("thread_ts") and ("," in channels or not args.get("channel_id"))):
            return {"ok": False, "error": "invalid_arguments"}
        for f in files:
            announced = self._upload_urls.get(f.get("id"), {}).get("length")
            if announced is None or len(self.uploads.get(f["id"], b"")) != announced:
                return {"ok": False, "error": "invalid_arguments"}
        for f in files:
            self.shared_files.append(
                {
                    "id": f["id"],
                    "title": f.get("title"),
                    "channel_id": args.get("channel_id"),
                    "thread_ts": args.get("thread_ts"),
                    "filename": self._upload_urls[f["id"]]["filename"],
                    "content": self.uploads[f["id"]],
                }
            )
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "apps.connections.open":
            if self.socket_mode_url is None:
                # The stand-in's own word: no Socket Mode stand-in is attached to it.
                return {"ok": False, "error": "socket_mode_not_enabled"}
            return {"ok": True, "url": self.socket_mode_url()}
        if method in {"views.open", "views.update", "views.push"}:
            view = args.get("view") or {}
            if isinstance(view, str):
                view = json.loads(view)
            view_id = args.get("view_id") or f"V{next(self._views):05d}"
            return {"ok": True, "view": {**view, "id": view_id, "hash": f"h{time.time_ns()}"}}
        if method == "views.publish":
            return self._publish(args)
        if (listed := self.directory.answer(method, args)) is not None:
            return listed
        if method in {"chat.postMessage", "chat.update"}:
            if refused := self.directory.refuses_post(str(args.get("channel"))):
                return {"ok": False, "error": refused}
            message = self.channels.keep(args)
            return {
                "ok": True,
                "channel": args.get("channel"),
                "ts": message["ts"],
                "message": {"text": args.get("text"), "ts": message["ts"]},
            }
        if method == "conversations.history":
            return self.channels.history(args)
        if method == "reactions.add":
            return self._react(args)
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self.channels.next_ts()}
        if method == "files.getUploadURLExternal":
            return self._upload_url(args)
        if method == "files.completeUploadExternal":
            return self._complete_upload(args)
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users", "U"))[1:]}}
        if method == "users.info":
            user = self.users.get(str(args.get("user")))
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {**user, "is_admin": user["id"] in self.admins}}
        if method == "users.list":
            return self._users_list()
        if method == "chat.getPermalink":
            ts = str(args.get("message_ts", "")).replace(".", "")
            return {
                "ok": True,
                "permalink": f"https://sandbox.slack.com/archives/{args.get('channel')}/p{ts}",
            }
        return {"ok": True}

    def _users_list(self) -> dict[str, Any]:
        """users.list as Slack's method page shows it (one page: the stand-in's directory is
        small)."""
        members = [{**u, "is_admin": u["id"] in self.admins} for u in self.users.values()]
        return {"ok": True, "members": members, "response_metadata": {"next_cursor": ""}}


def _offset_now(tz: str) -> int:
    """Seconds east of UTC in ``tz`` now, as users.info's ``tz_offset``."""
    offset = datetime.now(ZoneInfo(tz)).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0
