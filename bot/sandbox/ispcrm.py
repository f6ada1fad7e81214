"""ISPCRM subscriber portal sandbox (seed 004): Bearer tokens, the subscriber login, a subscriber's
tickets, and ``{"success": false, "message"}`` errors with 401 and 404."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.sandbox.base import SandboxServer, form_of

DEMO_TOKEN = "isp-demo-token"
DEMO_USER, DEMO_PASSWORD = "subscriber1", "demo-password"
GONE_TOKEN = "isp-gone-subscriber-token"  # a valid token whose subscriber was removed


class IspcrmSandbox(SandboxServer):
    name = "ispcrm"
    prefix = "/api/v1/"

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.passwords = {DEMO_USER: DEMO_PASSWORD}
        self.tokens: dict[str, str | None] = {DEMO_TOKEN: DEMO_USER, GONE_TOKEN: None}
        self.tickets: dict[str, list[dict[str, Any]]] = {
            DEMO_USER: [
                {
                    "ticket_id": 101,
                    "subject": "Internet not working",
                    "status": "Open",
                    "priority": "High",
                    "created_at": "2026-11-01T10:00:00Z",
                    "updated_at": "2026-11-01T12:00:00Z",
                },
                {
                    "ticket_id": 102,
                    "subject": "Billing issue",
                    "status": "Closed",
                    "priority": "Medium",
                    "created_at": "2026-10-15T09:00:00Z",
                    "updated_at": "2026-10-20T10:00:00Z",
                },
                {
                    "ticket_id": 103,
                    "subject": "Router keeps rebooting",
                    "status": "In Progress",
                    "priority": "Medium",
                    "created_at": "2026-11-10T08:30:00Z",
                    "updated_at": "2026-11-11T16:00:00Z",
                },
                {
                    "ticket_id": 104,
                    "subject": "Upgrade plan to 1 Gbit",
                    "status": "Open",
                    "priority": "Low",
                    "created_at": "2026-11-18T14:45:00Z",
                    "updated_at": "2026-11-18T14:45:00Z",
                },
            ]
        }

    def add_ticket(
        self,
        subject: str,
        *,
        status: str = "Open",
        priority: str = "Medium",
        user: str = DEMO_USER,
    ) -> dict[str, Any]:
        """A ticket opened as staff would in ISPCRM's own UI; returns it (newest id)."""
        tickets = self.tickets.setdefault(user, [])
        ticket_id = max((t["ticket_id"] for ts in self.tickets.values() for t in ts), default=100)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        ticket = {
            "ticket_id": ticket_id + 1,
            "subject": subject,
            "status": status,
            "priority": priority,
            "created_at": stamp,
            "updated_at": stamp,
        }
        tickets.append(ticket)
        return ticket

    def error(self, status: int, message: str, **_: Any) -> web.Response:
        return web.json_response({"success": False, "message": message}, status=status)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.prefix + "subscriber/Login", self._login)
        app.router.add_get(self.prefix + "subscriber/getCustomerTickets", self._tickets)

    async def _login(self, request: web.Request) -> web.Response:
        form = await form_of(request)
        user, password = str(form.get("username", "")), str(form.get("password", ""))
        if not user or self.passwords.get(user) != password:
            return self.error(401, "Invalid username or password")
        token = "isp-" + secrets.token_hex(12)
        self.tokens[token] = user
        return web.json_response(
            {
                "message": "Login successful",
                "token": token,
                "subscriber": {"username": user, "name": "Demo Subscriber"},
            }
        )

    async def _tickets(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.tokens:
            return self.error(401, "Unauthorized")
        user = self.tokens[token]
        if user is None:
            return self.error(404, "Subscriber not found")
        return web.json_response({"success": True, "data": self.tickets.get(user, [])})
