"""The same user paths over HTTP and over Socket Mode; Socket Mode's protocol and its failures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket

import pytest

from bot.alerts import DetractorPoller
from bot.app import build_app
from bot.config import Settings
from bot.credentials import QuestionProCredentials
from bot.ids import Action
from bot.runtime import build_services
from bot.sandbox import questionpro
from bot.sandbox.run import Sandboxes
from bot.sandbox.slack import SlackStandIn
from bot.socket_mode import SocketModeRunner
from tests.harness import APP_TOKEN, TEAM, BotUnderTest, SocketBotUnderTest
from tests.waiting import eventually

OMNIDESK_KEY = "omni-secret-key-77a1b2c3f9a"


async def test_a_slash_command_is_acked_and_answered(bot_over: BotUnderTest) -> None:
    ack = await bot_over.user("U0ALICE").command("help")
    assert ack.status_code == 200
    assert "/ticket connect" in ack.text  # the help comes in the ack itself
    await bot_over.user("U0ALICE").command("accounts")
    said = (await bot_over.slack.wait_for("response_url"))[-1]
    assert "no accounts connected" in str(said["blocks"])


async def test_a_modal_submission_checks_the_account_live_and_a_button_disconnects_it(
    bot_over: BotUnderTest, sandboxes: Sandboxes
) -> None:
    sandboxes.omnidesk.keys[OMNIDESK_KEY] = {"TICKET_READ", "TICKET_CREATE"}
    alice = bot_over.user("U0ALICE")
    await alice.command("connect omnidesk")
    view = (await bot_over.slack.wait_for("views.open"))[-1]["view"]

    # The live check runs after the ack; its verdict replaces the modal's loading state.
    wrong = await alice.submit(
        view, {"base_url": sandboxes.omnidesk.base_url, "api_key": "omni-wrong-key-000000"}
    )
    assert wrong.json()["response_action"] == "update"
    refused = (await bot_over.slack.wait_for("views.update"))[-1]["view"]
    assert "Omnidesk refused these credentials" in json.dumps(refused["blocks"])
    assert await bot_over.services.store.list_credentials(TEAM, "U0ALICE") == {}

    good = await alice.submit(
        view, {"base_url": sandboxes.omnidesk.base_url, "api_key": OMNIDESK_KEY}
    )
    assert good.json()["response_action"] == "update"
    confirmed = (await bot_over.slack.wait_for("chat.postEphemeral"))[-1]
    connected = (await bot_over.slack.wait_for("views.update", count=2))[-1]["view"]
    assert "Connected *Omnidesk*" in json.dumps(connected["blocks"])
    assert "`…3f9a`" in confirmed["text"]
    assert "omnidesk" in await bot_over.services.store.list_credentials(TEAM, "U0ALICE")

    await alice.click(Action.DISCONNECT, "omnidesk")
    redraw = (await bot_over.slack.wait_for("response_url"))[-1]
    assert redraw["replace_original"] is True
    assert "no accounts connected" in str(redraw["blocks"])
    assert await bot_over.services.store.list_credentials(TEAM, "U0ALICE") == {}


async def test_an_alert_is_posted_and_claim_updates_it(
    bot_over: BotUnderTest, sandboxes: Sandboxes
) -> None:
    await bot_over.services.store.save_credentials(
        TEAM, "U0CX", QuestionProCredentials(datacenter="eu", api_key=questionpro.DEMO_API_KEY)
    )
    poller = DetractorPoller(bot_over.services, bot_over.app.client)
    await bot_over.user("U0CX", "C0CX").command("subscribe detractors segment:999")
    await bot_over.slack.wait_for("chat.postMessage")  # the confirmation
    # The store has no change event to wait on.
    subs = await eventually(lambda: bot_over.services.alerts.for_channel(TEAM, "C0CX"))
    (sub,) = subs
    await poller.poll(sub.id)  # the baseline
    (raw,) = sandboxes.questionpro.add_detractors(1)
    await poller.poll(sub.id)
    alert = (await bot_over.slack.wait_for("chat.postMessage", count=3))[-1]
    assert alert["text"].startswith("Detractor:")
    assert raw["comment"] in json.dumps(alert["blocks"], ensure_ascii=False)

    await bot_over.user("U0AGENT", "C0CX").click(
        Action.ALERT_CLAIM, f"{sub.id}:{raw['ticketID']}", message_ts=alert["_ts"]
    )
    update = (await bot_over.slack.wait_for("chat.update"))[-1]
    assert "claimed by <@U0AGENT>" in json.dumps(update["blocks"])


# Socket Mode's protocol --------------------------------------------------------------------------


@pytest.fixture
async def over_socket(slack: SlackStandIn, settings: Settings) -> SocketBotUnderTest:
    under_test = await SocketBotUnderTest(slack, settings, build_services(settings)).start()
    yield under_test
    await under_test.stop()


async def test_the_app_token_opens_the_connection_and_each_envelope_is_acked_by_id(
    over_socket: SocketBotUnderTest,
) -> None:
    standin = over_socket.socket
    assert standin is not None
    assert len(over_socket.slack.calls_to("apps.connections.open")) == 1  # at SLACK_API_URL
    envelope_id = await standin.send(
        "slash_commands",
        {"command": "/ticket", "text": "help", "team_id": TEAM, "user_id": "U1"},
    )
    ack = await standin.wait_ack(envelope_id)
    assert ack["envelope_id"] == envelope_id
    assert "/ticket connect" in json.dumps(ack["payload"])
    assert standin.unparsable == []


async def test_refresh_requested_reconnects_and_the_next_envelope_is_handled(
    over_socket: SocketBotUnderTest,
) -> None:
    standin = over_socket.socket
    assert standin is not None
    first = standin.connections[0]
    await standin.disconnect("refresh_requested")
    await standin.wait_connections(2)
    assert len(over_socket.slack.calls_to("apps.connections.open")) == 2
    await standin.wait_until(lambda: first.closed)  # the app let the old connection go
    ack = await over_socket.user("U0ALICE").command("help")
    assert "/ticket connect" in ack.text
    assert standin.open_connections == [standin.connections[1]]


def _closed_port() -> int:
    # A loopback port nothing listens on: connecting to it is refused at once.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _failures(caplog: pytest.LogCaptureFixture, count: int) -> list[logging.LogRecord]:
    """Wait for ``count`` warnings from the Socket Mode client; returns them."""

    def warnings() -> list[logging.LogRecord] | None:
        found = [
            r
            for r in caplog.records
            if r.name == "ticketbot.socket" and r.levelno == logging.WARNING
        ]
        return found if len(found) >= count else None

    return await eventually(warnings, within=10, what=f"{count} Socket Mode warnings")


async def _run_briefly(
    runner: SocketModeRunner, caplog: pytest.LogCaptureFixture, count: int
) -> list[logging.LogRecord]:
    task = asyncio.create_task(runner.run())
    try:
        return await _failures(caplog, count)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_refused_connection_is_one_line_per_attempt_with_a_capped_backoff(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.slack_api_url = f"http://127.0.0.1:{_closed_port()}/api/"
    app = build_app(settings, build_services(settings), socket_mode=True)
    runner = SocketModeRunner(app, APP_TOKEN, first_delay=0.01, max_delay=0.04)
    records = await _run_briefly(runner, caplog, 5)
    delays = []
    for record in records[:5]:
        line = record.getMessage()
        assert record.exc_info is None and "\n" not in line
        assert "cannot reach 127.0.0.1:" in line and "refused" in line.lower()
        delays.append(float(re.search(r"retrying in ([\d.]+) s \(at \d\d:\d\d:\d\d\)", line)[1]))
    assert delays == [0.01, 0.02, 0.04, 0.04, 0.04]


async def test_a_refused_websocket_says_so_without_the_url(
    over_socket: SocketBotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    standin = over_socket.socket
    assert standin is not None
    # apps.connections.open now hands out a ticket the websocket server does not know.
    over_socket.slack.socket_mode_url = lambda: f"{standin.new_url()}x".replace("ticket=", "t=0")
    caplog.set_level(logging.INFO)
    await standin.disconnect()
    line = (await _failures(caplog, 1))[0].getMessage()
    assert "websocket handshake refused (HTTP 401)" in line
    assert "t=0" not in caplog.text and "/link/" not in caplog.text
