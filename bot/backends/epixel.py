"""Epixel support tickets (seed 002).

Auth is two headers: ``apikey`` and ``Authorization: Bearer <access token>``. A user may give the
access token, or a username and password: then we log in (``user/login/``) and log in again once
when a call is refused with 401. Responses are ``{"status_code", "errors", "data"}`` with
validation errors per field. Paths follow the seed's endpoint headings, not its sample code (which
has typos such as ``creat/support/ticket/``).

This module holds auth and the endpoints; reading the answers (the error envelope, the status
and priority codes, tickets) is in ``epixel_answers.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from bot.backends.base import BaseBackend, Capability, one_by_one
from bot.backends.epixel_answers import (
    KEY,
    PRIORITIES,
    STATUSES,
    categories_of,
    detailed_ticket,
    epixel_error,
    items_of,
    tags_of,
    ticket_of,
)
from bot.backends.forms import FormField
from bot.backends.http import (
    BackendHTTP,
    attachment_filename,
    parse_json,
)
from bot.backends.tokens import LoginSession, TokenCache
from bot.credentials import EpixelCredentials
from bot.errors import (
    BackendUnexpectedResponse,
    BackendValidationError,
)
from bot.models import (
    BulkResult,
    Category,
    Download,
    NeutralStatus,
    NewTicket,
    Page,
    Priority,
    Status,
    Tag,
    Ticket,
    TicketQuery,
    Upload,
)
from bot.text import is_number

MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024  # "maximum size 2Mib"
MAX_SUBJECT = 500
HISTORY_DEFAULT = 50  # "A request without query params provides details of last created 50"

# The status endpoint takes 2 ("to open") or 3 ("to close") only.
STATUS_TO_OPEN, STATUS_TO_CLOSE = "2", "3"


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
    list_limit = 100
    # The history lacks tags and the conversation: those come from the detailed view.
    listed_fields = frozenset({"title", "status", "priority"})
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
        return categories_of(data)

    async def tags(self) -> list[Tag]:
        """GET support/get/ticket/tags/"""
        data = await self._call("GET", "support/get/ticket/tags/", idempotent=True)
        return tags_of(data)

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
        return [ticket_of(item) for item in items_of(data, "TicketList")]

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
        return detailed_ticket(data)

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
