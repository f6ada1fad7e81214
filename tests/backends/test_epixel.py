"""Epixel client against its sandbox: every endpoint, auth both ways, the documented errors."""

from __future__ import annotations

import pytest

from bot.backends.epixel import EpixelBackend
from bot.backends.registry import Backends
from bot.credentials import EpixelCredentials
from bot.errors import BackendAuthError, BackendValidationError
from bot.models import NeutralStatus, NewTicket, TicketQuery, Upload
from bot.sandbox import epixel as sandbox
from bot.sandbox.run import Sandboxes


@pytest.fixture
def epixel(backends: Backends, sandboxes: Sandboxes) -> EpixelBackend:
    creds = EpixelCredentials(
        base_url=sandboxes.epixel.base_url,
        api_key=sandbox.DEMO_API_KEY,
        access_token=sandbox.DEMO_ACCESS_TOKEN,
    )
    backend = backends.for_credentials(creds)
    assert isinstance(backend, EpixelBackend)
    return backend


@pytest.fixture
def by_login(backends: Backends, sandboxes: Sandboxes) -> EpixelBackend:
    creds = EpixelCredentials(
        base_url=sandboxes.epixel.base_url,
        api_key=sandbox.DEMO_API_KEY,
        username=sandbox.DEMO_USER,
        password=sandbox.DEMO_PASSWORD,
    )
    return backends.for_credentials(creds)  # type: ignore[return-value]


def _mine(sandboxes: Sandboxes, **where: str) -> dict:
    return next(
        t
        for t in sandboxes.epixel.tickets.values()
        if t["_owner"] == sandbox.DEMO_USER and all(t[k] == v for k, v in where.items())
    )


async def test_categories_and_tags(epixel: EpixelBackend, sandboxes: Sandboxes) -> None:
    categories = await epixel.categories()
    assert [c.name for c in categories][:2] == ["Billing", "Technical"]
    tags = await epixel.tags()
    assert tags[0].name == "Urgent" and tags[0].keyword == "urgent"
    sent = sandboxes.epixel.requests[-1]
    assert sent.path == "/api/v1/support/get/ticket/tags/"
    assert sent.headers["apikey"] == sandbox.DEMO_API_KEY
    assert sent.headers["Authorization"] == f"Bearer {sandbox.DEMO_ACCESS_TOKEN}"


async def test_history_filters_and_pages(epixel: EpixelBackend, sandboxes: Sandboxes) -> None:
    closed = await epixel.history(status="3", limit=5, offset=0)
    assert closed and all(t.status and t.status.neutral is NeutralStatus.CLOSED for t in closed)
    assert sandboxes.epixel.requests[-1].query == {"status": ["3"], "limit": ["5"], "offset": ["0"]}
    every = [t async for t in epixel.iter_tickets(TicketQuery(limit=4))]
    owned = [t for t in sandboxes.epixel.tickets.values() if t["_owner"] == sandbox.DEMO_USER]
    assert sorted(int(t.ref.id) for t in every) == sorted(t["id"] for t in owned)
    with pytest.raises(BackendValidationError) as caught:
        await epixel.history(status="open")
    assert caught.value.fields == {"status": ["Status id is not valid numeric"]}


async def test_create_with_attachment_is_multipart_and_returns_the_new_ticket(
    epixel: EpixelBackend, sandboxes: Sandboxes
) -> None:
    upload = Upload(
        filename="screen.png", content=b"\x89PNG" + b"0" * 1000, content_type="image/png"
    )
    ticket = await epixel.create_ticket(
        NewTicket(
            subject="Printer on fire",
            body="Help!",
            priority="high",
            category="2",
            attachment=upload,
        )
    )
    create = sandboxes.epixel.requests_to("create/ticket")[-1]
    assert create.content_type == "multipart/form-data"
    assert b'name="subject"' in create.body and b"Printer on fire" in create.body
    assert b'filename="screen.png"' in create.body and upload.content in create.body
    stored = sandboxes.epixel.tickets[int(ticket.ref.id)]
    assert (stored["subject"], stored["priority"], stored["category"]) == (
        "Printer on fire",
        "3",
        2,
    )
    assert (
        ticket.subject == "Printer on fire" and ticket.priority and ticket.priority.label == "High"
    )


async def test_create_errors_per_field_in_the_vendors_words(epixel: EpixelBackend) -> None:
    with pytest.raises(BackendValidationError) as caught:
        await epixel.create_ticket(NewTicket(subject="x" * 501, body="", category="99"))
    assert caught.value.fields == {
        "subject": ["Ensure this field has no more than 500 characters."],
        "comment": ["This field is required."],
        "category": ['Invalid pk "99" - object does not exist.'],
    }


