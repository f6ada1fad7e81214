"""Omnidesk helpdesk sandbox (seed 003), in two shapes.

``shape="seed"`` answers as the seed reads: camelCase items as ``{"type": "item", "item": {...}}``,
lists as ``{"type": "list", "total", "items": [...]}``, errors as
``{"type": "error", "error": {"code", "message"}}`` and bulk calls as
``{"type": "result", "succeeded": [...], "failed": {id: reason}}``.

``shape="vendor"`` answers as the vendor's public pages show: snake_case items with ``id`` and
``last_update`` (https://docs.omnidesk.io/app/ticket), lists as ``itemStart``/``itemTotal``/
``itemLimit``/``items`` (https://docs.omnidesk.io/omnidesk/api-specification/customer), and
create, update, delete and bulk calls as ``{"type": "result", "message": ...}`` with errors as
``{"status": "error", "message": ...}`` (https://www.omnidesk.nl/api/docs).

The key is taken from an ``apiKey`` header (the API specification's scheme) or the ``apiKey``
query parameter (the authentication page's); ``accept_header=False`` refuses the header with a
401, like a server that only knows the query form. Tickets are kept in the seed's names.

This module holds the tickets, the keys and the one-ticket endpoints; the bulk endpoints are in
``omnidesk_bulk.py``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

from aiohttp import web

from bot.sandbox.base import SandboxServer, form_of
from bot.sandbox.omnidesk_bulk import PRIORITIES, STATUSES, BulkEndpoints

FULL_KEY, AGENT_KEY, READONLY_KEY = "omni-demo-full", "omni-demo-agent", "omni-demo-readonly"
ALL = {
    "TICKET_READ",
    "TICKET_CREATE",
    "TICKET_UPDATE",
    "TICKET_DELETE",
    "SET_STATUS",
    "TICKET_BATCH",
}
_TITLES = [
    "Order #{n} not delivered",
    "Cannot reset password",
    "Question about invoice {n}",
    "Damaged item in parcel",
    "Subscription renewal",
    "Wrong size received",
    "Account locked",
    "Feature request: export",
]


# The seed's field names -> the vendor's (https://docs.omnidesk.io/app/ticket).
_VENDOR_NAMES = {
    "ticketID": "id",
    "fromName": "from_name",
    "brandID": "brand_id",
    "channelID": "channel_id",
    "assignedGroupID": "assigned_group_id",
    "formID": "form_id",
    "externalPrimaryID": "external_primary_id",
    "customerID": "customer_id",
    "updated_at": "last_update",
}


class OmnideskSandbox(BulkEndpoints, SandboxServer):
    name = "omnidesk"
    prefix = "/api/v2/"

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        seed: int = 5,
        demo_tickets: int = 40,
        shape: str = "seed",
        accept_header: bool = True,
        created_message: str = "Ticket {id} created",
    ) -> None:
        super().__init__(host)
        self.shape = shape
        self.accept_header = accept_header
        # The vendor shows no ticket create answer; whether it names the id is open, so tests
        # set this to a message without one too.
        self.created_message = created_message
        # When set, tickets created over the API stay out of the list, like a search index that
        # lags: the case where a create answer without an id cannot be matched to a ticket.
        self.search_lag = False
        self._unlisted: set[int] = set()
        rnd = Random(seed)
        self.keys = {
            FULL_KEY: ALL,
            AGENT_KEY: ALL - {"TICKET_DELETE", "TICKET_BATCH"},
            READONLY_KEY: {"TICKET_READ"},
        }
        self.tickets: dict[int, dict[str, Any]] = {}
        start = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
        for n in range(demo_tickets):
            self.create(
                title=rnd.choice(_TITLES).format(n=1000 + n),
                status=rnd.choice(STATUSES),
                priority=rnd.choice(PRIORITIES),
                created=start + timedelta(hours=7 * n),
                **{
                    "from": f"customer{n}@example.com",
                    "fromName": f"Customer {n}",
                    "direction": "inbound",
                    "customerID": 500 + n,
                },
            )

    def create(
        self,
        *,
        title: str = "",
        status: str = "new",
        priority: str = "medium",
        created: datetime | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Add a ticket; returns it."""
        ticket_id = max(self.tickets, default=1000) + 1
        stamp = (created or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S")
        self.tickets[ticket_id] = {
            "ticketID": ticket_id,
            "title": title,
            "status": status,
            "priority": priority,
            "created_at": stamp,
            "updated_at": stamp,
            "archived": False,
            "brandID": None,
            "channelID": None,
            "assignedGroupID": 0,
            "formID": None,
            "externalPrimaryID": None,
            "customerID": None,
            **fields,
        }
        return self.tickets[ticket_id]

    @property
    def vendor(self) -> bool:
        """Whether answers take the vendor's current shape rather than the seed's."""
        return self.shape == "vendor"

    def error(
        self, status: int, message: str, *, errors: dict | None = None, **_: Any
    ) -> web.Response:
        body: dict[str, Any] = (
            {"status": "error", "message": message}
            if self.vendor
            else {"type": "error", "error": {"code": status, "message": message}}
        )
        if errors:
            body["errors"] = errors
        return web.json_response(body, status=status)

    def add_routes(self, app: web.Application) -> None:
        p = self.prefix + "ticket"
        for method, path, permission, handler in (
            ("GET", p, "TICKET_READ", self._list),
            ("POST", p, "TICKET_CREATE", self._create),
            ("DELETE", p + "/multi", "TICKET_DELETE", self._delete_multi),
            ("POST", p + "/setStatus", "SET_STATUS", self._set_status),
            ("POST", p + "/setPriority", "TICKET_UPDATE", self._set_priority),
            ("POST", p + "/unlinkCustomerFromTicket", "TICKET_UPDATE", self._unlink),
            ("POST", p + "/batch", "TICKET_BATCH", self._batch),
            ("PUT", p + "/solveUnfinishedTickets", "SET_STATUS", self._solve_unfinished),
            ("GET", p + "/{ticket_id:\\d+}", "TICKET_READ", self._get),
            ("PUT", p + "/{ticket_id:\\d+}", "TICKET_UPDATE", self._update),
            ("DELETE", p + "/{ticket_id:\\d+}", "TICKET_DELETE", self._delete),
        ):
            app.router.add_route(method, path, self._allowed(permission, handler))

    def _allowed(self, permission: str, handler: Any) -> Any:
        async def check(request: web.Request) -> web.StreamResponse:
            header = request.headers.get("apiKey")
            if header is not None and not self.accept_header:
                return self.error(401, "No API key given")  # the header is not looked at
            granted = self.keys.get(header or request.query.get("apiKey", ""))
            if granted is None:
                return self.error(401, "Invalid API key")
            if permission not in granted:
                return self.error(403, f"This API key lacks the {permission} permission")
            return await handler(request)

        return check

    def render(self, ticket: dict[str, Any]) -> dict[str, Any]:
        """A stored ticket as this shape names its fields."""
        if not self.vendor:
            return ticket
        return {_VENDOR_NAMES.get(k, k): v for k, v in ticket.items()}

    def _item(self, ticket: dict[str, Any]) -> web.Response:
        return web.json_response({"type": "item", "item": self.render(ticket)})

    def _result(self, message: str) -> web.Response:
        return web.json_response({"type": "result", "message": message})

    def _ticket(self, request: web.Request) -> dict[str, Any] | None:
        return self.tickets.get(int(request.match_info["ticket_id"]))

    # Endpoints ---------------------------------------------------------------------------------

    async def _list(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            start, limit = int(q.get("itemStart", "0")), int(q.get("itemLimit", "15"))
        except ValueError:
            return self.error(400, "itemStart and itemLimit must be numbers")
        if start < 0 or not 1 <= limit <= 100:
            return self.error(400, "itemLimit must be between 1 and 100")
        if q.get("status") and q["status"] not in STATUSES:
            return self.error(400, f"status must be one of {', '.join(STATUSES)}")
        archived = q.get("searchArchived", "").lower() in {"1", "true", "yes"}
        found = [
            t
            for t in self.tickets.values()
            if (archived or not t["archived"])
            and t["ticketID"] not in self._unlisted
            and (not q.get("status") or t["status"] == q["status"])
            and (not q.get("query") or q["query"].lower() in t["title"].lower())
        ]
        found.sort(key=lambda t: (t["created_at"], t["ticketID"]), reverse=True)
        page = found[start : start + limit]
        if self.vendor:
            return web.json_response(
                {
                    "type": "list",
                    "itemStart": start,
                    "itemTotal": len(found),
                    "itemLimit": limit,
                    "items": [self.render(t) for t in page],
                }
            )
        return web.json_response(
            {
                "type": "list",
                "total": len(found),
                "itemStart": start,
                "itemLimit": limit,
                "items": [{"type": "item", "item": t} for t in page],
            }
        )

    async def _create(self, request: web.Request) -> web.Response:
        form = await form_of(request)
        if form.get("direction") and not re.fullmatch(r"inbound|outbound", str(form["direction"])):
            return self.error(
                400,
                "direction must be inbound or outbound",
                errors={"direction": ["Must be inbound or outbound."]},
            )
        numeric = ("brandID", "channelID", "assignedGroupID", "formID")
        if bad := [n for n in numeric if form.get(n) and not str(form[n]).isdigit()]:
            return self.error(
                400, f"{bad[0]} must be a number", errors={bad[0]: ["Must be a number."]}
            )
        known = ("title", "from", "fromName", "to", "direction", *numeric)
        fields = {k: str(form[k]) for k in known if form.get(k) not in (None, "")}
        ticket = self.create(status="new", **fields)
        if self.search_lag:
            self._unlisted.add(ticket["ticketID"])
        if self.vendor:
            return self._result(self.created_message.format(id=ticket["ticketID"]))
        return self._item(ticket)

    async def _get(self, request: web.Request) -> web.Response:
        ticket = self._ticket(request)
        return self._item(ticket) if ticket else self.error(404, "Ticket not found")

    async def _update(self, request: web.Request) -> web.Response:
        ticket = self._ticket(request)
        if ticket is None:
            return self.error(404, "Ticket not found")
        form = await form_of(request)
        if form.get("status") and form["status"] not in {"solved", "closed"}:
            return self.error(
                400,
                "status may only be set to solved or closed here",
                errors={"status": ["Must be solved or closed."]},
            )
        for name in ("title", "status", "externalPrimaryID"):
            if form.get(name) not in (None, ""):
                ticket[name] = str(form[name])
        ticket["updated_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        return self._result("Ticket updated") if self.vendor else self._item(ticket)

    async def _delete(self, request: web.Request) -> web.Response:
        ticket = self._ticket(request)
        if ticket is None:
            return self.error(404, "Ticket not found")
        del self.tickets[ticket["ticketID"]]
        if self.vendor:
            return self._result("Ticket deleted")
        return web.json_response(
            {"type": "result", "succeeded": [ticket["ticketID"]], "failed": {}}
        )

    async def _unlink(self, request: web.Request) -> web.Response:
        form = await form_of(request)
        raw = str(form.get("ticketID") or "")
        ticket = self.tickets.get(int(raw)) if raw.isdigit() else None
        if ticket is None:
            return self.error(404, "Ticket not found")
        ticket["customerID"] = None
        return self._item(ticket)
