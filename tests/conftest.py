from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.backends.http import RetryPolicy
from bot.backends.registry import Backends
from bot.config import Settings
from bot.credentials import (
    EpixelCredentials,
    IspcrmCredentials,
    OmnideskCredentials,
    QuestionProCredentials,
)
from bot.logs import configure_logging
from bot.runtime import build_services
from bot.sandbox import epixel, ispcrm, questionpro
from bot.sandbox import omnidesk as omnidesk_sb
from bot.sandbox.run import Sandboxes, start_sandboxes
from bot.sandbox.slack import SlackStandIn
from tests.harness import SIGNING_SECRET, TEAM, BotUnderTest, SlackUser, SocketBotUnderTest
from tests.outside_reads import OutsideReads

# Installed before any test runs, so every file a test opens is seen (tests/outside_reads.py).
OUTSIDE_READS = OutsideReads().install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a test read beside the repository, which a fresh clone does not have."""
    if OUTSIDE_READS.seen:
        names = ", ".join(sorted(set(OUTSIDE_READS.seen))[:5])
        session.config.get_terminal_writer().line(
            f"FAILED: tests read files outside the repository: {names}", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    standin = await SlackStandIn().start()
    yield standin
    await standin.stop()


@pytest.fixture
def secret_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
async def sandboxes() -> AsyncIterator[Sandboxes]:
    servers = await start_sandboxes()
    yield servers
    await servers.stop()


@pytest.fixture
def settings(
    tmp_path: Path, slack: SlackStandIn, sandboxes: Sandboxes, secret_key: str
) -> Settings:
    return Settings(
        slack_bot_token="xoxb-1111-2222-testtoken",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        data_dir=tmp_path / "data",
        secret_key=secret_key,
        questionpro_base_url=sandboxes.questionpro.base_url,
        backend_allowlist="127.0.0.1",  # the sandboxes listen on loopback
        questionpro_clf_base_url=sandboxes.questionpro_clf.base_url
        if sandboxes.questionpro_clf
        else None,
        http_read_timeout=5.0,
        channel_post_interval=0.0,
        progress_interval=0.0,
        _env_file=None,
    )


async def connect_sandbox_accounts(
    bot: BotUnderTest, sandboxes: Sandboxes, user_id: str, *, omnidesk: bool = True
) -> None:
    """``user_id`` has connected Epixel, ISPCRM and (unless told not to) Omnidesk with every
    permission, stored as the connect form stores them."""
    store = bot.services.store
    await store.save_credentials(
        TEAM,
        user_id,
        EpixelCredentials(
            base_url=sandboxes.epixel.base_url,
            api_key=epixel.DEMO_API_KEY,
            access_token=epixel.DEMO_ACCESS_TOKEN,
        ),
    )
    if omnidesk:
        await store.save_credentials(
            TEAM,
            user_id,
            OmnideskCredentials(base_url=sandboxes.omnidesk.base_url, api_key=omnidesk_sb.FULL_KEY),
        )
    await store.save_credentials(
        TEAM,
        user_id,
        IspcrmCredentials(base_url=sandboxes.ispcrm.base_url, token=ispcrm.DEMO_TOKEN),
    )


@pytest.fixture
async def agent(bot: BotUnderTest, sandboxes: Sandboxes) -> SlackUser:
    """A support agent who has connected Epixel, Omnidesk (all permissions) and ISPCRM."""
    await connect_sandbox_accounts(bot, sandboxes, "U0AGENT")
    return bot.user("U0AGENT")


@pytest.fixture
async def backends(settings: Settings) -> AsyncIterator[Backends]:
    # Short backoff so retry tests take fractions of a second; Retry-After is still honoured.
    registry = Backends(settings, policy=RetryPolicy(attempts=4, max_seconds=10, base_delay=0.01))
    yield registry
    await registry.aclose()


@pytest.fixture
async def bot(slack: SlackStandIn, settings: Settings) -> AsyncIterator[BotUnderTest]:
    under_test = await BotUnderTest(slack, settings, build_services(settings)).start()
    yield under_test
    await under_test.stop()


@pytest.fixture(params=["http", "socket"])
async def bot_over(
    request: pytest.FixtureRequest, slack: SlackStandIn, settings: Settings
) -> AsyncIterator[BotUnderTest]:
    """The bot over each transport in turn: signed HTTP requests, then Socket Mode envelopes."""
    kind = SocketBotUnderTest if request.param == "socket" else BotUnderTest
    under_test = await kind(slack, settings, build_services(settings)).start()
    yield under_test
    await under_test.stop()


@pytest.fixture
def operator_log() -> Iterator[io.StringIO]:
    """The operator's logging (as `ticketbot serve` sets it up, at DEBUG) for one test."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    configure_logging("DEBUG", stream)
    yield stream
    root.handlers[:], root.level = saved[0], saved[1]


@pytest.fixture
async def manager(bot: BotUnderTest) -> SlackUser:
    """A customer-experience manager who has connected QuestionPro (imports)."""
    await bot.services.store.save_credentials(
        TEAM, "U0CXM", QuestionProCredentials(api_key=questionpro.DEMO_API_KEY)
    )
    return bot.user("U0CXM", "C0CX")
