"""An import whose process is killed (SIGKILL) with a chunk in flight: after a restart, "Send the
rest" sends every other row once and reports the in-flight chunk as unknown, never resending it.

Everything runs as an operator would: `ticketbot sandbox` and `ticketbot serve` in processes of
their own, the bot driven over signed HTTP; only the Slack stand-in lives in the test.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from bot.config import Settings
from bot.credentials import QuestionProCredentials
from bot.ids import Action
from bot.sandbox import questionpro
from bot.sandbox.slack import SlackStandIn
from bot.server import EVENTS_PATH
from bot.store import Store
from tests.harness import SIGNING_SECRET, TEAM, SlackUser, signed_headers
from tests.test_import import button, csv_rows
from tests.waiting import eventually

USER = "U0CRASH"
ROWS, CHUNK, IN_FLIGHT = 3_000, 100, 7  # chunk 7 (rows 701-800) is in flight at the kill


@dataclass
class Process:
    proc: asyncio.subprocess.Process
    url: str
    log: Path

    async def kill(self) -> None:
        """SIGKILL this process (the one this test started, by its id): no cleanup runs."""
        if self.proc.returncode is None:
            self.proc.kill()
        await asyncio.wait_for(self.proc.wait(), 20)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 20)


async def start(args: list[str], env: dict[str, str], log: Path, pattern: str) -> Process:
    """``python -m bot args…``; waits for the log line giving its address."""
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *args, env=env, stdout=out, stderr=out
        )

    async def started() -> re.Match[str] | None:
        text = await asyncio.to_thread(log.read_text, errors="replace")
        assert proc.returncode is None, text
        return re.search(pattern, text)

    match = await eventually(started, within=30, what=f"the process logging {pattern!r}")
    return Process(proc, match.group(1), log)


@dataclass
class BotProcess:
    """What SlackUser needs to act on a bot in another process."""

    slack: SlackStandIn
    url: str

    async def post(self, body: str, headers: dict | None = None) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as http:
            return await http.post(
                self.url + EVENTS_PATH, content=body, headers=headers or signed_headers(body)
            )


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Process]:
    server = await start(
        ["sandbox", "--port", "0"],
        dict(os.environ),
        tmp_path / "sandbox.log",
        r"TICKETBOT_QUESTIONPRO_BASE_URL=(http://127\.0\.0\.1:\d+)/",
    )
    yield server
    await server.stop()


async def sandbox_call(sandbox: Process, path: str, body: dict | None = None) -> dict:
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        if body is None:
            return (await http.get(path)).json()
        return (await http.post(path, json=body)).json()


async def test_kill_9_with_a_chunk_in_flight_then_send_the_rest_sends_each_row_once(
    tmp_path: Path, slack: SlackStandIn, sandbox: Process
) -> None:
    key = Fernet.generate_key().decode()
    data_dir = tmp_path / "data"
    store = Store.open(Settings(data_dir=data_dir, secret_key=key, _env_file=None))
    await store.save_credentials(
        TEAM, USER, QuestionProCredentials(api_key=questionpro.DEMO_API_KEY)
    )
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TICKETBOT_"))}
    env |= {
        "SLACK_BOT_TOKEN": "xoxb-1111-2222-crashtest",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "TICKETBOT_SECRET_KEY": key,
        "TICKETBOT_DATA_DIR": str(data_dir),
        "TICKETBOT_QUESTIONPRO_BASE_URL": f"{sandbox.url}/a/api/v2/",
        "TICKETBOT_BACKEND_ALLOWLIST": "127.0.0.1",  # the sandbox is on loopback
        "TICKETBOT_IMPORT_CHUNK": str(CHUNK),
        "TICKETBOT_PROGRESS_INTERVAL": "0",
    }

    async def serve(name: str) -> Process:
        return await start(
            ["serve", "--port", "0"],
            env,
            tmp_path / f"{name}.log",
            r"serving Slack requests at (http://127\.0\.0\.1:\d+)",
        )

    first = await serve("first")
    try:
        user = SlackUser(BotProcess(slack, first.url), USER, "C0CRASH")
        await user.command("import")
        form = (await slack.wait_for("views.open", within=10))[-1]["view"]
        upload = slack.add_file("big.csv", csv_rows(ROWS), "text/csv")
        await user.submit(
            form, {"segment_code": "S1", "transaction_date": "2026-11-20", "file": [upload]}
        )
        preview = (await slack.wait_for("chat.postEphemeral", within=20))[-1]
        # QuestionPro takes chunk 7 and then never answers, until this process is gone.
        await sandbox_call(
            sandbox, "/_sandbox/faults", {"hold_after": IN_FLIGHT, "path": "transactions/import"}
        )
        confirm = button(preview, Action.IMPORT_CONFIRM)
        await user.click(confirm["action_id"], confirm["value"])

        async def in_flight() -> bool:
            return bool((await sandbox_call(sandbox, "/_sandbox/stats"))["held"])

        await eventually(in_flight, within=30, what="chunk 7 in flight")
    finally:
        await first.kill()
    await sandbox_call(sandbox, "/_sandbox/reset", {})
    counts = await sandbox_call(sandbox, "/_sandbox/questionpro", {})
    assert counts["imported"] == (IN_FLIGHT + 1) * CHUNK  # the held chunk was imported

    second = await serve("second")
    try:
        user = SlackUser(BotProcess(slack, second.url), USER, "C0CRASH")
        answered = len(slack.calls_to("response_url"))
        await user.command("import history")
        history = (await slack.wait_for("response_url", answered + 1, within=10))[-1]
        resume = next(b["accessory"] for b in history["blocks"] if b.get("accessory"))
        assert resume["text"]["text"] == "Send the rest"
        updates = len(slack.calls_to("chat.update"))
        await user.click(resume["action_id"], resume["value"])
        async with asyncio.timeout(30):
            while not any(
                u["text"] == "Import finished" for u in slack.calls_to("chat.update")[updates:]
            ):
                await slack.wait_for("chat.update", len(slack.calls_to("chat.update")) + 1, 30)
        report = json.dumps(slack.calls_to("chat.update")[-1]["blocks"], ensure_ascii=False)
    finally:
        await second.stop()
    counts = await sandbox_call(sandbox, "/_sandbox/questionpro", {})
    assert counts == {**counts, "imported": ROWS, "imported_emails": ROWS}  # each row once
    first_line = IN_FLIGHT * CHUNK + 2  # file lines start at 2, after the header
    assert (
        f"lines {first_line}–{first_line + CHUNK - 1} ({CHUNK}): no answer after sending" in report
    )
    assert f"imported {ROWS - CHUNK:,} of {ROWS:,} contacts" in report
