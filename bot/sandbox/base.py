"""What every backend sandbox shares: a loopback aiohttp server that records each request and can
be told to misbehave (latency, an error status, rate limiting, HTML or truncated bodies).

Faults are set from Python (``server.faults``) or, when the sandbox runs in another process, with
``POST /_sandbox/faults`` and a JSON body of the same fields.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web


@dataclass
class Faults:
    """Misbehaviour switches. ``*_times`` count down per request; ``latency`` stays until reset.

    ``path`` limits every fault to requests whose path contains it.
    """

    latency: float = 0.0
    status: int | None = None
    status_times: int = 0
    rate_limit_times: int = 0
    retry_after: int = 1
    html_times: int = 0
    truncate_times: int = 0
    error_id: str | None = None  # a vendor error id to put in status faults (QuestionPro's 1013)
    path: str | None = None
    # Answer this many requests, then handle each later one but hold its answer until the faults
    # are reset or the server stops: the request took effect and its sender hears nothing (a
    # test can kill the sender meanwhile). ``held`` in /_sandbox/stats counts them.
    hold_after: int | None = None


@dataclass
class Recorded:
    """One request as the sandbox received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    content_type: str
    at: float = field(default_factory=time.monotonic)

    def form(self) -> dict[str, list[str]]:
        """A urlencoded body as lists of values."""
        return parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)


class SandboxServer:
    """Base class: subclasses give ``name``, ``prefix``, ``add_routes`` and ``error``."""

    name = "sandbox"
    prefix = "/"

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.requests: list[Recorded] = []
        self.faults = Faults()
        self.held = 0
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # To override -------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def error(self, status: int, message: str, **extra: Any) -> web.Response:
        """An error in this vendor's envelope."""
        return web.json_response({"message": message}, status=status)

    # Lifecycle ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API base URL a user pastes into `/ticket connect`."""
        return f"http://{self.host}:{self.port}{self.prefix.rstrip('/')}"

    def build(self) -> web.Application:
        app = web.Application(
            middlewares=[self._record, self._misbehave], client_max_size=16 * 1024 * 1024
        )
        app.router.add_post("/_sandbox/faults", self._set_faults)
        app.router.add_post("/_sandbox/reset", self._reset_faults)
        app.router.add_get("/_sandbox/stats", self._stats)
        self.add_routes(app)
        return app

    async def start(self, port: int = 0) -> SandboxServer:
        self._runner = web.AppRunner(self.build(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def requests_to(self, path_part: str) -> list[Recorded]:
        """Recorded requests whose path contains ``path_part``."""
        return [r for r in self.requests if path_part in r.path]

    # Middleware --------------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/_sandbox/"):
            self.requests.append(
                Recorded(
                    method=request.method,
                    path=request.path,
                    query={k: request.query.getall(k) for k in request.query},
                    headers=dict(request.headers),
                    body=await request.read(),
                    content_type=request.content_type,
                )
            )
        return await handler(request)

    @web.middleware
    async def _misbehave(self, request: web.Request, handler: Any) -> web.StreamResponse:
        faults = self.faults
        if request.path.startswith("/_sandbox/") or (
            faults.path and faults.path not in request.path
        ):
            return await handler(request)
        if faults.latency:
            await asyncio.sleep(faults.latency)
        if faults.hold_after is not None:
            if faults.hold_after > 0:
                faults.hold_after -= 1
            else:
                return await self._hold(handler, request)
        if faults.rate_limit_times > 0:
            faults.rate_limit_times -= 1
            response = self.error(429, "Too many requests", retry_after=faults.retry_after)
            response.headers["Retry-After"] = str(faults.retry_after)
            return response
        if faults.status is not None and faults.status_times > 0:
            faults.status_times -= 1
            extra = {"error_id": faults.error_id} if faults.error_id else {}
            return self.error(faults.status, "Simulated failure", **extra)
        if faults.html_times > 0:
            faults.html_times -= 1
            return web.Response(
                text="<html><body><h1>Sign in</h1></body></html>", content_type="text/html"
            )
        if faults.truncate_times > 0:
            faults.truncate_times -= 1
            return web.Response(
                text='{"response": [{"ticketID": 4', content_type="application/json"
            )
        return await handler(request)

    async def _hold(self, handler: Any, request: web.Request) -> web.StreamResponse:
        release = self._release
        response = await handler(request)
        self.held += 1
        await release.wait()
        return response

    async def _set_faults(self, request: web.Request) -> web.Response:
        wanted = await request.json()
        known = {f.name for f in fields(Faults)}
        self.faults = Faults(**{k: v for k, v in wanted.items() if k in known})
        return web.json_response(asdict(self.faults))

    async def _stats(self, _request: web.Request) -> web.Response:
        """How many requests came, and the most that arrived within any 60 seconds."""
        times = [r.at for r in self.requests]
        start, busiest = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 60:
                start += 1
            busiest = max(busiest, end - start + 1)
        return web.json_response({"requests": len(times), "max_in_60s": busiest, "held": self.held})

    async def _reset_faults(self, _request: web.Request) -> web.Response:
        self.faults = Faults()
        self._release.set()  # answer the held requests, and hold later ones anew
        self._release = asyncio.Event()
        return web.json_response(asdict(self.faults))


@dataclass
class FilePart:
    """An uploaded file from a multipart body."""

    filename: str
    content: bytes
    content_type: str


def _multipart(body: bytes, content_type_header: str) -> dict[str, Any]:
    # The recorder already read the body, so aiohttp's streaming parser cannot run again;
    # the email package parses the cached bytes just as well.
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type_header.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        value: Any = (
            FilePart(filename, payload, part.get_content_type())
            if filename is not None
            else payload.decode("utf-8", "replace")
        )
        fields[name] = [*as_list(fields[name]), value] if name in fields else value
    return fields


async def form_of(request: web.Request) -> dict[str, Any]:
    """Form fields of any request, GET bodies included (aiohttp only parses POST-like methods).

    Values are strings, lists for repeated keys, or FilePart for uploads.
    """
    body = await request.read()
    if request.content_type.startswith("multipart/"):
        return _multipart(body, request.headers["Content-Type"])
    if request.content_type == "application/json":
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: (v if len(v) > 1 else v[0]) for k, v in parsed.items()}


def as_list(value: Any) -> list[Any]:
    """A form value as a list (repeated keys arrive as lists, single ones as scalars)."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
