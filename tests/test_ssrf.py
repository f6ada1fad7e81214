"""Base URLs cannot turn the bot into a way into its own network (issue 10, item 1).

No test here sends a packet to a non-loopback address: a recording network backend stands in for
sockets (it records the address it was asked to connect to and refuses), and a fake resolver
answers names, so refusal is proven by what was never asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpcore
import pytest
from aiohttp import web
from pydantic import ValidationError

from bot.backends.http import RetryPolicy
from bot.backends.registry import Backends
from bot.config import Settings
from bot.credentials import OmnideskCredentials
from bot.errors import BackendUnavailable
from bot.models import TicketQuery
from bot.netguard import AddressGuard, AddressPolicy
from bot.sandbox import omnidesk
from bot.sandbox.run import Sandboxes
from bot.sandbox.slack import SlackStandIn
from tests.harness import TEAM, BotUnderTest


class RecordingNetwork(httpcore.AsyncNetworkBackend):
    """Stands in for sockets: records each connect it is asked for and refuses it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.calls.append((host, port))
        raise httpcore.ConnectError("recorded, not connected")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeDNS:
    """Answers names from a table; a list of answers per name is used up one lookup at a time
    (the last one repeats), which is how a rebinding attacker's DNS behaves."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError("no such host")
        queue = self.answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]


PUBLIC_IP = "93.184.216.34"


def _guarded(
    settings: Settings, dns: FakeDNS, allow: str = ""
) -> tuple[Backends, RecordingNetwork]:
    network = RecordingNetwork()
    guard = AddressGuard(AddressPolicy.parse(allow), dns)
    # Two tries, so a test also sees that a refusal is not retried (a connect failure is).
    policy = RetryPolicy(attempts=2, base_delay=0.001)
    return Backends(settings, policy=policy, guard=guard, network=network), network


async def _list_via(backends: Backends, base_url: str) -> BackendUnavailable:
    creds = OmnideskCredentials(base_url=base_url, api_key=omnidesk.FULL_KEY)
    with pytest.raises(BackendUnavailable) as caught:
        await backends.for_credentials(creds).list_tickets(TicketQuery(limit=1))
    return caught.value


REFUSED_LITERALS = [
    "https://169.254.169.254/latest",
    "https://10.0.0.1/api/v2",
    "https://172.16.5.4/api/v2",
    "https://192.168.1.1/api/v2",
    "https://2130706433/api/v2",
    "https://0x7f.1/api/v2",
    "https://0x7F000001/api/v2",
    "https://017700000001/api/v2",
    "https://127.1/api/v2",
    "https://127.0.0.1./api/v2",
    "https://[::ffff:127.0.0.1]/api/v2",
    "https://[::ffff:a9fe:a9fe]/api/v2",
    "https://[::127.0.0.1]/api/v2",
    "https://[2002:7f00:1::]/api/v2",
    "https://[64:ff9b::a00:1]/api/v2",
    "https://[::1]:6379/",
    "https://[fe80::1]/api/v2",
    "https://[fc00::1]/api/v2",
    "https://[ff02::1]/api/v2",
    "https://100.64.0.1/api/v2",
    "https://0.0.0.0/api/v2",
    "https://0/api/v2",
    "https://224.0.0.1/api/v2",
    "https://192.0.2.10/api/v2",
    "https://198.18.0.1/api/v2",
    "https://240.0.0.1/api/v2",
    "https://255.255.255.255/api/v2",
]


@pytest.mark.parametrize("base_url", REFUSED_LITERALS)
async def test_a_non_public_address_in_any_spelling_sees_no_connection(
    settings: Settings, base_url: str
) -> None:
    dns = FakeDNS({"public.example": [[PUBLIC_IP]]})
    backends, network = _guarded(settings, dns)
    refused = await _list_via(backends, base_url)
    # The control: a public host is handed to the (recording) network, which fails to connect.
    unreachable = await _list_via(backends, "https://public.example/api/v2")
    await backends.aclose()
    assert network.calls == [(PUBLIC_IP, 443)] * 2  # only the control (tried twice)
    assert dns.asked == ["public.example"] * 2  # literals are judged without asking DNS
    # A refused address reads exactly like an unreachable one: no map of the bot's network.
    assert refused.user_message() == unreachable.user_message()
    assert "could not connect (check the base URL)" in refused.user_message()


@pytest.mark.parametrize(
    ("host", "asked", "answer"),
    [
        ("LOCALHOST.", "localhost.", "127.0.0.1"),
        ("metadata.google.internal", "metadata.google.internal", "169.254.169.254"),
        ("bücher.example", "xn--bcher-kva.example", "10.1.2.3"),
        ("v6.example", "v6.example", "::ffff:10.0.0.1"),
    ],
)
async def test_a_name_that_resolves_to_a_non_public_address_is_refused(
    settings: Settings, host: str, asked: str, answer: str
) -> None:
    dns = FakeDNS({asked: [[answer]]})
    backends, network = _guarded(settings, dns)
    await _list_via(backends, f"https://{host}/api/v2")
    await backends.aclose()
    assert dns.asked == [asked]
    assert network.calls == []


async def test_dns_rebinding_after_the_connect_check_is_caught_at_connection(
    settings: Settings,
) -> None:
    # Public while the form is checked, a private address by the time the bot connects.
    dns = FakeDNS({"rebind.example": [[PUBLIC_IP], ["10.0.0.1"]]})
    backends, network = _guarded(settings, dns)
    creds = OmnideskCredentials(base_url="https://rebind.example/api/v2", api_key="k" * 12)
    with pytest.raises(BackendUnavailable):
        await backends.verify(creds)
    await backends.aclose()
    assert dns.asked == ["rebind.example", "rebind.example"]  # at connect, then on connecting
    assert network.calls == []  # and 10.0.0.1 was never connected to


async def test_one_private_answer_among_public_ones_refuses_the_host(settings: Settings) -> None:
    dns = FakeDNS({"mixed.example": [[PUBLIC_IP, "10.0.0.1"]]})
    backends, network = _guarded(settings, dns)
    await _list_via(backends, "https://mixed.example/api/v2")
    await backends.aclose()
    assert network.calls == []


async def test_plain_http_only_to_an_allowlisted_host(settings: Settings) -> None:
    dns = FakeDNS({"public.example": [[PUBLIC_IP]], "onprem.example": [["10.9.8.7"]]})
    backends, network = _guarded(settings, dns, allow="onprem.example")
    await _list_via(backends, "http://public.example/api/v2")
    assert network.calls == [] and dns.asked == []  # refused before resolving
    await _list_via(backends, "http://onprem.example/api/v2")
    await backends.aclose()
    assert network.calls == [("10.9.8.7", 80)] * 2  # allowed by the operator: handed over


async def test_an_allowlisted_cidr_admits_its_addresses_only(settings: Settings) -> None:
    dns = FakeDNS({"a.example": [["10.1.2.3"]], "b.example": [["192.168.0.9"]]})
    backends, network = _guarded(settings, dns, allow="10.0.0.0/8")
    await _list_via(backends, "https://a.example/api/v2")
    await _list_via(backends, "https://b.example/api/v2")
    await backends.aclose()
    assert network.calls == [("10.1.2.3", 443)] * 2


async def test_the_guard_connects_to_the_address_it_checked(
    settings: Settings, sandboxes: Sandboxes
) -> None:
    # Real loopback traffic: the name is resolved once, by the guard, and the request keeps its
    # Host header, so the backend cannot tell the difference.
    port = sandboxes.omnidesk.port
    dns = FakeDNS({"omnidesk.internal": [["127.0.0.1"]]})
    guard = AddressGuard(AddressPolicy.parse("omnidesk.internal"), dns)
    backends = Backends(settings, guard=guard)
    creds = OmnideskCredentials(
        base_url=f"http://omnidesk.internal:{port}/api/v2", api_key=omnidesk.FULL_KEY
    )
    page = await backends.for_credentials(creds).list_tickets(TicketQuery(limit=1))
    await backends.aclose()
    assert len(page.items) == 1
    assert dns.asked == ["omnidesk.internal"]
    assert sandboxes.omnidesk.requests[-1].headers["Host"] == f"omnidesk.internal:{port}"


def test_a_wrong_allowlist_entry_stops_start_up() -> None:
    with pytest.raises(ValidationError, match=r"10\.0\.0\.0/33"):
        Settings(backend_allowlist="127.0.0.1, 10.0.0.0/33", _env_file=None)
    parsed = Settings(backend_allowlist=" 127.0.0.1 , Omnidesk.Corp. ,fd00::/8", _env_file=None)
    policy = parsed.address_policy
    assert policy.host_allowed("omnidesk.corp") and policy.host_allowed("127.0.0.1")
    assert not policy.host_allowed("127.0.0.2") and not policy.host_allowed("evil.corp")


def test_the_sandbox_says_which_allowlist_line_to_use(sandboxes: Sandboxes) -> None:
    assert "  TICKETBOT_BACKEND_ALLOWLIST=127.0.0.1\n" in sandboxes.describe()


# The connect form ------------------------------------------------------------------------------


@pytest.fixture
async def guarded_bot(
    slack: SlackStandIn, settings: Settings, bot: BotUnderTest
) -> AsyncIterator[tuple[BotUnderTest, FakeDNS, RecordingNetwork]]:
    """The real bot with an empty allowlist, a fake resolver and no real sockets to backends."""
    dns = FakeDNS({"intranet.example": [["10.0.0.5"]]})
    strict = settings.model_copy(update={"backend_allowlist": ""})
    backends, network = _guarded(strict, dns)
    await bot.services.backends.aclose()
    bot.services.backends = backends
    yield bot, dns, network


async def _connect_form(bot: BotUnderTest, backend: str) -> dict:
    await bot.user("U0MALLORY").command(f"connect {backend}")
    return (await bot.slack.wait_for("views.open"))[-1]["view"]


@pytest.mark.parametrize(
    ("base_url", "says"),
    [
        ("https://169.254.169.254/latest/meta-data", "private or local network"),
        ("https://[::ffff:127.0.0.1]:6379/", "private or local network"),
        ("https://2130706433/", "private or local network"),
        ("http://127.0.0.1:6379/", "https://"),
        ("http://tickets.example.com/api/v2", "https://"),
        ("https://admin:hunter2@tickets.example.com/api/v2", "Leave the user name and password"),
    ],
)
async def test_the_connect_form_refuses_a_base_url_on_its_field(
    guarded_bot: tuple[BotUnderTest, FakeDNS, RecordingNetwork], base_url: str, says: str
) -> None:
    bot, dns, network = guarded_bot
    view = await _connect_form(bot, "omnidesk")
    answer = await bot.user("U0MALLORY").submit(view, {"base_url": base_url, "api_key": "k" * 12})
    errors = answer.json()["errors"]
    assert list(errors) == ["base_url"] and says in errors["base_url"]
    assert "\n" not in errors["base_url"]  # one line
    assert network.calls == [] and dns.asked == []
    assert await bot.services.store.list_credentials(TEAM, "U0MALLORY") == {}


async def test_a_name_resolving_to_a_private_address_is_refused_on_the_field(
    guarded_bot: tuple[BotUnderTest, FakeDNS, RecordingNetwork],
) -> None:
    bot, dns, network = guarded_bot
    view = await _connect_form(bot, "ispcrm")
    values = {"base_url": "https://intranet.example/api/v1", "token": "isp-token-0000"}
    answer = await bot.user("U0MALLORY").submit(view, values)
    assert answer.json()["response_action"] == "update"  # resolving waits until after the ack
    form = (await bot.slack.wait_for("views.update"))[-1]["view"]
    ids = [b.get("block_id") for b in form["blocks"]]
    field_note = form["blocks"][ids.index("base_url") + 1]
    assert "TICKETBOT_BACKEND_ALLOWLIST" in str(field_note)
    assert "connect_notice" not in ids  # said on the field, once
    assert dns.asked == ["intranet.example"] and network.calls == []
    assert await bot.services.store.list_credentials(TEAM, "U0MALLORY") == {}


# A server that is not the backend ---------------------------------------------------------------

INTERNAL_WORDS = ["LEAK-message", "LEAK-error", "LEAK-errors", "LEAK-reason"]


@pytest.fixture
async def internal_service() -> AsyncIterator[str]:
    """Some other service on an allowlisted host, answering every request with its own error
    words in the places vendors put theirs, and a custom status line."""

    async def answer(request: web.Request) -> web.Response:
        status = 400 if request.method == "POST" else 401
        body = {
            "message": "LEAK-message",
            "error": {"message": "LEAK-error"},
            "errors": {"detail": ["LEAK-errors"]},
        }
        return web.json_response(body, status=status, reason="LEAK-reason")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/api"
    await runner.cleanup()


@pytest.mark.parametrize(
    ("backend", "values"),
    [
        ("omnidesk", {"api_key": "omni-key-000000"}),
        ("epixel", {"api_key": "epx-key-0000", "username": "alice", "password": "pw-0000"}),
        ("epixel", {"api_key": "epx-key-0000", "access_token": "tok-0000"}),
        ("ispcrm", {"token": "isp-token-0000"}),
        ("ispcrm", {"username": "alice", "password": "pw-0000"}),
    ],
)
async def test_the_form_shows_no_words_of_a_server_that_is_not_the_backend(
    bot: BotUnderTest, internal_service: str, backend: str, values: dict[str, str]
) -> None:
    view = await _connect_form(bot, backend)
    answer = await bot.user("U0MALLORY").submit(view, {"base_url": internal_service, **values})
    assert answer.json()["response_action"] == "update"
    form = (await bot.slack.wait_for("views.update"))[-1]["view"]
    notice = next(b for b in form["blocks"] if b.get("block_id") == "connect_notice")
    assert notice["text"]["text"].startswith(":warning:")  # it does say the check failed
    for word in INTERNAL_WORDS:
        assert word not in str(bot.slack.calls)
