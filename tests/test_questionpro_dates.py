"""Issue 15 item 7 (QuestionPro): transactionDate's format is one setting, shown in the preview.

https://www.questionpro.com/api/cx/import-transactions-and-send-survey.html's example is day-first
(14/01/2020); https://www.questionpro.com/api/cx/ (v1) says mm/dd/yyyy.
"""

from __future__ import annotations

import json

import pytest

from bot.config import Settings
from bot.credentials import CONNECT_FIELDS
from bot.ids import Action
from bot.sandbox.run import Sandboxes
from tests.harness import BotUnderTest, SlackUser
from tests.test_import import button, check, csv_rows


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The suite's settings, with ``TICKETBOT_QUESTIONPRO_DATE_FORMAT`` when parametrised."""
    fmt = getattr(request, "param", None)
    return settings.model_copy(update={"questionpro_date_format": fmt}) if fmt else settings


async def import_one(bot: BotUnderTest, manager: SlackUser) -> str:
    await check(bot, manager, csv_rows(1))
    preview = (await bot.slack.wait_for("chat.postEphemeral"))[-1]
    confirm = button(preview, Action.IMPORT_CONFIRM)
    await manager.click(confirm["action_id"], confirm["value"])
    await bot.slack.wait_for("chat.update", count=2)
    return json.dumps(preview["blocks"], ensure_ascii=False)


async def test_the_preview_shows_the_date_as_read_and_as_sent(
    bot: BotUnderTest,
    manager: SlackUser,
    sandboxes: Sandboxes,
) -> None:
    preview = await import_one(bot, manager)

    assert "Transaction date: *20 November 2026*, sent as `20/11/2026`" in preview
    assert sandboxes.questionpro.imported[0]["transactionDate"] == "20/11/2026"


@pytest.mark.parametrize("settings", ["%m/%d/%Y"], indirect=True)
async def test_the_date_format_is_one_setting(
    bot: BotUnderTest,
    manager: SlackUser,
    sandboxes: Sandboxes,
) -> None:
    sandboxes.questionpro.date_format = "%m/%d/%Y"  # an account that reads the v1 page's order

    preview = await import_one(bot, manager)

    assert "Transaction date: *20 November 2026*, sent as `11/20/2026`" in preview
    assert sandboxes.questionpro.imported[0]["transactionDate"] == "11/20/2026"


def test_a_date_format_without_day_month_and_year_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="%d, %m and %Y"):
        Settings(**{**settings.model_dump(), "questionpro_date_format": "%Y"}, _env_file=None)


def test_surveyanalytics_is_labelled_by_its_host_not_a_country() -> None:
    picker = next(f for f in CONNECT_FIELDS["questionpro"] if f.name == "datacenter")
    assert picker.options["sa"] == "api.surveyanalytics.com"


def test_keys_of_one_datacenter_share_the_organisation_limit(settings: Settings) -> None:
    """No QuestionPro call names a key's organisation (README): keys are grouped per datacenter."""
    from bot.backends.registry import Backends
    from bot.credentials import QuestionProCredentials

    backends = Backends(settings)
    a = backends.for_credentials(QuestionProCredentials(datacenter="eu", api_key="key-a"))
    b = backends.for_credentials(QuestionProCredentials(datacenter="eu", api_key="key-b"))
    c = backends.for_credentials(QuestionProCredentials(datacenter="us", api_key="key-c"))
    la, lb, lc = (x._http.limiter.limiters for x in (a, b, c))  # type: ignore[attr-defined]
    assert la[0] is not lb[0]  # 300 a minute per key
    assert la[1] is lb[1] and la[1].calls == 2400  # one organisation per datacenter
    assert la[1] is not lc[1]
