"""The embedded store's watched tickets: three tables in its sqlite file, plus an in-memory
index of the watches (this process owns the file, so the index cannot go stale), which lets the
watcher ask "who watches this ticket?" for thousands of tickets without reading the table."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot.store.embedded import Store, open_table
from bot.watches import TicketSeen, Watch, WatchPrefs


def _watch_key(scope: str, user_id: str, ref: str) -> str:
    return f"{ref}|{scope}|{user_id}"


class EmbeddedWatchStore:
    """Watches, what was last seen of each watched ticket (sealed), and preferences (the held
    notices sealed)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._watches = open_table(store.path, "watches")
        self._seen = open_table(store.path, "ticket_seen")
        self._prefs = open_table(store.path, "watch_prefs")
        self._by_ref: dict[str, dict[str, Watch]] = {}
        for key, raw in self._watches.items():
            watch = Watch.model_validate(raw)
            self._by_ref.setdefault(watch.ref, {})[key] = watch

    def close(self) -> None:
        """Close the tables; every write was already committed."""
        for table in (self._watches, self._seen, self._prefs):
            table.close()

    async def aclose(self) -> None:
        """See :meth:`close`."""
        self.close()

    async def add_watch(self, watch: Watch) -> bool:
        key = _watch_key(watch.scope, watch.user_id, watch.ref)
        if key in self._by_ref.get(watch.ref, {}):
            return False
        self._by_ref.setdefault(watch.ref, {})[key] = watch
        await asyncio.to_thread(_put, self._watches, key, watch.model_dump(mode="json"))
        return True

    async def remove_watch(self, scope: str, user_id: str, ref: str) -> bool:
        key = _watch_key(scope, user_id, ref)
        watchers = self._by_ref.get(ref, {})
        if watchers.pop(key, None) is None:
            return False
        last = not watchers
        if last:
            del self._by_ref[ref]

        def remove() -> None:
            del self._watches[key]
            self._watches.commit()
            if last and ref in self._seen:
                del self._seen[ref]
                self._seen.commit()

        await asyncio.to_thread(remove)
        return True

    async def watches_of(self, scope: str, user_id: str) -> list[Watch]:
        mine = [
            w
            for watchers in self._by_ref.values()
            for w in watchers.values()
            if w.scope == scope and w.user_id == user_id
        ]
        return sorted(mine, key=lambda w: w.since, reverse=True)

    async def watchers(self, ref: str) -> list[Watch]:
        return list(self._by_ref.get(ref, {}).values())

    async def watched_refs(self) -> list[str]:
        return list(self._by_ref)

    async def seen(self, ref: str) -> TicketSeen | None:
        raw = await asyncio.to_thread(self._seen.get, ref)
        if raw is None:
            return None
        fields = self._store.open_sealed(raw.pop("sealed"))
        return TicketSeen.model_validate({**raw, "fields": fields})

    async def save_seen(self, seen: TicketSeen) -> None:
        row = seen.model_dump(mode="json", exclude={"fields"})
        row["sealed"] = self._store.seal(seen.fields)
        await asyncio.to_thread(_put, self._seen, seen.ref, row)

    async def prefs(self, scope: str, user_id: str) -> WatchPrefs:
        raw = await asyncio.to_thread(self._prefs.get, f"{scope}:{user_id}")
        if raw is None:
            return WatchPrefs()
        held = self._store.open_sealed(raw.pop("sealed")) if "sealed" in raw else []
        return WatchPrefs.model_validate({**raw, "held": held})

    async def save_prefs(self, scope: str, user_id: str, prefs: WatchPrefs) -> None:
        row: dict[str, Any] = prefs.model_dump(mode="json", exclude={"held"})
        row["sealed"] = self._store.seal(prefs.held)
        await asyncio.to_thread(_put, self._prefs, f"{scope}:{user_id}", row)

    async def delete_owned(self, owned: Callable[[str, str], bool]) -> int:
        gone = [
            (ref, key, w)
            for ref, watchers in self._by_ref.items()
            for key, w in watchers.items()
            if owned(w.team_id, w.scope)
        ]
        for _ref, _key, w in gone:
            await self.remove_watch(w.scope, w.user_id, w.ref)
        scopes = {w.scope for _r, _k, w in gone}

        def remove_prefs() -> None:
            for key in [k for k in self._prefs if k.partition(":")[0] in scopes]:
                del self._prefs[key]
            self._prefs.commit()

        await asyncio.to_thread(remove_prefs)
        return len(gone)


def _put(table: Any, key: str, value: Any) -> None:
    table[key] = value
    table.commit()
