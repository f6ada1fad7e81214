"""QuestionPro's Closed Loop source (https://www.questionpro.com/api/cx/get-clf-tickets.html):
its host, its path and the shapes of its ticket list, read as Detractors.

Kept apart from ``questionpro.py`` because it is a second API with its own host and its own
paging fields; the backend asks it for a page when the connection names a workspace.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from bot.credentials import QUESTIONPRO_DATACENTERS, QuestionProCredentials
from bot.models import Detractor

CLF_TICKETS_PATH = "cx/closedloop/workspaces/{workspace}/tickets"


def clf_base_url_for(creds: QuestionProCredentials, override: str | None) -> str:
    """The Closed Loop API root: ``clf-backend.questionpro.<tld>`` per
    https://www.questionpro.com/api/cx/get-clf-tickets.html. For the two hosts not named
    questionpro.<tld> the page gives no host: we swap ``api.`` for ``clf-backend.``
    (unconfirmed)."""
    if override:
        return override
    host = QUESTIONPRO_DATACENTERS[creds.datacenter][1]
    return f"https://clf-backend.{host.removeprefix('api.')}/api/v2/"


class _Vendor(BaseModel):
    model_config = ConfigDict(extra="ignore")


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


class ClfPage(_Vendor):
    """One page of get-clf-tickets.html: the tickets and the pager the backend reads counts from."""

    data: list[_ClfTicket]
    pagerOptions: _PagerOptions = Field(default_factory=_PagerOptions)
