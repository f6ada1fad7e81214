"""The door of /slack/events: signature before parsing, replays, and malformed signed payloads."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from cryptography.fernet import Fernet

from bot.ids import Action
from bot.sandbox.run import Sandboxes
from bot.server import describe
from bot.store import Store, parse_keys
from bot.store.embedded import open_table
from tests.harness import BotUnderTest, SlackUser, signed_headers
from tests.waiting import eventually


def _second_before(headers: dict) -> int:
    """A timestamp one second before a recorded request's: its signature differs for sure (one
    taken from the clock could land on the recorded second itself on a slow machine)."""
    return int(headers["X-Slack-Request-Timestamp"]) - 1


@dataclass
class Recording:
    """A BotEndpoint that forwards to the bot and keeps every (body, headers) it sent."""

    bot: BotUnderTest
    sent: list[tuple[str, dict]] = field(default_factory=list)
    forward: bool = True

    @property
    def slack(self) -> Any:
        return self.bot.slack

    async def post(self, body: str, headers: dict | None = None) -> httpx.Response:
        headers = headers if headers is not None else signed_headers(body)
        self.sent.append((body, headers))
        if not self.forward:
            return httpx.Response(200)
        return await self.bot.post(body, headers)


def _server_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    # httpx/httpcore are the test's own client; everything else is the server's log.
    return [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]


def _payload_of(body: str) -> dict[str, Any]:
    return json.loads(dict(parse_qsl(body))["payload"])


def _as_form(payload: Any) -> str:
    return urlencode({"payload": json.dumps(payload)})


# Unsigned ----------------------------------------------------------------------------------------

_JUNK: list[tuple[bytes, str]] = [
    (b"payload=x", "application/x-www-form-urlencoded"),
    (b"[1, 2, 3]", "application/json"),
    (b"\xff\xfe\xfa not utf-8", "application/x-www-form-urlencoded"),
    (b"command=%2Fticket&text=help", "application/json"),  # a form sent as JSON
    (_as_form({"type": "block_actions", "actions": "abc"}).encode(), "text/plain"),
]


async def test_a_flood_of_unsigned_junk_gets_401_and_one_short_line_each(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert bot.http is not None
    for i in range(50):
        body, content_type = _JUNK[i % len(_JUNK)]
        headers = {"Content-Type": content_type}
        if i % 2:  # half carry a signature, made with the wrong secret
            headers |= signed_headers(body.decode("latin-1"), secret="guess")
            headers["Content-Type"] = content_type
        response = await bot.http.post("/slack/events", content=body, headers=headers)
        assert response.status_code == 401
        assert response.content == b""
    lines = _server_lines(caplog)
    assert len(lines) <= 50
    assert all(r.exc_info is None and len(r.getMessage()) < 120 for r in lines)
    assert "Traceback" not in caplog.text
    assert "POST /slack/events (unsigned) -> 401" in caplog.text
    assert "POST /slack/events (bad signature) -> 401" in caplog.text
    assert bot.slack.calls == []  # nothing reached Bolt (it would call auth.test first)


async def test_a_timestamp_too_large_for_a_float_gets_401_not_a_traceback(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert bot.http is not None
    headers = {"X-Slack-Request-Timestamp": "9" * 400, "X-Slack-Signature": "v0=00"}
    response = await bot.http.post("/slack/events", content=b"a=b", headers=headers)
    assert response.status_code == 401
    assert "Traceback" not in caplog.text
    assert "(stale timestamp) -> 401" in caplog.text


async def test_a_request_aiohttp_cannot_parse_is_one_short_line_not_a_traceback(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert bot.http is not None
    port = int(str(bot.http.base_url).rstrip("/").rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
    await writer.drain()
    assert (await reader.read(12)).startswith(b"HTTP/1.0 400")
    writer.close()
    # The server logs before it answers, so the line is there by the time the 400 arrived.
    lines = [r for r in _server_lines(caplog) if r.name.startswith("aiohttp")]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert "Content-Length" in lines[0].getMessage() and len(lines[0].getMessage()) < 200
    assert "Traceback" not in caplog.text


async def test_a_signature_made_for_another_body_is_refused(bot: BotUnderTest) -> None:
    good = urlencode({"command": "/ticket", "text": "help"})
    response = await bot.post(good + "&x=1", signed_headers(good))
    assert response.status_code == 401


# Signed but malformed ----------------------------------------------------------------------------


def _mutations(click: dict[str, Any], submit: dict[str, Any]) -> dict[str, str]:
    without_user = {k: v for k, v in click.items() if k != "user"}
    without_view = {k: v for k, v in submit.items() if k != "view"}
    return {
        "payload is not JSON": "payload=x",
        "payload is a JSON list": _as_form([click]),
        "a JSON list body": "[1, 2]",
        "actions is a string": _as_form({**click, "actions": "abc"}),
        "actions is empty": _as_form({**click, "actions": []}),
        "an action is a string": _as_form({**click, "actions": ["abc"]}),
        "action_id is a number": _as_form({**click, "actions": [{"action_id": 5}]}),
        "no user": _as_form(without_user),
        "user is a string": _as_form({**click, "user": "U1"}),
        "team is a string": _as_form({**click, "team": "T1"}),
        "type is a number": _as_form({**click, "type": 5}),
        "view missing": _as_form(without_view),
        "view is a string": _as_form({**submit, "view": "abc"}),
        "view without its type": _as_form(
            {**submit, "view": {k: v for k, v in submit["view"].items() if k != "type"}}
        ),
        "state is a list": _as_form({**submit, "view": {**submit["view"], "state": []}}),
        "a command without a channel": urlencode({"command": "/ticket", "text": "help"}),
    }


async def test_signed_malformed_payloads_get_a_silent_200_and_run_nothing(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    recording = Recording(bot)
    user = SlackUser(recording, "U0ALICE")
    await user.click(Action.TICKET_SHOW, "omnidesk:1")
    await user.submit({"type": "modal", "callback_id": "connect.submit", "blocks": []}, {})
    click, submit = (_payload_of(body) for body, _ in recording.sent)
    # Let both finish (a "not connected" answer, an "unknown backend" DM) before counting.
    await bot.slack.wait_for("response_url")
    await bot.slack.wait_for("chat.postMessage")
    calls_before = len(bot.slack.calls)
    for name, body in _mutations(click, submit).items():
        caplog.clear()
        response = await bot.post(body)
        assert (response.status_code, response.text) == (200, ""), name
        lines = _server_lines(caplog)
        assert len(lines) == 1 and lines[0].exc_info is None, name
        assert "POST /slack/events (" in lines[0].getMessage(), name
    assert len(bot.slack.calls) == calls_before
    # Proof the door, not a dead bot, stopped them: the well-formed click still runs.
    again = _as_form(click)  # signed a second before the first: the same signature is a replay
    await bot.post(again, signed_headers(again, timestamp=_second_before(recording.sent[0][1])))
    await bot.slack.wait_for("response_url", count=2)


async def test_a_signed_click_missing_a_value_gets_an_answer_not_a_500(
    bot: BotUnderTest,
) -> None:
    recording = Recording(bot)
    await SlackUser(recording, "U0ALICE").click(Action.TICKET_SHOW, "omnidesk:1")
    click = _payload_of(recording.sent[0][0])
    del click["actions"][0]["value"]
    response = await bot.post(_as_form(click))
    assert response.status_code == 200
    said = (await bot.slack.wait_for("response_url", count=2))[-1]
    assert said["response_type"] == "ephemeral" and said["text"]


async def test_an_options_request_that_fails_answers_no_options(bot: BotUnderTest) -> None:
    # A tags picker whose modal carries no ticket: nothing to look up.
    view = {"type": "modal", "callback_id": "tags.submit", "blocks": []}
    response = await bot.user("U0ALICE").options(Action.TAG_OPTIONS, view, typed="ur")
    assert response.status_code == 200
    assert response.json() == {"options": []}


def test_the_request_log_survives_payloads_of_the_wrong_shape() -> None:
    assert describe(_as_form({"type": "block_actions", "actions": "abc"}).encode()) == (
        "block_actions"
    )
    assert describe(_as_form([1, 2]).encode()) == "unparsable"
    assert describe(_as_form({"type": "x", "view": "v", "event": 3}).encode()) == "x"
    assert describe(b"\xff\xfe") == "unparsable"


# Replays -----------------------------------------------------------------------------------------


async def test_a_replayed_request_is_not_run_again(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    recording = Recording(bot)
    agent = SlackUser(recording, agent.user_id)
    ticket = next(iter(sandboxes.epixel.tickets.values()))
    before = len(sandboxes.epixel.conversations)
    await agent.command(f"comment epixel:{ticket['id']} Replay me")
    await bot.slack.wait_for("response_url")
    body, headers = recording.sent[-1]

    replayed = await bot.post(body, headers)  # the same bytes, the same signature
    assert (replayed.status_code, replayed.text) == (200, "")
    # The same body signed afresh is a new request and runs: proof the replay would have run.
    fresh = await bot.post(body, signed_headers(body, timestamp=_second_before(headers)))
    assert fresh.status_code == 200
    await bot.slack.wait_for("response_url", count=2)
    comments = [c for c in sandboxes.epixel.conversations[before:] if c["comment"] == "Replay me"]
    assert len(comments) == 2  # the first and the fresh one; not the replay


async def test_a_slack_retry_of_a_processed_request_is_not_redone(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    recording = Recording(bot)
    agent = SlackUser(recording, agent.user_id)
    ticket = next(iter(sandboxes.epixel.tickets.values()))
    before = len(sandboxes.epixel.conversations)
    await agent.command(f"comment epixel:{ticket['id']} Retry me")
    await bot.slack.wait_for("response_url")
    body, _ = recording.sent[-1]

    # Slack retries with a new timestamp (so a new signature) and says which attempt it is.
    retry = signed_headers(body, timestamp=int(time.time()) - 2) | {"X-Slack-Retry-Num": "1"}
    response = await bot.post(body, retry)
    assert (response.status_code, response.text) == (200, "")
    # A retry of something never processed does run, so the header alone is not what stops it.
    recording.forward = False
    await agent.command(f"comment epixel:{ticket['id']} First seen as a retry")
    other, _ = recording.sent[-1]
    retried = signed_headers(other, timestamp=int(time.time()) - 2) | {"X-Slack-Retry-Num": "2"}
    await bot.post(other, retried)
    await bot.slack.wait_for("response_url", count=2)
    texts = [c["comment"] for c in sandboxes.epixel.conversations[before:]]
    assert texts == ["Retry me", "First seen as a retry"]


async def test_the_request_memory_survives_a_restart_and_forgets_after_its_time(
    tmp_path: Path,
) -> None:
    keys_text = Fernet.generate_key().decode()
    store = Store(tmp_path / "store.sqlite", parse_keys(keys_text))
    assert await store.remember_request("sig:a", 600) is True
    assert await store.remember_request("sig:a", 600) is False
    assert await store.remember_request("sig:gone", 0) is True
    store.close()

    store = Store(tmp_path / "store.sqlite", parse_keys(keys_text))
    try:
        assert await store.remember_request("sig:a", 600) is False  # still remembered
        assert await store.remember_request("sig:gone", 600) is True  # its time was over
    finally:
        store.close()


async def _until_on_disk(path: Path, key: str, present: bool = True) -> None:
    """Wait (at most 5 s) until another connection sees ``key`` committed, or gone."""
    reader = open_table(path, "requests")
    try:
        await eventually(
            lambda: (key in reader) == present, what=f"{key} {'written' if present else 'swept'}"
        )
    finally:
        reader.close()


async def test_the_request_memory_reaches_the_disk_within_a_second_and_expired_keys_leave_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a crash can forget: memory answers at once, a timer commits the table soon after.
    path = tmp_path / "store.sqlite"
    store = Store(path, parse_keys(Fernet.generate_key().decode()))
    try:
        assert await store.remember_request("sig:gone", 0) is True
        await _until_on_disk(path, "sig:gone")  # committed without a close
        monkeypatch.setattr("bot.store.embedded._SWEEP_SECONDS", 0.0)
        assert await store.remember_request("sig:b", 600) is True  # sweeps the expired key
        await _until_on_disk(path, "sig:b")
        await _until_on_disk(path, "sig:gone", present=False)
        assert await store.remember_request("sig:b", 600) is False
    finally:
        store.close()
