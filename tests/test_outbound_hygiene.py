"""Where credentials may travel: no redirects followed, the bot token only to Slack's file hosts,
downloads cut off while streaming, no password from a URL in the log (issue 10, items 6 and the
mutation-testing list)."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import respx
from aiohttp import web

from bot.backends.http import BackendHTTP, RetryPolicy
from bot.backends.omnidesk import omnidesk_error
from bot.backends.registry import Backends
from bot.config import Settings
from bot.credentials import OmnideskCredentials
from bot.errors import BackendError, UserInputError
from bot.logs import redact
from bot.models import TicketQuery
from bot.sandbox.slack import SlackStandIn
from bot.slack_files import FileTooLargeError, SlackFiles

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LoopbackServer:
    """A one-route loopback HTTP server that records what reached it."""

    def __init__(self, handler: Handler) -> None:
        self.handler, self.requests = handler, []  # type: ignore[var-annotated]
        self.url, self._runner = "", None

    async def start(self) -> LoopbackServer:
        async def record(request: web.Request) -> web.StreamResponse:
            self.requests.append(request)
            return await self.handler(request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", record)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def servers() -> AsyncIterator[list[LoopbackServer]]:
    started: list[LoopbackServer] = []
    yield started
    for server in started:
        await server.stop()


async def _ok(_request: web.Request) -> web.Response:
    return web.json_response({"type": "list", "total": 0, "items": []})


async def test_a_backend_client_does_not_follow_a_redirect(
    settings: Settings, servers: list[LoopbackServer]
) -> None:
    elsewhere = await LoopbackServer(_ok).start()

    async def redirect(_request: web.Request) -> web.Response:
        raise web.HTTPFound(elsewhere.url + "/api/v2/ticket")

    backend = await LoopbackServer(redirect).start()
    servers += [elsewhere, backend]
    backends = Backends(settings)
    creds = OmnideskCredentials(base_url=backend.url + "/api/v2", api_key="omni-key-redirect")
    with pytest.raises(BackendError):
        await backends.for_credentials(creds).list_tickets(TicketQuery(limit=1))
    await backends.aclose()
    assert len(backend.requests) == 1  # it was asked, answered 302 ...
    assert elsewhere.requests == []  # ... and the key did not follow the redirect


# The bot token and Slack files -------------------------------------------------------------------


async def test_the_bot_token_goes_only_to_slacks_own_file_hosts(
    settings: Settings, slack: SlackStandIn, servers: list[LoopbackServer]
) -> None:
    stranger = await LoopbackServer(_ok).start()
    servers.append(stranger)
    files = SlackFiles(settings)
    # The control: a file on the Slack stand-in (the configured Slack host) downloads.
    real = slack.add_file("notes.txt", b"hello")
    assert (await files.download(real, 1024)).content == b"hello"
    # The same file claimed to live on another host (localhost is loopback, but not Slack's).
    port = stranger.url.rsplit(":", 1)[1]
    for url in (f"http://localhost:{port}/files/F1/notes.txt", "https://files.slack.com.evil/x"):
        forged = {**real, "url_private_download": url, "url_private": url}
        with pytest.raises(UserInputError, match="cannot be fetched from Slack"):
            await files.download(forged, 1024)
    await files.aclose()
    assert stranger.requests == []


async def test_a_download_larger_than_the_cap_is_cut_off_while_streaming(
    settings: Settings, servers: list[LoopbackServer]
) -> None:
    sent: list[int] = []

    async def endless(request: web.Request) -> web.StreamResponse:
        # Slack said the file is tiny; the body never ends. Reading it all would never return.
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            while True:
                await response.write(chunk)
                sent.append(len(chunk))
        except (ConnectionError, asyncio.CancelledError):
            return response

    server = await LoopbackServer(endless).start()
    servers.append(server)
    files = SlackFiles(settings)  # the stand-in's host, 127.0.0.1, counts as Slack's here
    claimed = {"name": "tiny.bin", "size": 10, "url_private_download": server.url + "/f/tiny"}
    with pytest.raises(FileTooLargeError, match="the limit is"):
        await asyncio.wait_for(files.download(claimed, 256 * 1024), timeout=10)
    await files.aclose()
    assert sum(sent) < 64 * 1024 * 1024  # it stopped reading long before the server gave up


# A password in a URL and the log ----------------------------------------------------------------


async def test_a_password_in_a_url_is_not_logged(
    operator_log: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    client = httpx.AsyncClient()
    http = BackendHTTP("omnidesk", client, omnidesk_error, RetryPolicy(base_delay=0.001))
    url = "https://agent:pa55-in-url@omni.test/api/v2/ticket?apiKey=omni-query-key"
    with caplog.at_level(logging.DEBUG, logger="ticketbot"), respx.mock:
        respx.get(url="https://omni.test/api/v2/ticket").mock(
            side_effect=[httpx.Response(503, json={}), httpx.Response(200, json={})]
        )
        await http.send("GET", url, idempotent=True)
    await client.aclose()
    # What the code logs (the records) and what the operator reads (the formatted lines).
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("ticketbot")]
    assert any("retrying GET https://omni.test/api/v2/ticket" in line for line in logged)
    assert any("GET https://omni.test/api/v2/ticket -> 200" in line for line in logged)
    for text in ["\n".join(logged), operator_log.getvalue()]:
        assert "pa55-in-url" not in text and "omni-query-key" not in text and "agent:" not in text


def test_the_log_formatter_scrubs_userinfo_from_any_url() -> None:
    line = redact("calling https://agent:pa55-in-url@omni.test/api and ftp://u:p@h/")
    assert line == "calling https://[redacted]@omni.test/api and ftp://[redacted]@h/"
