"""User groups and channels named in a subscription: turned into ids when it is made, and who
is in a group when someone clicks.

People type ``@support`` and ``#cx-leads``; Slack's API wants ids. The names are resolved once,
at subscribe time (``usergroups.list``, ``conversations.list`` paged with its cursor), and an
unknown name is refused there, naming it, before anything is saved. A group's members are asked
at click time (``usergroups.users.list``) and kept for a minute, so a burst of clicks costs one
call and a change of membership counts within a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.limits import escape
from bot.errors import UserInputError
from bot.subscription_rules import SlackName
from bot.subscriptions import Subscription

MEMBERS_TTL = 60.0
_PAGE = 200  # channels per conversations.list page (Slack allows up to 1,000)


class GroupMembers:
    """Who is in a user group, asked of Slack at most once per ``ttl`` seconds per group."""

    def __init__(self, ttl: float = MEMBERS_TTL, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._known: dict[str, tuple[float, frozenset[str]]] = {}

    async def of(self, client: AsyncWebClient, group: SlackName) -> frozenset[str]:
        """The members of ``group`` (resolved); a clear refusal when Slack will not say."""
        assert group.id is not None
        cached = self._known.get(group.id)
        if cached is not None and self.clock() - cached[0] < self.ttl:
            return cached[1]
        try:
            answer = await client.usergroups_users_list(usergroup=group.id)
        except SlackApiError as exc:
            raise UserInputError(
                f"I could not check who is in @{escape(group.name)} (Slack says "
                f"`{exc.response.get('error')}`), so I changed nothing. If the group was removed, "
                "ask the subscriber to subscribe again with another `actors:` group."
            ) from None
        members = frozenset(answer.get("users") or [])
        self._known[group.id] = (self.clock(), members)
        return members


async def resolve_names(client: AsyncWebClient, sub: Subscription) -> None:
    """Give every group and channel the subscription names its id, in place; an unknown name is
    a UserInputError naming it."""
    groups = [g for g in (sub.policy.notify, sub.access.actors) if g is not None and g.id is None]
    if groups:
        handles = await _group_ids(client)
        for group in groups:
            group.id = handles.get(group.name.lower())
            if group.id is None:
                raise UserInputError(
                    f"I can't find a user group `@{escape(group.name)}` in this workspace. "
                    "Check its handle (People → User groups) and subscribe again."
                )
    target = sub.policy.escalate_to
    if target is not None and target.id is None:
        target.id = await _channel_id(client, target.name)


async def _group_ids(client: AsyncWebClient) -> dict[str, str]:
    answer = await _ask(client.usergroups_list, "usergroups:read")
    return {str(g["handle"]).lower(): str(g["id"]) for g in answer.get("usergroups") or []}


async def _channel_id(client: AsyncWebClient, name: str) -> str:
    cursor = None
    while True:
        page = await _ask(
            client.conversations_list,
            "channels:read, groups:read",
            types="public_channel,private_channel",
            exclude_archived=True,
            limit=_PAGE,
            cursor=cursor,
        )
        for channel in page.get("channels") or []:
            if str(channel.get("name", "")).lower() == name.lower():
                return str(channel["id"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            raise UserInputError(
                f"I can't find a channel `#{escape(name)}`. If it is private, invite me there "
                "first (`/invite @ticketbot`), then subscribe again."
            )


async def _ask(method: Callable, scopes: str, **args: object) -> dict:
    try:
        return (await method(**args)).data  # type: ignore[no-any-return]
    except SlackApiError as exc:
        if exc.response.get("error") == "missing_scope":
            raise UserInputError(
                f"I need the `{scopes}` permission to look names up; ask an admin to reinstall "
                "the app from its manifest (manifest.yml), then subscribe again."
            ) from None
        raise
