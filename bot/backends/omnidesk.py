"""Omnidesk helpdesk tickets (seed 003).

Auth is an API key in the ``apiKey`` query parameter (the header form is unconfirmed). Each
endpoint needs one permission of the key (the seed's table, ``PERMISSIONS``); a 403 names it.
A single ticket comes back as ``{"type": "item", "item": {...}}``; the list's shape is not
documented, so it is read leniently. ``created_at`` has no time zone: taken as UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from bot.backends.base import BaseBackend, Capability
from bot.backends.forms import FormField
from bot.backends.http import BackendHTTP, body_of, generic_error, parse_json
from bot.credentials import OmnideskCredentials
from bot.errors import (
    BackendError,
    BackendPermissionError,
    BackendUnexpectedResponse,
    BackendValidationError,
)
from bot.models import (
    BulkResult,
    NeutralPriority,
    NeutralStatus,
    NewTicket,
    Page,
    Priority,
    Status,
    Ticket,
    TicketQuery,
    TicketRef,
    parse_timestamp,
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

STATUSES = (
    Status(value="new", label="New", neutral=NeutralStatus.OPEN),
    Status(value="open", label="Open", neutral=NeutralStatus.OPEN),
    Status(value="pending", label="Pending", neutral=NeutralStatus.PENDING),
    Status(value="holding", label="Holding", neutral=NeutralStatus.PENDING),
    Status(value="solved", label="Solved", neutral=NeutralStatus.CLOSED),
    Status(value="closed", label="Closed", neutral=NeutralStatus.CLOSED),
)
_NUMBER_HINT = "A number from your Omnidesk settings; leave empty for the default."
PRIORITIES = (
    Priority(value="low", label="Low", neutral=NeutralPriority.LOW),
    Priority(value="medium", label="Medium", neutral=NeutralPriority.MEDIUM),
    Priority(value="high", label="High", neutral=NeutralPriority.HIGH),
    Priority(value="urgent", label="Urgent", neutral=NeutralPriority.URGENT),
)
# Fields of an item shown as details, in this order, when present, with their labels.
_DETAIL_LABELS = {
    "to": "To",
    "direction": "Direction",
    "brandID": "Brand",
    "channelID": "Channel",
    "assignedGroupID": "Group",
    "formID": "Form",
    "externalPrimaryID": "External id",
}


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


def _lookup(choices: Sequence[Any], value: Any) -> Any:
    text = str(value or "").lower()
    return next((c for c in choices if c.value == text), None)


def to_ticket(item: dict[str, Any]) -> Ticket:
    """An Omnidesk item as a neutral Ticket."""
    ticket_id = item.get("ticketID", item.get("id"))
    if ticket_id is None:
        raise BackendUnexpectedResponse(KEY, "a ticket without an id")
    return Ticket(
        ref=TicketRef(backend=KEY, id=str(ticket_id)),
        subject=str(item.get("title") or ""),
        status=_lookup(STATUSES, item.get("status")),
        priority=_lookup(PRIORITIES, item.get("priority")),
        created_at=parse_timestamp(item.get("created_at")),
        updated_at=parse_timestamp(item.get("updated_at")),
        author=_author(item),
        body=str(item.get("body") or "") or None,
        details={
            label: str(item[key])
            for key, label in _DETAIL_LABELS.items()
            if item.get(key) not in (None, "", 0, "0")
        },
    )


def _author(item: dict[str, Any]) -> str | None:
    name, address = str(item.get("fromName") or "").strip(), str(item.get("from") or "").strip()
    if name and address:
        return f"{name} <{address}>"
    return name or address or None


def _items(body: Any) -> list[dict[str, Any]]:
    """Tickets from a list answer, whatever wrapper it came in."""
    if isinstance(body, list):
        raw = body
    elif isinstance(body, dict):
        raw = next(
            (
                body[k]
                for k in ("items", "tickets", "list", "data")
                if isinstance(body.get(k), list)
            ),
            None,
        )
        if raw is None:
            raise BackendUnexpectedResponse(KEY, "the ticket list answer had no list of tickets")
    else:
        raise BackendUnexpectedResponse(KEY, "the ticket list answer was not a list or an object")
    return [r.get("item", r) if isinstance(r, dict) else {} for r in raw]


def _bulk(body: Any, ticket_ids: Sequence[str]) -> BulkResult:
    """A bulk answer as per-ticket results; an answer without detail means all succeeded."""
    if isinstance(body, dict) and ("succeeded" in body or "failed" in body):
        failed = {str(k): str(v) for k, v in (body.get("failed") or {}).items()}
        return BulkResult(
            succeeded=[str(i) for i in body.get("succeeded") or [] if str(i) not in failed],
            failed=failed,
        )
    return BulkResult(succeeded=list(ticket_ids))


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

    def __init__(self, http: BackendHTTP, creds: OmnideskCredentials) -> None:
        self._http = http
        self._base = creds.base_url.rstrip("/") + "/"
        self._key = creds.api_key.get_secret_value()

    async def _call(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        params: dict[str, Any] | None = None,
        data: Any = None,
    ) -> Any:
        """One call; the key goes in ``apiKey`` (redacted from every log line and error)."""
        try:
            response = await self._http.send(
                method,
                self._base + path,
                idempotent=method == "GET",
                params={**(params or {}), "apiKey": self._key},
                data=data,
            )
        except BackendPermissionError as exc:
            raise BackendPermissionError(
                KEY, exc.message, permission=PERMISSIONS[endpoint]
            ) from None
        return parse_json(KEY, response)

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
        tickets = [to_ticket(item) for item in _items(body)]
        total = body.get("total") if isinstance(body, dict) else None
        total = total if isinstance(total, int) else None
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
        return to_ticket(_item(await self._call("GET", f"ticket/{ticket_id}", "get")))

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
        return to_ticket(_item(body))

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
        return to_ticket(
            _item(await self._call("PUT", f"ticket/{ticket_id}", "update", data=_present(form)))
        )

    async def delete_ticket(self, ticket_id: str) -> None:
        """DELETE /ticket/{ticketID}"""
        await self._call("DELETE", f"ticket/{ticket_id}", "delete")

    async def delete_many(self, ticket_ids: Sequence[str]) -> BulkResult:
        """DELETE /ticket/multi with the ids as an array."""
        body = await self._call(
            "DELETE", "ticket/multi", "multi", data={"ticketIDs[]": list(ticket_ids)}
        )
        return _bulk(body, ticket_ids)

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
        return _bulk(
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
        return _bulk(await self._call("POST", "ticket/batch", "batch", data=form), ticket_ids)

    async def solve_unfinished(self) -> int | None:
        """PUT /ticket/solveUnfinishedTickets; returns how many were solved when it says."""
        body = await self._call("PUT", "ticket/solveUnfinishedTickets", "solveUnfinishedTickets")
        count = body.get("solved") if isinstance(body, dict) else None
        return count if isinstance(count, int) else None


def _item(body: Any) -> dict[str, Any]:
    if isinstance(body, dict) and isinstance(body.get("item"), dict):
        return body["item"]
    raise BackendUnexpectedResponse(KEY, 'expected {"type": "item", "item": {...}}')


def _present(form: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in form.items() if v not in (None, "")}
