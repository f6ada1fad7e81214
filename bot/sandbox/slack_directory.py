"""The Slack stand-in's directory: user groups and channels, answered as Slack documents them.

``usergroups.list`` (the workspace's groups, not paged; ``users`` only with ``include_users``,
disabled groups only with ``include_disabled``), ``usergroups.users.list`` (``usergroup``
required; ``no_such_subteam`` for an unknown id) and ``conversations.list`` (``types`` defaults
to ``public_channel``; a private channel is listed only where the bot is a member; ``limit``
1-1000, default 100; ``cursor`` from ``response_metadata.next_cursor``, empty on the last page;
``invalid_cursor`` / ``invalid_limit``; ``exclude_archived``). Kept apart from ``slack.py``,
which answers and records the calls.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any


@dataclass
class UserGroup:
    id: str
    handle: str
    name: str
    users: list[str] = field(default_factory=list)
    disabled: bool = False


@dataclass
class Channel:
    id: str
    name: str
    private: bool = False
    member: bool = True  # whether the bot is in it
    archived: bool = False


def _truthy(value: Any) -> bool:
    return str(value).lower() in {"1", "true"}


class SlackDirectory:
    """The workspace's user groups and channels."""

    def __init__(self, team_id: str = "T0SANDBOX") -> None:
        self.team_id = team_id
        self.groups: dict[str, UserGroup] = {}
        self.channels: dict[str, Channel] = {}

    def add_group(self, group_id: str, handle: str, users: list[str]) -> UserGroup:
        """A user group ``@handle`` with ``users`` as its members."""
        self.groups[group_id] = UserGroup(group_id, handle, handle.title(), list(users))
        return self.groups[group_id]

    def add_channel(self, channel_id: str, name: str, **how: bool) -> Channel:
        """A channel ``#name`` (``private``, ``member``, ``archived`` as given)."""
        self.channels[channel_id] = Channel(channel_id, name, **how)
        return self.channels[channel_id]

    def answer(self, method: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """Slack's answer to a directory method, or None for any other method."""
        if method == "usergroups.list":
            return self._usergroups(args)
        if method == "usergroups.users.list":
            return self._usergroup_users(args)
        if method == "conversations.list":
            return self._conversations(args)
        return None

    def refuses_post(self, channel_id: str) -> str | None:
        """Slack's error for a post into a listed channel the bot cannot post in (chat:write.public
        covers public channels it is not in; not private ones or archived ones)."""
        channel = self.channels.get(channel_id)
        if channel is None:
            return None
        if channel.archived:
            return "is_archived"
        if channel.private and not channel.member:
            return "channel_not_found"
        return None

    def _usergroups(self, args: dict[str, Any]) -> dict[str, Any]:
        shown = []
        for group in self.groups.values():
            if group.disabled and not _truthy(args.get("include_disabled")):
                continue
            item: dict[str, Any] = {
                "id": group.id,
                "team_id": self.team_id,
                "is_usergroup": True,
                "name": group.name,
                "handle": group.handle,
                "is_external": False,
                "date_delete": 1 if group.disabled else 0,
                "user_count": len(group.users),
            }
            if _truthy(args.get("include_users")):
                item["users"] = list(group.users)
            shown.append(item)
        return {"ok": True, "usergroups": shown}

    def _usergroup_users(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("usergroup"):
            return {"ok": False, "error": "invalid_arguments"}
        group = self.groups.get(str(args["usergroup"]))
        if group is None or (group.disabled and not _truthy(args.get("include_disabled"))):
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(group.users)}

    def _conversations(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            limit = int(args.get("limit") or 100)
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            return {"ok": False, "error": "invalid_limit"}
        try:
            cursor = args.get("cursor") or ""
            start = int(base64.b64decode(cursor).decode().removeprefix("next:")) if cursor else 0
        except (ValueError, binascii.Error):
            return {"ok": False, "error": "invalid_cursor"}
        types = set(str(args.get("types") or "public_channel").split(","))
        listed = [
            c
            for c in self.channels.values()
            if ("private_channel" if c.private else "public_channel") in types
            and (c.member or not c.private)  # private ones only where the bot is a member
            and not (c.archived and _truthy(args.get("exclude_archived")))
        ]
        page = listed[start : start + limit]
        more = start + limit < len(listed)
        next_cursor = base64.b64encode(f"next:{start + limit}".encode()).decode() if more else ""
        return {
            "ok": True,
            "channels": [self._channel(c) for c in page],
            "response_metadata": {"next_cursor": next_cursor},
        }

    @staticmethod
    def _channel(c: Channel) -> dict[str, Any]:
        return {
            "id": c.id,
            "name": c.name,
            "name_normalized": c.name,
            "is_channel": not c.private,
            "is_group": False,
            "is_im": False,
            "is_private": c.private,
            "is_archived": c.archived,
            "is_member": c.member,
        }
