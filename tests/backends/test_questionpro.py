"""QuestionPro CX client against its sandbox, and against the seed documents themselves."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import httpx
import jsonschema
import pytest

from bot.backends.questionpro import QuestionProBackend, _DetractorPage, questionpro_error
from bot.backends.registry import Backends
from bot.credentials import QuestionProCredentials
from bot.errors import (
    BackendAuthError,
    BackendNotFound,
    BackendPermissionError,
    BackendRateLimited,
    BackendUnavailable,
    BackendValidationError,
)
from bot.models import Contact, Product
from bot.sandbox.run import Sandboxes
from tests.seeds import QUESTIONPRO_DETRACTORS, QUESTIONPRO_IMPORT, examples_and_schemas

KEY = "qp-demo-key-0001"


def client(backends: Backends, key: str = KEY) -> QuestionProBackend:
    backend = backends.for_credentials(QuestionProCredentials(datacenter="eu", api_key=key))
    assert isinstance(backend, QuestionProBackend)
    return backend


def relaxed(schema: dict) -> dict:
    """Seed 000's list schema, with the two relaxations BACKENDS.md calls for."""
    schema = json.loads(json.dumps(schema))
    schema["properties"]["requestID"] = {"type": "string"}
    links = schema["properties"]["pagination"]["properties"]["links"]["properties"]
    links["next"] = links["prev"] = {"type": ["string", "null"]}
    return schema


