"""Backend failures: retried where safe, reported clearly where not, never leaking a secret."""

from __future__ import annotations

import io
import logging
import time

import httpx
import pytest
import respx

from bot.backends.http import BackendHTTP, RetryPolicy
from bot.backends.omnidesk import omnidesk_error
from bot.backends.registry import Backends
from bot.config import Settings
from bot.credentials import (
    EpixelCredentials,
    IspcrmCredentials,
    OmnideskCredentials,
    QuestionProCredentials,
)
from bot.errors import BackendAuthError, BackendUnavailable, BackendUnexpectedResponse
from bot.models import TicketQuery
from bot.sandbox import omnidesk
from bot.sandbox.run import Sandboxes


def _omnidesk(backends: Backends, sandboxes: Sandboxes):
    creds = OmnideskCredentials(base_url=sandboxes.omnidesk.base_url, api_key=omnidesk.FULL_KEY)
    return backends.for_credentials(creds)


async def test_a_500_then_200_on_a_get_succeeds_after_one_retry(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    sandboxes.omnidesk.faults.status, sandboxes.omnidesk.faults.status_times = 500, 1
    page = await _omnidesk(backends, sandboxes).list_tickets(TicketQuery(limit=3))
    assert len(page.items) == 3
    assert len(sandboxes.omnidesk.requests) == 2


async def test_429_with_retry_after_waits_about_that_long(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    faults = sandboxes.omnidesk.faults
    faults.rate_limit_times, faults.retry_after = 1, 1
    started = time.monotonic()
    await _omnidesk(backends, sandboxes).list_tickets(TicketQuery(limit=1))
    waited = time.monotonic() - started
    assert 0.95 <= waited < 3
    assert len(sandboxes.omnidesk.requests) == 2


async def test_a_post_that_times_out_is_not_sent_again(
    settings: Settings, sandboxes: Sandboxes
) -> None:
    quick = Backends(settings.model_copy(update={"http_read_timeout": 0.3}))
    try:
        sandboxes.omnidesk.faults.latency = 1.0
        sandboxes.omnidesk.faults.path = "setStatus"
        omni = _omnidesk(quick, sandboxes)
        with pytest.raises(BackendUnavailable) as caught:
            await omni.set_status(["1001"], omni.resolve_status("solved"))
    finally:
        await quick.aclose()
    assert "no answer in time" in caught.value.message
    assert "may or may not have been made" in caught.value.user_message()
    assert len(sandboxes.omnidesk.requests_to("setStatus")) == 1


async def test_a_get_that_keeps_timing_out_is_retried_then_reported(
    settings: Settings, sandboxes: Sandboxes
) -> None:
    quick = Backends(
        settings.model_copy(update={"http_read_timeout": 0.2}),
        policy=RetryPolicy(attempts=3, base_delay=0.01),
    )
    try:
        sandboxes.omnidesk.faults.latency = 0.5
        with pytest.raises(BackendUnavailable, match="no answer in time"):
            await _omnidesk(quick, sandboxes).list_tickets(TicketQuery())
    finally:
        await quick.aclose()
    assert len(sandboxes.omnidesk.requests) == 3


async def test_retries_are_bounded(backends: Backends, sandboxes: Sandboxes) -> None:
    sandboxes.omnidesk.faults.status, sandboxes.omnidesk.faults.status_times = 503, 100
    with pytest.raises(BackendUnavailable) as caught:
        await _omnidesk(backends, sandboxes).list_tickets(TicketQuery())
    assert caught.value.status == 503
    assert len(sandboxes.omnidesk.requests) == 4  # the policy's attempts


async def test_html_instead_of_json_is_an_unexpected_response(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    sandboxes.omnidesk.faults.html_times = 1
    with pytest.raises(BackendUnexpectedResponse) as caught:
        await _omnidesk(backends, sandboxes).list_tickets(TicketQuery())
    assert caught.value.user_message() == (
        "Omnidesk sent an unexpected response (HTTP 200): expected JSON but got text/html."
    )


async def test_truncated_json_is_an_unexpected_response(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    sandboxes.questionpro.faults.truncate_times = 1
    qp = backends.for_credentials(QuestionProCredentials(api_key="qp-demo-key-0001"))
    with pytest.raises(BackendUnexpectedResponse, match="expected JSON but got application/json"):
        await qp.detractors_page()  # type: ignore[attr-defined]


async def test_a_wrong_shape_is_reported_without_a_pydantic_trace(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    with respx.mock:
        respx.post(url__startswith=sandboxes.questionpro.base_url).respond(
            200, json={"response": [{"ticketID": "x"}], "pagination": {}}
        )
        qp = backends.for_credentials(QuestionProCredentials(api_key="qp-demo-key-0001"))
        with pytest.raises(BackendUnexpectedResponse) as caught:
            await qp.detractors_page()  # type: ignore[attr-defined]
    message = caught.value.user_message()
    assert message.startswith("QuestionPro CX sent an unexpected response (HTTP 200): the body")
    assert "pydantic" not in message and "\n" not in message


def _http(policy: RetryPolicy) -> tuple[BackendHTTP, httpx.AsyncClient]:
    client = httpx.AsyncClient()
    return BackendHTTP("omnidesk", client, omnidesk_error, policy), client


async def test_a_post_that_never_reached_the_server_is_retried() -> None:
    http, client = _http(RetryPolicy(attempts=3, base_delay=0.01))
    with respx.mock:
        route = respx.post("https://omni.test/api/v2/ticket").mock(
            side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json={"ok": 1})]
        )
        response = await http.send("POST", "https://omni.test/api/v2/ticket", idempotent=False)
    await client.aclose()
    assert response.json() == {"ok": 1}
    assert route.call_count == 2


async def test_a_post_whose_answer_was_lost_is_not_retried() -> None:
    http, client = _http(RetryPolicy(attempts=3, base_delay=0.01))
    with respx.mock:
        route = respx.post("https://omni.test/api/v2/ticket").mock(
            side_effect=httpx.ReadTimeout("slow")
        )
        with pytest.raises(BackendUnavailable, match="not sent again"):
            await http.send("POST", "https://omni.test/api/v2/ticket", idempotent=False)
    await client.aclose()
    assert route.call_count == 1


async def test_retry_after_as_an_http_date_is_honoured() -> None:
    sleeps: list[float] = []

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    http, client = _http(RetryPolicy(attempts=2, max_seconds=30))
    http.sleep = record
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 5))
    with respx.mock:
        respx.get("https://omni.test/api/v2/ticket").mock(
            side_effect=[
                httpx.Response(503, headers={"Retry-After": when}, json={}),
                httpx.Response(200, json={}),
            ]
        )
        await http.send("GET", "https://omni.test/api/v2/ticket", idempotent=True)
    await client.aclose()
    assert len(sleeps) == 1 and 3 < sleeps[0] <= 5


async def test_wrong_keys_on_every_backend_leak_no_secret(
    backends: Backends, sandboxes: Sandboxes, operator_log: io.StringIO
) -> None:
    secrets = {
        "questionpro": "qp-secret-key-aaaa1111",
        "epixel": "epx-secret-key-bbbb2222",
        "omnidesk": "omni-secret-key-cccc3333",
        "ispcrm": "isp-secret-token-dddd4444",
    }
    wrong = [
        QuestionProCredentials(api_key=secrets["questionpro"]),
        EpixelCredentials(
            base_url=sandboxes.epixel.base_url,
            api_key=secrets["epixel"],
            access_token="epx-secret-access-eeee5555",
        ),
        OmnideskCredentials(base_url=sandboxes.omnidesk.base_url, api_key=secrets["omnidesk"]),
        IspcrmCredentials(base_url=sandboxes.ispcrm.base_url, token=secrets["ispcrm"]),
    ]
    shown = []
    for creds in wrong:
        with pytest.raises(BackendAuthError) as caught:
            await backends.verify(creds)
        shown += [str(caught.value), caught.value.user_message(), repr(caught.value)]
    logging.getLogger("ticketbot.test").info("a URL with ?apiKey=%s", secrets["omnidesk"])
    logs = operator_log.getvalue()
    assert "omnidesk GET http" in logs  # the calls were logged, with redacted URLs
    for secret in [*secrets.values(), "epx-secret-access-eeee5555"]:
        assert secret not in logs
        assert all(secret not in text for text in shown)