async def test_oversize_attachment_is_refused_before_sending(
    epixel: EpixelBackend, sandboxes: Sandboxes
) -> None:
    big = Upload(filename="big.bin", content=b"0" * (2 * 1024 * 1024 + 1))
    before = len(sandboxes.epixel.requests)
    with pytest.raises(BackendValidationError) as caught:
        await epixel.create_ticket(NewTicket(subject="s", body="b", category="1", attachment=big))
    assert "Max filesize: 2MiB" in caught.value.fields["attachment"][0]
    assert len(sandboxes.epixel.requests) == before


async def test_open_ticket_limit_is_not_mistaken_for_bad_credentials(
    epixel: EpixelBackend, sandboxes: Sandboxes
) -> None:
    sandboxes.epixel.open_ticket_limit = 0
    with pytest.raises(BackendValidationError) as caught:
        await epixel.create_ticket(NewTicket(subject="s", body="b", category="1"))
    assert caught.value.message == "Currenly Open Ticket Limit Exceed."


async def test_detailed_view_conversation_and_download(
    epixel: EpixelBackend, sandboxes: Sandboxes
) -> None:
    with_file = next(
        a
        for a in sandboxes.epixel.attachments.values()
        if sandboxes.epixel.tickets[a["ticket"]]["_owner"] == sandbox.DEMO_USER
    )
    ticket = await epixel.get_ticket(str(with_file["ticket"]))
    view = sandboxes.epixel.requests[-1]
    assert view.method == "GET" and view.form() == {"ticket_id": [str(with_file["ticket"])]}
    assert ticket.comments[0].body == "First reply from support."
    assert ticket.attachments[0].id == str(with_file["id"])

    await epixel.add_comment(ticket.ref.id, "We are on it", Upload(filename="a.txt", content=b"hi"))
    assert sandboxes.epixel.conversations[-1]["comment"] == "We are on it"
    assert sandboxes.epixel.requests[-1].content_type == "multipart/form-data"

    download = await epixel.download_attachment(str(with_file["id"]))
    assert (download.filename, download.content) == (with_file["name"], with_file["content"])


async def test_update_tags_priority_and_status(epixel: EpixelBackend, sandboxes: Sandboxes) -> None:
    ticket = _mine(sandboxes, status="1")
    tags = await epixel.set_tags(str(ticket["id"]), ["vip", "Bug"])
    assert [t.name for t in tags] == ["VIP", "Bug"]
    assert sandboxes.epixel.requests[-1].form()["tags"] == ["2", "3"]
    result = await epixel.set_priority([str(ticket["id"])], epixel.resolve_priority("high"))
    assert result.succeeded == [str(ticket["id"])] and ticket["priority"] == "3"
    assert ticket["tags"] == [2, 3]  # kept: Epixel's update needs them every time

    closed = await epixel.set_status([str(ticket["id"])], epixel.resolve_status("closed"))
    assert closed.succeeded and ticket["status"] == "3"
    again = await epixel.set_status([str(ticket["id"])], epixel.resolve_status("closed"))
    assert again.failed == {str(ticket["id"]): "Ticket is already closed"}


async def test_not_the_owner(epixel: EpixelBackend, sandboxes: Sandboxes) -> None:
    theirs = next(t for t in sandboxes.epixel.tickets.values() if t["_owner"] == sandbox.OTHER_USER)
    with pytest.raises(BackendValidationError) as caught:
        await epixel.get_ticket(str(theirs["id"]))
    assert caught.value.fields == {"ticket": ["You are not the owner of the requested ticket"]}


async def test_login_then_relogin_once_when_the_token_expires(
    by_login: EpixelBackend, sandboxes: Sandboxes
) -> None:
    await by_login.categories()
    await by_login.tags()
    assert len(sandboxes.epixel.requests_to("user/login/")) == 1  # the token is reused
    sandboxes.epixel.expire_tokens()
    await by_login.categories()
    assert len(sandboxes.epixel.requests_to("user/login/")) == 2
    assert sandboxes.epixel.requests[-1].path.endswith("category-list/")


async def test_wrong_password_and_wrong_key(backends: Backends, sandboxes: Sandboxes) -> None:
    wrong_password = EpixelCredentials(
        base_url=sandboxes.epixel.base_url,
        api_key=sandbox.DEMO_API_KEY,
        username=sandbox.DEMO_USER,
        password="wrong-password-1",
    )
    with pytest.raises(BackendAuthError, match="No active account"):
        await backends.verify(wrong_password)
    wrong_key = EpixelCredentials(
        base_url=sandboxes.epixel.base_url,
        api_key="epx-nope-0000",
        access_token=sandbox.DEMO_ACCESS_TOKEN,
    )
    with pytest.raises(BackendAuthError) as caught:
        await backends.verify(wrong_key)
    assert "epx-nope-0000" not in str(caught.value) + caught.value.user_message()
