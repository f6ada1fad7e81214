"""slack_sdk's installation stores, with every Slack token Fernet-sealed at rest.

An OAuth install stores each workspace's bot token (and any user or refresh token). They are
secrets like backend credentials, so they are sealed with the same keys (``TICKETBOT_SECRET_KEY``)
before slack_sdk writes them, and opened when Bolt reads them back. The library keeps doing all
the rest (its schema, look-ups, deletes); only the token fields change on the way in and out.
``TokenSealing`` does that for any of its stores: the SQLite one here (embedded mode) and the
SQLAlchemy one of bot.oauth_postgres (PostgreSQL mode).

A value still starting with ``xox`` is a plain token written before sealing existed: it is read
as it is and sealed the next time the installation is saved or the key rotated.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol, TypeVar

from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore

# The token columns of slack_sdk's tables and fields of its Installation and Bot models.
TOKEN_FIELDS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
TABLE_TOKENS = {
    "slack_installations": TOKEN_FIELDS,
    "slack_bots": ("bot_token", "bot_refresh_token"),
}

Model = TypeVar("Model")


class Sealer(Protocol):
    """What the store's key machinery offers (bot.store.keys): seal and open a JSON value."""

    def seal(self, value: Any) -> str: ...
    def open_sealed(self, token: str) -> Any: ...


def _is_plain(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("xox")


class TokenSealing:
    """Seals the token fields of slack_sdk's models before a store writes them and opens them
    after it reads them; mixed into a store class ahead of the library's."""

    _sealer: Sealer

    def _sealed(self, model: Model) -> Model:
        sealed = copy.copy(model)
        for name in TOKEN_FIELDS:
            value = getattr(sealed, name, None)
            if _is_plain(value):
                setattr(sealed, name, self._sealer.seal(value))
        return sealed

    def _opened(self, model: Model | None) -> Model | None:
        for name in TOKEN_FIELDS:
            value = getattr(model, name, None)
            if isinstance(value, str) and value and not _is_plain(value):
                setattr(model, name, self._sealer.open_sealed(value))
        return model

    def _resealed(self, value: str) -> str:
        """``value`` sealed under the newest key, whether it was plain or sealed before."""
        return self._sealer.seal(value if _is_plain(value) else self._sealer.open_sealed(value))


class SealedInstallationStore(TokenSealing, SQLite3InstallationStore):
    """The library's SQLite store; tokens pass through ``sealer`` on every save and find."""

    def __init__(self, *, sealer: Sealer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sealer = sealer

    def save(self, installation: Any) -> None:
        """Save with the tokens sealed (slack_sdk also saves the bot row from it)."""
        super().save(self._sealed(installation))

    def save_bot(self, bot: Any) -> None:
        """Save a bot row with its tokens sealed."""
        super().save_bot(self._sealed(bot))

    def find_bot(self, **kwargs: Any) -> Any:
        """The bot row, tokens opened."""
        return self._opened(super().find_bot(**kwargs))

    def find_installation(self, **kwargs: Any) -> Any:
        """The installation, tokens opened."""
        return self._opened(super().find_installation(**kwargs))

    def reseal(self) -> int:
        """Seal every token again under the newest key (``ticketbot rotate-key``), plain ones
        included; returns how many values were written."""
        written = 0
        with self.connect() as conn:
            for table, columns in TABLE_TOKENS.items():
                for column in columns:
                    # Table and column names come from TABLE_TOKENS, never from input.
                    query = f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL"  # noqa: S608
                    rows = conn.execute(query).fetchall()
                    for row_id, value in rows:
                        conn.execute(
                            f"UPDATE {table} SET {column} = ? WHERE id = ?",  # noqa: S608
                            (self._resealed(value), row_id),
                        )
                        written += 1
        return written
