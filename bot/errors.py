"""One exception tree for ticketbot, mapped to user messages in one place (``handlers.errors``).

    BotError                       anything ticketbot raises on purpose; has a user_message()
    ├── ConfigError                a setting is missing or wrong (start-up only)
    ├── StoreError                 the local store cannot be used
    │   ├── StoreKeyError          the store was encrypted with another key
    │   └── DataDirInUseError      another process holds the data directory's lock
    ├── UserInputError             what the user typed cannot be used; says what to type instead
    │   ├── UnknownBackendError    a backend key that does not exist
    │   ├── BadTicketRefError      a ticket ref that is not <backend>:<id>
    │   ├── NotConnectedError      the user has not connected that backend
    │   └── BaseUrlRefusedError    a base URL on a private/local network, not allowlisted
    └── BackendError               a backend refused or failed a call; names the backend
        ├── BackendAuthError       wrong or expired credentials
        ├── BackendPermissionError the credentials lack a permission (named when known)
        ├── BackendNotFound        the thing asked for does not exist
        ├── BackendValidationError the backend rejected fields; ``fields`` maps field -> messages
        ├── BackendRateLimited     too many calls; ``retry_after`` seconds when known
        ├── BackendUnavailable     timeout, connection failure, 5xx
        └── BackendUnexpectedResponse  a body that is not what the API documents

Messages never contain secrets: exceptions are built from vendor messages and HTTP statuses, never
from request URLs or headers.
"""

from __future__ import annotations

from bot.blocks.limits import escape
from bot.keys import label


class BotError(Exception):
    """Base of every error ticketbot raises on purpose."""

    def user_message(self) -> str:
        """The sentence shown to the Slack user, as mrkdwn: whoever raises with a user's or a
        backend's words in the message passes them through ``escape`` first."""
        return str(self)


class ConfigError(BotError):
    """A setting is missing or invalid."""


class StoreError(BotError):
    """The local store cannot be opened or written."""


class StoreKeyError(StoreError):
    """The store holds data encrypted under a key we were not given."""


class DataDirInUseError(StoreError):
    """Another process holds the data directory: the embedded store is single-instance."""


class UserInputError(BotError):
    """The user's input cannot be used; the message says what to do instead."""


class UnknownBackendError(UserInputError):
    """A backend key that ticketbot does not know."""


class BadTicketRefError(UserInputError):
    """A ticket reference that does not parse as ``<backend>:<id>``."""


class NotConnectedError(UserInputError):
    """The acting user has no credentials for the backend."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        super().__init__(
            f"You have not connected {backend} yet. Run `/ticket connect {backend}` "
            "to add your credentials."
        )


class BackendError(BotError):
    """A backend call failed. ``backend`` is the key, ``status`` the HTTP status if any."""

    def __init__(self, backend: str, message: str, *, status: int | None = None) -> None:
        self.backend = backend
        self.status = status
        self.message = message
        super().__init__(f"{backend}: {message}")

    @property
    def label(self) -> str:
        """The backend's display name."""
        return label(self.backend)

    def user_message(self) -> str:
        return f"{self.label} said: {escape(self.message)}"


class BackendAuthError(BackendError):
    """Credentials were refused (wrong, revoked or expired)."""

    def user_message(self) -> str:
        return (
            f"{self.label} refused your credentials ({escape(self.message)}). "
            f"Run `/ticket connect {self.backend}` to update them."
        )


class BackendPermissionError(BackendError):
    """The credentials work but lack a permission."""

    def __init__(
        self, backend: str, message: str, *, status: int | None = 403, permission: str | None = None
    ) -> None:
        self.permission = permission
        super().__init__(backend, message, status=status)

    def user_message(self) -> str:
        needed = (
            f" Your key needs the {escape(self.permission)} permission." if self.permission else ""
        )
        return f"{self.label} denied this: {escape(self.message)}.{needed}"


class BackendNotFound(BackendError):
    """The ticket (or other object) does not exist, or is not visible to this user."""


class BackendValidationError(BackendError):
    """The backend rejected the input; ``fields`` maps field names to the vendor's messages."""

    def __init__(
        self,
        backend: str,
        message: str,
        *,
        fields: dict[str, list[str]] | None = None,
        status: int | None = 400,
    ) -> None:
        self.fields = fields or {}
        super().__init__(backend, message, status=status)

    def user_message(self) -> str:
        if not self.fields:
            return super().user_message()
        detail = "; ".join(
            f"{escape(name)}: {escape(' '.join(msgs))}" for name, msgs in self.fields.items()
        )
        return f"{self.label} rejected the request: {detail}"


class BackendRateLimited(BackendError):
    """Too many calls. ``retry_after`` is in seconds when the backend said."""

    def __init__(
        self,
        backend: str,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        quota_exhausted: bool = False,
    ) -> None:
        self.retry_after = retry_after
        self.quota_exhausted = quota_exhausted
        super().__init__(backend, message, status=status)

    def user_message(self) -> str:
        if self.quota_exhausted:
            return f"{self.label}'s API quota for your licence is used up: {escape(self.message)}."
        wait = f" Try again in {round(self.retry_after)} s." if self.retry_after else ""
        return f"{self.label} is rate limiting us.{wait}"


class BackendUnavailable(BackendError):
    """The backend could not be reached or failed on its side. ``maybe_done`` when a change was
    sent and its answer lost: it may or may not have been made."""

    def __init__(
        self, backend: str, message: str, *, status: int | None = None, maybe_done: bool = False
    ) -> None:
        self.maybe_done = maybe_done
        super().__init__(backend, message, status=status)

    def user_message(self) -> str:
        return (
            f"{self.label} is not answering right now ({escape(self.message)}). Try again shortly."
        )


class BackendUnexpectedResponse(BackendError):
    """A response body that does not match the vendor's documentation."""

    def user_message(self) -> str:
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{self.label} sent an unexpected response{status}: {escape(self.message)}."


class BaseUrlRefusedError(UserInputError):
    """A backend base URL that resolves to an address ticketbot must not connect to."""

    field = "base_url"  # the connect form shows the message on this field


class UnsupportedOperationError(UserInputError):
    """The backend cannot do what was asked (e.g. deleting on a read-only backend)."""
