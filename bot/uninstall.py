"""What ticketbot forgets when a workspace (or an Enterprise Grid org) uninstalls it.

Records are keyed the way ``handlers.common.actor_of`` keys people: by the org id on Enterprise
Grid, else by the workspace id. So an org-wide install's uninstall removes everything kept under
the org; one workspace's uninstall removes what was made in that workspace (subscriptions and
their alerts, imports, watches) and the credentials and watch settings kept under its own id,
while people's credentials and settings kept under their org stay for the org's other
workspaces that still have the app.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.services import Services

log = logging.getLogger("ticketbot.uninstall")


@dataclass(frozen=True)
class Installed:
    """Which installation went: a workspace (in an org or not) or an org-wide install."""

    team_id: str | None
    enterprise_id: str | None = None
    org_wide: bool = False

    @property
    def scope(self) -> str:
        """The key its people's records are kept under when they belong to it alone."""
        scope = self.enterprise_id if self.org_wide else self.team_id
        assert scope, "an installation has a workspace id, or an org id when org-wide"
        return scope

    def owns(self, team_id: str, scope: str) -> bool:
        """Whether a record made in ``team_id`` by someone keyed under ``scope`` is its own."""
        return scope == self.scope or (not self.org_wide and team_id == self.team_id)

    def describe(self) -> str:
        if self.org_wide:
            return f"org {self.enterprise_id}"
        return f"workspace {self.team_id}" + (
            f" (org {self.enterprise_id})" if self.enterprise_id else ""
        )


async def forget(services: Services, installed: Installed, why: str) -> None:
    """Delete the installation and every record it owns; one log line says what went."""
    if services.installations is not None:
        await services.installations.forget(
            installed.enterprise_id, installed.team_id, installed.org_wide
        )
    credentials = await services.store.delete_scope(installed.scope)
    subscriptions = await services.alerts.delete_owned(installed.owns)
    imports = await services.imports.delete_owned(installed.owns)
    watches = await services.watches.delete_owned(installed.owns) if services.watches else 0
    threads = await services.threads.delete_owned(installed.owns) if services.threads else 0
    log.info(
        "%s: deleted the installation of %s and its data: %d credential(s), %d "
        "subscription(s) with their alerts, %d import(s), %d watch(es) with watch settings, "
        "%d ticket thread(s)",
        why,
        installed.describe(),
        credentials,
        subscriptions,
        imports,
        watches,
        threads,
    )
