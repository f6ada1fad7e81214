"""What listeners need beyond the Slack payload, handed to them through Bolt's context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bot.backends.registry import Backends
from bot.config import Settings
from bot.credentials import Credentials
from bot.oauth import Installations
from bot.slack_files import SlackFiles
from bot.store.interface import AlertStore, CredentialStore, ImportStore, Stores
from bot.tickets import OptionCache


class CredentialVerifier(Protocol):
    """Checks credentials with one cheap call to their backend; raises a BackendError if refused."""

    async def verify(self, creds: Credentials) -> None: ...


@dataclass
class Services:
    """The app's long-lived collaborators, built once at start-up and closed at shutdown."""

    settings: Settings
    store: CredentialStore
    backends: Backends
    files: SlackFiles
    alerts: AlertStore
    imports: ImportStore
    options: OptionCache = field(default_factory=OptionCache)
    # Each workspace's installation (its bot token), when installed through OAuth.
    installations: Installations | None = None
    # Import jobs sending right now in this process; a job marked "importing" that is not here
    # was interrupted (a restart) and may be resumed.
    running_imports: set[str] = field(default_factory=set)
    # Enterprise Grid people whose workspace-keyed records were adopted in this process.
    adopted: set[tuple[str, str, tuple[str, ...]]] = field(default_factory=set)

    @property
    def verifier(self) -> CredentialVerifier:
        """What checks credentials at connect: the backends themselves."""
        return self.backends

    async def aclose(self) -> None:
        """Release files and connections."""
        await self.backends.aclose()
        await self.files.aclose()
        await self.stores.aclose()

    @property
    def stores(self) -> Stores:
        """The store's three facets together."""
        return Stores(self.store, self.alerts, self.imports)

    async def start(self) -> None:
        """Connect the store (and refuse early when another instance holds it)."""
        await self.stores.start()
