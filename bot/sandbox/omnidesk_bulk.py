"""The Omnidesk sandbox's bulk endpoints: ``DELETE ticket/multi``, ``setStatus``,
``setPriority``, ``batch`` and ``solveUnfinishedTickets``, with the id list they share and the
answer each shape gives (seed: succeeded/failed; vendor: a result message).

Kept apart from ``omnidesk.py`` as a mixin of ``OmnideskSandbox``, which holds the tickets, the
keys and the one-ticket endpoints; the status and priority values both check live here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.sandbox.base import as_list, form_of

STATUSES = ("new", "open", "pending", "holding", "solved", "closed")
PRIORITIES = ("low", "medium", "high", "urgent")
UNFINISHED = {"new", "open", "pending", "holding"}


class BulkEndpoints:
    """The endpoints that change many tickets at once, for ``OmnideskSandbox``."""

    tickets: dict[int, dict[str, Any]]
    vendor: bool
    error: Callable[..., web.Response]
    _result: Callable[[str], web.Response]

    def _ids(self, values: Any) -> list[str] | web.Response:
        ids = [str(v).strip() for v in as_list(values) if str(v).strip()]
        if not ids or any(not i.isdigit() for i in ids):
            return self.error(
                400,
                "ticketIDs[] must be a list of numbers",
                errors={"ticketIDs": ["Must be numbers."]},
            )
        return ids

    def _bulk(self, ids: list[str], change: Any) -> web.Response:
        succeeded, failed = [], {}
        for raw in ids:
            ticket = self.tickets.get(int(raw))
            if ticket is None:
                failed[raw] = "Ticket not found"
                continue
            change(ticket)
            ticket["updated_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
            succeeded.append(int(raw))
        if self.vendor:
            return self._result("Tickets updated")
        return web.json_response({"type": "result", "succeeded": succeeded, "failed": failed})

    async def _delete_multi(self, request: web.Request) -> web.Response:
        ids = self._ids((await form_of(request)).get("ticketIDs[]"))
        if isinstance(ids, web.Response):
            return ids
        response = self._bulk(ids, lambda t: None)
        for raw in ids:
            self.tickets.pop(int(raw), None)
        return response

    async def _set_status(self, request: web.Request) -> web.Response:
        form = await form_of(request)
        if form.get("status") not in STATUSES:
            return self.error(
                400,
                f"status must be one of {', '.join(STATUSES)}",
                errors={"status": ["Not a valid status."]},
            )
        ids = self._ids(form.get("ticketIDs[]"))
        if isinstance(ids, web.Response):
            return ids
        return self._bulk(ids, lambda t: t.update(status=form["status"]))

    async def _set_priority(self, request: web.Request) -> web.Response:
        form = await form_of(request)
        if form.get("priority") not in PRIORITIES:
            return self.error(
                400,
                f"priority must be one of {', '.join(PRIORITIES)}",
                errors={"priority": ["Not a valid priority."]},
            )
        ids = self._ids(form.get("ticketIDs[]"))
        if isinstance(ids, web.Response):
            return ids
        return self._bulk(ids, lambda t: t.update(priority=form["priority"]))

    async def _batch(self, request: web.Request) -> web.Response:
        form = await form_of(request)
        raw_ids = str(form.get("TicketIDs") or "")
        if not re.fullmatch(r"[0-9, ]+", raw_ids):
            return self.error(
                400,
                "TicketIDs must be ids separated by commas",
                errors={"TicketIDs": ["Must match ^[0-9, ]+$."]},
            )
        actions = []
        for index in range(len(form)):
            kind = form.get(f"actions[{index}][actionType]")
            if kind is None:
                break
            value = str(form.get(f"actions[{index}][value]") or "")
            checks = {"status": STATUSES, "priority": PRIORITIES}
            if kind not in {"status", "priority", "title", "assignedGroupID"} or (
                kind in checks and value not in checks[kind]
            ):
                return self.error(400, f"action {index}: cannot {kind} to {value!r}")
            actions.append((kind, value))
        if not actions:
            return self.error(400, "give at least one action")
        ids = [i.strip() for i in raw_ids.split(",") if i.strip()]
        return self._bulk(ids, lambda t: t.update(dict(actions)))

    async def _solve_unfinished(self, _request: web.Request) -> web.Response:
        unfinished = [t for t in self.tickets.values() if t["status"] in UNFINISHED]
        for ticket in unfinished:
            ticket["status"] = "solved"
        return web.json_response({"type": "result", "solved": len(unfinished)})
