"""Epixel support-ticket sandbox (seed 002).

Enforces ``apikey`` plus ``Authorization: Bearer``, logins that hand out short-lived access tokens,
the documented field rules and messages (500-character subject, 2 MiB attachments, priority and
status choices, "not the owner", "already closed", the open-ticket limit), and the
``{"status_code", "errors", "data"}`` envelope.
"""

from __future__ import annotations

import secrets
import time
from random import Random
from typing import Any

from aiohttp import web

from bot.sandbox.base import FilePart, SandboxServer, as_list, form_of

DEMO_API_KEY = "epx-demo-apikey"
DEMO_USER, DEMO_PASSWORD = "agent@example.com", "demo-password"
OTHER_USER = "someone-else@example.com"
DEMO_ACCESS_TOKEN = "epx-demo-access-token"
MAX_BYTES = 2 * 1024 * 1024
OPEN, PROCESSING, CLOSED = "1", "2", "3"

_CATEGORIES = [
    ("Billing", "Invoices and payments"),
    ("Technical", "Something does not work"),
    ("Account", "Login and profile"),
    ("Shipping", "Deliveries and returns"),
    ("Other", "Anything else"),
]
_TAGS = [
    ("Urgent", "urgent"),
    ("VIP", "vip"),
    ("Bug", "bug"),
    ("Refund", "refund"),
    ("Follow-up", "follow-up"),
    ("Escalated", "escalated"),
]
_SUBJECTS = [
    "Cannot log in",
    "Invoice is wrong",
    "Parcel never arrived",
    "App crashes on start",
    "Change my address",
    "Refund request",
    "Password reset mail missing",
    "Double charge on card",
]


