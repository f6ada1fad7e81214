"""`ticketbot demo`, the README's first command: the whole bot on loopback, end to end."""

from __future__ import annotations

import pytest

from bot.demo import run_demo


async def test_the_demo_plays_a_first_session(capsys: pytest.CaptureFixture[str]) -> None:
    await run_demo()
    shown = capsys.readouterr().out
    for expected in (
        "── /ticket help",
        ":white_check_mark: Connected *Omnidesk*",
        ":white_check_mark: Connected *Epixel support*",
        ":white_check_mark: Connected *QuestionPro CX* (datacenter us",
        "*Tickets 1–15* from your connected accounts",
        "[Status] [Priority]",
        ":white_check_mark: Status set to Pending: `omnidesk:1001`",
        "40 already exist",
        "[Claim] [Escalate] [Resolve] [Open in QuestionPro]",
    ):
        assert expected in shown, expected
    assert "Traceback" not in shown
