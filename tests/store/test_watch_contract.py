"""The watch facet's contract, run against both stores: watches per person and per ticket, what
was last seen of a ticket (sealed at rest), preferences, and removal with a workspace."""

from __future__ import annotations

import asyncpg
import pytest
from cryptography.fernet import Fernet

from bot.config import Settings
from bot.store import Stores
from bot.watches import TicketSeen, Watch, WatchPrefs


def watch(ref: str, user: str = "U1", team: str = "T1") -> Watch:
    return Watch(ref=ref, team_id=team, scope=team, user_id=user)


async def test_a_watch_is_kept_once_and_found_by_person_and_by_ticket(open_any) -> None:
    stores: Stores = await open_any()
    watches = stores.watches
    if watches is None:
        pytest.fail("this store has no watch facet")
    assert await watches.add_watch(watch("omnidesk:1")) is True
    assert await watches.add_watch(watch("omnidesk:1")) is False  # already watched
    await watches.add_watch(watch("omnidesk:1", user="U2"))
    await watches.add_watch(watch("epixel:7"))
    assert sorted(w.user_id for w in await watches.watchers("omnidesk:1")) == ["U1", "U2"]
    assert [w.ref for w in await watches.watches_of("T1", "U1")] == ["epixel:7", "omnidesk:1"]
    assert sorted(await watches.watched_refs()) == ["epixel:7", "omnidesk:1"]

    await stores.aclose()
    reopened = await open_any()
    assert reopened.watches is not None
    assert sorted(w.user_id for w in await reopened.watches.watchers("omnidesk:1")) == ["U1", "U2"]


async def test_the_last_watcher_leaving_forgets_what_was_seen(stores: Stores) -> None:
    watches = stores.watches
    assert watches is not None
    await watches.add_watch(watch("omnidesk:1"))
    await watches.add_watch(watch("omnidesk:1", user="U2"))
    await watches.save_seen(TicketSeen(ref="omnidesk:1", fields={"status": "Open"}))
    assert await watches.remove_watch("T1", "U1", "omnidesk:1") is True
    assert (await watches.seen("omnidesk:1", "")).fields == {"status": "Open"}
    assert await watches.remove_watch("T1", "U1", "omnidesk:1") is False
    await watches.remove_watch("T1", "U2", "omnidesk:1")
    assert await watches.seen("omnidesk:1", "") is None
    assert await watches.watched_refs() == []


async def test_preferences_default_then_round_trip(stores: Stores) -> None:
    watches = stores.watches
    assert watches is not None
    assert await watches.prefs("T1", "U1") == WatchPrefs()
    prefs = WatchPrefs(watch_created=False, quiet="19:00-08:00", tz="Europe/Amsterdam")
    prefs.held.append({"ref": "omnidesk:1", "changes": {"status": ["Open", "Closed"]}})
    await watches.save_prefs("T1", "U1", prefs)
    assert await watches.prefs("T1", "U1") == prefs


async def test_removing_a_workspace_removes_its_watches(stores: Stores) -> None:
    watches = stores.watches
    assert watches is not None
    await watches.add_watch(watch("omnidesk:1"))
    await watches.add_watch(watch("omnidesk:2", team="T2"))
    await watches.save_seen(TicketSeen(ref="omnidesk:1", fields={"status": "Open"}))
    await watches.save_prefs("T1", "U1", WatchPrefs(watch_created=False))
    await watches.save_prefs("T2", "U1", WatchPrefs(watch_created=False))
    assert await watches.delete_owned(lambda team, scope: team == "T1") == 1
    assert await watches.watched_refs() == ["omnidesk:2"]
    assert await watches.seen("omnidesk:1", "") is None
    assert await watches.prefs("T1", "U1") == WatchPrefs()  # the defaults again
    assert (await watches.prefs("T2", "U1")).watch_created is False


SECRET_STATUS = "Waiting on ann@example.com"
SECRET_HELD = "comment by bob@example.com"


async def _fill(stores: Stores) -> None:
    watches = stores.watches
    assert watches is not None
    await watches.add_watch(watch("omnidesk:1"))
    await watches.save_seen(TicketSeen(ref="omnidesk:1", fields={"status": SECRET_STATUS}))
    await watches.save_prefs("T1", "U1", WatchPrefs(quiet="19:00-08:00", held=[{"c": SECRET_HELD}]))


async def _at_rest(kind: str, request: pytest.FixtureRequest, settings: Settings) -> str:
    """Everything the store keeps of the watch facet, as the bytes on disk or in the tables."""
    if kind == "embedded":
        files = settings.store_file.parent.glob(settings.store_file.name + "*")  # with -wal
        return "".join(f.read_bytes().decode("latin-1") for f in files)
    conn = await asyncpg.connect(request.getfixturevalue("pg_url"))
    try:
        rows = [
            dict(r)
            for table in ("watches", "ticket_seen", "watch_prefs")
            for r in await conn.fetch(f"SELECT * FROM {table}")  # noqa: S608 (fixed names)
        ]
    finally:
        await conn.close()
    return str(rows)


async def test_what_was_seen_and_what_is_held_are_sealed_at_rest(
    open_any, kind: str, request: pytest.FixtureRequest, store_settings: Settings
) -> None:
    stores: Stores = await open_any()
    await _fill(stores)
    await stores.aclose()
    kept = await _at_rest(kind, request, store_settings)
    assert "omnidesk:1" in kept and "19:00-08:00" in kept  # the control: the rows are there
    assert SECRET_STATUS not in kept and "ann@example.com" not in kept
    assert SECRET_HELD not in kept and "bob@example.com" not in kept


async def test_rotation_reseals_what_was_seen_and_what_is_held(
    open_any, stores: Stores, secret_key: str
) -> None:
    await _fill(stores)
    await stores.aclose()
    new = Fernet.generate_key().decode()
    rotating = await open_any(f"{new},{secret_key}")
    assert await rotating.rotate_keys() == (0, 2)  # no credentials; one seen, one prefs row
    await rotating.aclose()
    reopened = await open_any(new)  # the old key is gone: only resealed records still open
    assert reopened.watches is not None
    seen = await reopened.watches.seen("omnidesk:1", "")
    assert seen is not None and seen.fields == {"status": SECRET_STATUS}
    assert (await reopened.watches.prefs("T1", "U1")).held == [{"c": SECRET_HELD}]
