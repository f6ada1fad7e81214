"""Who may act on a subscription's alerts (``actors:@group``), checked at click time.

A subscription with ``actors:`` lets only that user group's members press Claim, Escalate,
Resolve and Show contact; everyone else gets a refusal naming the group, and nothing changes.
Without ``actors:``, anyone in the channel may, except Show contact on a `pii:masked`
subscription: that is the subscriber's alone (``require_contact_viewer``). Membership comes
from Slack, cached briefly (``bot.slack_names.GroupMembers``), so it follows the group as it
changes.
"""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.limits import escape
from bot.errors import UserInputError
from bot.services import Services
from bot.subscriptions import Subscription


async def require_actor(
    services: Services,
    client: AsyncWebClient,
    sub: Subscription | None,
    user_id: str,
    verb: str,
) -> None:
    """Raise a UserInputError naming the group unless ``user_id`` may ``verb`` these alerts."""
    actors = sub.access.actors if sub is not None else None
    if actors is None or actors.id is None:
        return
    if user_id in await services.group_members.of(client, actors):
        return
    name = escape(actors.name)
    raise UserInputError(
        f"Only members of @{name} can {verb} these alerts; ask one of them, or someone who "
        f"manages @{name} to add you."
    )


async def require_contact_viewer(
    services: Services, client: AsyncWebClient, sub: Subscription | None, user_id: str
) -> None:
    """Raise a UserInputError unless ``user_id`` may see the full contact of ``sub``'s alerts:
    the ``actors:`` group's members; without ``actors:`` on a `pii:masked` subscription, only
    its subscriber (masking for the channel while anyone in it may unmask would mask nothing)."""
    actors = sub.access.actors if sub is not None else None
    if sub is None or (actors is not None and actors.id is not None) or not sub.access.pii_masked:
        await require_actor(services, client, sub, user_id, "see the contact of")
        return
    if user_id != sub.subscriber:
        raise UserInputError(
            f"Only <@{sub.subscriber}> (who subscribed) can see the contact of these alerts. "
            "To share it with a team, they can unsubscribe and subscribe again with "
            "`actors:@group`."
        )
