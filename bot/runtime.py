"""Assembling the long-lived services from settings (the composition root)."""

from __future__ import annotations

from bot.backends.registry import Backends
from bot.config import Settings
from bot.import_jobs import ImportJobs
from bot.oauth import Installations
from bot.services import Services
from bot.slack_files import SlackFiles
from bot.store import Store
from bot.subscriptions import AlertStore


def build_services(settings: Settings) -> Services:
    """Open the store and build everything listeners need."""
    store = Store.open(settings)
    return Services(
        settings=settings,
        store=store,
        backends=Backends(settings),
        files=SlackFiles(settings),
        alerts=AlertStore(store),
        imports=ImportJobs(store, settings.data_dir),
        installations=Installations(settings) if settings.oauth_enabled else None,
    )
