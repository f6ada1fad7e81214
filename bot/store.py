"""The local store: per-user backend credentials (encrypted), and later subscriptions and ledgers.

Backed by sqlitedict with JSON encode/decode: sqlitedict pickles by default, and unpickling a file
someone else could write is code execution (CVE-2024-35515). Credentials are encrypted with
MultiFernet, so keys can be rotated: the newest key encrypts, every listed key decrypts.

A canary value encrypted at creation lets us tell "wrong key" from "no data" at open time, so a
store opened with the wrong key fails loudly instead of being overwritten.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlitedict import SqliteDict

from bot.config import Settings
from bot.credentials import Credentials, credentials_from_store
from bot.errors import ConfigError, StoreError, StoreKeyError
from bot.single_instance import DataDirLock

log = logging.getLogger(__name__)

_CANARY = b"ticketbot-store-v1"


def _json_encode(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _json_decode(raw: str | bytes) -> Any:
    return json.loads(raw)


def open_table(path: Path, table: str) -> SqliteDict:
    """A sqlitedict table that stores JSON, never pickle; writes are committed explicitly."""
    # WAL: readers never block the writer, so the poller and listeners share the file freely.
    return SqliteDict(
        str(path),
        tablename=table,
        encode=_json_encode,
        decode=_json_decode,
        autocommit=False,
        journal_mode="WAL",
    )


def rescope(
    table: SqliteDict, user_field: str, user_id: str, teams: tuple[str, ...], scope: str
) -> int:
    """Give ``scope`` to the user's records in ``table`` that are still keyed by one of ``teams``
    (written before Enterprise Grid keys); returns how many changed, 0 when run again."""
    changed = 0
    for key, raw in list(table.items()):
        team = raw.get("team_id")
        mine = raw.get(user_field) == user_id and team in teams and team != scope
        if mine and raw.get("scope") in (None, team):
            table[key] = {**raw, "scope": scope}
            changed += 1
    if changed:
        table.commit()
    return changed


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` readable by this user only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


def _touch_private(path: Path) -> None:
    # Create the file 0600 before sqlite does, so it is never briefly world-readable.
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    path.chmod(0o600)


def parse_keys(raw: str) -> MultiFernet:
    """Build a MultiFernet from comma-separated Fernet keys, newest first."""
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    if not keys:
        raise ConfigError("TICKETBOT_SECRET_KEY is empty: give one or more Fernet keys.")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise ConfigError(
            "TICKETBOT_SECRET_KEY must be Fernet keys (32 url-safe base64 bytes), comma-separated, "
            "newest first. Make one with `ticketbot generate-key`."
        ) from None


def load_keys(settings: Settings) -> MultiFernet:
    """The keys from TICKETBOT_SECRET_KEY, or a key generated once into the data directory."""
    if settings.secret_key is not None:
        return parse_keys(settings.secret_key.get_secret_value())
    key_file = settings.secret_key_file
    if key_file.exists():
        return parse_keys(key_file.read_text())
    ensure_private_dir(settings.data_dir)
    _touch_private(key_file)
    key_file.write_text(Fernet.generate_key().decode())
    log.warning(
        "TICKETBOT_SECRET_KEY is not set: generated an encryption key in %s. To manage the key "
        "yourself, set TICKETBOT_SECRET_KEY to its contents (or a new key and run "
        "`ticketbot rotate-key`).",
        key_file,
    )
    return parse_keys(key_file.read_text())


class RequestMemory(Protocol):
    """The part of the store interface that remembers which Slack requests were processed.

    Part of the store (not of the process) so that it survives a restart, and so that a store
    shared by several instances can answer for all of them.
    """

    async def remember_request(self, key: str, ttl_seconds: float) -> bool:
        """Record ``key`` for ``ttl_seconds``; True the first time, False while it is remembered.

        Check and record are one atomic step: of two concurrent calls, exactly one gets True.
        """
        ...


# Expired request keys are swept at most this often, so a burst does not rescan the table.
_SWEEP_SECONDS = 60.0


class Store:
    """Credentials keyed by (scope, user_id, backend), encrypted at rest.

    ``scope`` is the Enterprise Grid org id when the request has one, else the workspace id (the
    key of every record written before Grid support, which stays valid for single workspaces).
    It also holds the request memory (``RequestMemory``).
    """

    def __init__(self, path: Path, keys: MultiFernet) -> None:
        ensure_private_dir(path.parent)
        # Before touching any table: a second process must not even open them.
        self._lock = DataDirLock(path.parent).acquire()
        _touch_private(path)
        self.path = path
        self._keys = keys
        self._meta = open_table(path, "meta")
        self._credentials = open_table(path, "credentials")
        self._requests = open_table(path, "requests")  # key -> expiry (epoch seconds)
        self._requests_lock = threading.Lock()
        self._swept_at = 0.0
        try:
            self._check_key()
        except StoreError:
            self.close()
            raise

    @classmethod
    def open(cls, settings: Settings) -> Store:
        """Open the store in the settings' data directory with the configured keys."""
        return cls(settings.store_file, load_keys(settings))

    def close(self) -> None:
        """Close every table; pending writes were already committed."""
        self._meta.close()
        self._credentials.close()
        self._requests.close()
        self._lock.release()

    def _check_key(self) -> None:
        canary = self._meta.get("canary")
        if canary is None:
            if len(self._credentials):
                # Data without a canary: verify against one record instead of guessing.
                self._decrypt(next(iter(self._credentials.values()))["secret"])
            self._meta["canary"] = self._keys.encrypt(_CANARY).decode()
            self._meta.commit()
            return
        self._decrypt(canary)

    def _decrypt(self, token: str) -> bytes:
        try:
            return self._keys.decrypt(token.encode())
        except InvalidToken:
            raise StoreKeyError(
                f"The store {self.path} was encrypted with a different key. Set "
                "TICKETBOT_SECRET_KEY to the key(s) it was written with (newest first); nothing "
                "was changed."
            ) from None

    @staticmethod
    def _key(scope: str, user_id: str, backend: str) -> str:
        return f"{scope}:{user_id}:{backend}"

    # Credentials -----------------------------------------------------------------------------

    async def save_credentials(self, scope: str, user_id: str, creds: Credentials) -> None:
        """Encrypt and store; returns only after the write is committed to disk."""
        record = {
            "secret": self._keys.encrypt(json.dumps(creds.secret_values()).encode()).decode(),
            "connected_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        }
        key = self._key(scope, user_id, creds.backend)
        await asyncio.to_thread(self._write, self._credentials, key, record)

    async def load_credentials(self, scope: str, user_id: str, backend: str) -> Credentials | None:
        """The user's credentials for ``backend``, or None."""
        record = await asyncio.to_thread(self._credentials.get, self._key(scope, user_id, backend))
        return None if record is None else self._unseal(record)

    async def list_credentials(self, scope: str, user_id: str) -> dict[str, Credentials]:
        """Every backend the user has connected, by backend key."""
        prefix = f"{scope}:{user_id}:"

        def scan() -> dict[str, Credentials]:
            return {
                key.removeprefix(prefix): self._unseal(record)
                for key, record in self._credentials.items()
                if key.startswith(prefix)
            }

        return await asyncio.to_thread(scan)

    async def credentials_stamp(self, scope: str, user_id: str, backend: str) -> str | None:
        """When the user last connected ``backend`` (None if not connected): tells a paused
        subscription that its subscriber has reconnected."""
        record = await asyncio.to_thread(self._credentials.get, self._key(scope, user_id, backend))
        return None if record is None else str(record.get("connected_at"))

    async def delete_credentials(self, scope: str, user_id: str, backend: str) -> bool:
        """Remove the user's credentials for ``backend``; False when there were none. A record
        adopted from a workspace key takes that workspace copy with it."""
        key = self._key(scope, user_id, backend)

        def delete() -> bool:
            record = self._credentials.get(key)
            if record is None:
                return False
            del self._credentials[key]
            if record.get("adopted_from"):
                self._credentials.pop(record["adopted_from"], None)
            self._credentials.commit()
            return True

        return await asyncio.to_thread(delete)

    async def adopt_credentials(self, scope: str, user_id: str, teams: tuple[str, ...]) -> int:
        """Copy the user's credentials kept under one of ``teams`` (before Enterprise Grid keys)
        to ``scope`` where ``scope`` has none for that backend; returns how many were copied.

        Nothing is deleted or rewritten: the workspace record stays as it was (an older version
        of ticketbot can still read it), and the copy remembers it so that disconnecting removes
        both. Running it again copies nothing."""
        prefixes = [f"{team}:{user_id}:" for team in teams if team != scope]

        def adopt() -> int:
            copied = 0
            for key, record in list(self._credentials.items()):
                prefix = next((p for p in prefixes if key.startswith(p)), None)
                target = prefix and self._key(scope, user_id, key.removeprefix(prefix))
                if target and target not in self._credentials:
                    self._credentials[target] = {**record, "adopted_from": key}
                    copied += 1
            if copied:
                self._credentials.commit()
            return copied

        return await asyncio.to_thread(adopt) if prefixes else 0

    async def delete_scope(self, scope: str) -> int:
        """Remove every credential kept under ``scope`` (a workspace, or an Enterprise Grid org,
        that uninstalled the app); returns how many were removed."""
        prefix = f"{scope}:"

        def delete() -> int:
            keys = [key for key in self._credentials if key.startswith(prefix)]
            for key in keys:
                del self._credentials[key]
            self._credentials.commit()
            return len(keys)

        return await asyncio.to_thread(delete)

    def _unseal(self, record: dict[str, Any]) -> Credentials:
        return credentials_from_store(json.loads(self._decrypt(record["secret"])))

    # Other personal data at rest -----------------------------------------------------------------

    def seal(self, value: Any) -> str:
        """Encrypt a JSON-able value under the newest key, as credentials are (for personal data
        such as a detractor's contact details)."""
        return self._keys.encrypt(_json_encode(value).encode()).decode()

    def open_sealed(self, token: str) -> Any:
        """The value :meth:`seal` encrypted into ``token``."""
        return json.loads(self._decrypt(token))

    def reseal(self, token: str) -> str:
        """``token`` re-encrypted under the newest key (key rotation)."""
        return self._keys.rotate(token.encode()).decode()

    @staticmethod
    def _write(table: SqliteDict, key: str, value: Any) -> None:
        try:
            table[key] = value
            table.commit()
        except Exception as exc:  # sqlite errors carry paths, not secrets
            raise StoreError(f"Could not save to the local store: {exc}") from exc

    # Request memory (replays) ---------------------------------------------------------------

    async def remember_request(self, key: str, ttl_seconds: float) -> bool:
        """See ``RequestMemory``: True the first time ``key`` is seen within ``ttl_seconds``."""
        return await asyncio.to_thread(self._remember, key, ttl_seconds)

    def _remember(self, key: str, ttl_seconds: float) -> bool:
        now = time.time()
        with self._requests_lock:  # one process per store (the data-dir lock), so this is enough
            expires = self._requests.get(key)
            if expires is not None and expires > now:
                return False
            self._requests[key] = now + ttl_seconds
            if now - self._swept_at >= _SWEEP_SECONDS:
                self._swept_at = now
                for old in [k for k, until in self._requests.items() if until <= now]:
                    del self._requests[old]
            self._requests.commit()
            return True

    # Key rotation ----------------------------------------------------------------------------

    def rotate(self) -> int:
        """Re-encrypt everything under the newest key; returns how many credentials moved."""
        count = 0
        for key, record in self._iter_credentials():
            record["secret"] = self._keys.rotate(record["secret"].encode()).decode()
            self._credentials[key] = record
            count += 1
        # Commit one table before writing the next: two connections with open write
        # transactions on one file wait on each other until "database is locked".
        self._credentials.commit()
        self._meta["canary"] = self._keys.rotate(self._meta["canary"].encode()).decode()
        self._meta.commit()
        return count

    def _iter_credentials(self) -> Iterator[tuple[str, dict[str, Any]]]:
        # Materialise first: rewriting rows while iterating a sqlite cursor is undefined.
        yield from list(self._credentials.items())