async def test_detractor_page_sends_the_documented_request(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    page = await client(backends).detractors_page(segment_id=999, status=0, page=1, per_page=10)

    sent = sandboxes.questionpro.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/a/api/v2/cx/tickets/detractors")
    assert sent.query == {"page": ["1"], "perPage": ["10"]}
    assert sent.headers["api-key"] == KEY
    assert json.loads(sent.body) == {"segmentID": 999, "status": 0}
    assert len(page.items) == 10 and page.total == 40 and page.has_more
    newest = sandboxes.questionpro.detractors[0]
    assert page.items[0].ticket_id == newest["ticketID"]
    assert page.items[0].email == newest["emailAddress"]
    assert page.items[0].created_at.tzinfo is not None
    assert page.items[0].timelimit_hours == 72


async def test_all_2500_detractors_over_25_pages_come_back_once_each(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    sandboxes.questionpro.add_detractors(2500 - len(sandboxes.questionpro.detractors))
    seen = [d.ticket_id async for d in client(backends).iter_detractors()]
    assert len(seen) == 2500
    assert len(set(seen)) == 2500
    assert len(sandboxes.questionpro.requests_to("detractors")) == 25


async def test_sandbox_answers_validate_against_the_seed_schemas(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    _examples, schemas = examples_and_schemas(QUESTIONPRO_DETRACTORS)
    list_schema, error_schema = relaxed(schemas[0]), schemas[1]
    async with httpx.AsyncClient(base_url=sandboxes.questionpro.base_url) as http:
        for page in (1, 2, 4):
            ok = await http.post(
                "/cx/tickets/detractors",
                params={"page": page, "perPage": 10},
                json={},
                headers={"api-key": KEY},
            )
            jsonschema.Draft6Validator(list_schema).validate(ok.json())
        for status, request in (
            (401, http.post("/cx/tickets/detractors", json={}, headers={"api-key": "nope"})),
            (
                400,
                http.post(
                    "/cx/tickets/detractors",
                    params={"page": "x"},
                    json={},
                    headers={"api-key": KEY},
                ),
            ),
            (
                400,
                http.post(
                    "/cx/transactions/import", content=b"{not json", headers={"api-key": KEY}
                ),
            ),
        ):
            bad = await request
            assert bad.status_code == status
            jsonschema.Draft6Validator(error_schema).validate(bad.json())


def test_the_seed_example_parses_into_models() -> None:
    examples, _ = examples_and_schemas(QUESTIONPRO_DETRACTORS)
    page = _DetractorPage.model_validate(examples[1])
    assert [d.ticket_id for d in page.response] == [414, 413]
    assert page.response[0].rating == "" and page.response[1].rating == "0"
    assert page.response[0].created_at == datetime(2020, 1, 14, 12, 51, 48, tzinfo=UTC)
    assert page.response[1].comment == "The food service was poor"
    assert page.response[0].timelimit_hours == 72
    assert page.requestID is not None


@pytest.mark.parametrize(
    ("index", "status", "expected"),
    [
        (2, 400, BackendValidationError),
        (3, 401, BackendAuthError),
        (4, 403, BackendPermissionError),
        (5, 404, BackendNotFound),
        (6, 500, BackendUnavailable),
    ],
)
def test_the_seed_error_bodies_map_onto_the_tree(index: int, status: int, expected: type) -> None:
    examples, _ = examples_and_schemas(QUESTIONPRO_DETRACTORS)
    error = questionpro_error(httpx.Response(status, json=examples[index]))
    assert type(error) is expected
    assert error.message.startswith(examples[index]["response"]["error"]["message"])


def test_numbers_and_nulls_in_text_fields_are_read_as_text() -> None:
    examples, _ = examples_and_schemas(QUESTIONPRO_DETRACTORS)
    item = {**examples[1]["response"][0], "rating": 0, "phoneNumber": None}
    page = _DetractorPage.model_validate({**examples[1], "response": [item]})
    assert (page.response[0].rating, page.response[0].phone) == ("0", "")


def test_numeric_error_ids_are_accepted() -> None:
    body = {"response": {"error": {"id": 1010, "message": "Incorrect API Key"}}}
    assert isinstance(questionpro_error(httpx.Response(401, json=body)), BackendAuthError)


async def test_wrong_key_is_an_auth_error(backends: Backends) -> None:
    with pytest.raises(BackendAuthError) as caught:
        await client(backends, "qp-wrong-key-9999").detractors_page()
    assert caught.value.message == "Incorrect API Key"
    assert "qp-wrong-key-9999" not in str(caught.value) + caught.value.user_message()


async def test_import_sends_contacts_in_the_documented_shape(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    contact = Contact(
        email="first@example.com",
        first_name="First",
        last_name="Contact",
        mobile="+10123456789",
        segment_code="S1",
        transaction_date=date(2020, 1, 14),
        custom=["Additional", "Information"],
        products=[Product(name="60 inch TV", group="LG", custom=["MS-18KNYA1", "$699.99", "Arya"])],
    )
    result = await client(backends).import_transactions([contact])

    sent = json.loads(sandboxes.questionpro.requests[-1].body)
    seed_contact = examples_and_schemas(QUESTIONPRO_IMPORT)[0][0]["contacts"][0]
    assert set(sent["contacts"][0]) == set(seed_contact)  # every documented field, no others
    assert sent["contacts"][0]["transactionDate"] == "14/01/2020"
    assert sent["contacts"][0]["products"][0] == seed_contact["products"][0]
    assert (result.imported, result.import_status) == (1, "Successful: Contact imported.")
    assert sandboxes.questionpro.imported == sent["contacts"]


async def test_import_validation_error_comes_back_in_the_vendors_words(backends: Backends) -> None:
    bad = Contact(email="not-an-email", segment_code="S1", transaction_date=date(2020, 1, 14))
    with pytest.raises(BackendValidationError) as caught:
        await client(backends).import_transactions([bad])
    assert "contacts[0]: email is missing or not an email address" in caught.value.message


async def test_rate_limit_over_the_minute_is_reported_with_the_wait(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    sandboxes.questionpro.calls_per_minute = 2
    qp = client(backends)
    await qp.detractors_page(per_page=1)
    await qp.detractors_page(per_page=1)
    with pytest.raises(BackendRateLimited) as caught:
        await qp.detractors_page(per_page=1)  # Retry-After ~60 s is beyond the retry budget
    assert caught.value.retry_after is not None and caught.value.retry_after > 50
    assert len(sandboxes.questionpro.requests) == 3  # gave up at once rather than wait


async def test_quota_exhausted_429_is_not_retried(backends: Backends, sandboxes: Sandboxes) -> None:
    sandboxes.questionpro.faults.status, sandboxes.questionpro.faults.status_times = 429, 5
    sandboxes.questionpro.faults.error_id = "1013"
    with pytest.raises(BackendRateLimited) as caught:
        await client(backends).detractors_page()
    assert caught.value.quota_exhausted
    assert "quota" in caught.value.user_message()
    assert len(sandboxes.questionpro.requests) == 1


async def test_all_calls_with_one_key_share_one_limiter(backends: Backends) -> None:
    first, second = client(backends), client(backends)
    assert first._http.limiter is second._http.limiter
    assert client(backends, "another-key-123")._http.limiter is not first._http.limiter


async def test_verify_accepts_a_good_key_and_refuses_a_bad_one(backends: Backends) -> None:
    await backends.verify(QuestionProCredentials(api_key=KEY))
    with pytest.raises(BackendAuthError):
        await backends.verify(QuestionProCredentials(api_key="qp-bad-key-0000"))


# Issue 15 item 4 -------------------------------------------------------------------------------


async def test_older_pagination_shape_pages_through_every_detractor(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    """https://www.questionpro.com/api/pagination.html documents ``page``/``total`` and links to
    the endpoint itself, without currentPage/totalPages/totalItems: still every detractor."""
    sandboxes.questionpro.pagination_style = "legacy"
    sandboxes.questionpro.add_detractors(5)  # 45: the last page of 16 is short

    seen = [d.ticket_id async for d in client(backends).iter_detractors(per_page=16)]

    assert seen == [d["ticketID"] for d in sandboxes.questionpro.detractors]
    assert [r.query["page"] for r in sandboxes.questionpro.requests] == [["1"], ["2"], ["3"]]


async def test_links_elsewhere_are_never_requested(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    """Seed 000's links name ``cx/detractor/ticket/data``: we page by number on our own path."""
    sandboxes.questionpro.add_detractors(5)

    seen = [d.ticket_id async for d in client(backends).iter_detractors(per_page=15)]

    assert len(seen) == 45
    assert {r.path for r in sandboxes.questionpro.requests} == {"/a/api/v2/cx/tickets/detractors"}


async def test_a_full_last_page_without_counts_ends_on_the_empty_page(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    """No counts and no next link: a full page means "maybe more", a short (here empty) one ends."""
    sandboxes.questionpro.pagination_style = "legacy"
    sandboxes.questionpro.detractors[20:] = []  # 20 = two full pages of 10
    original = sandboxes.questionpro.detractors[:]

    seen = [d.ticket_id async for d in client(backends).iter_detractors(per_page=10)]

    assert seen == [d["ticketID"] for d in original]
