"""`ticketbot demo`: the whole bot on loopback, end to end, rendered as a person reads Slack."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from bot.demo import run_demo


def _data_dirs(where: Path) -> list[Path]:
    return list(where.glob("ticketbot-local-*"))


async def test_the_demo_plays_a_first_session(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo's temporary files go under tmp_path, so other runs beside this one cannot blur
    # whether it left anything behind.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert tempfile.gettempdir() == str(tmp_path)
    await run_demo()
    shown = capsys.readouterr().out
    for expected in (
        "── /ticket help",
        "✅ Connected Omnidesk",
        "✅ Connected Epixel support",
        "✅ Connected QuestionPro CX (datacenter us",
        "Tickets 1–15 from your connected accounts",
        "[1] Status [2] Priority",
        "✅ Status set to Pending: omnidesk:1001",
        "40 already exist",
        "[1] Claim [2] Escalate [3] Resolve [4] Open in QuestionPro",
    ):
        assert expected in shown, expected
    # Rendered, not raw mrkdwn; no address that is dead once the demo ends; nothing left behind.
    assert ":white_check_mark:" not in shown and "*Tickets" not in shown and "<@U" not in shown
    assert "http://127.0.0.1" not in shown.split("── /ticket help")[0]
    assert _data_dirs(tmp_path) == []
    assert "Traceback" not in shown
