"""Where ticketbot keeps its state: one interface (``bot/store/interface.py``), two stores.

The embedded store (sqlite files in TICKETBOT_DATA_DIR, one instance) is the default; with
TICKETBOT_DATABASE_URL set, everything lives in PostgreSQL instead. ``open_stores`` is the one
place that chooses.
"""

from __future__ import annotations

from bot.config import Settings
from bot.store.embedded import Store, open_table, rescope
from bot.store.interface import (
    AlertStore,
    AuditLog,
    CredentialStore,
    ImportStore,
    RequestMemory,
    Stores,
    WatchStore,
)
from bot.store.keys import ensure_private_dir, load_keys, parse_keys
from bot.store.leases import SoloLeases, WorkLeases

__all__ = [
    "AlertStore",
    "AuditLog",
    "CredentialStore",
    "ImportStore",
    "RequestMemory",
    "SoloLeases",
    "Store",
    "Stores",
    "WatchStore",
    "WorkLeases",
    "ensure_private_dir",
    "load_keys",
    "open_embedded",
    "open_postgres",
    "open_stores",
    "open_table",
    "parse_keys",
    "rescope",
]


def open_embedded(settings: Settings, keys_text: str | None = None) -> Stores:
    """The sqlite store in the settings' data directory (taking its single-instance lock)."""
    from bot.store.embedded_alerts import EmbeddedAlertStore
    from bot.store.embedded_audit import EmbeddedAuditLog
    from bot.store.embedded_imports import EmbeddedImportJobs
    from bot.store.embedded_threads import EmbeddedThreadStore
    from bot.store.embedded_watches import EmbeddedWatchStore

    keys = parse_keys(keys_text) if keys_text is not None else load_keys(settings)
    store = Store(settings.store_file, keys)
    alerts = EmbeddedAlertStore(store)

    async def subscription_ids() -> list[str]:
        return [sub.id for sub in await alerts.all()]

    imports = EmbeddedImportJobs(store, settings.data_dir)
    watches = EmbeddedWatchStore(store)
    audit = EmbeddedAuditLog(settings.data_dir)
    threads = EmbeddedThreadStore(store)
    leases = SoloLeases(subscription_ids)
    return Stores(store, alerts, imports, leases, watches, audit, threads)


def open_postgres(settings: Settings, url: str, keys_text: str | None = None) -> Stores:
    """The PostgreSQL store at ``url``; it connects, migrates and locks on first use."""
    from bot.store.pg_alerts import PgAlertStore
    from bot.store.pg_audit import PgAuditLog
    from bot.store.pg_imports import PgImportJobs
    from bot.store.pg_leases import PgLeases
    from bot.store.pg_threads import PgThreadStore
    from bot.store.pg_watches import PgWatchStore
    from bot.store.postgres import Database, PgStore

    if keys_text is None:
        # Every instance must encrypt with the same keys: a key generated into one machine's
        # data directory would lock the others out.
        settings.require("TICKETBOT_SECRET_KEY")
    keys = parse_keys(keys_text) if keys_text is not None else load_keys(settings)
    store = PgStore(Database(url), keys)
    imports = PgImportJobs(store, settings.data_dir)
    leases, watches, audit = PgLeases(store), PgWatchStore(store), PgAuditLog(store)
    threads = PgThreadStore(store)
    return Stores(store, PgAlertStore(store), imports, leases, watches, audit, threads)


def open_stores(settings: Settings, keys_text: str | None = None) -> Stores:
    """The store the settings choose (PostgreSQL when TICKETBOT_DATABASE_URL is set, else the
    embedded one); ``keys_text`` overrides the configured keys (rotate-key)."""
    if settings.database_url is not None:
        return open_postgres(settings, settings.database_url.get_secret_value(), keys_text)
    return open_embedded(settings, keys_text)
