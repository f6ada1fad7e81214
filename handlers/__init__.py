"""Slack listeners, one module per Slack feature; ``register_all`` wires them onto an app."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from handlers import (
    alert_access,
    alerts,
    audit,
    commands,
    connect,
    create,
    errors,
    events,
    fallback,
    home,
    identity,
    imports,
    subscriptions,
    threads,
    ticket_actions,
    watch,
)


def register_all(app: AsyncApp) -> None:
    """Register every listener and the error handler on ``app``."""
    app.middleware(identity.adopt_org_records)
    commands.register(app)
    subscriptions.register(app)
    alerts.register(app)
    alert_access.register(app)
    imports.register(app)
    audit.register(app)
    connect.register(app)
    create.register(app)
    ticket_actions.register(app)
    watch.register(app)
    events.register(app)
    home.register(app)
    threads.register(app)
    fallback.register(app)  # last: only what no listener above matched
    errors.register(app)
