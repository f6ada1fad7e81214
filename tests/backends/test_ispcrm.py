"""ISPCRM client against its sandbox: token and login, the subscriber's tickets, 401 and 404."""

from __future__ import annotations

import pytest

from bot.backends.registry import Backends
from bot.credentials import IspcrmCredentials
from bot.errors import BackendAuthError, BackendNotFound, UnsupportedOperationError
from bot.models import NeutralStatus, TicketQuery
from bot.sandbox import ispcrm as sandbox
from bot.sandbox.run import Sandboxes


async def test_tickets_with_a_token(backends: Backends, sandboxes: Sandboxes) -> None:
    isp = backends.for_credentials(
        IspcrmCredentials(base_url=sandboxes.ispcrm.base_url, token=sandbox.DEMO_TOKEN)
    )
    page = await isp.list_tickets(TicketQuery())
    sent = sandboxes.ispcrm.requests[-1]
    assert (sent.method, sent.path) == ("GET", "/api/v1/subscriber/getCustomerTickets")
    assert sent.headers["Authorization"] == f"Bearer {sandbox.DEMO_TOKEN}"
    assert [t.ref.id for t in page.items] == ["104", "103", "101", "102"]  # newest first
    assert page.items[1].status and page.items[1].status.neutral is NeutralStatus.PENDING
    open_only = await isp.list_tickets(TicketQuery(status="open"))
    assert [t.ref.id for t in open_only.items] == ["104", "101"]
    assert (await isp.get_ticket("102")).subject == "Billing issue"


async def test_login_with_username_and_password(backends: Backends, sandboxes: Sandboxes) -> None:
    creds = IspcrmCredentials(
        base_url=sandboxes.ispcrm.base_url,
        username=sandbox.DEMO_USER,
        password=sandbox.DEMO_PASSWORD,
    )
    isp = backends.for_credentials(creds)
    assert len((await isp.list_tickets(TicketQuery())).items) == 4
    login = sandboxes.ispcrm.requests_to("subscriber/Login")
    assert len(login) == 1 and login[0].method == "POST"


async def test_errors(backends: Backends, sandboxes: Sandboxes) -> None:
    wrong = IspcrmCredentials(base_url=sandboxes.ispcrm.base_url, token="isp-wrong-token")
    with pytest.raises(BackendAuthError, match="Unauthorized"):
        await backends.verify(wrong)
    gone = IspcrmCredentials(base_url=sandboxes.ispcrm.base_url, token=sandbox.GONE_TOKEN)
    with pytest.raises(BackendNotFound, match="Subscriber not found"):
        await backends.verify(gone)
    bad_login = IspcrmCredentials(base_url=sandboxes.ispcrm.base_url, username="x", password="y")
    with pytest.raises(BackendAuthError, match="Invalid username or password"):
        await backends.verify(bad_login)


async def test_read_only_is_said_plainly(backends: Backends, sandboxes: Sandboxes) -> None:
    isp = backends.for_credentials(
        IspcrmCredentials(base_url=sandboxes.ispcrm.base_url, token=sandbox.DEMO_TOKEN)
    )
    with pytest.raises(UnsupportedOperationError, match="ISPCRM does not support deleting"):
        await isp.delete_tickets(["101"])
