"""Assembling the long-lived services from settings (the composition root)."""

from __future__ import annotations

from bot.backends.registry import Backends
from bot.config import Settings
from bot.oauth import Installations
from bot.services import Services
from bot.slack_files import SlackFiles
from bot.store import open_stores


def build_services(settings: Settings) -> Services:
    """Open the store the settings choose and build everything listeners need."""
    stores = open_stores(settings)
    return Services(
        settings=settings,
        store=stores.store,
        backends=Backends(settings),
        files=SlackFiles(settings),
        alerts=stores.alerts,
        imports=stores.imports,
        installations=Installations(settings, stores.store) if settings.oauth_enabled else None,
    )
