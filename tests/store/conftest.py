"""Fixtures for the store tests: a PostgreSQL server for the session, a fresh database per test,
and the two stores opened the way ticketbot opens them."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest
from cryptography.fernet import Fernet

from bot.config import Settings
from bot.store import Stores, open_embedded, open_postgres
from tests.store.pg import INSTALL_HINT, PgServer, find_bindir, running_server

_numbers = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL server; skipped (or, in CI, failed) where it cannot run."""
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("TICKETBOT_REQUIRE_POSTGRES") == "1":
            pytest.fail(INSTALL_HINT, pytrace=False)
        pytest.skip(INSTALL_HINT)
    with running_server(bindir) as server:
        yield server


async def _create_database(admin_url: str, name: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A new, empty database on the session's server. Synchronous (its own loop in a thread) so
    that async fixtures can ask for it only when the PostgreSQL variant runs."""
    name = f"t{os.getpid()}_{next(_numbers)}"
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _create_database(pg_server.url(), name)).result()
    return pg_server.url(name)


@pytest.fixture
def secret_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def store_settings(tmp_path: Path, secret_key: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", secret_key=secret_key, _env_file=None)


@pytest.fixture(params=["embedded", "postgres"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def open_any(
    kind: str, request: pytest.FixtureRequest, store_settings: Settings
) -> AsyncIterator:
    """Opens the store under test (again, after closing it, to check what persists)."""
    url = request.getfixturevalue("pg_url") if kind == "postgres" else None
    opened: list[Stores] = []

    async def open_(keys: str | None = None) -> Stores:
        if url is None:
            stores = open_embedded(store_settings, keys)
        else:
            stores = open_postgres(store_settings, url, keys)
        await stores.start()
        opened.append(stores)
        return stores

    yield open_
    for stores in opened:
        await stores.aclose()


@pytest.fixture
async def stores(open_any) -> Stores:
    """The store under test, started."""
    return await open_any()
