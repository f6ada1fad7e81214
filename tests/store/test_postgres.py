"""What only the PostgreSQL store has: versioned migrations, and nothing secret in plain text."""

from __future__ import annotations

import asyncpg
import pytest

from bot.errors import StoreError
from bot.store import Stores
from bot.store.migrations import MIGRATIONS
from tests.store.test_contract import QP


@pytest.fixture
def kind() -> str:
    return "postgres"


async def test_migrations_are_recorded_once_and_a_newer_schema_is_refused(
    open_any, stores: Stores, pg_url: str
) -> None:
    await stores.aclose()
    await (await open_any()).aclose()  # a restart applies nothing again
    conn = await asyncpg.connect(pg_url)
    try:
        versions = await conn.fetch("SELECT version FROM schema_version ORDER BY version")
        assert [r["version"] for r in versions] == list(range(1, len(MIGRATIONS) + 1))
        await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", len(MIGRATIONS) + 1)
    finally:
        await conn.close()
    with pytest.raises(StoreError, match="newer than this ticketbot knows"):
        await open_any()


async def test_credentials_are_encrypted_in_the_database(stores: Stores, pg_url: str) -> None:
    await stores.store.save_credentials("T1", "U1", QP)
    conn = await asyncpg.connect(pg_url)
    try:
        dump = str([dict(r) for r in await conn.fetch("SELECT * FROM credentials")])
    finally:
        await conn.close()
    assert QP.api_key.get_secret_value() not in dump and "U1" in dump
