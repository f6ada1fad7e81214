"""The embedded store's ticket threads: three tables in its sqlite file, plus an in-memory index
of the threads by ticket (this process owns the file, so the index cannot go stale), which lets
a comment from the backend find its threads without reading the table."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.store.embedded import Store, open_table
from bot.threads import ThreadSpot


def _spot_key(spot: ThreadSpot) -> str:
    return f"{spot.team_id}|{spot.channel_id}|{spot.ts}"


class EmbeddedThreadStore:
    """Threads (message -> ticket), channel settings, and the comments known per ticket."""

    def __init__(self, store: Store) -> None:
        self._links = open_table(store.path, "thread_links")
        self._channels = open_table(store.path, "thread_channels")
        self._comments = open_table(store.path, "thread_comments", outer_stack=False)
        self._by_ref: dict[str, list[ThreadSpot]] = {}
        self._refs: dict[str, str] = {}
        self._accounts: dict[str, str] = {}
        for key, raw in sorted(self._links.items(), key=lambda kv: kv[1]["at"]):
            self._index(ThreadSpot(*key.split("|", 2)), raw["ref"], raw.get("account", ""))
        # One writer at a time, so that "record if new" is one step (note_comment).
        self._lock = asyncio.Lock()

    def _index(self, spot: ThreadSpot, ref: str, account: str) -> None:
        self._refs[_spot_key(spot)] = ref
        self._accounts[_spot_key(spot)] = account
        self._by_ref.setdefault(ref, []).append(spot)

    async def aclose(self) -> None:
        """Close the tables; every write was already committed."""
        for table in (self._links, self._channels, self._comments):
            table.close()

    async def link_thread(self, spot: ThreadSpot, ref: str, account: str) -> None:
        key = _spot_key(spot)
        if self._refs.get(key) == ref and self._accounts.get(key) == account:
            return
        if (old := self._refs.get(key)) is not None:
            self._by_ref[old].remove(spot)
        self._index(spot, ref, account)
        row = {"ref": ref, "account": account, "at": datetime.now(UTC).isoformat()}
        await asyncio.to_thread(_put, self._links, key, row)

    async def thread_ref(self, spot: ThreadSpot) -> str | None:
        return self._refs.get(_spot_key(spot))

    async def thread_account(self, spot: ThreadSpot) -> str | None:
        return self._accounts.get(_spot_key(spot))

    async def threads_of(self, ref: str, account: str) -> list[ThreadSpot]:
        spots = self._by_ref.get(ref, [])
        return [s for s in spots if self._accounts[_spot_key(s)] in ("", account)]

    async def set_slack_only(self, team_id: str, channel_id: str, on: bool) -> None:
        await asyncio.to_thread(_put, self._channels, f"{team_id}|{channel_id}", {"slack_only": on})

    async def slack_only(self, team_id: str, channel_id: str) -> bool:
        raw = await asyncio.to_thread(self._channels.get, f"{team_id}|{channel_id}")
        return bool(raw and raw.get("slack_only"))

    async def note_comment(self, ref: str, key: str) -> bool:
        async with self._lock:
            if await self.knows_comment(ref, key):
                return False
            row = {"at": datetime.now(UTC).isoformat()}
            await asyncio.to_thread(_put, self._comments, f"{ref}|{key}", row)
            return True

    async def forget_comment(self, ref: str, key: str) -> None:
        async with self._lock:
            await asyncio.to_thread(_pop, self._comments, f"{ref}|{key}")

    async def knows_comment(self, ref: str, key: str) -> bool:
        return await asyncio.to_thread(self._comments.__contains__, f"{ref}|{key}")

    async def delete_owned(self, owned: Callable[[str, str], bool]) -> int:
        gone = [key for key in self._refs if _owned_key(owned, key)]
        for key in gone:
            spot = ThreadSpot(*key.split("|", 2))
            self._by_ref[self._refs.pop(key)].remove(spot)
            self._accounts.pop(key, None)

        def remove() -> None:
            for key in gone:
                del self._links[key]
            self._links.commit()
            for key in [k for k in self._channels if _owned_key(owned, k)]:
                del self._channels[key]
            self._channels.commit()

        await asyncio.to_thread(remove)
        return len(gone)


def _owned_key(owned: Callable[[str, str], bool], key: str) -> bool:
    # Threads and channels belong to a workspace, never to a person: its id is both arguments.
    team_id = key.split("|", 1)[0]
    return owned(team_id, team_id)


def _put(table: Any, key: str, value: Any) -> None:
    table[key] = value
    table.commit()


def _pop(table: Any, key: str) -> None:
    table.pop(key, None)
    table.commit()
