"""QuestionPro CX: detractor tickets (seed 000) and the transactions import (seed 001).

Auth is the ``api-key`` header (the ``apiKey`` query parameter stopped working in 2024). Errors come
as ``{"response": {"error": {"id", "message", ...}}}`` with ``id`` a string or a number.

This module holds the backend, its error mapping and the detractor list's paging. The Closed Loop
source's host and shapes are in ``questionpro_clf.py``; the import's contact JSON writer is in
``questionpro_contacts.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from bot.backends.base import BaseBackend, Capability
from bot.backends.http import (
    BackendHTTP,
    body_of,
    generic_error,
    parse_json,
    parse_model,
    retry_after_seconds,
)
from bot.backends.questionpro_clf import CLF_TICKETS_PATH, ClfPage, clf_base_url_for
from bot.backends.questionpro_contacts import encode_contact
from bot.credentials import QUESTIONPRO_DATACENTERS, QuestionProCredentials
from bot.errors import (
    BackendAuthError,
    BackendError,
    BackendNotFound,
    BackendPermissionError,
    BackendRateLimited,
    BackendUnavailable,
    BackendValidationError,
)
from bot.models import Contact, Detractor, ImportResult, Page

KEY = "questionpro"
DETRACTORS_PATH = "cx/tickets/detractors"
IMPORT_PATH = "cx/transactions/import"
MAX_PER_PAGE = 100  # the documented default page size, and the most we ask for

_VALIDATION_IDS = {"1000", "1001", "1002", "1003"}
_FORBIDDEN_IDS = {"1011", "1013"}


def base_url_for(creds: QuestionProCredentials, override: str | None) -> str:
    """The API root for the user's datacenter, unless an operator override is set."""
    if override:
        return override
    return f"https://{QUESTIONPRO_DATACENTERS[creds.datacenter][1]}/a/api/v2/"


# Vendor shapes (seed 000/001). Lenient where the seed contradicts itself (see BACKENDS.md).


