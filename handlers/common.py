"""Small helpers shared by listeners: reading payloads and telling a user something."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import as_dicts
from bot.tickets import Actor

log = logging.getLogger(__name__)


# Each element type reports its state under its own key (Slack's view-state reference).
_STATE_KEYS = {
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
    "rich_text_input": "rich_text_value",
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel",
    "multi_channels_select": "selected_channels",
    "file_input": "files",
}
_ONE_OPTION = {"static_select", "external_select", "radio_buttons", "overflow"}
_MANY_OPTIONS = {"multi_static_select", "multi_external_select", "checkboxes"}


def element_value(state: dict[str, Any]) -> Any:
    """One element's state as a plain value: the chosen option's value, the values of chosen
    options, a date/time string, user or conversation ids, file objects, or the text typed."""
    kind = state.get("type", "")
    if kind in _ONE_OPTION:
        selected = state.get("selected_option")
        return selected["value"] if selected else None
    if kind in _MANY_OPTIONS:
        return [o["value"] for o in state.get("selected_options") or []]
    if kind == "file_input":
        return state.get("files") or []
    return state.get(_STATE_KEYS.get(kind, "value"))


def on_home(body: dict[str, Any]) -> bool:
    """Whether the button was pressed on App Home (no message there to answer or redraw)."""
    return (body.get("view") or {}).get("type") == "home"


def view_values(view: dict[str, Any], fields: Iterable[str] | None = None) -> dict[str, Any]:
    """Flatten a view's state to {block_id: value} (see ``element_value``).

    Slack's state holds every stateful element of the view, pickers in actions blocks included;
    ``fields`` keeps only the blocks a form declares, so those never reach a strict model.
    """
    wanted = None if fields is None else set(fields)
    values: dict[str, Any] = {}
    for block_id, actions in view.get("state", {}).get("values", {}).items():
        if wanted is not None and block_id not in wanted:
            continue
        for state in actions.values():
            values[block_id] = element_value(state)
    return values


def selected_option(view: dict[str, Any], block_id: str) -> dict[str, str] | None:
    """The chosen option of a select as {"value", "text"}, to show it again after an error."""
    for state in view.get("state", {}).get("values", {}).get(block_id, {}).values():
        option = state.get("selected_option")
        if option:
            return {"value": option["value"], "text": option["text"]["text"]}
    return None


def metadata(view: dict[str, Any]) -> dict[str, Any]:
    """A view's private_metadata as a dict (empty when absent or not ours)."""
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def actor_of(body: dict[str, Any]) -> Actor:
    """Whoever sent this command, click, submission or options request, keyed the same way
    everywhere: by the Enterprise Grid org and user id when the request has an org (one person is
    one person across the org's workspaces), else by workspace and user id."""
    if "user_id" in body:  # slash commands: form fields; enterprise_id only on Grid
        team, user, enterprise = (
            body.get("team_id") or "",
            body["user_id"],
            body.get("enterprise_id"),
        )
        teams = (team,)
    else:
        # Interactive payloads: `team` is null for org-wide installs; `user.team_id` is the
        # person's home workspace, which can differ from the workspace of the request.
        team_obj, user_obj = body.get("team") or {}, body["user"]
        user = user_obj["id"]
        enterprise = (body.get("enterprise") or {}).get("id") or team_obj.get("enterprise_id")
        teams = tuple(t for t in (team_obj.get("id"), user_obj.get("team_id")) if t)
        team = teams[0] if teams else ""
    return Actor(enterprise or team, user, tuple(dict.fromkeys(teams)))


def event_actor(body: dict[str, Any], event: dict[str, Any]) -> Actor:
    """Whoever opened Home, keyed as ``actor_of`` keys people (the Grid org, else the team)."""
    team = body.get("team_id") or ""
    return Actor(body.get("enterprise_id") or team, event["user"], (team,) if team else ())


async def display_names(
    client: AsyncWebClient, user_ids: list[str], *, within: float
) -> dict[str, str]:
    """{user id: the name Slack shows} for those ``users.info`` answers within ``within`` seconds;
    a user it refuses (``user_not_found``) or answers too late is left out."""
    if not user_ids:
        return {}
    tasks = {uid: asyncio.ensure_future(client.users_info(user=uid)) for uid in user_ids}
    await asyncio.wait(tasks.values(), timeout=within)
    names: dict[str, str] = {}
    for uid, task in tasks.items():
        if not task.done():
            task.cancel()
        elif task.exception() is None and (name := _shown_name(task.result().get("user") or {})):
            names[uid] = name
        elif task.exception() is not None:
            log.info("users.info %s failed: %s", uid, type(task.exception()).__name__)
    return names


def _shown_name(user: dict[str, Any]) -> str:
    # Slack shows the display name when one is set, else the full name.
    profile = user.get("profile") or {}
    return str(
        profile.get("display_name")
        or profile.get("real_name")
        or user.get("real_name")
        or user.get("name")
        or ""
    )


async def tell_user(
    client: AsyncWebClient,
    user_id: str,
    text: str,
    *,
    channel_id: str | None = None,
    blocks: list | None = None,
) -> None:
    """Say something only ``user_id`` sees: ephemeral in the channel, else a DM from the bot.

    Ephemeral posts fail where the bot is not a member (private channels, some DMs); the DM is the
    fallback so the user is never left without an answer.
    """
    payload: dict[str, Any] = {"text": text}
    if blocks:
        payload["blocks"] = as_dicts(blocks)
    if channel_id:
        try:
            await client.chat_postEphemeral(channel=channel_id, user=user_id, **payload)
            return
        except SlackApiError as exc:
            log.info(
                "ephemeral to %s failed (%s); sending a DM", channel_id, exc.response.get("error")
            )
    await client.chat_postMessage(channel=user_id, **payload)


async def send_file_to_dm(
    client: AsyncWebClient, user_id: str, content: str | bytes, filename: str, comment: str
) -> None:
    """Upload a file into the bot's direct message with ``user_id``."""
    dm = await client.conversations_open(users=user_id)
    await client.files_upload_v2(
        channel=dm["channel"]["id"],
        content=content,
        filename=filename,
        title=filename,
        initial_comment=comment,
    )
