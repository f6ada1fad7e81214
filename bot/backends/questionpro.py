"""QuestionPro CX: detractor tickets (seed 000) and the transactions import (seed 001).

Auth is the ``api-key`` header (the ``apiKey`` query parameter stopped working in 2024). Errors come
as ``{"response": {"error": {"id", "message", ...}}}`` with ``id`` a string or a number.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import date, datetime
from itertools import repeat
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
CLF_TICKETS_PATH = "cx/closedloop/workspaces/{workspace}/tickets"
MAX_PER_PAGE = 100  # the documented default page size, and the most we ask for

_VALIDATION_IDS = {"1000", "1001", "1002", "1003"}
_FORBIDDEN_IDS = {"1011", "1013"}


def base_url_for(creds: QuestionProCredentials, override: str | None) -> str:
    """The API root for the user's datacenter, unless an operator override is set."""
    if override:
        return override
    return f"https://{QUESTIONPRO_DATACENTERS[creds.datacenter][1]}/a/api/v2/"


def clf_base_url_for(creds: QuestionProCredentials, override: str | None) -> str:
    """The Closed Loop API root: ``clf-backend.questionpro.<tld>`` per
    https://www.questionpro.com/api/cx/get-clf-tickets.html. For the two hosts not named
    questionpro.<tld> the page gives no host: we swap ``api.`` for ``clf-backend.``
    (unconfirmed)."""
    if override:
        return override
    host = QUESTIONPRO_DATACENTERS[creds.datacenter][1]
    return f"https://clf-backend.{host.removeprefix('api.')}/api/v2/"


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


