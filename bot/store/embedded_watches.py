"""The embedded store's watched tickets: three tables in its sqlite file, plus an in-memory
index of the watches (this process owns the file, so the index cannot go stale), which lets the
watcher ask "who watches this ticket?" for thousands of tickets without reading the table."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot.store.embedded import Store, open_table
from bot.store.interface import CredentialStore
from bot.watches import TicketSeen, Watch, WatchPrefs


def _watch_key(scope: str, user_id: str, ref: str) -> str:
    return f"{ref}|{scope}|{user_id}"


def _seen_key(account: str, ref: str) -> str:
    # Rows from before accounts were kept are under the bare ref: never read (a new baseline).
    return f"{account}|{ref}"


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
        if (gone := watchers.pop(key, None)) is None:
            return False
        if not watchers:
            del self._by_ref[ref]
        # The seen-state goes with the last watcher of the ticket in that account.
        last = all(w.account != gone.account for w in watchers.values())
        stale = [_seen_key(gone.account, ref)] if last else []
        stale += [] if watchers else [ref]  # a row from before accounts were kept

        def remove() -> None:
            del self._watches[key]
            self._watches.commit()
            for seen_key in [k for k in stale if k in self._seen]:
                del self._seen[seen_key]
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

    async def seen(self, ref: str, account: str) -> TicketSeen | None:
        raw = await asyncio.to_thread(self._seen.get, _seen_key(account, ref))
        return None if raw is None else seen_from_row(self._store, raw)

    async def save_seen(self, seen: TicketSeen) -> None:
        row = seen_row(self._store, seen)
        await asyncio.to_thread(_put, self._seen, _seen_key(seen.account, seen.ref), row)

    async def prefs(self, scope: str, user_id: str) -> WatchPrefs:
        raw = await asyncio.to_thread(self._prefs.get, f"{scope}:{user_id}")
        return WatchPrefs() if raw is None else prefs_from_row(self._store, raw)

    async def save_prefs(self, scope: str, user_id: str, prefs: WatchPrefs) -> None:
        row = prefs_row(self._store, prefs)
        await asyncio.to_thread(_put, self._prefs, f"{scope}:{user_id}", row)

    async def people_with_prefs(self) -> list[tuple[str, str]]:
        """(scope, user id) of everyone with saved preferences (``migrate-store`` copies them)."""
        keys = await asyncio.to_thread(lambda: list(self._prefs.keys()))
        return [(scope, user_id) for scope, _, user_id in (k.partition(":") for k in keys)]

    async def delete_owned(self, owned: Callable[[str, str], bool]) -> int:
        gone = [
            (ref, key, w)
            for ref, watchers in self._by_ref.items()
            for key, w in watchers.items()
            if owned(w.team_id, w.scope)
        ]
        for _ref, _key, w in gone:
            await self.remove_watch(w.scope, w.user_id, w.ref)

        def remove_prefs() -> None:
            # Preferences are the person's, kept under their scope only (as credentials are):
            # an org's people keep theirs while another of the org's workspaces has the app.
            for key in [k for k in self._prefs if owned_scope(owned, k.partition(":")[0])]:
                del self._prefs[key]
            self._prefs.commit()

        await asyncio.to_thread(remove_prefs)
        return len(gone)

    async def rotate_keys(self) -> int:
        """Re-encrypt what was seen and what is held under the newest key; how many records."""
        return await asyncio.to_thread(self._rotate)

    def _rotate(self) -> int:
        count = 0
        for table in (self._seen, self._prefs):
            rows = [(k, r) for k, r in table.items() if "sealed" in r]
            for key, row in rows:
                table[key] = resealed(self._store, row)
            table.commit()
            count += len(rows)
        return count


# Rows, as both stores keep them: the plain columns beside one sealed token. -------------------


def seen_row(sealer: CredentialStore, seen: TicketSeen) -> dict[str, Any]:
    """What is kept of ``seen``: its fields (which may name customers) sealed."""
    row = seen.model_dump(mode="json", exclude={"fields"})
    row["sealed"] = sealer.seal(seen.fields)
    return row


def seen_from_row(sealer: CredentialStore, row: dict[str, Any]) -> TicketSeen:
    """The ``TicketSeen`` a row of :func:`seen_row` holds."""
    rest = {k: v for k, v in row.items() if k != "sealed"}
    return TicketSeen.model_validate({**rest, "fields": sealer.open_sealed(row["sealed"])})


def prefs_row(sealer: CredentialStore, prefs: WatchPrefs) -> dict[str, Any]:
    """What is kept of ``prefs``: the held notices sealed."""
    row: dict[str, Any] = prefs.model_dump(mode="json", exclude={"held"})
    row["sealed"] = sealer.seal(prefs.held)
    return row


def prefs_from_row(sealer: CredentialStore, row: dict[str, Any]) -> WatchPrefs:
    """The ``WatchPrefs`` a row of :func:`prefs_row` holds."""
    rest = {k: v for k, v in row.items() if k != "sealed"}
    held = sealer.open_sealed(row["sealed"]) if "sealed" in row else []
    return WatchPrefs.model_validate({**rest, "held": held})


def resealed(sealer: CredentialStore, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its sealed token re-encrypted under the newest key."""
    return {**row, "sealed": sealer.reseal(row["sealed"])}


def owned_scope(owned: Callable[[str, str], bool], scope: str) -> bool:
    """Whether a record kept under ``scope`` alone (no workspace of its own) is owned."""
    return owned(scope, scope)


def _put(table: Any, key: str, value: Any) -> None:
    table[key] = value
    table.commit()
