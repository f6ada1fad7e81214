"""What listeners need beyond the Slack payload, handed to them through Bolt's context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bot.config import Settings
from bot.credentials import Credentials
from bot.store import Store


class CredentialVerifier(Protocol):
    """Checks credentials with one cheap call to their backend; raises a BackendError if refused."""

    async def verify(self, creds: Credentials) -> None: ...


class AcceptAll:
    """A verifier that checks nothing: for running without backend clients."""

    async def verify(self, creds: Credentials) -> None:
        return None


@dataclass
class Services:
    """The app's long-lived collaborators, built once at start-up and closed at shutdown."""

    settings: Settings
    store: Store
    verifier: CredentialVerifier = field(default_factory=AcceptAll)

    async def aclose(self) -> None:
        """Release files and connections."""
        self.store.close()
