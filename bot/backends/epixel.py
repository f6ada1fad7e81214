"""Epixel support tickets (seed 002).

Auth is two headers: ``apikey`` and ``Authorization: Bearer <access token>``. A user may give the
access token, or a username and password: then we log in (``user/login/``) and log in again once
when a call is refused with 401. Responses are ``{"status_code", "errors", "data"}`` with
validation errors per field. Paths follow the seed's endpoint headings, not its sample code (which
has typos such as ``creat/support/ticket/``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from bot.backends.base import BaseBackend, Capability, one_by_one
from bot.backends.forms import FormField
from bot.backends.http import (
    BackendHTTP,
    attachment_filename,
    body_of,
    generic_error,
    parse_json,
)
from bot.backends.tokens import LoginSession, TokenCache
from bot.credentials import EpixelCredentials
from bot.errors import (
    BackendAuthError,
    BackendError,
    BackendUnexpectedResponse,
    BackendValidationError,
)
from bot.models import (
    Attachment,
    BulkResult,
    Category,
    Comment,
    Download,
    NeutralPriority,
    NeutralStatus,
    NewTicket,
    Page,
    Priority,
    Status,
    Tag,
    Ticket,
    TicketQuery,
    TicketRef,
    Upload,
)
from bot.text import is_number

KEY = "epixel"
MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024  # "maximum size 2Mib"
MAX_SUBJECT = 500
HISTORY_DEFAULT = 50  # "A request without query params provides details of last created 50"

STATUSES = (
    Status(value="1", label="Open", neutral=NeutralStatus.OPEN),
    Status(value="2", label="Processing", neutral=NeutralStatus.PENDING),
    Status(value="3", label="Closed", neutral=NeutralStatus.CLOSED),
)
PRIORITIES = (
    Priority(value="1", label="Low", neutral=NeutralPriority.LOW),
    Priority(value="2", label="Medium", neutral=NeutralPriority.MEDIUM),
    Priority(value="3", label="High", neutral=NeutralPriority.HIGH),
)
# The status endpoint takes 2 ("to open") or 3 ("to close") only.
STATUS_TO_OPEN, STATUS_TO_CLOSE = "2", "3"


def _field_messages(errors: Any) -> dict[str, list[str]]:
    if isinstance(errors, dict):
        fields: dict[str, list[str]] = {}
        for name, value in errors.items():
            if isinstance(value, list | tuple):
                fields[str(name)] = [str(v) for v in value]
            elif isinstance(value, dict):
                fields.update({f"{name}.{k}": v for k, v in _field_messages(value).items()})
            elif value not in (None, ""):
                fields[str(name)] = [str(value)]
        return fields
    if isinstance(errors, list | tuple) and errors:
        return {"detail": [str(e) for e in errors]}
    if isinstance(errors, str) and errors:
        return {"detail": [errors]}
    return {}


def epixel_error(response: httpx.Response, body: Any = None) -> BackendError:
    """Map Epixel's envelope; ``body`` when the envelope came inside an HTTP 200."""
    data = body if isinstance(body, dict) else body_of(response)
    if not {"status_code", "errors"} <= data.keys():
        # Not Epixel's envelope: another server's words (a base URL pointed elsewhere) are
        # never shown, only the HTTP status.
        return generic_error(KEY, response)
    fields = _field_messages(data.get("errors"))
    status = data.get("status_code") if isinstance(data.get("status_code"), int) else None
    status = status or response.status_code
    message = "; ".join(m for msgs in fields.values() for m in msgs)
    if status == 401 and "limit" in message.lower():
        # Documented as a 401, but it is not about credentials: the user has too many open.
        return BackendValidationError(KEY, message, fields=fields, status=status)
    if status == 401:
        return BackendAuthError(KEY, message or "invalid API key or access token", status=status)
    if status in {400, 422}:
        return BackendValidationError(KEY, message or "invalid input", fields=fields, status=status)
    return generic_error(KEY, response, message or None)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _lookup(choices: Sequence[Status] | Sequence[Priority], value: Any) -> Any:
    return next((c for c in choices if c.value == _text(value)), None)


