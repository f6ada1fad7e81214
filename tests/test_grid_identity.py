"""Enterprise Grid: one person is one person across the workspaces of an org, whichever workspace
the request comes from and also when an org-wide install sends ``team: null``."""

from __future__ import annotations

import json

import pytest

from bot.alerts import DetractorPoller
from bot.credentials import OmnideskCredentials, QuestionProCredentials
from bot.import_jobs import ImportJob
from bot.sandbox import omnidesk, questionpro
from bot.sandbox.run import Sandboxes
from bot.subscriptions import Subscription
from tests.harness import BotUnderTest, SlackUser
from tests.waiting import eventually

ORG, WORKSPACE_A, WORKSPACE_B, PERSON = "E0ORG", "T0AAA", "T0BBB", "W0ALICE"


def _in(bot: BotUnderTest, team_id: str, *, org_install: bool = False) -> SlackUser:
    return SlackUser(bot, PERSON, team_id=team_id, enterprise_id=ORG, org_install=org_install)


async def _said(bot: BotUnderTest, count: int) -> dict:
    return (await bot.slack.wait_for("response_url", count=count))[count - 1]


async def _connect_omnidesk(bot: BotUnderTest, user: SlackUser, sandboxes: Sandboxes) -> None:
    await user.command("connect omnidesk")
    view = (await bot.slack.wait_for("views.open"))[-1]["view"]
    url = sandboxes.omnidesk.base_url
    answer = await user.submit(view, {"base_url": url, "api_key": omnidesk.FULL_KEY})
    assert answer.json()["response_action"] == "update"
    await bot.slack.wait_for("chat.postEphemeral")  # "Connected …": the save is done


async def test_connected_in_one_workspace_is_connected_in_another_of_the_org(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    await _connect_omnidesk(bot, _in(bot, WORKSPACE_A), sandboxes)
    await _in(bot, WORKSPACE_B).command("list omnidesk")
    listed = await _said(bot, 1)
    assert "omnidesk:" in json.dumps(listed["blocks"]), listed["text"]
    # A person of another org with the same workspace id is not this person.
    other = SlackUser(bot, PERSON, team_id=WORKSPACE_B, enterprise_id="E0OTHER")
    await other.command("accounts")
    assert (await _said(bot, 2))["text"] == "0 connected account(s)"


async def test_an_org_wide_install_submission_with_team_null_saves_where_commands_read(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    await _connect_omnidesk(bot, _in(bot, WORKSPACE_A, org_install=True), sandboxes)
    assert set(await bot.services.store.list_credentials(ORG, PERSON)) == {"omnidesk"}
    await _in(bot, WORKSPACE_B).command("accounts")
    assert (await _said(bot, 1))["text"] == "1 connected account(s)"


async def test_a_workspace_store_from_before_grid_stays_readable_and_is_adopted_once(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    store = bot.services.store
    creds = OmnideskCredentials(base_url=sandboxes.omnidesk.base_url, api_key=omnidesk.FULL_KEY)
    await store.save_credentials(WORKSPACE_A, PERSON, creds)  # keyed T…:W…:omnidesk
    old_sub = Subscription(team_id=WORKSPACE_A, channel_id="C0CX", subscriber=PERSON)
    await bot.services.alerts.save(old_sub)

    # A request from the org finds it, without losing the workspace record.
    await _in(bot, WORKSPACE_A).command("list omnidesk")
    assert "omnidesk:" in json.dumps((await _said(bot, 1))["blocks"])
    assert set(await store.list_credentials(ORG, PERSON)) == {"omnidesk"}
    assert set(await store.list_credentials(WORKSPACE_A, PERSON)) == {"omnidesk"}
    moved = await bot.services.alerts.get(old_sub.id)
    assert moved is not None and moved.owner_scope == ORG
    # Idempotent: doing it again (say after a restart) changes nothing.
    assert await store.adopt_credentials(ORG, PERSON, (WORKSPACE_A,)) == 0
    assert await bot.services.alerts.adopt(ORG, PERSON, (WORKSPACE_A,)) == 0

    # A single-workspace request still reads the workspace key as before.
    await SlackUser(bot, PERSON, team_id=WORKSPACE_A).command("accounts")
    assert (await _said(bot, 2))["text"] == "1 connected account(s)"

    # Disconnecting on Grid removes the copy and the workspace record it came from.
    await _in(bot, WORKSPACE_B).command("disconnect omnidesk")
    assert (await _said(bot, 3))["text"].startswith("Disconnected Omnidesk")
    assert await store.list_credentials(ORG, PERSON) == {}
    assert await store.list_credentials(WORKSPACE_A, PERSON) == {}


@pytest.mark.parametrize("org_install", [False, True])
async def test_the_poller_fetches_with_the_subscribers_org_credentials(
    bot: BotUnderTest, sandboxes: Sandboxes, org_install: bool
) -> None:
    await bot.services.store.save_credentials(
        ORG, PERSON, QuestionProCredentials(datacenter="eu", api_key=questionpro.DEMO_API_KEY)
    )
    user = SlackUser(
        bot, PERSON, "C0CX", team_id=WORKSPACE_B, enterprise_id=ORG, org_install=org_install
    )
    await user.command("subscribe detractors segment:999")
    await bot.slack.wait_for("chat.postMessage")
    subs = await eventually(lambda: bot.services.alerts.for_channel(WORKSPACE_B, "C0CX"))
    assert subs[0].owner_scope == ORG
    await DetractorPoller(bot.services, bot.app.client).poll(subs[0].id)
    summary = (await bot.slack.wait_for("chat.postMessage", count=2))[1]
    assert "40 already exist" in json.dumps(summary["blocks"])


async def test_an_import_started_in_one_workspace_is_listed_in_another(
    bot: BotUnderTest,
) -> None:
    job = ImportJob(
        team_id=WORKSPACE_A, scope=ORG, user_id=PERSON, file_name="a.csv", segment_code="S1"
    )
    await bot.services.imports.save(job)
    await _in(bot, WORKSPACE_B).command("import history")
    assert "a.csv" in json.dumps(await _said(bot, 1))
