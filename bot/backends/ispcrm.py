"""ISPCRM subscriber portal (seed 004): a subscriber's own tickets, read-only.

Auth is ``Authorization: Bearer <token>``; a token can also be had from ``subscriber/Login`` with
a username and password. Errors are ``{"success": false, "message": "..."}`` with 401 and 404.
Path segments are mixed-case and kept exactly as documented.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from bot.backends.base import BaseBackend, Capability
from bot.backends.http import (
    BackendHTTP,
    body_of,
    generic_error,
    parse_json,
)
from bot.backends.tokens import LoginSession, TokenCache
from bot.credentials import IspcrmCredentials
from bot.errors import BackendAuthError, BackendError, BackendNotFound, BackendUnexpectedResponse
from bot.models import (
    NeutralPriority,
    NeutralStatus,
    Page,
    Priority,
    Status,
    Ticket,
    TicketQuery,
    TicketRef,
    parse_timestamp,
)

KEY = "ispcrm"
TICKETS_PATH = "subscriber/getCustomerTickets"
LOGIN_PATH = "subscriber/Login"

STATUSES = (
    Status(value="Open", label="Open", neutral=NeutralStatus.OPEN),
    Status(value="In Progress", label="In Progress", neutral=NeutralStatus.PENDING),
    Status(value="Pending", label="Pending", neutral=NeutralStatus.PENDING),
    Status(value="Closed", label="Closed", neutral=NeutralStatus.CLOSED),
)
PRIORITIES = (
    Priority(value="Low", label="Low", neutral=NeutralPriority.LOW),
    Priority(value="Medium", label="Medium", neutral=NeutralPriority.MEDIUM),
    Priority(value="High", label="High", neutral=NeutralPriority.HIGH),
    Priority(value="Urgent", label="Urgent", neutral=NeutralPriority.URGENT),
)


def ispcrm_error(response: httpx.Response) -> BackendError:
    """Map ``{"success": false, "message"}``; 401 is auth, 404 the subscriber is gone."""
    body = body_of(response)
    # Only ISPCRM's documented {"success": false, "message"} is ISPCRM speaking.
    message = str(body.get("message") or "") if body.get("success") is False else ""
    if response.status_code == 401:
        return BackendAuthError(KEY, message or "Unauthorized", status=401)
    if response.status_code == 404:
        return BackendNotFound(KEY, message or "Not found", status=404)
    return generic_error(KEY, response, message or None)


def _choice(choices: tuple[Any, ...], value: Any) -> Any:
    text = str(value or "")
    found = next((c for c in choices if c.value.lower() == text.lower()), None)
    if found is None and text:  # an ISP's own word: keep it, file it under "pending"
        kind = type(choices[0])
        neutral = NeutralStatus.PENDING if kind is Status else NeutralPriority.MEDIUM
        return kind(value=text, label=text, neutral=neutral)
    return found


class IspcrmBackend(BaseBackend):
    """One subscriber's tickets. The API offers no changes, so neither does ticketbot."""

    key: ClassVar[str] = KEY
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.LIST, Capability.SEARCH, Capability.SHOW, Capability.OWN_TICKETS}
    )
    statuses = STATUSES
    priorities = PRIORITIES

    # getCustomerTickets returns every ticket at once (list_tickets windows it here).
    list_limit = 10_000
    listed_fields = frozenset({"title", "status", "priority"})

    def __init__(self, http: BackendHTTP, creds: IspcrmCredentials, tokens: TokenCache) -> None:
        self._http = http
        self._creds = creds
        self._base = creds.base_url.rstrip("/") + "/"
        self._session = LoginSession.for_account(tokens, KEY, creds, creds.token, self.login)

    async def login(self) -> str:
        """POST subscriber/Login; returns the subscriber token."""
        assert self._creds.username is not None and self._creds.password is not None
        body = parse_json(
            KEY,
            await self._http.send(
                "POST",
                self._base + LOGIN_PATH,
                idempotent=True,
                json={
                    "username": self._creds.username,
                    "password": self._creds.password.get_secret_value(),
                },
            ),
        )
        if not isinstance(body, dict) or not isinstance(body.get("token"), str):
            raise BackendUnexpectedResponse(KEY, "the login answer had no token")
        return body["token"]

    async def customer_tickets(self) -> list[Ticket]:
        """GET subscriber/getCustomerTickets; logs in again once if a login token expired."""

        async def send(token: str) -> httpx.Response:
            return await self._http.send(
                "GET",
                self._base + TICKETS_PATH,
                idempotent=True,
                headers={"Authorization": f"Bearer {token}"},
            )

        response = await self._session.run(send)
        body = parse_json(KEY, response)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise BackendUnexpectedResponse(KEY, "expected {success, data: [...]}")
        return [self._ticket(item) for item in body["data"] if isinstance(item, dict)]

    async def verify(self) -> None:
        await self._session.login_afresh()
        await self.customer_tickets()

    async def list_tickets(self, query: TicketQuery) -> Page[Ticket]:
        """Filtered and paged here: the API returns the subscriber's whole list at once."""
        tickets = await self.customer_tickets()
        if query.status:
            wanted = self.resolve_status(query.status)
            tickets = [t for t in tickets if t.status and t.status.value == wanted.value]
        if query.text:
            tickets = [t for t in tickets if query.text.lower() in t.subject.lower()]
        tickets.sort(key=lambda t: (t.created_at is not None, t.created_at), reverse=True)
        window = tickets[query.offset : query.offset + query.limit]
        return Page[Ticket](
            items=window,
            offset=query.offset,
            total=len(tickets),
            has_more=query.offset + len(window) < len(tickets),
        )

    async def get_ticket(self, ticket_id: str) -> Ticket:
        for ticket in await self.customer_tickets():
            if ticket.ref.id == ticket_id:
                return ticket
        raise BackendNotFound(KEY, f"you have no ticket {ticket_id}", status=404)

    def _ticket(self, item: dict[str, Any]) -> Ticket:
        return Ticket(
            ref=TicketRef(backend=KEY, id=str(item.get("ticket_id", ""))),
            subject=str(item.get("subject") or ""),
            status=_choice(STATUSES, item.get("status")),
            priority=_choice(PRIORITIES, item.get("priority")),
            created_at=parse_timestamp(item.get("created_at")),
            updated_at=parse_timestamp(item.get("updated_at")),
        )