class EpixelBackend(BaseBackend):
    """Support tickets for one Epixel user."""

    key: ClassVar[str] = KEY
    # fmt: off
    capabilities: ClassVar[frozenset[Capability]] = frozenset({
        Capability.LIST, Capability.SEARCH, Capability.SHOW, Capability.CREATE, Capability.COMMENT,
        Capability.ATTACH, Capability.SET_STATUS, Capability.SET_PRIORITY, Capability.TAG,
        Capability.CATEGORIES, Capability.DOWNLOAD_ATTACHMENT, Capability.OWN_TICKETS,
    })
    # fmt: on
    statuses = STATUSES
    priorities = PRIORITIES
    create_form = (
        FormField("subject", "Subject", "subject", required=True, max_length=MAX_SUBJECT),
        FormField(
            "priority",
            "Priority",
            "priority",
            "select",
            default="2",
            options=tuple((p.value, p.label) for p in PRIORITIES),
        ),
        FormField("category", "Category", "category", "categories", required=True),
        FormField("comment", "Description", "body", "multiline", required=True),
        FormField(
            "attachment",
            "Attachment",
            "attachment",
            "file",
            max_bytes=MAX_ATTACHMENT_BYTES,
            hint="One file, at most 2 MiB (Epixel's limit).",
        ),
    )

    def __init__(self, http: BackendHTTP, creds: EpixelCredentials, tokens: TokenCache) -> None:
        self._http = http
        self._creds = creds
        self._base = creds.base_url.rstrip("/") + "/"
        self._session = LoginSession.for_account(tokens, KEY, creds, creds.access_token, self.login)

    # Auth ------------------------------------------------------------------------------------

    async def login(self) -> str:
        """POST user/login/ with username and password; returns the access token."""
        assert self._creds.username is not None and self._creds.password is not None
        response = await self._http.send(
            "POST",
            self._base + "user/login/",
            idempotent=True,
            json={
                "username": self._creds.username,
                "password": self._creds.password.get_secret_value(),
            },
            headers={"apikey": self._creds.api_key.get_secret_value()},
        )
        body = parse_json(KEY, response)
        tokens = body.get("data", body) if isinstance(body, dict) else None
        if not isinstance(tokens, dict) or not isinstance(tokens.get("access"), str):
            raise BackendUnexpectedResponse(
                KEY, "the login answer had no access token", status=response.status_code
            )
        return tokens["access"]

    def _headers(self, token: str) -> dict[str, str]:
        return {
            "apikey": self._creds.api_key.get_secret_value(),
            "Authorization": f"Bearer {token}",
        }

    async def _call(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> Any:
        """Send with auth (logging in again once on a 401) and unwrap the envelope."""

        async def send(token: str) -> httpx.Response:
            return await self._http.send(
                method,
                self._base + path,
                idempotent=idempotent,
                headers=self._headers(token),
                **kwargs,
            )

        return self._data(await self._session.run(send))

    def _data(self, response: httpx.Response) -> Any:
        body = parse_json(KEY, response)
        if not isinstance(body, dict):
            raise BackendUnexpectedResponse(
                KEY, "expected a JSON object", status=response.status_code
            )
        status = body.get("status_code")
        if isinstance(status, int) and status >= 400:
            raise epixel_error(response, body)
        return body.get("data") or {}

    async def verify(self) -> None:
        """The category list: the cheapest call that needs both the key and the token."""
        await self._session.login_afresh()
        await self.categories()

    # Endpoints -------------------------------------------------------------------------------

    async def categories(self) -> list[Category]:
        """GET support/get/category-list/"""
        data = await self._call("GET", "support/get/category-list/", idempotent=True)
        return [
            Category(
                id=_text(c.get("id")),
                name=_text(c.get("category")),
                description=_text(c.get("description")),
            )
            for c in _list(data, "CategoryList")
        ]

    async def tags(self) -> list[Tag]:
        """GET support/get/ticket/tags/"""
        data = await self._call("GET", "support/get/ticket/tags/", idempotent=True)
        return [
            Tag(id=_text(t.get("id")), name=_text(t.get("tag")), keyword=_text(t.get("keyword")))
            for t in _list(data, "TicketTagList")
        ]

    async def history(
        self,
        *,
        offset: int | None = None,
        limit: int | None = None,
        subject: str | None = None,
        category: str | None = None,
        status: str | None = None,
    ) -> list[Ticket]:
        """GET support/get/ticket/history/ with the documented filters."""
        params = {
            k: str(v)
            for k, v in (
                ("offset", offset),
                ("limit", limit),
                ("subject", subject),
                ("category", category),
                ("status", status),
            )
            if v is not None
        }
        data = await self._call(
            "GET", "support/get/ticket/history/", idempotent=True, params=params
        )
        return [self._ticket(item) for item in _list(data, "TicketList")]

    async def list_tickets(self, query: TicketQuery) -> Page[Ticket]:
        status = self.resolve_status(query.status).value if query.status else None
        items = await self.history(
            offset=query.offset, limit=query.limit, subject=query.text, status=status
        )
        return Page[Ticket](items=items, offset=query.offset, has_more=len(items) >= query.limit)

    async def get_ticket(self, ticket_id: str) -> Ticket:
        """GET support/ticket/detailed-view/ (ticket_id in the body, as documented)."""
        data = await self._call(
            "GET", "support/ticket/detailed-view/", idempotent=True, data={"ticket_id": ticket_id}
        )
        if not isinstance(data, dict) or not isinstance(data.get("ticket"), dict):
            raise BackendUnexpectedResponse(KEY, "the detailed view had no ticket")
        attachments = [
            Attachment(id=_text(a.get("id")), comment_id=_text(a.get("conversation_id")) or None)
            for a in data.get("attachments") or []
            if isinstance(a, dict)
        ]
        comments = [
            Comment(
                id=_text(c.get("id")),
                body=_text(c.get("comment")),
                author=_text(c.get("author")) or None,
                attachments=[a for a in attachments if a.comment_id == _text(c.get("id"))],
            )
            for c in data.get("conversations") or []
            if isinstance(c, dict)
        ]
        ticket = self._ticket(data["ticket"])
        return ticket.model_copy(
            update={
                "author": _text(data.get("author")) or None,
                "comments": comments,
                "attachments": attachments,
                "tags": [Tag(id=_text(t), name=_text(t)) for t in data["ticket"].get("tags") or []],
            }
        )

    async def create_ticket(self, new: NewTicket) -> Ticket:
        """POST support/create/ticket/ as multipart. The answer carries no id, so the new ticket
        is found again in the history by its subject (newest id wins)."""
        check_upload(new.attachment)
        priority = self.resolve_priority(new.priority).value if new.priority else "2"
        form = {
            "subject": new.subject,
            "priority": priority,
            "comment": new.body,
            "category": new.category or "",
        }
        await self._call(
            "POST",
            "support/create/ticket/",
            idempotent=False,
            data=form,
            files=_files(new.attachment),
        )
        found = [t for t in await self.history(subject=new.subject) if t.subject == new.subject]
        if not found:
            raise BackendUnexpectedResponse(
                KEY, "the ticket was created but does not show in your history yet"
            )
        return max(found, key=lambda t: int(t.ref.id) if is_number(t.ref.id) else 0)

    async def update_ticket(
        self, ticket_id: str, *, tags: Sequence[str], priority: str | None = None
    ) -> None:
        """POST support/update/ticket/: tags (ids, required by Epixel) and optionally priority."""
        form: dict[str, Any] = {"ticket_id": ticket_id, "tags": list(tags)}
        if priority is not None:
            form["priority"] = priority
        await self._call("POST", "support/update/ticket/", idempotent=False, data=form)

    async def add_comment(
        self, ticket_id: str, text: str, attachment: Upload | None = None
    ) -> None:
        """POST support/ticket/conversation/ as multipart."""
        check_upload(attachment)
        await self._call(
            "POST",
            "support/ticket/conversation/",
            idempotent=False,
            data={"ticket": ticket_id, "comment": text},
            files=_files(attachment),
        )

    async def change_status(self, ticket_id: str, status: str) -> None:
        """POST support/ticket/status/ with 2 (to open) or 3 (to close)."""
        await self._call(
            "POST",
            "support/ticket/status/",
            idempotent=False,
            data={"ticket": ticket_id, "status": status},
        )

    async def download_attachment(self, attachment_id: str) -> Download:
        """GET support/ticket/download/<id>/: the file itself."""
        url = f"{self._base}support/ticket/download/{attachment_id}/"

        async def send(token: str) -> httpx.Response:
            return await self._http.send("GET", url, idempotent=True, headers=self._headers(token))

        response = await self._session.run(send)
        return Download(
            filename=attachment_filename(response) or f"attachment-{attachment_id}",
            content=response.content,
            content_type=response.headers.get("Content-Type", "application/octet-stream"),
        )

    # Neutral operations built on the endpoints -----------------------------------------------

    async def set_status(self, ticket_ids: Sequence[str], status: Status) -> BulkResult:
        target = STATUS_TO_CLOSE if status.neutral is NeutralStatus.CLOSED else STATUS_TO_OPEN
        return await one_by_one(ticket_ids, lambda tid: self.change_status(tid, target))

    async def set_priority(self, ticket_ids: Sequence[str], priority: Priority) -> BulkResult:
        async def one(ticket_id: str) -> None:
            # Epixel's update requires the tags too: send the ones the ticket already has.
            current = await self.get_ticket(ticket_id)
            await self.update_ticket(
                ticket_id, tags=[t.id for t in current.tags], priority=priority.value
            )

        return await one_by_one(ticket_ids, one)

    async def set_tags(self, ticket_id: str, names: Sequence[str]) -> list[Tag]:
        """Replace the ticket's tags with those named (by id, name or keyword)."""
        known = await self.tags()
        chosen: list[Tag] = []
        for name in names:
            wanted = name.strip().lower()
            match = next(
                (t for t in known if wanted in {t.id, t.name.lower(), t.keyword.lower()}), None
            )
            if match is None:
                valid = ", ".join(f"`{t.name}`" for t in known) or "none"
                raise BackendValidationError(
                    KEY,
                    f"there is no tag `{name}`; tags: {valid}",
                    fields={"tags": [f"No tag named {name}."]},
                )
            chosen.append(match)
        await self.update_ticket(ticket_id, tags=[t.id for t in chosen])
        return chosen

    def _ticket(self, item: dict[str, Any]) -> Ticket:
        category = None
        if item.get("category") is not None:
            category = Category(
                id=_text(item.get("category")), name=_text(item.get("category_title"))
            )
        return Ticket(
            ref=TicketRef(backend=KEY, id=_text(item.get("id"))),
            subject=_text(item.get("subject")),
            status=_lookup(STATUSES, item.get("status")),
            priority=_lookup(PRIORITIES, item.get("priority")),
            body=_text(item.get("comment")) or None,
            category=category,
        )


def check_upload(upload: Upload | None) -> None:
    """Refuse an attachment over Epixel's 2 MiB limit before anything is sent."""
    if upload is not None and len(upload.content) > MAX_ATTACHMENT_BYTES:
        size_mib = len(upload.content) / 1024 / 1024
        raise BackendValidationError(
            KEY,
            f"{upload.filename} is {size_mib:.1f} MiB; Epixel takes at most 2 MiB",
            fields={"attachment": [f"File is too big ({size_mib:.1f} MiB). Max filesize: 2MiB."]},
        )


def _files(upload: Upload | None) -> dict[str, tuple[str, bytes, str]] | None:
    if upload is None:
        return None
    return {"attachment": (upload.filename, upload.content, upload.content_type)}


def _list(data: Any, key: str) -> list[dict[str, Any]]:
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise BackendUnexpectedResponse(KEY, f"the answer had no {key} list")
    return [item for item in items if isinstance(item, dict)]
