"""The Events API over HTTP: the request gate lets Slack's event bodies through, Bolt answers
url_verification, uninstall events are named in the log; and the OAuth settings' rules."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from bot.__main__ import choose_socket_mode
from bot.config import MANIFEST_BOT_SCOPES, Settings
from bot.credentials import QuestionProCredentials
from bot.errors import ConfigError
from bot.gate import shape_problem
from bot.sandbox import payloads, questionpro
from bot.sandbox.driver import post_event
from tests.harness import TEAM, BotUnderTest
from tests.waiting import eventually

JSON = "application/json"


def test_event_bodies_have_the_shape_the_gate_lets_through() -> None:
    for event in (payloads.app_uninstalled(), payloads.tokens_revoked(bot=["U0BOT"])):
        body = payloads.json_body(payloads.event_callback(event, team_id=TEAM)).encode()
        assert shape_problem(body, JSON) is None
    org = payloads.event_callback(payloads.app_uninstalled(), team_id=None, org_install=True)
    assert shape_problem(payloads.json_body(org).encode(), JSON) is None
    assert shape_problem(payloads.json_body(payloads.url_verification("c")).encode(), JSON) is None
    # An event_callback without its event is not what Slack sends.
    broken = {**payloads.event_callback(payloads.app_uninstalled(), team_id=TEAM), "event": 1}
    assert (
        shape_problem(payloads.json_body(broken).encode(), JSON)
        == "malformed event_callback (event)"
    )


async def test_url_verification_is_answered_with_the_challenge(bot: BotUnderTest) -> None:
    answer = await post_event(bot, payloads.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY"))
    assert answer.status_code == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY" in answer.text


async def test_app_uninstalled_with_one_token_forgets_the_workspace_and_says_so(
    bot: BotUnderTest, operator_log: io.StringIO
) -> None:
    await bot.services.store.save_credentials(
        TEAM, "U0CX", QuestionProCredentials(api_key=questionpro.DEMO_API_KEY)
    )
    answer = await post_event(
        bot, payloads.event_callback(payloads.app_uninstalled(), team_id=TEAM)
    )
    assert answer.status_code == 200
    await eventually(lambda: "uninstalled: deleted" in operator_log.getvalue(), what="the log")
    assert await bot.services.store.list_credentials(TEAM, "U0CX") == {}
    assert "POST event app_uninstalled -> 200" in operator_log.getvalue()


def test_the_default_scopes_are_the_manifests() -> None:
    manifest = yaml.safe_load((Path(__file__).parents[1] / "manifest.yml").read_text())
    assert MANIFEST_BOT_SCOPES.split(",") == manifest["oauth_config"]["scopes"]["bot"]
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {"app_uninstalled", "tokens_revoked"} <= set(events)


def test_oauth_settings_say_what_is_missing_or_conflicting(settings: Settings) -> None:
    both = settings.model_copy(update={"slack_client_id": "1.2"})
    with pytest.raises(ConfigError, match="both set"):
        both.require_one_token_mode()
    half = settings.model_copy(update={"slack_client_id": "1.2", "slack_bot_token": None})
    with pytest.raises(ConfigError, match="SLACK_CLIENT_SECRET is not set"):
        half.require_one_token_mode()
    oauth = half.model_copy(update={"slack_client_secret": SecretStr("s3cr3t-value-0123")})
    assert oauth.oauth_enabled and not settings.oauth_enabled
    assert choose_socket_mode(oauth, socket=False, port=None) is False  # HTTP: install pages
    with pytest.raises(ConfigError, match="needs HTTP mode"):
        choose_socket_mode(oauth, socket=True, port=None)
