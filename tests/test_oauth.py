"""Installing into several workspaces through Bolt's OAuth flow, end to end over loopback HTTP:
the install page, Slack's redirect back with a code, oauth.v2.access at the Slack stand-in, then
each workspace's requests, alerts and uninstall with that workspace's own token."""

from __future__ import annotations

import html
import re
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from bot.alerts import DetractorPoller
from bot.config import MANIFEST_BOT_SCOPES, Settings
from bot.credentials import QuestionProCredentials
from bot.import_jobs import ImportJob
from bot.runtime import build_services
from bot.sandbox import payloads, questionpro
from bot.sandbox.driver import post_event
from bot.sandbox.slack import SlackStandIn
from bot.sandbox.slack_oauth import Workspace
from tests.harness import BotUnderTest
from tests.waiting import eventually

A, B = "T0AAAAAAA", "T0BBBBBBB"


@pytest.fixture
def oauth_settings(settings: Settings, slack: SlackStandIn) -> Settings:
    return settings.model_copy(
        update={
            "slack_bot_token": None,
            "slack_client_id": slack.installs.client_id,
            "slack_client_secret": SecretStr(slack.installs.client_secret),
        }
    )


@pytest.fixture
async def bot(slack: SlackStandIn, oauth_settings: Settings) -> AsyncIterator[BotUnderTest]:
    under_test = await BotUnderTest(slack, oauth_settings, build_services(oauth_settings)).start()
    yield under_test
    await under_test.stop()


async def start_install(bot: BotUnderTest) -> tuple[str, str]:
    """Open the Add to Slack page; returns the authorize URL it links to and its state cookie."""
    async with httpx.AsyncClient(base_url=bot.url) as browser:
        page = await browser.get("/slack/install")
    assert page.status_code == 200 and "Add to Slack" in page.text
    match = re.search(r'href="([^"]+/oauth/v2/authorize[^"]*)"', page.text)
    assert match is not None, page.text
    cookie = page.headers["set-cookie"].split(";")[0]
    return html.unescape(match.group(1)), cookie


async def finish_install(bot: BotUnderTest, code: str, state: str, cookie: str) -> httpx.Response:
    """Slack sends the browser back to the redirect URI with the code and the state."""
    async with httpx.AsyncClient(base_url=bot.url) as browser:
        return await browser.get(
            "/slack/oauth_redirect",
            params={"code": code, "state": state},
            headers={"Cookie": cookie},
        )


async def install(bot: BotUnderTest, team_id: str | None, **where: object) -> Workspace:
    url, cookie = await start_install(bot)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        f"{bot.slack.base_url}/oauth/v2/authorize"
    )
    assert query["client_id"] == [bot.slack.installs.client_id]
    assert query["scope"] == [MANIFEST_BOT_SCOPES]
    state = query["state"][0]
    assert cookie == f"slack-app-oauth-state={state}"
    code, workspace = bot.slack.installs.add(team_id, **where)  # type: ignore[arg-type]
    done = await finish_install(bot, code, state, cookie)
    assert done.status_code == 200, done.text
    return workspace


async def test_each_workspace_is_answered_with_its_own_token(bot: BotUnderTest) -> None:
    a, b = await install(bot, A, team_name="Alpha"), await install(bot, B, team_name="Beta")
    assert a.token != b.token
    # The exchange went to SLACK_API_URL with the client's credentials, as Basic auth.
    exchanges = [c for c in bot.slack.calls if c.method == "oauth.v2.access"]
    assert len(exchanges) == 2 and all(c.authorization.startswith("Basic ") for c in exchanges)

    await bot.user("U0ALICE", team_id=A).command("connect")
    await bot.slack.wait_for("views.open")
    await bot.user("U0BOB", team_id=B).command("connect")
    await bot.slack.wait_for("views.open", count=2)
    assert bot.slack.tokens_of("views.open") == [a.token, b.token]
    assert bot.app.client.token is None  # no token of its own to fall back on


