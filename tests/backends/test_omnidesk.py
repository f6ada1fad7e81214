"""Omnidesk client against its sandbox: every endpoint, the key in the header, permissions."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import respx
from pydantic import ValidationError

from bot.backends import omnidesk
from bot.backends.omnidesk import OmnideskBackend, to_ticket
from bot.backends.registry import Backends
from bot.config import Settings
from bot.credentials import OmnideskCredentials
from bot.errors import (
    BackendAuthError,
    BackendNotFound,
    BackendPermissionError,
    BackendValidationError,
    UserInputError,
)
from bot.models import NeutralStatus, NewTicket, TicketQuery
from bot.sandbox import omnidesk as sandbox
from bot.sandbox.run import Sandboxes


def client(
    backends: Backends, sandboxes: Sandboxes, key: str = sandbox.FULL_KEY
) -> OmnideskBackend:
    creds = OmnideskCredentials(base_url=sandboxes.omnidesk.base_url, api_key=key)
    backend = backends.for_credentials(creds)
    assert isinstance(backend, OmnideskBackend)
    return backend


async def test_list_with_filters_sends_the_documented_query(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    omni = client(backends, sandboxes)
    page = await omni.list_page(
        query="order",
        status="open",
        item_start=0,
        item_limit=5,
        apply_view="7",
        search_archived=True,
    )
    sent = sandboxes.omnidesk.requests[-1]
    assert (sent.method, sent.path) == ("GET", "/api/v2/ticket")
    assert sent.query == {
        "itemStart": ["0"],
        "itemLimit": ["5"],
        "query": ["order"],
        "status": ["open"],
        "applyView": ["7"],
        "searchArchived": ["true"],
    }
    assert sent.headers["apiKey"] == sandbox.FULL_KEY
    assert page.items and all(t.status and t.status.value == "open" for t in page.items)
    assert all("order" in t.subject.lower() for t in page.items)
    assert page.items[0].created_at is not None and page.items[0].created_at.tzinfo is not None


async def test_paging_to_the_end_sees_every_ticket_once(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    seen = [t.ref.id async for t in client(backends, sandboxes).iter_tickets(TicketQuery(limit=7))]
    assert sorted(seen) == sorted(str(i) for i in sandboxes.omnidesk.tickets)
    assert len(sandboxes.omnidesk.requests) == 6  # 40 tickets, 7 a page


async def test_create_get_update(backends: Backends, sandboxes: Sandboxes) -> None:
    omni = client(backends, sandboxes)
    created = await omni.create_ticket(
        NewTicket(
            subject="Broken hinge",
            requester="ann@example.com",
            requester_name="Ann",
            recipient="support@acme.test",
            direction="inbound",
            extra={"brandID": "3", "formID": "12"},
        )
    )
    form = sandboxes.omnidesk.requests[-1].form()
    assert form == {
        "title": ["Broken hinge"],
        "from": ["ann@example.com"],
        "fromName": ["Ann"],
        "to": ["support@acme.test"],
        "direction": ["inbound"],
        "brandID": ["3"],
        "formID": ["12"],
    }
    assert created.details["Brand"] == "3" and created.status and created.status.value == "new"

    fetched = await omni.get_ticket(created.ref.id)
    assert fetched == created
    updated = await omni.update_ticket(created.ref.id, title="Broken hinge (left)", status="solved")
    assert sandboxes.omnidesk.requests[-1].method == "PUT"
    assert updated.subject == "Broken hinge (left)"
    assert updated.status and updated.status.neutral is NeutralStatus.CLOSED
    with pytest.raises(BackendValidationError) as caught:
        await omni.update_ticket(created.ref.id, status="open")
    assert caught.value.fields == {"status": ["Must be solved or closed."]}


async def test_bulk_status_and_priority_report_per_ticket(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    omni = client(backends, sandboxes)
    ids = [str(i) for i in list(sandboxes.omnidesk.tickets)[:2]]
    result = await omni.set_status([*ids, "999999"], omni.resolve_status("pending"))
    assert sandboxes.omnidesk.requests[-1].form()["ticketIDs[]"] == [*ids, "999999"]
    assert result.succeeded == ids and result.failed == {"999999": "Ticket not found"}
    assert all(sandboxes.omnidesk.tickets[int(i)]["status"] == "pending" for i in ids)
    result = await omni.set_priority(ids, omni.resolve_priority("urgent"))
    assert result.succeeded == ids
    assert sandboxes.omnidesk.tickets[int(ids[0])]["priority"] == "urgent"


async def test_delete_one_and_many(backends: Backends, sandboxes: Sandboxes) -> None:
    omni = client(backends, sandboxes)
    first, second, third = (str(i) for i in list(sandboxes.omnidesk.tickets)[:3])
    await omni.delete_tickets([first])
    assert sandboxes.omnidesk.requests[-1].method == "DELETE"
    result = await omni.delete_tickets([second, third, first])
    multi = sandboxes.omnidesk.requests[-1]
    assert (multi.method, multi.path) == ("DELETE", "/api/v2/ticket/multi")
    assert result.succeeded == [second, third] and result.failed == {first: "Ticket not found"}
    with pytest.raises(BackendNotFound):
        await omni.get_ticket(second)


async def test_unlink_batch_and_solve_unfinished(backends: Backends, sandboxes: Sandboxes) -> None:
    omni = client(backends, sandboxes)
    one, two = list(sandboxes.omnidesk.tickets)[:2]
    await omni.unlink_customer(str(one))
    assert sandboxes.omnidesk.tickets[one]["customerID"] is None

    result = await omni.batch([str(one), str(two)], [("status", "holding"), ("priority", "low")])
    assert sandboxes.omnidesk.requests[-1].form() == {
        "TicketIDs": [f"{one}, {two}"],
        "actions[0][actionType]": ["status"],
        "actions[0][value]": ["holding"],
        "actions[1][actionType]": ["priority"],
        "actions[1][value]": ["low"],
    }
    assert result.succeeded == [str(one), str(two)]
    assert sandboxes.omnidesk.tickets[two]["status"] == "holding"

    unfinished = sum(
        t["status"] in {"new", "open", "pending", "holding"}
        for t in sandboxes.omnidesk.tickets.values()
    )
    assert await omni.solve_unfinished() == unfinished
    assert all(t["status"] in {"solved", "closed"} for t in sandboxes.omnidesk.tickets.values())


async def test_a_missing_permission_is_named(backends: Backends, sandboxes: Sandboxes) -> None:
    agent = client(backends, sandboxes, sandbox.AGENT_KEY)
    with pytest.raises(BackendPermissionError) as caught:
        await agent.delete_tickets([str(next(iter(sandboxes.omnidesk.tickets)))])
    assert caught.value.permission == "TICKET_DELETE"
    assert "Your key needs the TICKET_DELETE permission." in caught.value.user_message()
    readonly = client(backends, sandboxes, sandbox.READONLY_KEY)
    with pytest.raises(BackendPermissionError, match="TICKET_BATCH"):
        await readonly.batch(["1001"], [("status", "open")])


async def test_wrong_key_is_an_auth_error_without_the_key(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    with pytest.raises(BackendAuthError) as caught:
        await client(backends, sandboxes, "omni-not-a-key-4242").verify()
    assert "omni-not-a-key-4242" not in str(caught.value) + caught.value.user_message()


# The vendor's current shape (issue 15) ------------------------------------------------------


def _new(subject: str = "Hinge broke again") -> NewTicket:
    return NewTicket(subject=subject, requester="bo@example.com", requester_name="Bo")


async def test_vendor_create_answers_a_result_and_the_ticket_is_fetched_by_its_id(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    # https://www.omnidesk.nl/api/docs: creates answer {"type": "result", "message": ...}.
    sandboxes.omnidesk.shape = "vendor"
    created = await client(backends, sandboxes).create_ticket(_new())
    newest = max(sandboxes.omnidesk.tickets)
    assert created.ref.id == str(newest) and created.subject == "Hinge broke again"
    assert created.author == "Bo <bo@example.com>"
    fetched = sandboxes.omnidesk.requests[-1]
    assert (fetched.method, fetched.path) == ("GET", f"/api/v2/ticket/{newest}")
    assert sum(t["title"] == "Hinge broke again" for t in sandboxes.omnidesk.tickets.values()) == 1


async def test_vendor_create_without_an_id_finds_the_newest_match(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    sandboxes.omnidesk.shape = "vendor"
    sandboxes.omnidesk.created_message = "Ticket created"
    sandboxes.omnidesk.create(title="Hinge broke again", **{"from": "someone@else.test"})
    omni = client(backends, sandboxes)
    created = await omni.create_ticket(_new())
    assert created.ref.id == str(max(sandboxes.omnidesk.tickets))
    assert sandboxes.omnidesk.requests[-1].path == "/api/v2/ticket"  # found through the list


async def test_vendor_create_not_found_again_is_still_reported_as_created(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    sandboxes.omnidesk.shape = "vendor"
    sandboxes.omnidesk.created_message = "Ticket created"
    sandboxes.omnidesk.search_lag = True
    created = await client(backends, sandboxes).create_ticket(_new())
    assert created.ref.id == "" and created.details == {"Note": omnidesk.NOT_RETURNED}
    assert sandboxes.omnidesk.requests[-1].path == "/api/v2/ticket"  # it did look
    assert any(t["title"] == "Hinge broke again" for t in sandboxes.omnidesk.tickets.values())


async def test_vendor_update_answers_a_result_and_the_ticket_is_read_back(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    sandboxes.omnidesk.shape = "vendor"
    first = next(iter(sandboxes.omnidesk.tickets))
    updated = await client(backends, sandboxes).update_ticket(
        str(first), title="Renamed", status="closed"
    )
    assert updated.subject == "Renamed" and updated.status and updated.status.value == "closed"
    assert sandboxes.omnidesk.requests[-1].method == "GET"


async def test_vendor_snake_case_items_and_paging_by_item_total(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    # https://docs.omnidesk.io/app/ticket (from_name, brand_id, last_update, id) and the list
    # envelope of https://docs.omnidesk.io/omnidesk/api-specification/customer (itemTotal).
    box = sandboxes.omnidesk
    box.shape = "vendor"
    first = next(iter(box.tickets))
    box.tickets[first].update(brandID=3, channelID=1, assignedGroupID=10003, formID=7)
    box.tickets[first]["updated_at"] = "2026-10-02 10:00:00"
    omni = client(backends, sandboxes)
    ticket = await omni.get_ticket(str(first))
    assert ticket.author == "Customer 0 <customer0@example.com>"
    assert ticket.details == {
        "Direction": "inbound",
        "Brand": "3",
        "Channel": "1",
        "Group": "10003",
        "Form": "7",
    }
    assert ticket.updated_at and ticket.updated_at.isoformat() == "2026-10-02T10:00:00+00:00"

    # 40 tickets, 8 a page: the 5th page is full, and only itemTotal says it is the last.
    box.requests.clear()
    page = await omni.list_page(item_start=32, item_limit=8)
    assert page.total == 40 and len(page.items) == 8 and not page.has_more
    seen = [t.ref.id async for t in omni.iter_tickets(TicketQuery(limit=8))]
    assert sorted(seen) == sorted(str(i) for i in box.tickets)
    assert len(box.requests) == 1 + 5


async def test_vendor_bulk_result_without_detail_counts_every_ticket(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    sandboxes.omnidesk.shape = "vendor"
    ids = [str(i) for i in list(sandboxes.omnidesk.tickets)[:2]]
    omni = client(backends, sandboxes)
    result = await omni.set_status(ids, omni.resolve_status("pending"))
    assert result.succeeded == ids and not result.failed


async def test_a_server_that_refuses_the_header_gets_the_query_form_remembered(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    # The spec declares an apiKey header (https://docs.omnidesk.io/omnidesk/api-specification/
    # ticket); the authentication page (https://docs.omnidesk.io/omnidesk/api/authentication)
    # shows ?apiKey=. A server that only knows the query form gets it, once asked.
    box = sandboxes.omnidesk
    box.accept_header = False
    await client(backends, sandboxes).verify()
    refused, accepted = box.requests[-2:]
    assert refused.headers["apiKey"] == sandbox.FULL_KEY and "apiKey" not in refused.query
    assert accepted.query["apiKey"] == [sandbox.FULL_KEY] and "apiKey" not in accepted.headers
    box.requests.clear()
    await client(backends, sandboxes).get_ticket(str(next(iter(box.tickets))))  # a new client
    assert len(box.requests) == 1 and box.requests[0].query["apiKey"] == [sandbox.FULL_KEY]
    # Another account of the same server starts with the header again.
    box.requests.clear()
    await client(backends, sandboxes, sandbox.READONLY_KEY).verify()
    assert "apiKey" in box.requests[0].headers and len(box.requests) == 2


async def test_a_wrong_key_is_refused_in_both_places(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    with pytest.raises(BackendAuthError):
        await client(backends, sandboxes, "omni-not-a-key-4242").verify()
    assert len(sandboxes.omnidesk.requests) == 2
    with pytest.raises(BackendAuthError):  # not remembered: the header is tried first again
        await client(backends, sandboxes, "omni-not-a-key-4242").verify()
    assert "apiKey" in sandboxes.omnidesk.requests[2].headers


@pytest.mark.parametrize(
    "base_url",
    [
        "https://acme.omnidesk.ru/api",
        "https://omnidesk.ru",
        "https://x.OMNIDESK.pro/",
        "https://acme.omnidesk.ru./api",  # a trailing dot names the same host in DNS
    ],
)
async def test_an_omnidesk_ru_address_is_named_as_another_product(
    backends: Backends, base_url: str
) -> None:
    # https://omnidesk.ru/api/cases: cases.json with Basic auth, a different product.
    creds = OmnideskCredentials(base_url=base_url, api_key="k-1234567890")
    with respx.mock(assert_all_called=False) as mock:
        anything = mock.route()
        with pytest.raises(UserInputError, match="different helpdesk") as caught:
            await backends.verify(creds)
    assert not anything.called  # refused before any traffic
    assert "docs.omnidesk.io" in caught.value.user_message()


def test_the_zone_setting_reads_created_at_and_rejects_unknown_names(
    settings: Settings,
) -> None:
    amsterdam = ZoneInfo(
        settings.model_copy(update={"omnidesk_timezone": "Europe/Amsterdam"}).omnidesk_timezone
    )
    item = {"id": 1, "title": "t", "created_at": "2026-07-01 12:00:00"}
    assert to_ticket(item).created_at == datetime(2026, 7, 1, 12, tzinfo=UTC)
    assert to_ticket(item, amsterdam).created_at == datetime(2026, 7, 1, 10, tzinfo=UTC)
    zoned = {**item, "created_at": "2026-07-01T12:00:00+02:00"}
    assert to_ticket(zoned, ZoneInfo("Asia/Tokyo")).created_at == datetime(
        2026, 7, 1, 10, tzinfo=UTC
    )
    assert Settings(_env_file=None).omnidesk_timezone == "UTC"
    with pytest.raises(ValidationError, match="IANA time zone"):
        Settings(omnidesk_timezone="Mars/Olympus", _env_file=None)


async def test_the_zone_setting_reaches_the_client(
    settings: Settings, sandboxes: Sandboxes
) -> None:
    zoned = Backends(settings.model_copy(update={"omnidesk_timezone": "Europe/Amsterdam"}))
    try:
        first = next(iter(sandboxes.omnidesk.tickets))
        ticket = await client(zoned, sandboxes).get_ticket(str(first))
    finally:
        await zoned.aclose()
    stored = datetime.strptime(sandboxes.omnidesk.tickets[first]["created_at"], "%Y-%m-%d %H:%M:%S")
    expected = stored.replace(tzinfo=ZoneInfo("Europe/Amsterdam")).astimezone(UTC)
    assert ticket.created_at == expected != stored.replace(tzinfo=UTC)
