"""Enterprise Grid identity: records a person made before org keys are found under the org key.

Credentials, subscriptions and imports used to be keyed by the request's workspace. On Grid a
person is keyed by the org (``handlers.common.actor_of``); the first request of that person in
each process copies their workspace-keyed credentials to the org key and points their
subscriptions and imports at it. Nothing is deleted, so it is safe to run twice or to roll back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncBoltContext

from handlers.common import actor_of


def _has_person(body: dict[str, Any]) -> bool:
    user = body.get("user")
    return "user_id" in body or (isinstance(user, dict) and "id" in user)


async def adopt_org_records(
    body: dict[str, Any], context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]
) -> Any:
    """Bolt middleware: before a Grid person's first listener runs, adopt their older records.
    Local store work only (no network), done once per person per process."""
    services = context.get("services")
    if services is not None and _has_person(body):
        actor = actor_of(body)
        done = (actor.scope, actor.user_id, actor.teams)
        if actor.scope not in actor.teams and done not in services.adopted:
            await services.store.adopt_credentials(actor.scope, actor.user_id, actor.teams)
            await services.alerts.adopt(actor.scope, actor.user_id, actor.teams)
            await services.imports.adopt(actor.scope, actor.user_id, actor.teams)
            services.adopted.add(done)
    return await next()
