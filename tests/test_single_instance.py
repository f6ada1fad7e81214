"""One `ticketbot serve` per data directory, proved with real processes and a real kill -9."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.errors import DataDirInUseError
from bot.sandbox.slack import SlackStandIn
from bot.single_instance import DataDirLock
from tests.harness import SIGNING_SECRET
from tests.test_cli import BOT_TOKEN, _env

TICKETBOT = str(Path(sys.executable).parent / "ticketbot")  # the console script, as installed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _start(tmp_path: Path, env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        TICKETBOT,
        *args,
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _serving(proc: asyncio.subprocess.Process) -> None:
    """Wait until ``proc`` says it serves (it has the lock by then)."""
    assert proc.stderr is not None
    seen = []
    async with asyncio.timeout(20):
        while True:
            line = (await proc.stderr.readline()).decode()
            assert line, "serve exited early: " + "".join(seen)
            seen.append(line)
            if re.search(r"serving Slack requests at http://127\.0\.0\.1:\d+", line):
                return


async def _refused(proc: asyncio.subprocess.Process, data_dir: Path, holder: int) -> None:
    _out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"ticketbot: the data directory {data_dir} is in use by another")
    assert f"(pid {holder})" in lines[0]


async def test_a_second_serve_on_the_same_data_directory_refuses_to_start(
    tmp_path: Path, slack: SlackStandIn
) -> None:
    env = _env(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        TICKETBOT_SECRET_KEY=Fernet.generate_key().decode(),
    )
    data_dir = Path(env["TICKETBOT_DATA_DIR"])
    first = await _start(tmp_path, env, "serve", "--port", str(_free_port()))
    third = None
    try:
        await _serving(first)
        second = await _start(tmp_path, env, "serve", "--port", str(_free_port()))
        await _refused(second, data_dir, first.pid)
        # Anything else that opens the store waits its turn too.
        rotate = await _start(tmp_path, env, "rotate-key")
        await _refused(rotate, data_dir, first.pid)

        os.kill(first.pid, signal.SIGKILL)  # only the process this test started, by its id
        await asyncio.wait_for(first.wait(), 20)
        # No clean-up ran, yet the kernel dropped the lock: a new one starts.
        third = await _start(tmp_path, env, "serve", "--port", str(_free_port()))
        await _serving(third)
        assert third.returncode is None
    finally:
        for proc in (first, third):
            if proc is not None and proc.returncode is None:
                proc.send_signal(signal.SIGTERM)  # by pid, started here
                await asyncio.wait_for(proc.communicate(), 20)


def test_the_lock_is_released_on_close_and_names_its_holder(tmp_path: Path) -> None:
    held = DataDirLock(tmp_path).acquire()
    with pytest.raises(DataDirInUseError, match=rf"pid {os.getpid()}\)"):
        DataDirLock(tmp_path).acquire()
    held.release()
    held.release()  # idempotent
    DataDirLock(tmp_path).acquire().release()
