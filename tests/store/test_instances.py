"""Real `ticketbot serve` processes on one PostgreSQL database.

Several instances serve one database at once; what one stored, another sees.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from bot.sandbox.driver import SlackUser, signed_headers
from bot.sandbox.run import Sandboxes
from bot.sandbox.slack import SlackStandIn
from bot.server import EVENTS_PATH
from tests.harness import SIGNING_SECRET
from tests.test_cli import BOT_TOKEN, _env
from tests.test_single_instance import _free_port, _serving, _start

OMNIDESK_KEY = "omni-secret-key-77a1b2c3f9a"


class Remote:
    """A `ticketbot serve` process as the driver's ``BotEndpoint``: signed posts over HTTP."""

    def __init__(self, slack: SlackStandIn, port: int) -> None:
        self.slack = slack
        self.url = f"http://127.0.0.1:{port}{EVENTS_PATH}"

    async def post(self, body: str, headers: dict | None = None) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(
                self.url, content=body, headers=headers or signed_headers(body, SIGNING_SECRET)
            )


async def _stop(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.communicate(), 30)


async def test_a_connect_through_one_instance_is_seen_by_another_running_beside_it(
    tmp_path: Path, slack: SlackStandIn, sandboxes: Sandboxes, pg_url: str
) -> None:
    sandboxes.omnidesk.keys[OMNIDESK_KEY] = {"TICKET_READ", "TICKET_CREATE"}
    shared = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "TICKETBOT_SECRET_KEY": Fernet.generate_key().decode(),
        "TICKETBOT_DATABASE_URL": pg_url,
        "TICKETBOT_BACKEND_ALLOWLIST": "127.0.0.1",
    }
    env_a = _env(tmp_path / "a", **shared)
    env_b = _env(tmp_path / "b", **shared)  # its own data directory: only the database is shared
    port_a, port_b = _free_port(), _free_port()

    first = await _start(tmp_path, env_a, "serve", "--port", str(port_a))
    second = await _start(tmp_path, env_b, "serve", "--port", str(port_b))
    try:
        await _serving(first)
        await _serving(second)  # no longer refused: shared work is leased
        alice = SlackUser(Remote(slack, port_a), "U0ALICE")
        assert (await alice.command("connect omnidesk")).status_code == 200
        view = (await slack.wait_for("views.open"))[-1]["view"]
        saved = await alice.submit(
            view, {"base_url": sandboxes.omnidesk.base_url + "/", "api_key": OMNIDESK_KEY}
        )
        assert saved.json()["response_action"] == "update"
        await slack.wait_for("chat.postEphemeral")

        seen = len(slack.calls_to("response_url"))
        alice = SlackUser(Remote(slack, port_b), "U0ALICE")
        assert (await alice.command("accounts")).status_code == 200
        answer = (await slack.wait_for("response_url", count=seen + 1, within=20))[-1]
        assert answer["text"] == "1 connected account(s)"
        assert "Omnidesk" in str(answer["blocks"])
    finally:
        await _stop(first)
        await _stop(second)
    assert OMNIDESK_KEY not in str(slack.calls)
