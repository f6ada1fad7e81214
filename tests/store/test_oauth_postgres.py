"""OAuth installations in the shared PostgreSQL database: an install through one instance serves
another, its tokens are sealed in the table, and an uninstall deletes the rows there."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from pydantic import SecretStr

from bot.config import Settings
from bot.runtime import build_services
from bot.sandbox import payloads
from bot.sandbox.driver import post_event
from bot.sandbox.slack import SlackStandIn
from tests.harness import BotUnderTest
from tests.test_oauth import A, install
from tests.waiting import eventually


@pytest.fixture
def pg_oauth_settings(settings: Settings, slack: SlackStandIn, pg_url: str) -> Settings:
    return settings.model_copy(
        update={
            "slack_bot_token": None,
            "slack_client_id": slack.installs.client_id,
            "slack_client_secret": SecretStr(slack.installs.client_secret),
            "database_url": SecretStr(pg_url),
        }
    )


@pytest.fixture
async def two_bots(
    slack: SlackStandIn, pg_oauth_settings: Settings
) -> AsyncIterator[tuple[BotUnderTest, BotUnderTest]]:
    bots = []
    for _ in range(2):
        services = build_services(pg_oauth_settings)
        await services.start()  # as `serve` does: the tables are created here
        bots.append(await BotUnderTest(slack, pg_oauth_settings, services).start())
    first, second = bots
    yield first, second
    await second.stop()
    await first.stop()


async def _rows(url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(query)
    finally:
        await conn.close()


async def test_an_install_through_one_instance_serves_another_sealed_and_uninstall_deletes_it(
    two_bots: tuple[BotUnderTest, BotUnderTest], pg_url: str, operator_log: object
) -> None:
    first, second = two_bots
    a = await install(first, A, team_name="Alpha")
    assert not first.settings.oauth_file.exists()  # nothing in the data directory

    # The other instance finds the installation in the database and answers with A's token.
    await second.user("U0ALICE", team_id=A).command("connect")
    await second.slack.wait_for("views.open")
    assert second.slack.tokens_of("views.open") == [a.token]

    # Sealed at rest: the token columns hold no plain token.
    installs = await _rows(pg_url, "SELECT bot_token FROM slack_installations")
    bots = await _rows(pg_url, "SELECT bot_token FROM slack_bots")
    stored = [r["bot_token"] for r in [*installs, *bots]]
    assert len(stored) == 2 and all(v and not v.startswith("xox") for v in stored)
    assert a.token not in str(stored)

    # rotate-key's reseal reaches these rows too, and they still open to the same token.
    installations = second.services.installations
    assert installations is not None and await installations.reseal() >= 2
    assert await installations.bot_token(A, None) == a.token

    answer = await post_event(
        second, payloads.event_callback(payloads.app_uninstalled(), team_id=A)
    )
    assert answer.status_code == 200
    await eventually(lambda: "app_uninstalled: deleted" in operator_log.getvalue())  # type: ignore[attr-defined]
    assert await _rows(pg_url, "SELECT id FROM slack_installations") == []
    assert await _rows(pg_url, "SELECT id FROM slack_bots") == []
    assert await first.services.installations.bot_token(A, None) is None  # type: ignore[union-attr]
