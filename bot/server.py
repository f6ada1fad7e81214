"""The HTTP side: Slack's requests at POST /slack/events, a health check at GET /healthz, and one
log line per request naming what it was and how long it took.

Every request to /slack/events passes ``bot.gate`` (signature, replays, shape) before Bolt parses
a byte of it; a request the gate stops is answered here and logged with the gate's reason only.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.gate import Gate, parse_slack_body
from bot.oauth import add_install_routes
from bot.services import Services

log = logging.getLogger("ticketbot.http")

EVENTS_PATH = "/slack/events"
_BOLT_APP = web.AppKey("bolt_app", AsyncApp)
_SUBCOMMANDS = web.AppKey("subcommands", frozenset)
_GATE = web.AppKey("gate", Gate)
# Set on a request the gate stopped: the log names the reason, not the (untrusted) body.
_STOPPED = web.RequestKey("stopped", str)


def describe(raw_body: bytes, subcommands: frozenset[str] = frozenset()) -> str:
    """What a Slack request was, for the log: never the free text a user typed."""
    try:
        if raw_body.lstrip().startswith(b"{"):  # the Events API posts JSON
            return _describe_payload(json.loads(raw_body))
        form = parse_qs(raw_body.decode("utf-8"))
        if "command" in form:
            words = (form.get("text") or [""])[0].split()
            # Only a known subcommand: anything else typed there could be a pasted secret.
            sub = words[0].lower() if words else ""
            shown = sub if sub in subcommands else "(other)" if sub else ""
            return f"{form['command'][0]} {shown}".strip()
        payload: dict[str, Any] = json.loads((form.get("payload") or ["{}"])[0])
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "unparsable"
    return _describe_payload(payload)


def _describe_payload(payload: Any) -> str:
    if not isinstance(payload, dict):
        return "unparsable"
    kind = payload.get("type", "unknown")
    actions, view, event = payload.get("actions"), payload.get("view"), payload.get("event")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        return f"{kind} {actions[0].get('action_id', '?')}"
    if callback := payload.get("callback_id") or (
        isinstance(view, dict) and view.get("callback_id")
    ):
        return f"{kind} {callback}"
    if isinstance(event, dict):
        return f"event {event.get('type', '?')}"
    return str(kind)


async def _slack_events(request: web.Request) -> web.Response:
    body = await request.read()
    verdict = await request.app[_GATE].check(body, request.headers, request.content_type)
    if verdict.refused:
        request[_STOPPED] = verdict.reason
        assert verdict.status is not None
        return web.Response(status=verdict.status)
    bolt_app = request.app[_BOLT_APP]
    bolt_request = bolt_request_of(body.decode("utf-8"), request)
    bolt_response = await bolt_app.async_dispatch(bolt_request)
    return await to_aiohttp_response(bolt_response)


def bolt_request_of(raw: str, request: web.Request) -> AsyncBoltRequest:
    """The request as Bolt sees it, with the raw body kept for Bolt's own signature check.

    Bolt's own parse loses a slash command whose text holds the word "payload"
    (``parse_slack_body``); its body and context are set from the right parse here.
    """
    bolt_request = AsyncBoltRequest(
        body=raw,
        query=request.query_string,
        headers=request.headers,  # type: ignore[arg-type]
    )
    if not bolt_request.body and "payload" in raw:  # the one case Bolt's parse gets wrong
        parsed = parse_slack_body(raw, bolt_request.content_type)
        bolt_request.body = parsed
        bolt_request.context = build_async_context(AsyncBoltContext(), parsed)
    return bolt_request


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@web.middleware
async def _access_log(request: web.Request, handler: Any) -> web.StreamResponse:
    started = time.perf_counter()
    response = await handler(request)
    elapsed_ms = (time.perf_counter() - started) * 1000
    known = request.app.get(_SUBCOMMANDS, frozenset())
    if stopped := request.get(_STOPPED):
        what = f"{request.path} ({stopped})"
    elif request.path == EVENTS_PATH:
        what = describe(await request.read(), known)
    else:
        what = request.path
    log.info("%s %s -> %s in %.1f ms", request.method, what, response.status, elapsed_ms)
    return response


def build_web_app(bolt_app: AsyncApp, services: Services) -> web.Application:
    """An aiohttp application serving ``bolt_app`` over Slack's HTTP mode.

    ``services`` gives the signing secret and the store that remembers processed requests.
    """
    from handlers.commands import SUBCOMMANDS  # the names only, to log them

    services.settings.require("SLACK_SIGNING_SECRET")
    secret = services.settings.slack_signing_secret
    assert secret is not None
    web_app = web.Application(middlewares=[_access_log])
    web_app[_BOLT_APP] = bolt_app
    web_app[_GATE] = Gate(secret.get_secret_value(), services.store)
    web_app[_SUBCOMMANDS] = frozenset([*SUBCOMMANDS, "help"])
    web_app.add_routes([web.post(EVENTS_PATH, _slack_events), web.get("/healthz", _healthz)])
    add_install_routes(web_app, bolt_app)  # OAuth mode only
    return web_app


class _OneLineForBadHttp(logging.Filter):
    """aiohttp logs a request it cannot parse (a bad Content-Length, …) with a traceback; junk
    from anyone must cost one short line, like an unsigned request does."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            first = str(exc.message).strip().splitlines()[0] if exc.message else ""
            record.msg, record.args = "unparsable HTTP request -> %s %s", (exc.code, first[:120])
            record.exc_info, record.exc_text = None, None
        return True


_BAD_HTTP = _OneLineForBadHttp()


async def start_site(web_app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner (for cleanup) and the bound port (``port=0`` picks one)."""
    logging.getLogger("aiohttp.server").addFilter(_BAD_HTTP)  # a set: adding twice is once
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, bound
