"""What listeners need beyond the Slack payload, handed to them through Bolt's context."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from typing import Protocol

from bot.backends.registry import Backends
from bot.changes import ChangeFeed
from bot.config import Settings
from bot.credentials import Credentials
from bot.home_cache import HomeCache
from bot.oauth import Installations
from bot.slack_files import SlackFiles
from bot.slack_names import GroupMembers
from bot.store.interface import (
    AlertStore,
    AuditLog,
    CredentialStore,
    ImportStore,
    Stores,
    ThreadStore,
    WatchStore,
)
from bot.store.leases import SoloLeases, WorkLeases
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
    # Watched tickets and watch preferences (None only where a store has no such facet).
    watches: WatchStore | None = None
    # Ticket threads: replies that become comments (bot.threads); None only for a bare store.
    threads: ThreadStore | None = None
    # Every change made through ticketbot, for whoever listens (audit trail, ticket watcher).
    changes: ChangeFeed = field(default_factory=ChangeFeed)
    # The ticket rows each person's App Home showed last (build_services sets its lifetime).
    home: HomeCache = field(default_factory=HomeCache)
    # The audit trail's lines (bot/audit.py), fed from ``changes`` (None: nothing is recorded).
    audit: AuditLog | None = None
    # Who is in each `actors:` user group, asked of Slack at most once a minute per group.
    group_members: GroupMembers = field(default_factory=GroupMembers)
    # Who does which shared piece of work (None: this process alone, as the embedded store).
    leases: WorkLeases | None = None
    # This process among the instances sharing a store: the owner of its leases (host and pid
    # for the operator reading the leases table, random so a reused pid is a new owner).
    instance_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    )
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
        if self.installations is not None:
            await self.installations.aclose()
        await self.stores.aclose()

    @property
    def stores(self) -> Stores:
        """The store's facets together."""
        return Stores(
            self.store,
            self.alerts,
            self.imports,
            self.leases,
            self.watches,
            self.audit,
            self.threads,
        )

    @property
    def work(self) -> WorkLeases:
        """The leases on shared work; every lease is granted where nothing else shares it."""
        if self.leases is None:

            async def ids() -> list[str]:
                return [sub.id for sub in await self.alerts.all()]

            self.leases = SoloLeases(ids)
        return self.leases

    async def start(self) -> None:
        """Connect the store (and refuse early when another instance holds it)."""
        await self.stores.start()
        if self.installations is not None:
            await self.installations.start()
