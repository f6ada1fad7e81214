"""QuestionPro Closed Loop (CLF) ticket sandbox, the newer host ``clf-backend.questionpro.<tld>``.

Answers ``GET /api/v2/cx/closedloop/workspaces/{workspaceID}/tickets?page=&perPage=`` the way
https://www.questionpro.com/api/cx/get-clf-tickets.html shows: ``{"status", "message", "data",
"pagerOptions": {"pagerDto": {"pageNumber", "perPage"}, "totalCount"}}``, newest first, with the
same ``api-key`` header and error envelope as the main QuestionPro sandbox. Tickets created as on
https://www.questionpro.com/api/cx/create-clf-ticket.html carry ``comment`` instead of
``description``; ``add_tickets(..., created_shape=True)`` answers in that shape too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bot.sandbox.questionpro import DEMO_API_KEY, QuestionProSandbox

DEMO_WORKSPACE_ID = "4321"


class QuestionProClfSandbox(QuestionProSandbox):
    """The Closed Loop host: its own tickets, keys and per-key limit."""

    name = "questionpro-clf"
    prefix = "/api/v2/"

    def __init__(self, host: str = "127.0.0.1", *, demo_tickets: int = 12) -> None:
        super().__init__(host, demo_detractors=0)
        self.api_keys = {DEMO_API_KEY}
        self.workspaces = {DEMO_WORKSPACE_ID}
        self._next_clf_id = 35600
        self.tickets: list[dict[str, Any]] = []  # newest first
        self.add_tickets(demo_tickets, at=datetime.now(UTC) - timedelta(days=2))

    def add_tickets(
        self, count: int, *, at: datetime | None = None, created_shape: bool = False
    ) -> list[dict[str, Any]]:
        """Add ``count`` tickets (newest first); returns them, newest first."""
        start = at or datetime.now(UTC)
        new = []
        for offset in range(count):
            self._next_clf_id += 1
            stamp = (start + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            text_key = "comment" if created_shape else "description"
            new.append(
                {
                    "id": self._next_clf_id,
                    "createdAt": stamp,
                    "updatedAt": stamp,
                    "deletedAt": None,
                    "feedbackId": 25739,
                    "surveyId": None,
                    "responseId": None,
                    "priority": "HIGH",
                    "status": "NEW",
                    "type": "MANUAL TICKET",
                    text_key: f"Closed loop ticket {self._next_clf_id}",
                    "issueDate": stamp,
                    "isOverdue": False,
                    "customerName": "Customer",
                    "customerEmail": f"clf{self._next_clf_id}@example.com",
                    "originSegment": {"id": 188602, "code": "S1", "name": "Main Segment"},
                    "currentSegment": {"id": 216627, "code": "CS", "name": "Current Segment"},
                    "assignedUser": {"name": "Manager 1", "email": "manager@example.com"},
                }
            )
        new.reverse()
        self.tickets[:0] = new
        return new

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(
            self.prefix + "cx/closedloop/workspaces/{workspace}/tickets", self._tickets
        )

    async def _tickets(self, request: web.Request) -> web.Response:
        if refused := self._refuse(request):
            return refused
        if request.match_info["workspace"] not in self.workspaces:
            return self.error(404, "Workspace not found", error_id="1040")
        try:
            page = int(request.query.get("page", "1"))
            per_page = int(request.query.get("perPage", "100"))
        except ValueError:
            return self.error(400, "Invalid URL parameters")
        if page < 1 or not 1 <= per_page <= 100:
            return self.error(400, "Invalid URL parameters")
        chunk = self.tickets[(page - 1) * per_page : page * per_page]
        return web.json_response(
            {
                "status": "success",
                "message": "All tickets fetched successfully",
                "data": chunk,
                "pagerOptions": {
                    "pagerDto": {"pageNumber": page, "perPage": per_page},
                    "totalCount": len(self.tickets),
                },
            }
        )