class _Vendor(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Links(_Vendor):
    next: str | None = None
    prev: str | None = None


class _Pagination(_Vendor):
    """Every field optional: seed 000 and get-closed-loop-tickets.html name currentPage,
    totalPages, totalItems and perPage, while the older https://www.questionpro.com/api/pagination.html
    names ``page`` and ``total`` (and its copies disagree on whether ``total`` counts items or
    pages). Read what is there; one missing field must not fail a whole poll."""

    perPage: int | None = None
    totalItems: int | None = None
    currentPage: int | None = Field(None, validation_alias=AliasChoices("currentPage", "page"))
    totalPages: int | None = None
    total: int | None = None
    links: _Links | None = None


class _VendorDetractor(Detractor):
    """A Detractor read straight from seed 000's field names, so pydantic-core validates each item
    once (in Rust) instead of a vendor model plus a copy; the rest of the code sees a Detractor."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)

    email: str = Field(validation_alias="emailAddress")
    phone: str = Field("", validation_alias="phoneNumber")
    rating: str = ""
    comment: str = ""
    ticket_id: int = Field(validation_alias="ticketID")
    response_id: int = Field(validation_alias="responseID")
    created_at: datetime = Field(validation_alias="timestamp")
    timelimit_hours: int = Field(validation_alias="timelimit")

    @field_validator("phone", "rating", "comment", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


class _DetractorPage(_Vendor):
    response: list[_VendorDetractor]
    pagination: _Pagination = Field(default_factory=_Pagination)
    requestID: str | None = None


class _ImportAnswer(_Vendor):
    emailStatus: str = ""
    importStatus: str = ""
    importCount: int = Field(0)


def page_of(
    items: list[Detractor], info: _Pagination, page: int, per_page: int, sent_url: str
) -> Page[Detractor]:
    """A Page from whatever pagination fields came back (see ``_Pagination``).

    More pages exist when the counts say so; with no usable count, a full page means "maybe more"
    and a short page is the last (https://www.questionpro.com/api/pagination.html lists every
    field as "if available"). ``links.next`` is believed only when it names the endpoint we asked
    (same scheme, host and path): seed 000's example links point at ``cx/detractor/ticket/data``,
    another path, so a link elsewhere is ignored and we page by number.
    """
    current = info.currentPage or page
    size = info.perPage or per_page
    total_items = info.totalItems
    if total_items is None and info.total is not None and info.totalPages is not None:
        total_items = info.total  # both given: ``total`` can only be the item count
    if info.totalPages is not None:
        has_more = current < info.totalPages
    elif total_items is not None:
        has_more = current * size < total_items
    else:
        has_more = len(items) >= size and bool(items)
    next_link = info.links.next if info.links else None
    if next_link and _same_endpoint(next_link, sent_url):
        has_more = True
    return Page[Detractor](
        items=items, offset=(current - 1) * size, total=total_items, has_more=has_more
    )


def _same_endpoint(link: str, sent_url: str) -> bool:
    a, b = urlsplit(link), urlsplit(sent_url)
    return (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)


def questionpro_error(response: httpx.Response) -> BackendError:
    """Map QuestionPro's error envelope (and bare statuses) onto the exception tree."""
    envelope = body_of(response).get("response")
    error = envelope.get("error") if isinstance(envelope, dict) else None
    if not isinstance(error, dict):
        return generic_error(KEY, response)
    error_id, status = str(error.get("id", "")), response.status_code
    message = str(error.get("message") or error.get("name") or f"HTTP {status}")
    if status == 429:
        return BackendRateLimited(
            KEY,
            message,
            retry_after=retry_after_seconds(response),
            quota_exhausted=error_id == "1013",
        )
    if status == 401 or error_id == "1010":
        return BackendAuthError(KEY, message, status=status)
    if status == 403 or error_id in _FORBIDDEN_IDS:
        return BackendPermissionError(KEY, message, status=status)
    if status == 404 or error_id == "1040":
        return BackendNotFound(KEY, message, status=status)
    if error_id in _VALIDATION_IDS or status == 400:
        return BackendValidationError(KEY, message, status=status)
    if status >= 500:
        return BackendUnavailable(KEY, f"{message} (HTTP {status})", status=status)
    return generic_error(KEY, response, message)


class QuestionProBackend(BaseBackend):
    """Detractors and transaction imports for one user's API key."""

    key: ClassVar[str] = KEY
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.DETRACTORS, Capability.IMPORT_TRANSACTIONS}
    )

    def __init__(
        self,
        http: BackendHTTP,
        creds: QuestionProCredentials,
        base_url: str,
        clf_base_url: str | None = None,
    ) -> None:
        self._http = http
        self._base_url = base_url
        self._clf_base_url = clf_base_url or clf_base_url_for(creds, None)
        self._workspace = creds.workspace_id
        self._headers = {"api-key": creds.api_key.get_secret_value()}

    @property
    def source(self) -> str:
        """Where detractors come from: "Closed Loop" (a workspace id was given) or "detractors"."""
        return "Closed Loop" if self._workspace else "detractors"

    async def verify(self) -> None:
        """Ask for one detractor: a wrong key fails with 1010 before any body rule is checked."""
        try:
            await self.detractors_page(page=1, per_page=1)
        except BackendValidationError:
            return  # the key was accepted; only our minimal body was not

    async def detractors_page(
        self,
        *,
        segment_id: int | None = None,
        status: int | None = None,
        page: int = 1,
        per_page: int = MAX_PER_PAGE,
    ) -> Page[Detractor]:
        """One page of detractor tickets from the connection's source, newest first.

        Detractors: a read-only POST (the filter travels in the body), retried like a GET.
        """
        if self._workspace:
            return await self.closed_loop_page(self._workspace, page=page, per_page=per_page)
        return await self.legacy_page(
            segment_id=segment_id, status=status, page=page, per_page=per_page
        )

    async def legacy_page(
        self,
        *,
        segment_id: int | None = None,
        status: int | None = None,
        page: int = 1,
        per_page: int = MAX_PER_PAGE,
    ) -> Page[Detractor]:
        """One page of ``/cx/tickets/detractors`` (seed 000, get-closed-loop-tickets.html)."""
        body = {k: v for k, v in (("segmentID", segment_id), ("status", status)) if v is not None}
        response = await self._http.send(
            "POST",
            self._base_url + DETRACTORS_PATH,
            idempotent=True,
            params={"page": page, "perPage": per_page},
            json=body,
            headers=self._headers,
        )
        parsed = parse_model(KEY, _DetractorPage, _json(response), response.status_code)
        return page_of(
            list(parsed.response), parsed.pagination, page, per_page, str(response.request.url)
        )

    async def closed_loop_page(
        self, workspace: str, *, page: int = 1, per_page: int = MAX_PER_PAGE
    ) -> Page[Detractor]:
        """One page of Closed Loop tickets (https://www.questionpro.com/api/cx/get-clf-tickets.html).

        The page documents no segment or status filter, so a subscription's filter does not apply.
        """
        response = await self._http.send(
            "GET",
            self._clf_base_url + CLF_TICKETS_PATH.format(workspace=workspace),
            idempotent=True,
            params={"page": page, "perPage": per_page},
            headers=self._headers,
        )
        parsed = parse_model(KEY, ClfPage, _json(response), response.status_code)
        pager = parsed.pagerOptions
        info = _Pagination(
            currentPage=pager.pagerDto.pageNumber,
            perPage=pager.pagerDto.perPage,
            totalItems=pager.totalCount,
        )
        return page_of(list(parsed.data), info, page, per_page, "")

    async def other_source_has_some(self) -> bool | None:
        """Whether the source this connection does not read has any ticket; None when it cannot
        be asked (no workspace id is known for Closed Loop)."""
        if not self._workspace:
            return None
        batch = await self.legacy_page(page=1, per_page=1)
        return bool(batch.items)

    async def iter_detractors(
        self,
        *,
        segment_id: int | None = None,
        status: int | None = None,
        start_page: int = 1,
        per_page: int = MAX_PER_PAGE,
    ) -> AsyncIterator[Detractor]:
        """Every detractor, one page in memory at a time."""
        page = start_page
        while True:
            batch = await self.detractors_page(
                segment_id=segment_id, status=status, page=page, per_page=per_page
            )
            for detractor in batch.items:
                yield detractor
            if not batch.has_more:
                return
            page += 1

    async def import_transactions(self, contacts: Sequence[Contact]) -> ImportResult:
        """Import contacts (seed 001). Not retried: a resend could import them twice."""
        return await self.import_encoded([encode_contact(c) for c in contacts])

    async def import_encoded(self, contacts: Sequence[str]) -> ImportResult:
        """Import contacts already encoded by ``encode_contact`` (a checked import's spool)."""
        body = ('{"contacts":[' + ",".join(contacts) + "]}").encode()
        response = await self._http.send(
            "POST",
            self._base_url + IMPORT_PATH,
            idempotent=False,
            content=body,
            headers={**self._headers, "Content-Type": "application/json"},
        )
        answer = parse_model(KEY, _ImportAnswer, _json(response), response.status_code)
        return ImportResult(
            import_status=answer.importStatus,
            email_status=answer.emailStatus,
            imported=answer.importCount,
        )


def _json(response: httpx.Response) -> Any:
    return parse_json(KEY, response)


# Where a person sees a detractor ticket in QuestionPro's web app. Unconfirmed: the API documents
# give no web URL; this follows the app's host for the datacenter. One template, easy to change.
TICKET_WEB_URL = "https://{host}/a/cx/tickets/{ticket_id}"


def ticket_web_url(creds: QuestionProCredentials, ticket_id: int) -> str:
    """The "Open in QuestionPro" link for a detractor ticket."""
    host = QUESTIONPRO_DATACENTERS[creds.datacenter][1].removeprefix("api.")
    return TICKET_WEB_URL.format(host=f"www.{host}", ticket_id=ticket_id)
