"""Omnidesk client against its sandbox: every endpoint, the key in the query, permissions."""

from __future__ import annotations

import pytest

from bot.backends.omnidesk import OmnideskBackend
from bot.backends.registry import Backends
from bot.credentials import OmnideskCredentials
from bot.errors import (
    BackendAuthError,
    BackendNotFound,
    BackendPermissionError,
    BackendValidationError,
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
        "apiKey": [sandbox.FULL_KEY],
    }
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