class _ClfTicket(Detractor):
    """A Closed Loop ticket (get-clf-tickets.html) read as a Detractor. Tickets made with
    create-clf-ticket.html carry ``comment`` where listed ones carry ``description``. The page
    gives no response time limit, so ``timelimit_hours`` is 0 (no reminder is due)."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)

    ticket_id: int = Field(validation_alias="id")
    response_id: int = Field(0, validation_alias="responseId")
    email: str = Field("", validation_alias="customerEmail")
    comment: str = Field("", validation_alias=AliasChoices("description", "comment"))
    created_at: datetime = Field(validation_alias=AliasChoices("createdAt", "issueDate"))
    timelimit_hours: int = 0

    @field_validator("response_id", "email", "comment", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any, info: Any) -> Any:
        if value is None:
            return 0 if info.field_name == "response_id" else ""
        return value


class _PagerDto(_Vendor):
    pageNumber: int | None = None
    perPage: int | None = None


class _PagerOptions(_Vendor):
    pagerDto: _PagerDto = Field(default_factory=_PagerDto)
    totalCount: int | None = None


class _ClfPage(_Vendor):
    data: list[_ClfTicket]
    pagerOptions: _PagerOptions = Field(default_factory=_PagerOptions)


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


_OPTIONAL_FIELDS = (("first_name", "firstName"), ("last_name", "lastName"), ("mobile", "mobile"))

# transactionDate: https://www.questionpro.com/api/cx/import-transactions-and-send-survey.html's
# example is day-first (14/01/2020); the v1 page (https://www.questionpro.com/api/cx/) says
# mm/dd/yyyy. Day-first by default; TICKETBOT_QUESTIONPRO_DATE_FORMAT changes it.
DEFAULT_DATE_FORMAT = "%d/%m/%Y"


def transaction_date_text(when: date, date_format: str = DEFAULT_DATE_FORMAT) -> str:
    """``when`` as it is sent in ``transactionDate``."""
    return when.strftime(date_format)


def _sent_date(when: date | str, date_format: str) -> str:
    if isinstance(when, str) and date_format == DEFAULT_DATE_FORMAT:
        # Checked rows carry yyyy-mm-dd: slicing beats parsing 100,000 dates back into objects.
        return f"{when[8:10]}/{when[5:7]}/{when[:4]}"
    return transaction_date_text(
        date.fromisoformat(when) if isinstance(when, str) else when, date_format
    )


# json's own writer of one string: what JSONEncoder(ensure_ascii=False) writes a str as.
_quote = json.encoder.encode_basestring


class ContactWriter:
    """Contacts as the JSON text the import endpoint takes (seed 001's shape), written directly,
    many at a time: each argument is a column (one value per contact).

    The keys are laid out once, for contacts that all have the same fields (the columns of one
    file), and each column is quoted in one pass, so a contact costs little more than its
    values: a dict per row, json-encoded, cost more than checking the row (files of 100,000
    rows). ``fields``: which of first_name, last_name and mobile are sent; a file without such a
    column sends no such key, rather than an empty one that could blank what QuestionPro
    already holds.
    """

    def __init__(self, fields: Iterable[str], date_format: str = DEFAULT_DATE_FORMAT) -> None:
        self.date_format = date_format
        given = set(fields)
        keys = [vendor for ours, vendor in _OPTIONAL_FIELDS if ours in given]
        self._fixed = len(keys) + 3
        keys += ["segmentCode", "transactionDate", "email"]
        self._head = "{" + ",".join(f'"{key}":%s' for key in keys)

    def date(self, when: date | str) -> str:
        """``when`` (a date, or yyyy-mm-dd) as it is sent in ``transactionDate``."""
        return _sent_date(when, self.date_format)

    def heads(self, columns: Sequence[Sequence[str]], *, trim: bool = False) -> list[str]:
        """Each contact's JSON up to its products, from columns of: the fields given, the
        segment code, the date as sent (``date()``), the email, then custom1… ``trim``: leave
        out the empty customs that no later custom follows."""
        numbers = range(1, len(columns) - self._fixed + 1)
        template = self._head + "".join(f',"custom{n}":%s' for n in numbers)
        heads = _filled(template, columns)
        return _trimmed(heads, [f',"custom{n}":""' for n in numbers]) if trim else heads

    def products(self, columns: Sequence[Sequence[str]], *, trim: bool = False) -> list[str]:
        """Each contact's product JSON, from columns of: name, group, then pCustom1…
        ``trim``: leave out the empty pCustoms that no later pCustom follows."""
        numbers = range(1, len(columns) - 1)
        template = '{"productName":%s,"productGroup":%s'
        template += "".join(f',"pCustom{n}":%s' for n in numbers)
        products = _filled(template, columns)
        if trim:
            products = _trimmed(products, [f',"pCustom{n}":""' for n in numbers])
        return [*map(str.__add__, products, repeat("}"))]

    @staticmethod
    def contact(head: str, products: str) -> str:
        """The whole contact: its head and its products (product JSONs joined by commas)."""
        return f'{head},"products":[{products}]}}' if products else head + "}"


def _filled(template: str, columns: Sequence[Sequence[str]]) -> list[str]:
    # map() over whole columns: one Python-level step per column, not per value.
    return [
        *map(template.__mod__, zip(*[[*map(_quote, column)] for column in columns], strict=True))
    ]


def _trimmed(texts: list[str], empties: list[str]) -> list[str]:
    # From the last key back, each empty one at the very end goes. Only an empty value ends in
    # ':""': a quote inside a value is always escaped (\").
    for empty in reversed(empties):
        texts = [*map(str.removesuffix, texts, repeat(empty))]
    return texts


def encode_contact(
    contact: Contact | Mapping[str, Any], date_format: str = DEFAULT_DATE_FORMAT
) -> str:
    """One contact as the JSON text the import endpoint takes. Takes a Contact, or the same
    fields as a mapping with the date as a date or ``yyyy-mm-dd``."""
    c = contact if isinstance(contact, Mapping) else dict(contact)
    writer = ContactWriter([ours for ours, _vendor in _OPTIONAL_FIELDS if ours in c], date_format)
    values = [c[ours] for ours, _vendor in _OPTIONAL_FIELDS if ours in c]
    values += [c["segment_code"], writer.date(c["transaction_date"]), c["email"], *c["custom"]]
    products = ",".join(_product(writer, p) for p in c["products"])
    return writer.contact(writer.heads([[v] for v in values])[0], products)


def _product(writer: ContactWriter, product: Any) -> str:
    p = product if isinstance(product, Mapping) else dict(product)
    return writer.products([[v] for v in (p["name"], p["group"], *p["custom"])])[0]


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
        parsed = parse_model(KEY, _ClfPage, _json(response), response.status_code)
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
