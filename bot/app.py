"""Build the Bolt app. Nothing here runs at import time: ``build_app`` is called by the CLI and
by tests, each with its own settings and services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.alert_links import record_change
from bot.config import Settings
from bot.oauth import WorkspaceClient, oauth_settings, speaking_as
from bot.services import Services
from bot.threads import remember_written
from handlers import register_all


def configure_slack_client(client: AsyncWebClient, settings: Settings) -> AsyncWebClient:
    """Point ``client`` at SLACK_API_URL and make it retry 429s after their Retry-After."""
    client.base_url = settings.slack_api_url
    client.retry_handlers = [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=5),
    ]
    return client


def _bot_token(settings: Settings) -> str:
    settings.require("SLACK_BOT_TOKEN")
    assert settings.slack_bot_token is not None
    return settings.slack_bot_token.get_secret_value()


def build_slack_client(settings: Settings) -> AsyncWebClient:
    """The Web API client: honours SLACK_API_URL and retries 429s after their Retry-After."""
    return configure_slack_client(AsyncWebClient(token=_bot_token(settings)), settings)


def _oauth_app(settings: Settings, services: Services, **options: Any) -> AsyncApp:
    # No token: Bolt's authorize finds each request's workspace token in the installation store,
    # and this client (also the OAuth flow's, so oauth.v2.access goes to SLACK_API_URL too)
    # sends the token ``speaking_for`` names outside requests.
    assert services.installations is not None, "build_services opens them in OAuth mode"
    app = AsyncApp(
        client=configure_slack_client(WorkspaceClient(), settings),
        oauth_settings=oauth_settings(settings, services.installations),
        **options,
    )

    async def speak_for_request(
        context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]
    ) -> Any:
        # Work a listener starts (file downloads, app.client) speaks for the request's workspace.
        with speaking_as(context.bot_token):
            return await next()

    app.middleware(speak_for_request)
    return app


def build_app(settings: Settings, services: Services, *, socket_mode: bool = False) -> AsyncApp:
    """The AsyncApp with every listener registered and ``services`` in each listener's context.

    Over HTTP every request must carry Slack's signature; in Socket Mode the websocket is the
    authentication, so the signing secret is optional there.
    """
    if not socket_mode:
        settings.require("SLACK_SIGNING_SECRET")
    settings.require_one_token_mode()
    signing_secret = settings.slack_signing_secret
    options: dict[str, Any] = {
        "signing_secret": signing_secret.get_secret_value() if signing_secret else None,
        "request_verification_enabled": not socket_mode,
        # Unmatched requests (a button from an older version) should not look like our error.
        "raise_error_for_unhandled_request": False,
    }
    if settings.oauth_enabled:
        app = _oauth_app(settings, services, **options)
    else:
        # Bolt reads SLACK_BOT_TOKEN from the environment whenever no token is passed, and warns
        # when that comes with a client; so it gets the token and builds the client.
        app = AsyncApp(token=_bot_token(settings), **options)
        configure_slack_client(app.client, settings)

    async def inject_services(context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]) -> Any:
        context["services"] = services
        return await next()

    app.middleware(inject_services)
    # Status changes made through ticketbot to tickets linked to alerts, so the link checker
    # can say who closed one (bot.alert_links).
    services.changes.subscribe(partial(record_change, services.alerts))
    # Comments written through ticketbot, so the watcher never echoes them into threads.
    services.changes.subscribe(partial(remember_written, services))
    register_all(app)
    return app
