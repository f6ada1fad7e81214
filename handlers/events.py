"""Events API listeners: the app uninstalled from a workspace, or its tokens revoked.

Bolt acks events itself (and answers ``url_verification``), before these run; Bolt also skips
``auth.test`` for these two events, since the token they concern may already be dead.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.services import Services
from bot.uninstall import Installed, forget

log = logging.getLogger(__name__)


def installed_of(context: AsyncBoltContext) -> Installed:
    """The installation an event concerns, keyed as ``actor_of`` keys people."""
    org_wide = bool(context.is_enterprise_install)
    return Installed(
        team_id=None if org_wide else context.team_id,
        enterprise_id=context.enterprise_id,
        org_wide=org_wide,
    )


async def app_uninstalled(context: AsyncBoltContext, services: Services) -> None:
    """Forget the workspace: its installation and every record it owns."""
    await forget(services, installed_of(context), "app_uninstalled")


async def tokens_revoked(
    event: dict[str, Any], context: AsyncBoltContext, services: Services
) -> None:
    """With the bot token revoked the installation is dead: forget it like an uninstall.
    Revoked user tokens alone (ticketbot asks for none) leave everything in place."""
    tokens = event.get("tokens") or {}
    if tokens.get("bot"):
        await forget(services, installed_of(context), "tokens_revoked")
    else:
        log.info("tokens_revoked for users only: nothing of ticketbot's depends on them")


def register(app: AsyncApp) -> None:
    """Register the uninstall listeners."""
    app.event("app_uninstalled")(app_uninstalled)
    app.event("tokens_revoked")(tokens_revoked)
