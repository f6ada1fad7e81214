"""`ticketbot` as an operator runs it: a real process, real settings, real signals."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import socket
import sys
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from bot.__main__ import _parser, main
from bot.app import build_app
from bot.config import Settings
from bot.runtime import build_services
from bot.sandbox.payloads import Who, slash_command
from bot.sandbox.slack import SlackStandIn
from bot.sandbox.socket_mode import SocketModeStandIn
from tests.harness import APP_TOKEN, SIGNING_SECRET, signed_headers

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
        form = slash_command(Who("U1"), "help", channel_id="C1", response_url=slack.response_url())
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


# Socket Mode, signals and start-up messages ------------------------------------------------------

QUIET = ("Traceback", "Unclosed", "Task was destroyed", "was never awaited", "Exception")


async def _read_until(proc: asyncio.subprocess.Process, pattern: str, seen: list[str]) -> str:
    """Read stderr lines into ``seen`` until one matches ``pattern``; returns that line."""
    assert proc.stderr is not None
    async with asyncio.timeout(20):
        while True:
            line = (await proc.stderr.readline()).decode()
            assert line, "exited early: " + "".join(seen)
            seen.append(line)
            if re.search(pattern, line):
                return line


async def _stop(proc: asyncio.subprocess.Process, sig: signal.Signals, seen: list[str]) -> str:
    proc.send_signal(sig)  # only the process this test started, by its id
    _out, rest = await asyncio.wait_for(proc.communicate(), 5)
    return "".join(seen) + rest.decode()


def _socket_env(tmp_path: Path, api_url: str) -> dict[str, str]:
    return _env(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=api_url,
        TICKETBOT_SECRET_KEY=Fernet.generate_key().decode(),
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_socket_mode_serves_through_slack_api_url_and_stops_on_a_signal(
    tmp_path: Path, slack: SlackStandIn, sig: signal.Signals
) -> None:
    standin = await SocketModeStandIn(slack).start()
    try:
        proc = await _run(tmp_path, "serve", env=_socket_env(tmp_path, slack.api_url))
        seen: list[str] = []
        await _read_until(proc, "connected to Slack over Socket Mode", seen)
        assert len(slack.calls_to("apps.connections.open")) == 1
        ack = await standin.request(
            "slash_commands", {"command": "/ticket", "text": "help", "team_id": "T0SANDBOX"}
        )
        assert "/ticket connect" in json.dumps(ack["payload"])
        log_text = await _stop(proc, sig, seen)
    finally:
        await standin.stop()
    assert proc.returncode == 0, log_text
    assert not [word for word in QUIET if word in log_text], log_text
    assert APP_TOKEN not in log_text and BOT_TOKEN not in log_text


def _refused_url() -> str:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/api/"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_refused_connection_is_one_line_per_attempt_and_a_signal_still_stops_it(
    tmp_path: Path, sig: signal.Signals
) -> None:
    proc = await _run(tmp_path, "serve", "--socket", env=_socket_env(tmp_path, _refused_url()))
    seen: list[str] = []
    retry = r"Socket Mode connection failed: cannot reach 127\.0\.0\.1:\d+ \(Connection refused\)"
    first = await _read_until(proc, retry + r"; retrying in 1 s \(at \d\d:\d\d:\d\d\)", seen)
    second = await _read_until(proc, retry, seen)
    assert "retrying in 2 s" in second  # the backoff doubles
    assert seen[-2:] == [first, second]  # one line per attempt, nothing between them
    log_text = await _stop(proc, sig, seen)  # while it waits to try again
    assert proc.returncode == 0, log_text
    assert not [word for word in QUIET if word in log_text], log_text


async def test_http_mode_stops_on_sigint_too(tmp_path: Path, slack: SlackStandIn) -> None:
    env = _env(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        TICKETBOT_SECRET_KEY=Fernet.generate_key().decode(),
    )
    proc = await _run(tmp_path, "serve", "--port", "0", env=env)
    seen: list[str] = []
    line = await _read_until(proc, r"serving Slack requests at http://127\.0\.0\.1:\d+/", seen)
    port = int(re.search(r":(\d+)/", line)[1])  # type: ignore[index]
    assert port != 3000  # --port 0 picks a free port and says which
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"http://127.0.0.1:{port}/healthz")).json() == {"ok": True}
    log_text = await _stop(proc, signal.SIGINT, seen)
    assert proc.returncode == 0, log_text
    assert not [word for word in QUIET if word in log_text], log_text


async def _one_line_failure(tmp_path: Path, *args: str, **env: str) -> str:
    proc = await _run(tmp_path, *args, env=_env(tmp_path, **env))
    _out, err = await asyncio.wait_for(proc.communicate(), 20)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, err.decode()
    return lines[0]


async def test_without_either_secret_one_line_names_what_each_mode_needs(tmp_path: Path) -> None:
    line = await _one_line_failure(tmp_path, "serve", SLACK_BOT_TOKEN=BOT_TOKEN)
    assert line.startswith("ticketbot: neither SLACK_APP_TOKEN nor SLACK_SIGNING_SECRET is set")
    assert "Socket Mode needs SLACK_APP_TOKEN (" in line and "App-Level Tokens" in line
    assert "HTTP mode needs SLACK_SIGNING_SECRET (" in line and "Signing Secret" in line


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SLACK_BOT_TOKEN", "not-a-token", "looks like a placeholder"),
        ("SLACK_BOT_TOKEN", "xoxb-…", "looks like a placeholder"),
        ("SLACK_BOT_TOKEN", "xoxp-1234-5678-usertoken", "must start with xoxb-"),
        ("SLACK_APP_TOKEN", "xapp-…", "looks like a placeholder"),
        ("SLACK_APP_TOKEN", "changeme", "looks like a placeholder"),
        ("SLACK_APP_TOKEN", "xoxb-1234-5678-bottoken", "must start with xapp-"),
    ],
)
async def test_a_token_of_the_wrong_shape_or_a_placeholder_is_refused_in_one_line(
    tmp_path: Path, name: str, value: str, says: str
) -> None:
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, name: value}
    line = await _one_line_failure(tmp_path, "serve", **env)
    assert line.startswith(f"ticketbot: {name}: {says}")
    assert value not in line.removeprefix(f"ticketbot: {name}: ")  # the value is not echoed


def test_version_is_the_installed_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"ticketbot {version('ticketbot')}"


# Which settings each command reads; a new command or setting must be added here and to its help.
READS = {
    "serve": [Settings.env_name(field) for field in Settings.model_fields],
    "rotate-key": ["TICKETBOT_SECRET_KEY", "TICKETBOT_DATA_DIR", "TICKETBOT_DATABASE_URL"],
    "migrate-store": ["TICKETBOT_DATABASE_URL", "TICKETBOT_SECRET_KEY"],
}


def test_every_commands_help_names_its_environment_and_defaults(
    capsys: pytest.CaptureFixture[str],
) -> None:
    commands = _parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in commands:
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = capsys.readouterr().out
        if name not in READS:
            assert "environment: none needed." in text, name
            continue
        for env_name in READS[name]:
            line = next((x for x in text.splitlines() if x.strip().startswith(env_name)), "")
            assert re.search(rf"{env_name}\s+(required|default |unset|generated)", line), (
                name,
                env_name,
            )


def test_env_example_lists_every_setting_with_a_comment() -> None:
    lines = (Path(__file__).parents[1] / ".env.example").read_text().splitlines()
    for field in Settings.model_fields:
        name = Settings.env_name(field)
        at = next((i for i, x in enumerate(lines) if re.match(rf"#? ?{name}=", x)), None)
        assert at is not None, f"{name} is missing from .env.example"
        while re.match(r"#? ?[A-Z_]+=", lines[at - 1]):  # a comment may explain a pair
            at -= 1
        assert lines[at - 1].startswith("# ") and len(lines[at - 1]) > 10, f"{name}: no comment"


def test_bolt_gets_one_of_token_and_client_so_it_does_not_warn(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)  # as on every start with exported tokens
    caplog.set_level(logging.WARNING)
    app = build_app(settings, build_services(settings))
    assert caplog.records == []
    assert app.client.base_url == settings.slack_api_url
    assert app.client.token == settings.slack_bot_token.get_secret_value()  # type: ignore[union-attr]
