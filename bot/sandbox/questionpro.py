"""QuestionPro CX sandbox: detractor tickets (seed 000) and transactions import (seed 001).

Enforces the ``api-key`` header, the error envelope with string ids, page parameters, the body's
schema, and 300 calls per 60 s per key. Detractors are kept newest first, as seed 000 lists them.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

from aiohttp import web

from bot.sandbox.base import SandboxServer

DEMO_API_KEY = "qp-demo-key-0001"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MOBILE = re.compile(r"^\+[1-9]\d{6,14}$")
_ERROR_NAMES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
}
_ERROR_IDS = {400: "1000", 401: "1010", 403: "1011", 404: "1040", 429: "1029", 500: "1026"}
_COMMENTS = [
    "Staff was rude",
    "The food service was poor",
    "Waited 40 minutes on hold",
    "Delivery arrived broken",
    "Nobody answered my emails",
    "Billing charged me twice",
    "App keeps crashing at checkout",
    "Refund still not processed",
]


class QuestionProSandbox(SandboxServer):
    name = "questionpro"
    prefix = "/a/api/v2/"

    def __init__(
        self, host: str = "127.0.0.1", *, demo_detractors: int = 40, seed: int = 7
    ) -> None:
        super().__init__(host)
        self.api_keys = {DEMO_API_KEY}
        self.calls_per_minute = 300
        self._calls: dict[str, deque[float]] = {}
        self._random = Random(seed)
        self._next_ticket_id = 400
        # "seed": seed 000's pagination (links pointing at another path, as its example does);
        # "legacy": https://www.questionpro.com/api/pagination.html's older shape, page/total and
        # links to the endpoint itself, no currentPage/totalPages/totalItems.
        self.pagination_style: str = "seed"
        self.detractors: list[dict[str, Any]] = []  # newest first
        self.imported: list[dict[str, Any]] = []
        # The v2 import page's example is day-first; its v1 page says mm/dd/yyyy. Which one a real
        # account parses is open (README), so the sandbox can be told either.
        self.date_format = "%d/%m/%Y"
        self.add_detractors(demo_detractors, at=datetime.now(UTC) - timedelta(days=3))

    def add_detractors(
        self, count: int, *, segment_id: int = 999, at: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Add ``count`` new detractors (newest first); returns them, newest first."""
        start = at or datetime.now(UTC)
        new = []
        for offset in range(count):
            self._next_ticket_id += 1
            when = start + timedelta(seconds=offset)
            new.append(
                {
                    "emailAddress": f"customer{self._next_ticket_id}@example.com",
                    "phoneNumber": ""
                    if self._next_ticket_id % 3
                    else f"+1555{self._next_ticket_id:07d}",
                    "rating": str(self._random.randint(0, 6)),
                    "comment": self._random.choice(_COMMENTS),
                    "ticketID": self._next_ticket_id,
                    "responseID": 12000 + self._next_ticket_id,
                    "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                    "timelimit": 72,
                    "_segment": segment_id,
                    "_status": 0,
                }
            )
        new.reverse()
        self.detractors[:0] = new
        return new

    def error(
        self, status: int, message: str, *, error_id: str | None = None, **_: Any
    ) -> web.Response:
        body = {
            "response": {
                "error": {
                    "docs": "www.questionpro.com/api/error-codes.html",
                    "name": _ERROR_NAMES.get(status, "ERROR"),
                    "httpStatusCode": status,
                    "id": error_id or _ERROR_IDS.get(status, "1026"),
                    "message": message,
                    "resourceUrl": "resource_url",
                }
            }
        }
        return web.json_response(body, status=status)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.prefix + "cx/tickets/detractors", self._detractors)
        app.router.add_post(self.prefix + "cx/transactions/import", self._import)
        app.router.add_post("/_sandbox/questionpro", self._control)
        app.router.add_get("/_sandbox/questionpro/calls", self._call_times)

    async def _control(self, request: web.Request) -> web.Response:
        """For other processes (benchmarks): add detractors, accept more API keys, change the
        per-minute limit."""
        wanted = await request.json()
        self.api_keys.update(str(key) for key in wanted.get("api_keys", []))
        added = self.add_detractors(
            int(wanted.get("add_detractors", 0)), segment_id=int(wanted.get("segment_id", 999))
        )
        if "calls_per_minute" in wanted:
            self.calls_per_minute = int(wanted["calls_per_minute"])
        return web.json_response(
            {
                "added": len(added),
                "total": len(self.detractors),
                "calls_per_minute": self.calls_per_minute,
                "imported": len(self.imported),
                "imported_emails": len({c.get("email") for c in self.imported}),
                "ticket_ids": [d["ticketID"] for d in added],
            }
        )

    async def _call_times(self, _request: web.Request) -> web.Response:
        """For benchmarks: the monotonic times of the detractor calls, by API key and by segment,
        so a bench can count one key's calls in any 60 s and the gaps between a segment's polls."""
        by_key: dict[str, list[float]] = {}
        by_segment: dict[str, list[float]] = {}
        for call in self.requests_to("cx/tickets/detractors"):
            by_key.setdefault(call.headers.get("api-key", ""), []).append(call.at)
            with contextlib.suppress(ValueError, AttributeError):
                segment = json.loads(call.body or b"{}").get("segmentID")
                by_segment.setdefault(str(segment), []).append(call.at)
        return web.json_response({"by_key": by_key, "by_segment": by_segment})

    # Checks shared by both endpoints -----------------------------------------------------------

    def _refuse(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("api-key")
        if key not in self.api_keys:
            return self.error(401, "Incorrect API Key", error_id="1010")
        window = self._calls.setdefault(key, deque())
        now = time.monotonic()
        while window and now - window[0] >= 60:
            window.popleft()
        if len(window) >= self.calls_per_minute:
            response = self.error(429, "API rate limit exceeded: 300 calls per 60 seconds")
            response.headers["Retry-After"] = str(max(1, int(60 - (now - window[0])) + 1))
            return response
        window.append(now)
        return None

    async def _json_body(self, request: web.Request) -> tuple[Any, web.Response | None]:
        raw = await request.read()
        try:
            return json.loads(raw or b"{}"), None
        except ValueError:
            return None, self.error(400, "Request body is not valid JSON", error_id="1001")

    # Endpoints ---------------------------------------------------------------------------------

    async def _detractors(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request):
            return refused
        try:
            page = int(request.query.get("page", "1"))
            per_page = int(request.query.get("perPage", "100"))
        except ValueError:
            return self.error(400, "Invalid URL parameters")
        if page < 1 or not 1 <= per_page <= 100:
            return self.error(400, "Invalid URL parameters")
        body, bad = await self._json_body(request)
        if bad:
            return bad
        if (
            not isinstance(body, dict)
            or set(body) - {"segmentID", "status"}
            or any(not isinstance(v, int) or isinstance(v, bool) for v in body.values())
        ):
            return self.error(
                400, "Invalid body schema: segmentID and status are integers", error_id="1002"
            )
        matching = [
            d
            for d in self.detractors
            if body.get("segmentID") in (None, d["_segment"])
            and body.get("status") in (None, d["_status"])
        ]
        total_pages = max(1, -(-len(matching) // per_page))
        chunk = matching[(page - 1) * per_page : page * per_page]
        if self.pagination_style == "legacy":
            link = f"{request.url.with_query({})}?perPage={per_page}&page="
            pagination: dict[str, Any] = {"perPage": per_page, "page": page, "total": len(matching)}
        else:
            link = f"https://api.questionpro.com/a/api/v2/cx/detractor/ticket/data?perPage={per_page}&page="
            pagination = {
                "perPage": per_page,
                "totalItems": len(matching),
                "currentPage": page,
                "totalPages": total_pages,
            }
        pagination["links"] = {
            "self": f"{link}{page}",
            "first": f"{link}1",
            "last": f"{link}{total_pages}",
            "next": f"{link}{page + 1}" if page < total_pages else None,
            "prev": f"{link}{page - 1}" if page > 1 else None,
        }
        return web.json_response(
            {
                "response": [{k: v for k, v in d.items() if not k.startswith("_")} for d in chunk],
                "pagination": pagination,
                "requestID": str(uuid.uuid4()),
            }
        )

    async def _import(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request):
            return refused
        body, bad = await self._json_body(request)
        if bad:
            return bad
        contacts = body.get("contacts") if isinstance(body, dict) else None
        if not isinstance(contacts, list) or not contacts:
            return self.error(
                400, "Invalid body schema: contacts must be a non-empty array", error_id="1002"
            )
        for index, contact in enumerate(contacts):
            problem = _contact_problem(contact, self.date_format)
            if problem:
                return self.error(
                    400, f"Invalid body schema: contacts[{index}]: {problem}", error_id="1002"
                )
        self.imported.extend(contacts)
        return web.json_response(
            {
                "emailStatus": "Successful: Initiated email send process.",
                "importStatus": "Successful: Contact imported.",
                "importCount": str(len(contacts)),
            }
        )


def _contact_problem(contact: Any, date_format: str = "%d/%m/%Y") -> str | None:
    if not isinstance(contact, dict):
        return "must be an object"
    if not EMAIL.match(str(contact.get("email", ""))):
        return "email is missing or not an email address"
    if contact.get("mobile") and not MOBILE.match(str(contact["mobile"])):
        return "mobile must be in international format, e.g. +10123456789"
    if "transactionDate" in contact:
        try:
            datetime.strptime(str(contact["transactionDate"]), date_format)
        except ValueError:
            return f"transactionDate must be a real date as {date_format}"
    for product in contact.get("products") or []:
        if not isinstance(product, dict) or not product.get("productName"):
            return "every product needs a productName"
    return None
