"""Assembling the long-lived services from settings (the composition root)."""

from __future__ import annotations

from bot.audit import AuditTrail
from bot.backends.registry import Backends
from bot.config import Settings
from bot.home_cache import HomeCache
from bot.oauth import Installations
from bot.services import Services
from bot.slack_files import SlackFiles
from bot.store import Stores, WorkLeases, open_stores
from bot.watching import watch_created


def shared_calls(stores: Stores) -> WorkLeases | None:
    """Where QuestionPro calls are counted across instances (None: in this process alone)."""
    return stores.leases if stores.leases is not None and stores.leases.shared else None


def build_services(settings: Settings) -> Services:
    """Open the store the settings choose and build everything listeners need."""
    stores = open_stores(settings)
    services = Services(
        settings=settings,
        store=stores.store,
        backends=Backends(settings, calls=shared_calls(stores)),
        files=SlackFiles(settings),
        alerts=stores.alerts,
        imports=stores.imports,
        leases=stores.leases,
        watches=stores.watches,
        threads=stores.threads,
        home=HomeCache(settings.home_cache_seconds),
        installations=Installations(settings, stores.store) if settings.oauth_enabled else None,
        audit=stores.audit,
    )
    if stores.watches is not None:
        # Tickets people create through ticketbot are watched for them: one listener hears
        # every create (command, form, shortcut, escalation), so no handler has to remember.
        services.changes.subscribe(watch_created(stores.watches, stores.store))
    if stores.audit is not None:
        # Every change made through ticketbot becomes an audit line.
        services.changes.subscribe(AuditTrail(stores.audit, stores.store).hear)
    return services
