"""Omnidesk helpdesk tickets (seed 003, checked against the vendor's public pages).

Auth: the key goes in an ``apiKey`` header, as the API specification declares
(https://docs.omnidesk.io/omnidesk/api-specification/ticket); the older authentication page
(https://docs.omnidesk.io/omnidesk/api/authentication) and the seed put it in ``?apiKey=``, so
that form is tried once when a server refuses the header, and remembered per account. Each
endpoint needs one permission of the key (``PERMISSIONS``); a 403 names it.

Items are read in the vendor's snake_case (``from_name``, ``brand_id``, ``last_update``, as on
https://docs.omnidesk.io/app/ticket) with the seed's camelCase as fallback. Lists carry
``itemTotal`` (https://docs.omnidesk.io/omnidesk/api-specification/customer shows the envelope).
Create and update may answer ``{"type": "result", "message": ...}`` as other resources do on
https://www.omnidesk.nl/api/docs; the change was made, so the ticket is fetched or found again.
``created_at`` has no zone: read in the ``TICKETBOT_OMNIDESK_TIMEZONE`` zone (default UTC).

This module holds the backend and its error mapping; reading the answers is in
``omnidesk_answers.py``, the key's placement and the refused hosts in ``omnidesk_keys.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx

from bot.backends.base import BaseBackend, Capability
from bot.backends.forms import FormField
from bot.backends.http import BackendHTTP, body_of, generic_error, parse_json
from bot.backends.omnidesk_answers import (
    NOT_RETURNED,
    PRIORITIES,
    STATUSES,
    bulk_result,
    first_field,
    id_in_message,
    is_result,
    item_of,
    items_of,
    to_ticket,
)
from bot.backends.omnidesk_keys import KeyPlacement, refuse_other_product
from bot.credentials import OmnideskCredentials
from bot.errors import (
    BackendAuthError,
    BackendError,
    BackendNotFound,
    BackendPermissionError,
    BackendValidationError,
)
from bot.models import (
    BulkResult,
    NewTicket,
    Page,
    Priority,
    Status,
    Ticket,
    TicketQuery,
    TicketRef,
)

KEY = "omnidesk"
DEFAULT_LIMIT = 15  # itemLimit's documented default

# Endpoint -> the key permission it needs (seed 003's table).
PERMISSIONS = {
    "list": "TICKET_READ",
    "get": "TICKET_READ",
    "create": "TICKET_CREATE",
    "update": "TICKET_UPDATE",
    "setPriority": "TICKET_UPDATE",
    "delete": "TICKET_DELETE",
    "multi": "TICKET_DELETE",
    "setStatus": "SET_STATUS",
    "solveUnfinishedTickets": "SET_STATUS",
    "batch": "TICKET_BATCH",
    "unlinkCustomerFromTicket": "TICKET_UPDATE",  # not in the seed's table; unconfirmed
}

_NUMBER_HINT = "A number from your Omnidesk settings; leave empty for the default."


def _message(body: Any) -> str:
    # Only an answer in Omnidesk's own envelope ({"type": ...}, as its items come) is Omnidesk
    # speaking; any other server's words (a base URL pointed elsewhere) are never shown.
    if not isinstance(body, dict) or body.get("type") != "error":
        return ""
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or "")
    return error if isinstance(error, str) else ""


def omnidesk_error(response: httpx.Response, permission: str | None = None) -> BackendError:
    """Map an Omnidesk error; a 403 names the permission the endpoint needs."""
    body = body_of(response)
    message = _message(body)
    if response.status_code == 403:
        return BackendPermissionError(
            KEY, message or "your API key may not do this", permission=permission
        )
    errors = body.get("errors") if body.get("type") == "error" else None
    if response.status_code in {400, 422} and isinstance(errors, dict):
        fields = {
            k: [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in errors.items()
        }
        return BackendValidationError(KEY, message or "invalid input", fields=fields)
    return generic_error(KEY, response, message or None)


class OmnideskBackend(BaseBackend):
    """Tickets for one Omnidesk API key."""

    key: ClassVar[str] = KEY
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.LIST,
            Capability.SEARCH,
            Capability.SHOW,
            Capability.CREATE,
            Capability.UPDATE,
            Capability.SET_STATUS,
            Capability.SET_PRIORITY,
            Capability.DELETE,
            Capability.DELETE_MANY,
            Capability.BATCH,
            Capability.UNLINK_CUSTOMER,
            Capability.SOLVE_UNFINISHED,
        }
    )
    statuses = STATUSES
    priorities = PRIORITIES
    list_limit = 100  # itemLimit's maximum
    # Omnidesk has no comments endpoint: a listed item carries everything the watcher compares.
    listed_fields = frozenset({"title", "status", "priority", "group"})
    create_form = (
        FormField("title", "Title", "subject", required=True, max_length=500),
        FormField(
            "from", "Customer email", "requester", "email", placeholder="customer@example.com"
        ),
        FormField("fromName", "Customer name", "requester_name"),
        FormField("to", "To (your support address)", "recipient"),
        FormField(
            "direction",
            "Direction",
            "direction",
            "select",
            default="inbound",
            options=(("inbound", "Inbound"), ("outbound", "Outbound")),
        ),
        *(
            FormField(name, label, f"extra:{name}", "number", hint=_NUMBER_HINT)
            for name, label in (
                ("brandID", "Brand ID"),
                ("channelID", "Channel ID"),
                ("assignedGroupID", "Group ID"),
                ("formID", "Form ID"),
            )
        ),
    )

    def __init__(
        self,
        http: BackendHTTP,
        creds: OmnideskCredentials,
        placement: KeyPlacement | None = None,
        zone: ZoneInfo | None = None,
    ) -> None:
        self._http = http
        self._base = creds.base_url.rstrip("/") + "/"
        self._key = creds.api_key.get_secret_value()
        self._placement = placement or KeyPlacement()
        self._account = KeyPlacement.account(self._base, self._key)
        self._zone = zone or ZoneInfo("UTC")

    async def _call(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        params: dict[str, Any] | None = None,
        data: Any = None,
    ) -> Any:
        """One call. The key goes in the ``apiKey`` header; in the query (redacted from every
        log line and error) only for an account whose server refused the header."""
        refuse_other_product(self._base)
        in_query = self._placement.query_only(self._account)
        try:
            response = await self._send(method, path, endpoint, params, data, in_query=in_query)
        except BackendAuthError:
            if in_query:
                raise
            # A 401 means nothing was done, so sending again is safe even for a change.
            response = await self._send(method, path, endpoint, params, data, in_query=True)
            self._placement.remember_query(self._account)
        return parse_json(KEY, response)

    async def _send(
        self,
        method: str,
        path: str,
        endpoint: str,
        params: dict[str, Any] | None,
        data: Any,
        *,
        in_query: bool,
    ) -> httpx.Response:
        try:
            return await self._http.send(
                method,
                self._base + path,
                idempotent=method == "GET",
                params={**(params or {}), **({"apiKey": self._key} if in_query else {})},
                headers=None if in_query else {"apiKey": self._key},
                data=data,
            )
        except BackendPermissionError as exc:
            raise BackendPermissionError(
                KEY, exc.message, permission=PERMISSIONS[endpoint]
            ) from None

    async def verify(self) -> None:
        """A one-item list: needs TICKET_READ, which every ticketbot user needs anyway."""
        await self.list_page(item_limit=1)

    async def list_page(
        self,
        *,
        query: str | None = None,
        status: str | None = None,
        item_start: int = 0,
        item_limit: int = DEFAULT_LIMIT,
        apply_view: str | None = None,
        search_archived: bool = False,
    ) -> Page[Ticket]:
        """GET /ticket with the documented filters."""
        params: dict[str, Any] = {"itemStart": item_start, "itemLimit": item_limit}
        for name, value in (("query", query), ("status", status), ("applyView", apply_view)):
            if value:
                params[name] = value
        if search_archived:
            params["searchArchived"] = "true"
        body = await self._call("GET", "ticket", "list", params=params)
        tickets = [to_ticket(item, self._zone) for item in items_of(body)]
        # itemTotal is the vendor's count; total is the seed sandbox's.
        total = first_field(body, "itemTotal", "total") if isinstance(body, dict) else None
        total = int(total) if isinstance(total, int | str) and str(total).isdigit() else None
        has_more = (
            item_start + len(tickets) < total if total is not None else len(tickets) >= item_limit
        )
        return Page[Ticket](items=tickets, offset=item_start, total=total, has_more=has_more)

    async def list_tickets(self, query: TicketQuery) -> Page[Ticket]:
        status = self.resolve_status(query.status).value if query.status else None
        return await self.list_page(
            query=query.text, status=status, item_start=query.offset, item_limit=query.limit
        )

    async def get_ticket(self, ticket_id: str) -> Ticket:
        """GET /ticket/{ticketID}"""
        return to_ticket(item_of(await self._call("GET", f"ticket/{ticket_id}", "get")), self._zone)

    async def create_ticket(self, new: NewTicket) -> Ticket:
        """POST /ticket: a new ticket with the documented fields."""
        form = {
            "title": new.subject,
            "from": new.requester,
            "fromName": new.requester_name,
            "to": new.recipient,
            "direction": new.direction,
            "brandID": new.extra.get("brandID"),
            "channelID": new.extra.get("channelID"),
            "assignedGroupID": new.extra.get("assignedGroupID"),
            "formID": new.extra.get("formID"),
        }
        body = await self._call("POST", "ticket", "create", data=_present(form))
        if not is_result(body):
            return to_ticket(item_of(body), self._zone)
        # Created: never report failure from here on, or a retry makes a duplicate.
        said = id_in_message(body.get("message"))
        if said is not None:
            try:
                return await self.get_ticket(said)
            except BackendNotFound:
                pass
        return await self._find_created(new)

    async def _find_created(self, new: NewTicket) -> Ticket:
        """The newest ticket with the new one's title (and customer, when given); when none shows
        yet, a ticket without an id that says so (the handler words it for the user)."""
        page = await self.list_page(query=new.subject, item_limit=50)
        found = [
            t
            for t in page.items
            if t.subject == new.subject and (not new.requester or new.requester in (t.author or ""))
        ]
        if found:
            return max(found, key=lambda t: int(t.ref.id) if t.ref.id.isdigit() else 0)
        return Ticket(
            ref=TicketRef(backend=KEY, id=""),
            subject=new.subject,
            details={"Note": NOT_RETURNED},
        )

    async def update_ticket(
        self,
        ticket_id: str,
        *,
        title: str | None = None,
        status: str | None = None,
        external_primary_id: str | None = None,
    ) -> Ticket:
        """PUT /ticket/{ticketID}: title, status (solved or closed), external primary id."""
        form = {"title": title, "status": status, "externalPrimaryID": external_primary_id}
        body = await self._call("PUT", f"ticket/{ticket_id}", "update", data=_present(form))
        if is_result(body):  # changed, but the answer does not show it: read it back
            return await self.get_ticket(ticket_id)
        return to_ticket(item_of(body), self._zone)

    async def delete_ticket(self, ticket_id: str) -> None:
        """DELETE /ticket/{ticketID}"""
        await self._call("DELETE", f"ticket/{ticket_id}", "delete")

    async def delete_many(self, ticket_ids: Sequence[str]) -> BulkResult:
        """DELETE /ticket/multi with the ids as an array."""
        body = await self._call(
            "DELETE", "ticket/multi", "multi", data={"ticketIDs[]": list(ticket_ids)}
        )
        return bulk_result(body, ticket_ids)

    async def delete_tickets(self, ticket_ids: Sequence[str]) -> BulkResult:
        if len(ticket_ids) == 1:
            await self.delete_ticket(ticket_ids[0])
            return BulkResult(succeeded=list(ticket_ids))
        return await self.delete_many(ticket_ids)

    async def set_status(self, ticket_ids: Sequence[str], status: Status) -> BulkResult:
        """POST /ticket/setStatus for every id at once."""
        return await self._set_many("setStatus", {"status": status.value}, ticket_ids)

    async def set_priority(self, ticket_ids: Sequence[str], priority: Priority) -> BulkResult:
        """POST /ticket/setPriority for every id at once."""
        return await self._set_many("setPriority", {"priority": priority.value}, ticket_ids)

    async def _set_many(
        self, endpoint: str, change: dict[str, str], ticket_ids: Sequence[str]
    ) -> BulkResult:
        data = {**change, "ticketIDs[]": list(ticket_ids)}
        return bulk_result(
            await self._call("POST", f"ticket/{endpoint}", endpoint, data=data), ticket_ids
        )

    async def unlink_customer(self, ticket_id: str) -> None:
        """POST /ticket/unlinkCustomerFromTicket"""
        await self._call(
            "POST",
            "ticket/unlinkCustomerFromTicket",
            "unlinkCustomerFromTicket",
            data={"ticketID": ticket_id},
        )

    async def batch(
        self, ticket_ids: Sequence[str], actions: Sequence[tuple[str, str]]
    ) -> BulkResult:
        """POST /ticket/batch: several actions (type, value) on several tickets."""
        form: dict[str, str] = {"TicketIDs": ", ".join(ticket_ids)}
        for index, (action_type, value) in enumerate(actions):
            form[f"actions[{index}][actionType]"] = action_type
            form[f"actions[{index}][value]"] = value
        return bulk_result(await self._call("POST", "ticket/batch", "batch", data=form), ticket_ids)

    async def solve_unfinished(self) -> int | None:
        """PUT /ticket/solveUnfinishedTickets; returns how many were solved when it says."""
        body = await self._call("PUT", "ticket/solveUnfinishedTickets", "solveUnfinishedTickets")
        count = body.get("solved") if isinstance(body, dict) else None
        return count if isinstance(count, int) else None


def _present(form: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in form.items() if v not in (None, "")}
