"""Who `/ticket audit` is about, and who may read everyone's trail (Slack lookups only).

A person in the command's text arrives as Slack sends it. `/ticket` is declared with
``should_escape: false`` (manifest.yml), and Slack's slash-command documentation says that then
a mention picked from the autocomplete arrives as plain text, ``@name``, not as ``<@U123|name>``
(that form only with escaping on). So all three are accepted: ``<@U123>`` / ``<@U123|name>`` (an
app installed with escaping on, or a mention pasted from a message), a bare member id, and
``@name``, matched against the workspace's members (users.list) by handle, display name or real
name; a name several people share is refused with a way out (their member id).
"""

from __future__ import annotations

import logging
import re

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.limits import escape
from bot.errors import UserInputError

log = logging.getLogger(__name__)

_ESCAPED = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_MEMBER_ID = re.compile(r"^[UW][A-Z0-9]{5,}$")


def looks_like_person(word: str) -> bool:
    """Whether ``word`` names a person rather than a backend, a ticket or an option."""
    return word.startswith(("@", "<@")) or bool(_MEMBER_ID.match(word))


async def resolve_person(client: AsyncWebClient, word: str) -> str:
    """The member id ``word`` names (see the module docstring for the forms accepted)."""
    if match := _ESCAPED.match(word):
        return match.group(1)
    if _MEMBER_ID.match(word):
        return word
    name = word.removeprefix("@").strip().lower()
    found: set[str] = set()
    cursor = None
    while True:
        page = await client.users_list(limit=200, cursor=cursor)
        for member in page.get("members") or []:
            profile = member.get("profile") or {}
            names = {member.get("name"), profile.get("display_name"), profile.get("real_name")}
            if not member.get("deleted") and name in {str(n).lower() for n in names if n}:
                found.add(member["id"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    if len(found) == 1:
        return found.pop()
    what = "Several people are" if found else "Nobody here is"
    raise UserInputError(
        f"{what} called `{escape(word)}`. Use their member ID instead (their profile → ⋮ → "
        "Copy member ID), e.g. `/ticket audit U0123ABCD`."
    )


async def reads_everyone(client: AsyncWebClient, user_id: str, group: str | None) -> bool:
    """Whether ``user_id`` may read everyone's trail: a workspace admin or owner, or a member of
    the user group whose handle is ``group`` (TICKETBOT_AUDIT_GROUP)."""
    info = await client.users_info(user=user_id)
    user = info.get("user") or {}
    if user.get("is_admin") or user.get("is_owner"):
        return True
    if not group:
        return False
    try:
        groups = await client.usergroups_list()
        ids = [
            g["id"]
            for g in groups.get("usergroups") or []
            if g.get("handle") == group and not g.get("date_delete")
        ]
        for group_id in ids:
            members = await client.usergroups_users_list(usergroup=group_id)
            if user_id in (members.get("users") or []):
                return True
    except SlackApiError as exc:
        # Most likely the usergroups:read scope is missing: admins still read, others their own.
        log.warning("could not read the audit group @%s: %s", group, exc.response.get("error"))
    return False
