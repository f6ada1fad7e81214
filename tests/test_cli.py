"""`ticketbot` as an operator runs it: a real process, real settings, real signals."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from urllib.parse import urlencode

import httpx
from cryptography.fernet import Fernet

from bot.sandbox.slack import SlackStandIn
from tests.harness import SIGNING_SECRET, signed_headers

BOT_TOKEN = "xoxb-9999-8888-clitesttoken"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TICKETBOT_"))}
    env.update({"TICKETBOT_DATA_DIR": str(tmp_path / "data"), **extra})
    return env


async def _run(tmp_path: Path, *args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_missing_setting_stops_start_up_with_one_line(tmp_path: Path) -> None:
    proc = await _run(tmp_path, "serve", "--port", "0", env=_env(tmp_path))
    _out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("ticketbot: SLACK_BOT_TOKEN is not set: export it or add it to .env")


async def test_placeholder_secret_is_refused(tmp_path: Path) -> None:
    env = _env(tmp_path, SLACK_BOT_TOKEN="xoxb-your-token", SLACK_SIGNING_SECRET="changeme")
    proc = await _run(tmp_path, "serve", "--port", "0", env=env)
    _out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert "SLACK_BOT_TOKEN: looks like a placeholder" in err.decode()


async def test_serve_answers_signed_requests_logs_them_and_stops_on_sigterm(
    tmp_path: Path, slack: SlackStandIn
) -> None:
    env = _env(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        TICKETBOT_SECRET_KEY=Fernet.generate_key().decode(),
    )
    proc = await _run(tmp_path, "serve", "--port", "0", env=env)
    assert proc.stderr is not None
    log_lines: list[str] = []
    port = None
    async with asyncio.timeout(20):
        while port is None:
            line = (await proc.stderr.readline()).decode()
            assert line, "serve exited early: " + "".join(log_lines)
            log_lines.append(line)
            if match := re.search(r"serving Slack requests at http://127.0.0.1:(\d+)", line):
                port = int(match.group(1))
    assert port != 3000  # --port 0 asks for any free port, not the default
    try:
        form = urlencode(
            {
                "team_id": "T0SANDBOX",
                "user_id": "U1",
                "channel_id": "C1",
                "command": "/ticket",
                "text": "help",
                "trigger_id": "t",
                "response_url": slack.response_url(),
            }
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            response = await http.post("/slack/events", content=form, headers=signed_headers(form))
            assert response.status_code == 200
            assert "/ticket connect" in response.text
            assert (await http.get("/healthz")).json() == {"ok": True}
        async with asyncio.timeout(10):
            while not any("/ticket help -> 200" in line for line in log_lines):
                log_lines.append((await proc.stderr.readline()).decode())
    finally:
        proc.send_signal(signal.SIGTERM)  # only the process this test started, by its id
        _out, rest = await asyncio.wait_for(proc.communicate(), 20)
    log_text = "".join(log_lines) + rest.decode()
    assert proc.returncode == 0
    assert re.search(r"POST /ticket help -> 200 in \d+\.\d ms", log_text)
    assert BOT_TOKEN not in log_text
    assert SIGNING_SECRET not in log_text
