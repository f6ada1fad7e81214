"""`ticketbot migrate-store`: copy an embedded store into the PostgreSQL store.

Records are copied by key through the store interface (so credentials, the ledger's personal
data and what watched tickets were seen as are re-encrypted under the target's keys). A record
the target already has is left alone unless ``force``: running it again copies nothing, and
nothing in the target is ever deleted. The replay memory is not copied; it lives ten minutes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from bot.import_jobs import ImportJob
from bot.store.embedded_alerts import EmbeddedAlertStore
from bot.store.embedded_imports import EmbeddedImportJobs
from bot.store.embedded_watches import EmbeddedWatchStore
from bot.store.interface import Stores, WatchStore
from bot.subscriptions import FeedItem, alert_from_row
from bot.watches import WatchPrefs


@dataclass
class Copied:
    """How many records of each kind were copied, and how many the target already had."""

    copied: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, copied: bool) -> None:
        table = self.copied if copied else self.kept
        table[kind] = table.get(kind, 0) + 1

    def report(self) -> str:
        kinds = (
            "credentials",
            "subscriptions",
            "ledger entries",
            "import jobs",
            "watches",
            "watch settings",
        )
        parts = [
            f"{self.copied.get(k, 0)} {k}"
            + (f" ({self.kept[k]} already there)" if k in self.kept else "")
            for k in kinds
        ]
        return "Copied " + ", ".join(parts) + "."


async def copy_store(source: Stores, target: Stores, *, force: bool = False) -> Copied:
    """Copy every record of the embedded ``source`` into ``target``."""
    done = Copied()
    store = source.store
    for key, record in list(store._credentials.items()):  # type: ignore[attr-defined]
        scope, user_id, backend = key.split(":", 2)
        present = await target.store.load_credentials(scope, user_id, backend) is not None
        if force or not present:
            await target.store.save_credentials(scope, user_id, store._unseal(record))  # type: ignore[attr-defined]
        done.count("credentials", force or not present)

    assert isinstance(source.alerts, EmbeddedAlertStore)
    for sub in await source.alerts.all():
        present = await target.alerts.get(sub.id) is not None
        if force or not present:
            await target.alerts.save(sub)
        done.count("subscriptions", force or not present)
    for row in list(source.alerts._ledger.values()):
        if not isinstance(row, dict):
            continue  # the ledger's format marker
        sub_id, ticket_id = row["subscription_id"], int(row["ticket_id"])
        present = bool(await target.alerts.seen(sub_id, [ticket_id]))
        if force or not present:
            alert = alert_from_row(store, row)
            if alert is None:
                await target.alerts.mark_seen(sub_id, [ticket_id])
            else:
                await target.alerts.record([alert])
        done.count("ledger entries", force or not present)
    for raw in list(source.alerts._feed.values()):  # the ticket-feed ledger: ids, ts, status
        item = FeedItem.model_validate(raw)
        present = bool(await target.alerts.feed_items(item.subscription_id, [item.ticket_id]))
        if force or not present:
            await target.alerts.record_feed([item])
        done.count("ledger entries", force or not present)

    assert isinstance(source.imports, EmbeddedImportJobs)
    for raw in list(source.imports._table.values()):
        job = ImportJob.model_validate(raw)
        present = await target.imports.get(job.id) is not None
        if force or not present:
            if source.imports.spool(job.id).exists():
                spool = source.imports.spool(job.id)
                with spool.open(encoding="utf-8") as src, target.imports.open_spool(job.id) as dst:
                    shutil.copyfileobj(src, dst)
                await target.imports.keep_spool(job.id)
            await target.imports.save(job)  # stamps updated_at: its expiry clock restarts
        done.count("import jobs", force or not present)
    if source.watches is not None and target.watches is not None:
        await _copy_watches(source.watches, target.watches, done, force=force)
    return done


async def _copy_watches(
    source: WatchStore, target: WatchStore, done: Copied, *, force: bool
) -> None:
    """Watches (with what was last seen of each ticket) and each person's watch settings."""
    assert isinstance(source, EmbeddedWatchStore)
    for ref in await source.watched_refs():
        for watch in await source.watchers(ref):
            done.count("watches", await target.add_watch(watch))
        for account in {w.account for w in await source.watchers(ref)}:
            seen = await source.seen(ref, account)
            if seen is not None and (force or await target.seen(ref, account) is None):
                await target.save_seen(seen)
    for scope, user_id in await source.people_with_prefs():
        present = await target.prefs(scope, user_id) != WatchPrefs()
        if force or not present:
            await target.save_prefs(scope, user_id, await source.prefs(scope, user_id))
        done.count("watch settings", force or not present)
