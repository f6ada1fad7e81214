"""Installing ticketbot into many workspaces: Bolt's OAuth flow over slack_sdk's own stores.

With SLACK_CLIENT_ID and SLACK_CLIENT_SECRET set (and no SLACK_BOT_TOKEN), `serve` answers
``/slack/install`` (the "Add to Slack" page) and ``/slack/oauth_redirect`` beside
``/slack/events``. The installations (each workspace's bot token) and the OAuth states live in
slack_sdk's SQLite3 stores, in one file of the data directory (0600, like the store), with the
tokens Fernet-sealed on the way in and out (bot.sealed_installations): nothing here re-implements
the stores. Requests then run with the token of their own workspace (Bolt's authorize);
work done outside a request, such as the detractor poller, names its workspace with
``speaking_for`` and ``WorkspaceClient`` (``app.client`` in this mode) sends that workspace's token.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.state_store.sqlite3 import SQLite3OAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.sealed_installations import SealedInstallationStore, Sealer
from bot.store import ensure_private_dir

log = logging.getLogger("ticketbot.oauth")

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"

# The bot token of the workspace the current task works for; set per request by a middleware
# and per subscription by the poller. A ContextVar, so concurrent tasks never see each other's.
_bot_token: ContextVar[str | None] = ContextVar("ticketbot_bot_token", default=None)


@contextlib.contextmanager
def speaking_as(token: str | None) -> Iterator[None]:
    """Within the block, ``WorkspaceClient`` calls and Slack file downloads use ``token``."""
    reset = _bot_token.set(token)
    try:
        yield
    finally:
        _bot_token.reset(reset)


def current_bot_token() -> str | None:
    """The bot token ``speaking_as`` set for this task, if any."""
    return _bot_token.get()


def _names_a_token(kwargs: dict[str, Any]) -> bool:
    # Bolt's authorize and the OAuth flow pass their own token or client credentials.
    if kwargs.get("auth") or "Authorization" in (kwargs.get("headers") or {}):
        return True
    return any("token" in (kwargs.get(part) or {}) for part in ("params", "json", "data"))


class WorkspaceClient(AsyncWebClient):
    """``app.client`` when installed through OAuth: it has no token of its own, and each call
    carries the bot token of the workspace named by ``speaking_as``/``speaking_for``."""

    async def api_call(self, api_method: str, **kwargs: Any) -> Any:  # type: ignore[override]
        token = current_bot_token()
        if token and not self.token and not _names_a_token(kwargs):
            kwargs["headers"] = {
                **(kwargs.get("headers") or {}),
                "Authorization": f"Bearer {token}",
            }
        return await super().api_call(api_method, **kwargs)


def enterprise_of(team_id: str, scope: str | None) -> str | None:
    """The Enterprise Grid org of a record keyed like ``actor_of`` (scope = org id on Grid)."""
    return scope if scope and scope != team_id else None


class Installations:
    """slack_sdk's installation store (tokens sealed: bot.sealed_installations) and OAuth state
    store: in the data directory in embedded mode, in TICKETBOT_DATABASE_URL (bot.oauth_postgres)
    when instances share a PostgreSQL database."""

    def __init__(self, settings: Settings, sealer: Sealer) -> None:
        settings.require("SLACK_CLIENT_ID")
        assert settings.slack_client_id is not None
        self._postgres: Any = None
        if settings.database_url is not None:
            from bot.oauth_postgres import PostgresInstallations

            self._postgres = PostgresInstallations(
                settings.database_url.get_secret_value(),
                sealer=sealer,
                client_id=settings.slack_client_id,
                state_seconds=settings.oauth_state_seconds,
                logger=log,
            )
            self.store: Any = self._postgres.store
            self.states: Any = self._postgres.states
            return
        path = settings.oauth_file
        ensure_private_dir(path.parent)
        # It holds every workspace's bot token: 0600 before sqlite creates it with the umask's mode.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        path.chmod(0o600)
        self.store = SealedInstallationStore(
            sealer=sealer, database=str(path), client_id=settings.slack_client_id, logger=log
        )
        self.states = SQLite3OAuthStateStore(
            database=str(path), expiration_seconds=settings.oauth_state_seconds, logger=log
        )

    async def start(self) -> None:
        """Create the tables in PostgreSQL (the SQLite stores create theirs when opened)."""
        if self._postgres is not None:
            await self._postgres.start()

    async def aclose(self) -> None:
        """Close the PostgreSQL connections, if any."""
        if self._postgres is not None:
            await self._postgres.aclose()

    async def reseal(self) -> int:
        """Seal every stored Slack token again under the newest key; how many were written."""
        if self._postgres is not None:
            return await self._postgres.store.reseal()
        return self.store.reseal()

    async def bot_token(self, team_id: str | None, enterprise_id: str | None) -> str | None:
        """The bot token installed for the workspace, else for its org's org-wide install."""
        found = None
        if team_id:
            found = await self.store.async_find_installation(
                enterprise_id=enterprise_id, team_id=team_id
            )
        if found is None and enterprise_id:
            found = await self.store.async_find_installation(
                enterprise_id=enterprise_id, team_id=None, is_enterprise_install=True
            )
        return found.bot_token if found is not None else None

    async def forget(self, enterprise_id: str | None, team_id: str | None, org_wide: bool) -> None:
        """Delete the installation (bot and installer rows) of a workspace or an org."""
        await self.store.async_delete_all(
            enterprise_id=enterprise_id, team_id=None if org_wide else team_id
        )