async def test_an_alert_in_workspace_b_is_posted_with_bs_token(
    bot: BotUnderTest, sandboxes: object
) -> None:
    a, b = await install(bot, A), await install(bot, B)
    await bot.services.store.save_credentials(
        B, "U0BCX", QuestionProCredentials(api_key=questionpro.DEMO_API_KEY)
    )
    await bot.user("U0BCX", "C0BCX", team_id=B).command("subscribe detractors segment:999")
    await eventually(lambda: bot.services.alerts.for_channel(B, "C0BCX"))
    (sub,) = await bot.services.alerts.for_channel(B, "C0BCX")
    poller = DetractorPoller(bot.services, bot.app.client)
    await poller.poll(sub.id)  # the baseline: a summary post
    sandboxes.questionpro.add_detractors(2)  # type: ignore[attr-defined]
    await poller.poll(sub.id)

    posts = [c for c in bot.slack.calls if c.method == "chat.postMessage"]
    alerts = [c for c in posts if str(c.args.get("text", "")).startswith("Detractor:")]
    assert len(alerts) == 2
    assert {c.authorization for c in posts} == {f"Bearer {b.token}"}
    # A's token was used once, by the OAuth flow checking it at install, and never since.
    assert [c.method for c in bot.slack.calls if a.token in c.authorization] == ["auth.test"]


async def seed(bot: BotUnderTest, team_id: str, user_id: str) -> tuple[str, str]:
    """Credentials, a subscription (with a ledger row) and an import for a person in a workspace;
    returns the subscription's and the import's ids."""
    services = bot.services
    await services.store.save_credentials(
        team_id, user_id, QuestionProCredentials(api_key=questionpro.DEMO_API_KEY)
    )
    await bot.user(user_id, f"C{team_id}", team_id=team_id).command(
        "subscribe detractors segment:999"
    )
    await eventually(lambda: services.alerts.for_channel(team_id, f"C{team_id}"))
    (sub,) = await services.alerts.for_channel(team_id, f"C{team_id}")
    await services.alerts.mark_seen(sub.id, [1, 2])
    job = ImportJob(team_id=team_id, user_id=user_id, file_name="c.csv", segment_code="S1")
    with services.imports.open_spool(job.id) as spool:
        spool.write("{}\n")
    await services.imports.save(job)
    return sub.id, job.id


async def test_app_uninstalled_forgets_that_workspace_and_nothing_of_the_other(
    bot: BotUnderTest, operator_log: object
) -> None:
    await install(bot, A)
    b = await install(bot, B)
    sub_a, job_a = await seed(bot, A, "U0ALICE")
    sub_b, job_b = await seed(bot, B, "U0BOB")
    services, store = bot.services, bot.services.installations
    assert store is not None and await store.bot_token(A, None) is not None

    answer = await post_event(bot, payloads.event_callback(payloads.app_uninstalled(), team_id=A))
    assert answer.status_code == 200
    await eventually(lambda: "app_uninstalled: deleted" in operator_log.getvalue())  # type: ignore[attr-defined]

    assert await store.bot_token(A, None) is None
    assert await store.bot_token(B, None) == b.token
    assert await services.store.list_credentials(A, "U0ALICE") == {}
    assert set(await services.store.list_credentials(B, "U0BOB")) == {"questionpro"}
    assert await services.alerts.get(sub_a) is None and await services.alerts.get(sub_b)
    assert await services.alerts.seen(sub_a, [1, 2]) == set()
    assert await services.alerts.seen(sub_b, [1, 2]) == {1, 2}
    assert await services.imports.get(job_a) is None and await services.imports.get(job_b)
    assert not services.imports.spool(job_a).exists() and services.imports.spool(job_b).exists()
    line = next(x for x in operator_log.getvalue().splitlines() if "uninstalled: deleted" in x)  # type: ignore[attr-defined]
    assert f"workspace {A}" in line and "1 credential(s), 1 subscription(s)" in line