class EpixelSandbox(SandboxServer):
    name = "epixel"
    prefix = "/api/v1/"

    def __init__(self, host: str = "127.0.0.1", *, seed: int = 11) -> None:
        super().__init__(host)
        rnd = Random(seed)
        self.api_keys = {DEMO_API_KEY}
        self.passwords = {DEMO_USER: DEMO_PASSWORD, OTHER_USER: "other-password"}
        self.tokens: dict[str, tuple[str, float]] = {DEMO_ACCESS_TOKEN: (DEMO_USER, float("inf"))}
        self.token_ttl = 300.0
        self.open_ticket_limit = 25
        self.categories = [
            {"id": i, "category": c, "description": d}
            for i, (c, d) in enumerate(_CATEGORIES, start=1)
        ]
        self.tags = [{"id": i, "tag": t, "keyword": k} for i, (t, k) in enumerate(_TAGS, start=1)]
        self.tickets: dict[int, dict[str, Any]] = {}
        self.conversations: list[dict[str, Any]] = []
        self.attachments: dict[int, dict[str, Any]] = {}
        for n in range(24):
            owner = OTHER_USER if n % 8 == 7 else DEMO_USER
            status = CLOSED if n % 3 == 0 else rnd.choice([OPEN, PROCESSING])
            ticket = self._new_ticket(
                owner,
                f"{rnd.choice(_SUBJECTS)} (#{n + 1})",
                str(rnd.randint(1, 3)),
                rnd.randint(1, 5),
                "Details from the customer.",
            )
            ticket["status"] = status
            if n % 4 == 1:
                ticket["tags"] = [rnd.randint(1, 6)]
            self._add_conversation(
                ticket["id"],
                owner,
                "First reply from support.",
                ("notes.txt", b"log line 1\nlog line 2\n", "text/plain") if n % 5 == 0 else None,
            )

    # State helpers -----------------------------------------------------------------------------

    def _new_ticket(
        self, owner: str, subject: str, priority: str, category: int, comment: str
    ) -> dict:
        ticket_id = max(self.tickets, default=100) + 1
        self.tickets[ticket_id] = {
            "id": ticket_id,
            "subject": subject,
            "priority": priority,
            "category": category,
            "comment": comment,
            "status": OPEN,
            "tags": [],
            "_owner": owner,
        }
        return self.tickets[ticket_id]

    def _add_conversation(self, ticket_id: int, author: str, comment: str, upload: Any) -> None:
        conversation = {
            "id": len(self.conversations) + 1,
            "ticket": ticket_id,
            "comment": comment,
            "author": author,
        }
        self.conversations.append(conversation)
        if upload is not None:
            attachment_id = len(self.attachments) + 1
            name, content, content_type = upload
            self.attachments[attachment_id] = {
                "id": attachment_id,
                "ticket": ticket_id,
                "conversation_id": conversation["id"],
                "name": name,
                "content": content,
                "content_type": content_type,
            }

    def add_ticket(
        self,
        subject: str,
        *,
        priority: str = "2",
        category: int = 1,
        comment: str = "Details from the customer.",
        owner: str = DEMO_USER,
        tags: list[int] | None = None,
    ) -> dict[str, Any]:
        """A ticket filed as a person would in Epixel's own UI (not through the API); returns
        it. ``tags`` are tag ids."""
        ticket = self._new_ticket(owner, subject, priority, category, comment)
        ticket["tags"] = list(tags or [])
        self._add_conversation(ticket["id"], owner, comment, None)
        return ticket

    def expire_tokens(self) -> None:
        """Make every login token stale (the demo access token stays valid)."""
        self.tokens = {t: v for t, v in self.tokens.items() if t == DEMO_ACCESS_TOKEN}

    def error(
        self, status: int, message: str, *, fields: dict | None = None, **_: Any
    ) -> web.Response:
        errors = fields if fields is not None else {"detail": message}
        return web.json_response(
            {"status_code": status, "errors": errors, "data": {}}, status=status
        )

    def _fields(self, /, **fields: str | list[str]) -> web.Response:
        """A 400 validation error, per field (field names may be "status", hence no status arg)."""
        as_lists = {k: v if isinstance(v, list) else [v] for k, v in fields.items()}
        return self.error(400, "", fields=as_lists)

    @staticmethod
    def _ok(data: dict[str, Any] | None = None) -> web.Response:
        return web.json_response({"status_code": 200, "errors": {}, "data": data or {}})

    def add_routes(self, app: web.Application) -> None:
        p = self.prefix
        app.router.add_post(p + "user/login/", self._login)
        for method, path, handler in (
            ("GET", "support/get/category-list/", self._categories),
            ("POST", "support/create/ticket/", self._create),
            ("GET", "support/get/ticket/history/", self._history),
            ("GET", "support/get/ticket/tags/", self._tags),
            ("POST", "support/update/ticket/", self._update),
            ("GET", "support/ticket/detailed-view/", self._detailed_view),
            ("GET", "support/ticket/download/{attachment_id}/", self._download),
            ("POST", "support/ticket/conversation/", self._conversation),
            ("POST", "support/ticket/status/", self._status),
        ):
            app.router.add_route(method, p + path, self._authenticated(handler))

    # Auth --------------------------------------------------------------------------------------

    async def _login(self, request: web.Request) -> web.Response:
        if request.headers.get("apikey") not in self.api_keys:
            return self.error(401, "Invalid API key.")
        form = await form_of(request)
        user, password = str(form.get("username", "")), str(form.get("password", ""))
        if not user or not password:
            return (
                self._fields(username="This field is required.")
                if not user
                else self._fields(password="This field is required.")
            )
        if self.passwords.get(user) != password:
            return self.error(401, "No active account found with the given credentials")
        access = "epx-access-" + secrets.token_hex(12)
        self.tokens[access] = (user, time.monotonic() + self.token_ttl)
        return web.json_response(
            {"refresh": "epx-refresh-" + secrets.token_hex(12), "access": access}
        )

    def _authenticated(self, handler: Any) -> Any:
        async def check(request: web.Request) -> web.StreamResponse:
            if request.headers.get("apikey") not in self.api_keys:
                return self.error(401, "Invalid API key.")
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            user, expires = self.tokens.get(token, (None, 0.0))
            if scheme != "Bearer" or user is None or expires < time.monotonic():
                return self.error(401, "Given token not valid for any token type")
            return await handler(request, user)

        return check

    # Endpoints ---------------------------------------------------------------------------------

    async def _categories(self, _request: web.Request, _user: str) -> web.Response:
        return self._ok({"CategoryList": self.categories})

    async def _tags(self, _request: web.Request, _user: str) -> web.Response:
        return self._ok({"TicketTagList": self.tags})

    async def _create(self, request: web.Request, user: str) -> web.Response:
        form = await form_of(request)
        subject, comment = str(form.get("subject") or ""), str(form.get("comment") or "")
        problems: dict[str, str] = {}
        if not subject:
            problems["subject"] = "This field is required."
        elif len(subject) > 500:
            problems["subject"] = "Ensure this field has no more than 500 characters."
        if not comment:
            problems["comment"] = "This field is required."
        if str(form.get("priority")) not in {"1", "2", "3"}:
            problems["priority"] = f'"{form.get("priority", "")}" is not a valid choice.'
        category = str(form.get("category") or "")
        if not category.isdigit() or int(category) not in {c["id"] for c in self.categories}:
            problems["category"] = f'Invalid pk "{category}" - object does not exist.'
        upload = form.get("attachment")
        if isinstance(upload, FilePart) and len(upload.content) > MAX_BYTES:
            problems["attachment"] = "File is too big. Max filesize: 2MiB."
        if problems:
            return self._fields(**problems)
        open_count = sum(
            1 for t in self.tickets.values() if t["_owner"] == user and t["status"] != CLOSED
        )
        if open_count >= self.open_ticket_limit:
            return self.error(401, "Currenly Open Ticket Limit Exceed.")
        ticket = self._new_ticket(user, subject, str(form["priority"]), int(category), comment)
        self._add_conversation(ticket["id"], user, comment, _upload(upload))
        return self._ok()

    async def _history(self, request: web.Request, user: str) -> web.Response:
        q = request.query
        for name, label in (("category", "Catogory"), ("status", "Status")):
            if name in q and not q[name].isdigit():
                return self._fields(**{name: f"{label} id is not valid numeric"})
        mine = sorted(
            (t for t in self.tickets.values() if t["_owner"] == user),
            key=lambda t: t["id"],
            reverse=True,
        )
        if "subject" in q:
            mine = [t for t in mine if q["subject"].lower() in t["subject"].lower()]
        if "category" in q:
            mine = [t for t in mine if t["category"] == int(q["category"])]
        if "status" in q:
            mine = [t for t in mine if t["status"] == q["status"]]
        offset = int(q["offset"]) if q.get("offset", "").isdigit() else 0
        limit = int(q["limit"]) if q.get("limit", "").isdigit() else 50
        titles = {c["id"]: c["category"] for c in self.categories}
        return self._ok(
            {
                "TicketList": [
                    {
                        "id": t["id"],
                        "subject": t["subject"],
                        "priority": t["priority"],
                        "category": t["category"],
                        "category_title": titles.get(t["category"], ""),
                        "comment": t["comment"],
                        "status": t["status"],
                    }
                    for t in mine[offset : offset + limit]
                ]
            }
        )

    def _owned(
        self, raw_id: Any, user: str, field: str = "ticket"
    ) -> tuple[dict | None, web.Response | None]:
        text = str(raw_id or "")
        if not text:
            return None, self._fields(**{field: "Ticket id is required and this may not be blank."})
        if not text.isdigit() or int(text) not in self.tickets:
            return None, self._fields(**{field: "Ticket id is not valid"})
        ticket = self.tickets[int(text)]
        if ticket["_owner"] != user:
            return None, self._fields(**{field: "You are not the owner of the requested ticket"})
        return ticket, None

    async def _update(self, request: web.Request, user: str) -> web.Response:
        form = await form_of(request)
        ticket, refused = self._owned(form.get("ticket_id"), user)
        if refused:
            return refused
        assert ticket is not None
        if "priority" in form and str(form["priority"]) not in {"1", "2", "3"}:
            return self._fields(priority=f'"{form["priority"]}" is not a valid choice.')
        tags = [str(t) for t in as_list(form.get("tags")) if str(t) != ""]
        if not tags:
            return self._fields(tags="This list may not be empty.")
        if any(not t.isdigit() for t in tags):
            return self._fields(tags="Incorrect type. Expected pk value, received str.")
        known = {tag["id"] for tag in self.tags}
        if missing := [t for t in tags if int(t) not in known]:
            return self._fields(tags=f'Invalid pk "{missing[0]}" - object does not exist.')
        ticket["tags"] = [int(t) for t in tags]
        if "priority" in form:
            ticket["priority"] = str(form["priority"])
        return self._ok()

    async def _detailed_view(self, request: web.Request, user: str) -> web.Response:
        form = await form_of(request)
        ticket, refused = self._owned(form.get("ticket_id") or request.query.get("ticket_id"), user)
        if refused:
            return refused
        assert ticket is not None
        tid = ticket["id"]
        return self._ok(
            {
                "ticket": {k: v for k, v in ticket.items() if not k.startswith("_")},
                "author": ticket["_owner"],
                "conversations": [c for c in self.conversations if c["ticket"] == tid],
                "attachments": [
                    {"id": a["id"], "conversation_id": a["conversation_id"]}
                    for a in self.attachments.values()
                    if a["ticket"] == tid
                ],
            }
        )

    async def _download(self, request: web.Request, user: str) -> web.StreamResponse:
        attachment = self.attachments.get(int(request.match_info["attachment_id"]))
        if attachment is None or self.tickets[attachment["ticket"]]["_owner"] != user:
            return self.error(404, "Not found.")
        return web.Response(
            body=attachment["content"],
            content_type=attachment["content_type"],
            headers={"Content-Disposition": f'attachment; filename="{attachment["name"]}"'},
        )

    async def _conversation(self, request: web.Request, user: str) -> web.Response:
        form = await form_of(request)
        if not form.get("ticket"):
            return self._fields(ticket="This field is required.")
        if not str(form["ticket"]).isdigit():
            return self._fields(ticket="Incorrect type. Expected pk value, received str.")
        if int(form["ticket"]) not in self.tickets:
            return self._fields(ticket=f'Invalid pk "{form["ticket"]}" - object does not exist.')
        ticket, refused = self._owned(form["ticket"], user)
        if refused:
            return refused
        assert ticket is not None
        comment = str(form.get("comment") or "")
        if "comment" not in form:
            return self._fields(comment="This field is required.")
        if not comment.strip():
            return self._fields(comment="This field may not be blank.")
        upload = form.get("attachment")
        if isinstance(upload, FilePart) and len(upload.content) > MAX_BYTES:
            return self._fields(attachment="File is too big. Max filesize: 2MiB.")
        self._add_conversation(ticket["id"], user, comment, _upload(upload))
        return self._ok()

    async def _status(self, request: web.Request, user: str) -> web.Response:
        form = await form_of(request)
        ticket, refused = self._owned(form.get("ticket"), user)
        if refused:
            return refused
        assert ticket is not None
        wanted = str(form.get("status") or "")
        if not wanted:
            return self._fields(status="Status id is required and this may not be blank.")
        if wanted not in {PROCESSING, CLOSED}:
            return self._fields(status=f'"{wanted}" is not a valid choice.')
        if wanted == CLOSED and ticket["status"] == CLOSED:
            return self._fields(ticket="Ticket is already closed")
        if wanted == PROCESSING and ticket["status"] == PROCESSING:
            return self._fields(ticket="Ticket is already processing")
        if wanted == PROCESSING and ticket["status"] == OPEN:
            return self._fields(ticket="Ticket is already open")
        ticket["status"] = wanted
        return self._ok()


def _upload(upload: Any) -> tuple[str, bytes, str] | None:
    if not isinstance(upload, FilePart):
        return None
    return upload.filename, upload.content, upload.content_type
