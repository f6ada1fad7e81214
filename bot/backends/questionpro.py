"""QuestionPro CX: detractor tickets (seed 000) and the transactions import (seed 001).

Auth is the ``api-key`` header (the ``apiKey`` query parameter stopped working in 2024). Errors come
as ``{"response": {"error": {"id", "message", ...}}}`` with ``id`` a string or a number.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

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
    perPage: int
    totalItems: int
    currentPage: int
    totalPages: int
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
    pagination: _Pagination
    requestID: str | None = None


class _ImportAnswer(_Vendor):
    emailStatus: str = ""
    importStatus: str = ""
    importCount: int = Field(0)


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


def contact_json(contact: Contact | Mapping[str, Any]) -> dict[str, Any]:
    """A contact in seed 001's shape; dates are day/month/year as in its example.

    Takes a Contact, or the same fields as a plain mapping with the date as ``yyyy-mm-dd`` (how
    an import's checked rows arrive: building models for 100,000 rows only to read them back out
    would cost more than the upload itself).
    """
    # type() before isinstance(): an ABC check per row is measurable over 100,000 rows.
    c = contact if type(contact) is dict or isinstance(contact, Mapping) else dict(contact)
    when = c["transaction_date"]
    if isinstance(when, date):
        when = when.isoformat()
    # A file without a firstName, lastName or mobile column sends no such key, rather than an
    # empty one that could blank what QuestionPro already holds for the contact.
    data: dict[str, Any] = {vendor: c[ours] for ours, vendor in _OPTIONAL_FIELDS if ours in c}
    data["segmentCode"] = c["segment_code"]
    data["transactionDate"] = f"{when[8:10]}/{when[5:7]}/{when[:4]}"
    data["email"] = c["email"]
    for i, value in enumerate(c["custom"], start=1):
        data[f"custom{i}"] = value
    if c["products"]:
        data["products"] = [_product_json(p) for p in c["products"]]
    return data


def _product_json(p: Any) -> dict[str, Any]:
    p = p if type(p) is dict or isinstance(p, Mapping) else dict(p)
    product = {"productName": p["name"], "productGroup": p["group"]}
    for i, value in enumerate(p["custom"], start=1):
        product[f"pCustom{i}"] = value
    return product


# One encoder for every contact: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode_contact(contact: Contact | Mapping[str, Any]) -> str:
    """One contact as the JSON text the import endpoint takes: checked once, stored, sent as is."""
    return _ENCODER.encode(contact_json(contact))


class QuestionProBackend(BaseBackend):
    """Detractors and transaction imports for one user's API key."""

    key: ClassVar[str] = KEY
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.DETRACTORS, Capability.IMPORT_TRANSACTIONS}
    )

    def __init__(self, http: BackendHTTP, creds: QuestionProCredentials, base_url: str) -> None:
        self._http = http
        self._base_url = base_url
        self._headers = {"api-key": creds.api_key.get_secret_value()}

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
        """One page of detractor tickets, newest first as the seed's example lists them.

        A read-only POST (the filter travels in the body), so it is retried like a GET.
        """
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
        info = parsed.pagination
        return Page[Detractor](
            items=list(parsed.response),
            offset=(info.currentPage - 1) * info.perPage,
            total=info.totalItems,
            # Follow page numbers, never `links`: the seed's links point at another path.
            has_more=info.currentPage < info.totalPages,
        )

    async def iter_detractors(
        self, *, segment_id: int | None = None, status: int | None = None, start_page: int = 1
    ) -> AsyncIterator[Detractor]:
        """Every detractor, one page in memory at a time."""
        page = start_page
        while True:
            batch = await self.detractors_page(segment_id=segment_id, status=status, page=page)
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