async def test_revoked_bot_token_forgets_the_workspace_and_user_tokens_alone_do_not(
    bot: BotUnderTest, operator_log: object
) -> None:
    a = await install(bot, A)
    store = bot.services.installations
    assert store is not None
    users_only = payloads.tokens_revoked(oauth=["U0ALICE"])
    await post_event(bot, payloads.event_callback(users_only, team_id=A))
    await eventually(lambda: "users only" in operator_log.getvalue())  # type: ignore[attr-defined]
    assert await store.bot_token(A, None) == a.token

    revoked = payloads.tokens_revoked(bot=[a.bot_user_id])
    await post_event(bot, payloads.event_callback(revoked, team_id=A))
    await eventually(lambda: "tokens_revoked: deleted" in operator_log.getvalue())  # type: ignore[attr-defined]
    assert await store.bot_token(A, None) is None


async def test_an_org_wide_install_serves_every_workspace_of_the_org(bot: BotUnderTest) -> None:
    org = await install(bot, None, enterprise_id="E0ORG", org_wide=True)
    user = bot.user("U0GRID", team_id="T0INORG", enterprise_id="E0ORG", org_install=True)
    await user.command("connect")
    await bot.slack.wait_for("views.open")
    assert bot.slack.tokens_of("views.open") == [org.token]


async def test_a_used_or_forged_state_gets_a_page_saying_to_start_again(
    bot: BotUnderTest,
) -> None:
    url, cookie = await start_install(bot)
    state = parse_qs(urlsplit(url).query)["state"][0]
    code, _ = bot.slack.installs.add(A)
    assert (await finish_install(bot, code, state, cookie)).status_code == 200
    again = await finish_install(bot, code, state, cookie)  # the state was used
    assert again.status_code == 401
    assert "expired or was already used" in again.text and 'href="/slack/install"' in again.text
    forged = await finish_install(bot, code, "forged", "slack-app-oauth-state=forged")
    assert forged.status_code == 401 and "expired or was already used" in forged.text
    no_cookie = await finish_install(bot, code, state, "")
    assert no_cookie.status_code == 400 and "another browser" in no_cookie.text


async def test_an_expired_state_is_refused(
    bot: BotUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cookie = await start_install(bot)
    state = parse_qs(urlsplit(url).query)["state"][0]
    code, _ = bot.slack.installs.add(A)
    later = time.time() + bot.settings.oauth_state_seconds + 1
    monkeypatch.setattr("slack_sdk.oauth.state_store.sqlite3.time.time", lambda: later)
    refused = await finish_install(bot, code, state, cookie)
    assert refused.status_code == 401 and "expired" in refused.text
    assert bot.slack.calls_to("oauth.v2.access") == []  # the code was never exchanged


async def test_url_verification_needs_no_installation(bot: BotUnderTest) -> None:
    answer = await post_event(bot, payloads.url_verification("challenge-before-any-install"))
    assert answer.status_code == 200 and "challenge-before-any-install" in answer.text


def _file_bytes(settings: Settings) -> bytes:
    return settings.oauth_file.read_bytes()


async def test_installed_tokens_are_sealed_at_rest_and_rotate_with_the_key(
    bot: BotUnderTest, oauth_settings: Settings
) -> None:
    a = await install(bot, A, team_name="Alpha")
    # The store holds no token as typed; Bolt still authorizes A's requests with it.
    assert a.token.encode() not in _file_bytes(oauth_settings)
    await bot.user("U0ALICE", team_id=A).command("connect")
    await bot.slack.wait_for("views.open")
    assert bot.slack.tokens_of("views.open") == [a.token]

    store = bot.services.installations.store  # type: ignore[union-attr]
    before = _file_bytes(oauth_settings)
    assert store.reseal() >= 2  # the installation's row and the bot's row
    assert _file_bytes(oauth_settings) != before  # sealed afresh
    found = store.find_bot(enterprise_id=None, team_id=A)
    assert found is not None and found.bot_token == a.token
