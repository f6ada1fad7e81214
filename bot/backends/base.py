"""The TicketBackend Protocol every backend client implements, and its capabilities.

The rest of ticketbot asks ``capabilities`` before offering an operation, never a backend's name.
``BaseBackend`` gives every optional operation a default that says clearly it is not supported.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from enum import StrEnum
from typing import ClassVar, Protocol, TypeVar, runtime_checkable

from bot.backends.forms import FormField
from bot.blocks.limits import escape
from bot.errors import BackendError, UnsupportedOperationError, UserInputError
from bot.keys import BACKEND_LABELS
from bot.models import (
    BulkResult,
    Category,
    Download,
    NewTicket,
    Page,
    Priority,
    Status,
    Tag,
    Ticket,
    TicketQuery,
    Upload,
)

V = TypeVar("V", Status, Priority)


class Capability(StrEnum):
    LIST = "list"
    SEARCH = "search"
    SHOW = "show"
    CREATE = "create"
    UPDATE = "update"
    COMMENT = "comment"
    ATTACH = "attach"  # comments and new tickets may carry a file
    SET_STATUS = "set_status"
    SET_PRIORITY = "set_priority"
    TAG = "tag"
    CATEGORIES = "categories"
    DELETE = "delete"
    DELETE_MANY = "delete_many"
    BATCH = "batch"
    UNLINK_CUSTOMER = "unlink_customer"
    SOLVE_UNFINISHED = "solve_unfinished"
    DOWNLOAD_ATTACHMENT = "download_attachment"
    DETRACTORS = "detractors"
    IMPORT_TRANSACTIONS = "import_transactions"
    OWN_TICKETS = "own_tickets"  # the listing is already the acting user's own tickets


# Any of these means a backend can change tickets (so it is not read-only).
CHANGE_CAPABILITIES = frozenset(
    {
        Capability.CREATE,
        Capability.UPDATE,
        Capability.COMMENT,
        Capability.SET_STATUS,
        Capability.SET_PRIORITY,
        Capability.TAG,
        Capability.DELETE,
    }
)


@runtime_checkable
class TicketBackend(Protocol):
    """What ticketbot can ask of any backend, in neutral models."""

    key: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    statuses: ClassVar[Sequence[Status]]
    priorities: ClassVar[Sequence[Priority]]

    async def verify(self) -> None:
        """One cheap authenticated call; raises BackendError when the credentials are refused."""

    async def list_tickets(self, query: TicketQuery) -> Page[Ticket]: ...

    def iter_tickets(self, query: TicketQuery) -> AsyncIterator[Ticket]: ...

    async def get_ticket(self, ticket_id: str) -> Ticket: ...

    async def create_ticket(self, new: NewTicket) -> Ticket: ...

    async def add_comment(
        self, ticket_id: str, text: str, attachment: Upload | None = None
    ) -> None: ...

    async def set_status(self, ticket_ids: Sequence[str], status: Status) -> BulkResult: ...

    async def set_priority(self, ticket_ids: Sequence[str], priority: Priority) -> BulkResult: ...

    async def delete_tickets(self, ticket_ids: Sequence[str]) -> BulkResult: ...


class BaseBackend:
    """Defaults for the optional operations, and value lookups shared by every backend."""

    key: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    statuses: ClassVar[Sequence[Status]] = ()
    priorities: ClassVar[Sequence[Priority]] = ()
    create_form: ClassVar[Sequence[FormField]] = ()  # the fields of `/ticket create`
    # For the ticket watcher: the most tickets one listing call returns, and which compared
    # fields (bot.watch_diff) a listed ticket carries; the others need ``get_ticket``.
    list_limit: ClassVar[int] = 25
    listed_fields: ClassVar[frozenset[str]] = frozenset()

    @property
    def label(self) -> str:
        return BACKEND_LABELS[self.key]

    def supports(self, capability: Capability) -> bool:
        """Whether this backend can do ``capability``."""
        return capability in self.capabilities

    def _unsupported(self, what: str) -> UnsupportedOperationError:
        return UnsupportedOperationError(f"{self.label} does not support {what}.")

    async def list_tickets(self, query: TicketQuery) -> Page[Ticket]:
        raise self._unsupported("listing tickets")

    async def iter_tickets(self, query: TicketQuery) -> AsyncIterator[Ticket]:
        """Every ticket matching ``query``, page by page; only one page is held at a time."""
        offset = query.offset
        while True:
            page = await self.list_tickets(query.model_copy(update={"offset": offset}))
            for ticket in page.items:
                yield ticket
            if not page.has_more or not page.items:
                return
            offset += len(page.items)

    async def get_ticket(self, ticket_id: str) -> Ticket:
        raise self._unsupported("showing a single ticket")

    async def create_ticket(self, new: NewTicket) -> Ticket:
        raise self._unsupported("creating tickets")

    async def add_comment(
        self, ticket_id: str, text: str, attachment: Upload | None = None
    ) -> None:
        raise self._unsupported("comments")

    async def set_status(self, ticket_ids: Sequence[str], status: Status) -> BulkResult:
        raise self._unsupported("changing status")

    async def set_priority(self, ticket_ids: Sequence[str], priority: Priority) -> BulkResult:
        raise self._unsupported("changing priority")

    async def delete_tickets(self, ticket_ids: Sequence[str]) -> BulkResult:
        raise self._unsupported("deleting tickets")

    async def categories(self) -> list[Category]:
        raise self._unsupported("ticket categories")

    async def tags(self) -> list[Tag]:
        raise self._unsupported("tags")

    async def set_tags(self, ticket_id: str, names: Sequence[str]) -> list[Tag]:
        raise self._unsupported("tags")

    async def download_attachment(self, attachment_id: str) -> Download:
        raise self._unsupported("downloading attachments")

    def resolve_status(self, text: str) -> Status:
        """A status from its backend value, label or neutral name; else say which are valid."""
        return _resolve(text, self.statuses, "status", self.label)

    def resolve_priority(self, text: str) -> Priority:
        """A priority from its backend value, label or neutral name; else say which are valid."""
        return _resolve(text, self.priorities, "priority", self.label)


def _resolve(text: str, choices: Sequence[V], what: str, label: str) -> V:
    wanted = text.strip().lower()
    for choice in choices:
        if wanted in {choice.value.lower(), choice.label.lower()}:
            return choice
    for choice in choices:  # neutral names last: the backend's own words win
        if wanted == choice.neutral.value:
            return choice
    valid = ", ".join(f"`{escape(c.label.lower())}`" for c in choices) or "none"
    raise UserInputError(f"`{escape(text)}` is not a {label} {what}. Valid values: {valid}.")


async def one_by_one(
    ticket_ids: Sequence[str], action: Callable[[str], Awaitable[object]]
) -> BulkResult:
    """Run ``action`` per ticket, for backends without bulk endpoints; collect what failed."""
    succeeded: list[str] = []
    failed: dict[str, str] = {}
    for ticket_id in ticket_ids:
        try:
            await action(ticket_id)
        except BackendError as exc:
            failed[ticket_id] = exc.message
        else:
            succeeded.append(ticket_id)
    return BulkResult(succeeded=succeeded, failed=failed)