@contextlib.asynccontextmanager
async def speaking_for(
    installations: Installations | None, team_id: str, scope: str | None
) -> AsyncIterator[None]:
    """Within the block, ``app.client`` uses the bot token of the workspace of a record keyed
    by ``team_id`` and ``scope`` (a subscription); nothing changes with one SLACK_BOT_TOKEN."""
    if installations is None:
        yield
        return
    token = await installations.bot_token(team_id, enterprise_of(team_id, scope))
    if token is None:
        log.warning("no installation for workspace %s: its Slack calls go without a token", team_id)
    with speaking_as(token):
        yield


def authorization_url(api_url: str) -> str:
    """Slack's authorize page on the host of SLACK_API_URL (https://slack.com/oauth/v2/authorize
    for https://slack.com/api/), so a stand-in serves both."""
    parts = urlsplit(api_url)
    path = parts.path.rstrip("/").removesuffix("/api") + "/oauth/v2/authorize"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


_FAILURES = {
    "invalid_state": "This install link has expired or was already used.",
    "invalid_browser": "This install was started in another browser (its cookie is missing).",
    "access_denied": "The installation was cancelled in Slack.",
    "invalid_code": "Slack did not accept the installation code.",
    "missing_code": "Slack sent no installation code.",
}


async def _installed(args: AsyncSuccessArgs) -> BoltResponse:
    """Bolt's own "installed" page, after one log line naming the workspace."""
    found = args.installation
    where = found.enterprise_id if found.is_enterprise_install else found.team_id
    log.info("installed in %s %s", "org" if found.is_enterprise_install else "workspace", where)
    return await args.default.success(args)


async def _failure_page(args: AsyncFailureArgs) -> BoltResponse:
    """A page saying what went wrong and how to start again (Bolt's default says neither)."""
    what = _FAILURES.get(args.reason, "The installation did not complete.")
    log.info("OAuth install refused: %s", args.reason)
    body = (
        '<html><head><meta charset="utf-8"><title>ticketbot: not installed</title></head><body>'
        f"<h1>ticketbot was not installed</h1><p>{html.escape(what)}</p>"
        f'<p><a href="{INSTALL_PATH}">Start again from the Add to Slack page</a>.</p>'
        f"<p><small>reason: {html.escape(args.reason)}</small></p></body></html>"
    )
    return BoltResponse(
        status=args.suggested_status_code,
        body=body,
        headers={"Content-Type": "text/html; charset=utf-8"},
    )


def oauth_settings(settings: Settings, installations: Installations) -> AsyncOAuthSettings:
    """Bolt's OAuth settings from ours: scopes, redirect URI, stores, state lifetime."""
    settings.require("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")
    assert settings.slack_client_secret is not None
    redirect = f"{settings.public_url.rstrip('/')}{REDIRECT_PATH}" if settings.public_url else None
    return AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=settings.slack_scopes.split(","),
        redirect_uri=redirect,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        authorization_url=authorization_url(settings.slack_api_url),
        installation_store=installations.store,
        state_store=installations.states,
        state_expiration_seconds=settings.oauth_state_seconds,
        callback_options=AsyncCallbackOptions(success=_installed, failure=_failure_page),
        logger=log,
    )


def add_install_routes(web_app: web.Application, bolt_app: AsyncApp) -> None:
    """GET /slack/install and /slack/oauth_redirect, answered by Bolt's OAuth flow."""
    flow = bolt_app.oauth_flow
    if flow is None:
        return

    async def install(request: web.Request) -> web.Response:
        return await to_aiohttp_response(
            await flow.handle_installation(await to_bolt_request(request))
        )

    async def redirect(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

    web_app.add_routes([web.get(INSTALL_PATH, install), web.get(REDIRECT_PATH, redirect)])
