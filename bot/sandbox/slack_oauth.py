"""The Slack stand-in's side of OAuth installs: codes it hands out, ``oauth.v2.access`` answering
them with a workspace's bot token, and ``auth.test`` answering for whichever token it gets.

Answers follow Slack's method pages (https://api.slack.com/methods/oauth.v2.access,
https://api.slack.com/methods/auth.test): the client id and secret come as HTTP Basic auth, a
code works once, an org-wide install has ``team: null`` and ``is_enterprise_install: true``.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import secrets
from dataclasses import dataclass
from typing import Any

from bot.sandbox.payloads import APP_ID

# What auth.test answered before per-workspace tokens: any token nobody installed.
DEFAULT_TEAM = {"team_id": "T0SANDBOX", "team": "Sandbox", "user_id": "U0BOT", "bot_id": "B0BOT"}


@dataclass(frozen=True)
class Workspace:
    """One installation the stand-in knows: its ids, names and bot token."""

    team_id: str | None
    token: str
    bot_user_id: str
    bot_id: str
    team_name: str = "Workspace"
    enterprise_id: str | None = None
    enterprise_name: str = "Sandbox Org"
    org_wide: bool = False
    installer: str = "U0INSTALLER"


class SlackInstalls:
    """The app's client credentials, the codes waiting to be exchanged, the tokens handed out."""

    def __init__(self) -> None:
        self.client_id = "1111.2222"
        self.client_secret = "stand-in-client-secret-" + secrets.token_hex(8)
        self._codes: dict[str, Workspace] = {}
        self.by_token: dict[str, Workspace] = {}
        self.revoked: set[str] = set()
        self._ids = itertools.count(1)

    def add(
        self,
        team_id: str | None,
        *,
        team_name: str = "Workspace",
        enterprise_id: str | None = None,
        org_wide: bool = False,
        installer: str = "U0INSTALLER",
    ) -> tuple[str, Workspace]:
        """A code Slack would send to the redirect URI after someone approved the install in
        ``team_id`` (or org-wide in ``enterprise_id``); returns it and the workspace it installs."""
        n = next(self._ids)
        workspace = Workspace(
            team_id=None if org_wide else team_id,
            token=f"xoxb-{n}000-{n}111-{secrets.token_hex(12)}",
            bot_user_id=f"U0BOT{n}",
            bot_id=f"B0BOT{n}",
            team_name=team_name,
            enterprise_id=enterprise_id,
            org_wide=org_wide,
            installer=installer,
        )
        code = f"code-{n}-{secrets.token_hex(6)}"
        self._codes[code] = workspace
        return code, workspace

    def _client_ok(self, authorization: str) -> bool:
        if not authorization.startswith("Basic "):
            return False
        try:
            raw = base64.b64decode(authorization.removeprefix("Basic "), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return raw == f"{self.client_id}:{self.client_secret}"

    def exchange(self, args: dict[str, Any], authorization: str) -> dict[str, Any]:
        """oauth.v2.access: the bot token for a code, once."""
        if not self._client_ok(authorization):
            return {"ok": False, "error": "invalid_client_id"}
        workspace = self._codes.pop(str(args.get("code")), None)
        if workspace is None:
            return {"ok": False, "error": "invalid_code"}
        self.by_token[workspace.token] = workspace
        enterprise = workspace.enterprise_id
        return {
            "ok": True,
            "access_token": workspace.token,
            "token_type": "bot",
            "scope": str(args.get("scope") or "commands,chat:write"),
            "bot_user_id": workspace.bot_user_id,
            "app_id": APP_ID,
            "team": None
            if workspace.org_wide
            else {"id": workspace.team_id, "name": workspace.team_name},
            "enterprise": {"id": enterprise, "name": workspace.enterprise_name}
            if enterprise
            else None,
            "authed_user": {"id": workspace.installer},
            "is_enterprise_install": workspace.org_wide,
        }

    def refused(self, token: str) -> str | None:
        """Slack's error for a revoked token, else None."""
        return "token_revoked" if token in self.revoked else None

    def auth_test(self, token: str) -> dict[str, Any]:
        """auth.test for the workspace ``token`` belongs to."""
        workspace = self.by_token.get(token)
        if workspace is None:
            return {
                "ok": True,
                "url": "https://sandbox.slack.test/",
                "user": "ticketbot",
                **DEFAULT_TEAM,
            }
        answer: dict[str, Any] = {
            "ok": True,
            "url": "https://sandbox.slack.test/",
            "team": workspace.team_name,
            "user": "ticketbot",
            "team_id": workspace.team_id,
            "user_id": workspace.bot_user_id,
            "bot_id": workspace.bot_id,
            "is_enterprise_install": workspace.org_wide,
        }
        if workspace.enterprise_id:
            answer["enterprise_id"] = workspace.enterprise_id
        return answer
