"""The embedded store (the default): credentials and the request memory in one sqlite file.

Backed by sqlitedict with JSON encode/decode: sqlitedict pickles by default, and unpickling a file
someone else could write is code execution (CVE-2024-35515). Single-instance: the data directory
is locked (``bot/single_instance.py``) before any table is opened.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import MultiFernet
from sqlitedict import SqliteDict

from bot.config import Settings
from bot.credentials import Credentials, credentials_from_store
from bot.errors import StoreError
from bot.single_instance import DataDirLock
from bot.store.keys import Sealer, ensure_private_dir, json_encode, load_keys, touch_private

log = logging.getLogger(__name__)


def _json_decode(raw: str | bytes) -> Any:
    return json.loads(raw)


def open_table(path: Path, table: str, *, outer_stack: bool = True) -> SqliteDict:
    """A sqlitedict table that stores JSON, never pickle; writes are committed explicitly.

    ``outer_stack=False`` for a table written on a hot path: sqlitedict otherwise captures the
    caller's stack (a ``stat`` of every frame's file) on each statement, for its error log."""
    # WAL: readers never block the writer, so the poller and listeners share the file freely.
    return SqliteDict(
        str(path),
        tablename=table,
        encode=json_encode,
        decode=_json_decode,
        autocommit=False,
        journal_mode="WAL",
        outer_stack=outer_stack,
    )


def rescoped(
    record: dict[str, Any], user_field: str, user_id: str, teams: tuple[str, ...], scope: str
) -> dict[str, Any] | None:
    """``record`` given ``scope`` if it is the user's and still keyed by one of ``teams``
    (written before Enterprise Grid keys), else None. Both stores adopt records through this."""
    team = record.get("team_id")
    mine = record.get(user_field) == user_id and team in teams and team != scope
    if mine and record.get("scope") in (None, team):
        return {**record, "scope": scope}
    return None


def rescope(
    table: SqliteDict, user_field: str, user_id: str, teams: tuple[str, ...], scope: str
) -> int:
    """Give ``scope`` to the user's records in ``table`` that are still keyed by one of ``teams``
    (written before Enterprise Grid keys); returns how many changed, 0 when run again."""
    changed = 0
    for key, raw in list(table.items()):
        if (new := rescoped(raw, user_field, user_id, teams, scope)) is not None:
            table[key] = new
            changed += 1
    if changed:
        table.commit()
    return changed


# Expired request keys are swept at most this often, so a burst does not rescan the memory.
_SWEEP_SECONDS = 60.0
# The request memory reaches the disk at most this long after a request: what a crash may forget.
_COMMIT_SECONDS = 1.0


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
        touch_private(path)
        self.path = path
        self._sealer = Sealer(keys, str(path))
        self._meta = open_table(path, "meta")
        self._credentials = open_table(path, "credentials")
        # key -> expiry (epoch seconds)
        self._requests = open_table(path, "requests", outer_stack=False)
        # The process holds the data directory alone (the lock above), so memory answers and the
        # table only carries the memory across a restart. A commit per request cost the ack path
        # ~4x (bench.ack), so new keys wait in _unsaved and are written and committed together,
        # at most _COMMIT_SECONDS after the first of them, and on close: a crash forgets <= 1 s.
        started = time.time()
        self._recent = {k: until for k, until in self._requests.items() if until > started}
        self._unsaved: dict[str, float] = {}
        self._commit_timer: asyncio.TimerHandle | None = None
        self._swept_at = started
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
        """Close every table; the request memory's last writes are committed first."""
        if self._commit_timer is not None:
            self._commit_timer.cancel()
            self._commit_timer = None
        self._meta.close()
        self._credentials.close()
        self._save_requests(blocking=True)
        self._requests.close()
        self._lock.release()

    async def start(self) -> None:
        """Nothing to do: the lock and the key check happened when the file was opened."""

    async def aclose(self) -> None:
        """See :meth:`close`."""
        self.close()

    def _check_key(self) -> None:
        canary = self._meta.get("canary")
        if canary is None:
            if len(self._credentials):
                # Data without a canary: verify against one record instead of guessing.
                self._sealer.decrypt(next(iter(self._credentials.values()))["secret"])
            self._meta["canary"] = self._sealer.new_canary()
            self._meta.commit()
            return
        self._sealer.check_canary(canary)

    @staticmethod
    def _key(scope: str, user_id: str, backend: str) -> str:
        return f"{scope}:{user_id}:{backend}"

    # Credentials -----------------------------------------------------------------------------

    async def save_credentials(self, scope: str, user_id: str, creds: Credentials) -> None:
        """Encrypt and store; returns only after the write is committed to disk."""
        record = {
            "secret": self._sealer.encrypt(json.dumps(creds.secret_values()).encode()),
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
        return credentials_from_store(json.loads(self._sealer.decrypt(record["secret"])))

    # Other personal data at rest -----------------------------------------------------------------

    def seal(self, value: Any) -> str:
        """Encrypt a JSON-able value under the newest key, as credentials are (for personal data
        such as a detractor's contact details)."""
        return self._sealer.seal(value)

    def open_sealed(self, token: str) -> Any:
        """The value :meth:`seal` encrypted into ``token``."""
        return self._sealer.open_sealed(token)

    def reseal(self, token: str) -> str:
        """``token`` re-encrypted under the newest key (key rotation)."""
        return self._sealer.reseal(token)

    @staticmethod
    def _write(table: SqliteDict, key: str, value: Any) -> None:
        try:
            table[key] = value
            table.commit()
        except Exception as exc:  # sqlite errors carry paths, not secrets
            raise StoreError(f"Could not save to the local store: {exc}") from exc

    # Request memory (replays) ---------------------------------------------------------------

    async def remember_request(self, key: str, ttl_seconds: float) -> bool:
        """See ``RequestMemory``: True the first time ``key`` is seen within ``ttl_seconds``.

        Check and record happen in one step on the event loop (nothing awaited), so of two
        concurrent calls exactly one gets True; the table gets the key from a timer within
        ``_COMMIT_SECONDS`` (or on close), never on the request's path."""
        now = time.time()
        expires = self._recent.get(key)
        if expires is not None and expires > now:
            return False
        self._recent[key] = self._unsaved[key] = now + ttl_seconds
        if now - self._swept_at >= _SWEEP_SECONDS:
            self._sweep(now)
        if self._commit_timer is None:
            loop = asyncio.get_running_loop()
            self._commit_timer = loop.call_later(_COMMIT_SECONDS, self._commit_requests)
        return True

    def _commit_requests(self) -> None:
        self._commit_timer = None
        self._save_requests(blocking=False)  # queued: the loop never waits on the disk

    def _save_requests(self, blocking: bool) -> None:
        """Write the keys remembered since the last save, and commit them."""
        unsaved, self._unsaved = self._unsaved, {}
        if unsaved:
            self._requests.update(unsaved)
        self._requests.commit(blocking=blocking)

    def _sweep(self, now: float) -> None:
        """Forget expired keys in memory and, in one queued statement, in the table."""
        self._swept_at = now
        self._recent = {k: until for k, until in self._recent.items() if until > now}
        self._unsaved = {k: until for k, until in self._unsaved.items() if until > now}
        # sqlitedict has no bulk delete; its own methods would read each key on the loop first.
        self._requests.conn.execute('DELETE FROM "requests" WHERE CAST(value AS REAL) <= ?', (now,))

    # Key rotation ----------------------------------------------------------------------------

    async def rotate_keys(self) -> int:
        """See ``CredentialStore.rotate_keys``."""
        return await asyncio.to_thread(self.rotate)

    def rotate(self) -> int:
        """Re-encrypt everything under the newest key; returns how many credentials moved."""
        count = 0
        for key, record in self._iter_credentials():
            record["secret"] = self._sealer.reseal(record["secret"])
            self._credentials[key] = record
            count += 1
        # Commit one table before writing the next: two connections with open write
        # transactions on one file wait on each other until "database is locked".
        self._credentials.commit()
        self._meta["canary"] = self._sealer.reseal(self._meta["canary"])
        self._meta.commit()
        return count

    def _iter_credentials(self) -> Iterator[tuple[str, dict[str, Any]]]:
        # Materialise first: rewriting rows while iterating a sqlite cursor is undefined.
        yield from list(self._credentials.items())
