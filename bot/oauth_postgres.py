"""The OAuth installations and states in TICKETBOT_DATABASE_URL, for instances sharing one database.

slack_sdk's own async SQLAlchemy stores (its tables ``slack_installations``, ``slack_bots`` and
``slack_oauth_states``) over SQLAlchemy's asyncpg driver, the driver the PostgreSQL store uses;
tokens sealed like the embedded SQLite store's (bot.sealed_installations.TokenSealing). Imported
only when TICKETBOT_DATABASE_URL is set, like asyncpg.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.sealed_installations import TABLE_TOKENS, Sealer, TokenSealing

# The advisory lock taken while creating slack_sdk's tables (an arbitrary fixed number).
_TABLES_LOCK = 0x5EA1ED05


def async_engine(database_url: str) -> AsyncEngine:
    """An engine on ``database_url`` (postgresql:// or postgres://) through asyncpg."""
    parts = urlsplit(database_url)
    return create_async_engine(urlunsplit(("postgresql+asyncpg", *parts[1:])), pool_pre_ping=True)


class SealedSQLAlchemyInstallationStore(TokenSealing, AsyncSQLAlchemyInstallationStore):
    """The library's async SQLAlchemy store; tokens pass through ``sealer`` on save and find."""

    def __init__(self, *, sealer: Sealer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sealer = sealer

    async def async_save(self, installation: Any) -> None:
        """Save with the tokens sealed (slack_sdk also saves the bot row from it)."""
        await super().async_save(self._sealed(installation))

    async def async_save_bot(self, bot: Any) -> None:
        """Save a bot row with its tokens sealed."""
        await super().async_save_bot(self._sealed(bot))

    async def async_find_bot(self, **kwargs: Any) -> Any:
        """The bot row, tokens opened."""
        return self._opened(await super().async_find_bot(**kwargs))

    async def async_find_installation(self, **kwargs: Any) -> Any:
        """The installation, tokens opened."""
        return self._opened(await super().async_find_installation(**kwargs))

    async def reseal(self) -> int:
        """Seal every token again under the newest key (``ticketbot rotate-key``), plain ones
        included; returns how many values were written."""
        tables = {"slack_installations": self.installations, "slack_bots": self.bots}
        written = 0
        async with self.engine.begin() as conn:
            for name, columns in TABLE_TOKENS.items():
                table = tables[name]
                for column in columns:
                    rows = await conn.execute(
                        sqlalchemy.select(table.c.id, table.c[column]).where(
                            table.c[column].is_not(None)
                        )
                    )
                    for row_id, value in rows.all():
                        await conn.execute(
                            table.update()
                            .where(table.c.id == row_id)
                            .values({column: self._resealed(value)})
                        )
                        written += 1
        return written


class PostgresInstallations:
    """The installation and state stores on one engine; ``start`` creates their tables."""

    def __init__(
        self,
        database_url: str,
        *,
        sealer: Sealer,
        client_id: str,
        state_seconds: int,
        logger: logging.Logger,
    ) -> None:
        self.engine = async_engine(database_url)
        self.store = SealedSQLAlchemyInstallationStore(
            sealer=sealer, client_id=client_id, engine=self.engine, logger=logger
        )
        self.states = AsyncSQLAlchemyOAuthStateStore(
            expiration_seconds=state_seconds, engine=self.engine, logger=logger
        )

    async def start(self) -> None:
        """Create slack_sdk's tables where they are missing. Every instance does at start, so
        a transaction-scoped advisory lock keeps two of them from racing to create one table."""
        async with self.engine.begin() as conn:
            await conn.execute(sqlalchemy.text(f"SELECT pg_advisory_xact_lock({_TABLES_LOCK})"))
            await conn.run_sync(self.store.metadata.create_all)
            await conn.run_sync(self.states.metadata.create_all)

    async def aclose(self) -> None:
        """Close the engine's connections."""
        await self.engine.dispose()
